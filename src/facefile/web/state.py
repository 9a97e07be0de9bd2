"""What the web app keeps between requests: one writer, per-thread readers, caches.

Reads go through a read-only :class:`~facefile.api.Library` per worker
thread; every change goes through the single writing ``Library`` under a
lock, so the page makes exactly the calls the CLI makes. Caches (the people
list, the similarity index, the review queue) are keyed by a data version
that moves when this process writes or when any process commits to the
database (:meth:`facefile.store.db.Store.data_version`).
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from facefile.api import Library, Location
from facefile.types import Person, ReviewItem
from facefile.web.similar import SimilarityIndex

T = TypeVar("T")
REVIEW_BATCH = 100


@dataclass
class ReviewQueue:
    """A batch of review questions and how far the user got."""

    items: list[ReviewItem] = field(default_factory=list)
    position: int = 0
    answered: int = 0
    skipped: int = 0
    is_started: bool = False
    is_ready: bool = False
    error: str | None = None


class WebState:
    def __init__(
        self,
        library_path: str | os.PathLike[str] | Location,
        settings: Mapping[str, object] | None,
        token: str | None,
    ) -> None:
        self.settings = dict(settings or {})
        self.writer = Library(library_path, settings=self.settings, create=False)
        self.location = self.writer.location
        self.path = self.writer.path
        self.token = token
        self.csrf = secrets.token_urlsafe(32)
        self.write_lock = threading.Lock()
        self._local = threading.local()
        self._generation = 0
        self._cache_lock = threading.Lock()
        self._people: tuple[object, list[Person]] | None = None
        self._similar: tuple[object, SimilarityIndex] | None = None
        self._similar_lock = threading.Lock()
        self.review = ReviewQueue()
        self._review_lock = threading.Lock()
        self._notes: dict[str, tuple[str, str]] = {}
        self._warmer: threading.Thread | None = None
        self._warm_event = threading.Event()
        self.model_id = self.writer.settings.analyze.model_id

    def close(self) -> None:
        self.writer.close()

    # -- reading ------------------------------------------------------------
    def reader(self) -> Library:
        """This thread's read-only library (opened on first use)."""
        lib = getattr(self._local, "lib", None)
        if lib is None:
            lib = Library(self.location, settings=self.settings, read_only=True)
            self._local.lib = lib
        return lib

    def version(self) -> tuple[object, ...]:
        """Changes whenever the database may have changed."""
        return (self._generation, self.reader().store.data_version())

    def people(self) -> list[Person]:
        """Every person, hidden ones included, largest first (cached per version)."""
        version = self.version()
        cached = self._people
        if cached is not None and cached[0] == version:
            return cached[1]
        rows = self.reader().people(include_hidden=True)
        self._people = (version, rows)
        return rows

    def person(self, person_id: int) -> Person | None:
        for p in self.people():
            if p.id == person_id:
                return p
        return None

    def similar(self) -> SimilarityIndex:
        """The similarity index for the current data (rebuilt after changes)."""
        with self._similar_lock:
            version = self.version()
            if self._similar is None or self._similar[0] != version:
                self._similar = (version, SimilarityIndex(self.reader().store, self.model_id))
            return self._similar[1]

    # -- writing --------------------------------------------------------------
    def write(self, change: Callable[[Library], T]) -> T:
        """Run one change through the writing library, one at a time."""
        with self.write_lock:
            try:
                return change(self.writer)
            finally:
                self._generation += 1
                self._wake_warmer()

    def _wake_warmer(self) -> None:
        """Rebuild the caches in one background thread, so the next page finds them ready."""
        if self._warmer is None:
            self._warmer = threading.Thread(target=self._warm_loop, daemon=True, name="facefile-warm")
            self._warmer.start()
        self._warm_event.set()

    def _warm_loop(self) -> None:
        from facefile.errors import FacefileError

        while True:
            self._warm_event.wait()
            self._warm_event.clear()
            try:
                self.people()
                self.similar()
            except FacefileError:  # e.g. the library was erased; the next request reports it
                continue

    # -- one-shot notes shown after a redirect ---------------------------------
    def note(self, text: str, kind: str = "ok") -> str:
        key = secrets.token_urlsafe(8)
        with self._cache_lock:
            if len(self._notes) > 200:
                self._notes.clear()
            self._notes[key] = (kind, text)
        return key

    def take_note(self, key: str | None) -> tuple[str, str] | None:
        if not key:
            return None
        with self._cache_lock:
            return self._notes.pop(key, None)

    # -- review queue -------------------------------------------------------------
    def review_queue(self, *, refresh: bool = False) -> ReviewQueue:
        """The current batch of questions; built in the background when needed."""
        with self._review_lock:
            q = self.review
            exhausted = q.is_ready and q.position >= len(q.items)
            if refresh or (exhausted and q.answered == 0 and q.skipped == 0):
                q = self.review = ReviewQueue()
            if not q.is_started:
                q.is_started = True
                threading.Thread(target=self._build_review, args=(q,), daemon=True).start()
            return q

    def _build_review(self, q: ReviewQueue) -> None:
        from facefile.errors import FacefileError

        lib = Library(self.location, settings=self.settings, read_only=True)
        try:
            q.items = lib.review(REVIEW_BATCH)
        except FacefileError as exc:
            q.error = str(exc)
        finally:
            lib.close()
            q.is_ready = True
