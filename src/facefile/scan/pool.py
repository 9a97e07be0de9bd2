"""The scan's worker processes: a worker that dies takes only its own photo down.

A decoder can crash its process on a hostile file (LibRaw read past a buffer
on a RAW with a damaged preview, before facefile checked for it). With
:class:`multiprocessing.pool.Pool` the photo a dead worker held never comes
back, and the scan waits for it forever. Here the pool is a
:class:`~concurrent.futures.ProcessPoolExecutor`, which notices the death;
the photos that were in flight are then analysed again one at a time in a
fresh pool, so the one that kills its worker again is known, and reported
with its reason, and every other photo is analysed as usual.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from facefile.analyze.analyzer import FaceAnalyzer
from facefile.media.files import display_path
from facefile.media.video import VideoConfig
from facefile.scan.worker import Job, analyze, init_worker
from facefile.types import PhotoResult

# Forking skips re-importing numpy, dlib and facefile in every worker (seconds
# on a laptop); workers never touch the parent's database connection or console.
START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"

CRASHED = (
    "crashed while decoding or analysing (its worker process died: most likely a decoder "
    "meeting a damaged file)"
)

Result = tuple[bytes, PhotoResult]
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def analyze_in_processes(
    jobs: Iterable[Job],
    analyzer: FaceAnalyzer,
    limits: tuple[float, float, VideoConfig],
    workers: int,
    save: Callable[[Result], None],
) -> None:
    """Analyse ``jobs`` in ``workers`` processes, handing each result to ``save`` as it comes.

    Args:
        limits: ``(max_megapixels, max_seconds_per_photo, video settings)`` for each worker.

    Raises:
        BaseException: whatever ``save`` or a worker raises besides a worker's
            death (a bug, Ctrl-C); the workers are stopped first.
    """
    pending = deque(jobs)
    suspects: deque[Job] = deque()
    pool = _new_pool(analyzer, limits, workers)
    try:
        while pending or suspects:
            if suspects:
                pool = _run_alone(pool, suspects.popleft(), analyzer, limits, workers, save)
            elif _run_until_a_worker_dies(pool, pending, workers, save, suspects):
                pool.shutdown(wait=False, cancel_futures=True)
                pool = _new_pool(analyzer, limits, workers)
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)


def _run_until_a_worker_dies(
    pool: ProcessPoolExecutor,
    pending: deque[Job],
    workers: int,
    save: Callable[[Result], None],
    suspects: deque[Job],
) -> bool:
    """Run ``pending`` jobs; on a worker's death, move the jobs in flight to ``suspects`` and say so."""
    in_flight: dict[Future[Result], Job] = {}
    while pending or in_flight:
        while pending and len(in_flight) < 2 * workers:  # two each: no worker waits for its next photo
            job = pending.popleft()
            in_flight[pool.submit(analyze, job)] = job
        done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        for future in done:
            job = in_flight.pop(future)
            try:
                result = future.result()
            except BrokenProcessPool:
                suspects.append(job)
                suspects.extend(_finished_or_suspect(in_flight, save))
                return True
            save(result)
    return False


def _finished_or_suspect(in_flight: dict[Future[Result], Job], save: Callable[[Result], None]) -> list[Job]:
    """Save the results that made it before the pool broke; the other jobs, to run again."""
    again = []
    for future, job in in_flight.items():
        try:
            result = future.result(timeout=0)
        except (BrokenProcessPool, CancelledError, TimeoutError):
            again.append(job)
            continue
        save(result)
    return again


def _run_alone(
    pool: ProcessPoolExecutor,
    job: Job,
    analyzer: FaceAnalyzer,
    limits: tuple[float, float, VideoConfig],
    workers: int,
    save: Callable[[Result], None],
) -> ProcessPoolExecutor:
    """Run one suspect with no other photo in flight: if its worker dies, it is the culprit."""
    try:
        result = pool.submit(analyze, job).result()
    except BrokenProcessPool:
        save((job.path, PhotoResult(path=display_path(job.path), error=CRASHED)))
        pool.shutdown(wait=False, cancel_futures=True)
        return _new_pool(analyzer, limits, workers)
    save(result)
    return pool


def _new_pool(
    analyzer: FaceAnalyzer, limits: tuple[float, float, VideoConfig], workers: int
) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context(START_METHOD),
        initializer=_init_pool_worker,
        initargs=(os.getpid(), analyzer, *limits),
    )


def _init_pool_worker(
    parent: int, analyzer: FaceAnalyzer, max_megapixels: float, max_seconds: float, video: VideoConfig
) -> None:
    """Set a worker up, and have it end with the scan that started it.

    Forked workers hold the scan's open files, its library lock among them.
    Killed (``kill -9``, a power cut of the terminal), the scan can close
    nothing, and idle workers would wait for work forever, keeping the lock:
    the next scan would be refused. (``multiprocessing.Pool`` workers noticed
    through their task pipe; the executor's do not.)
    """
    init_worker(analyzer, max_megapixels, max_seconds, video)
    _exit_with_parent(parent)


def _exit_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the kernel ends us with the parent
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before that was set up
        os._exit(1)
    watcher = threading.Thread(target=_watch_parent, args=(parent,), name="facefile-parent", daemon=True)
    watcher.start()  # elsewhere, and as a fallback


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop at once (Ctrl-C, an error): photos in flight are lost, the saved ones are not."""
    # the executor has no public way to end running work before Python 3.14
    for process in dict(getattr(pool, "_processes", None) or {}).values():
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
