"""Analysis on Ray: the scan's photos analysed as Ray tasks, on a cluster or on a Ray started for the scan.

Only *where* photos are analysed changes. Each photo is one task running
:func:`facefile.scan.worker.analyze`; results come back to the scanning
process (the driver), which stays the library's only writer and saves each
photo in its own transaction, as a plain scan does. So:

* a worker process that dies (killed, out of memory, a node lost) loses
  nothing: Ray runs its task again elsewhere (:data:`MAX_RETRIES` times; a
  photo that kills every process analysing it is reported as unreadable);
* a driver that dies loses the photos in flight, which the next scan redoes.

Tasks rather than an actor pool: Ray retries a task whose worker died with
no code of ours, while a dead actor needs restart policies and our own
resubmission. Models still load once per worker process, not per photo: a
worker keeps the analyzer of the run it last served (see :func:`analyze_photo`).

Where the photos are read:

* ``local`` (a Ray started for the scan, on this machine): the workers open
  the files themselves, as pool workers do;
* an address (a cluster, whose nodes may not see this machine's disks): the
  driver reads each photo and its XMP sidecars and sends their bytes with
  the task; the worker writes them to a private temporary folder, analyses
  them there, and the paths in its answer are mapped back to the originals.
  Always correct, at the cost of reading each photo once more on the driver
  (it was just hashed, so usually from the page cache) and sending it.

The driver keeps at most :data:`TASKS_PER_CPU` tasks per cluster CPU in
flight, so a scan of a million photos does not queue a million tasks (or
their bytes) at once. Ray is imported only here and only when a scan asks
for it; it is the optional ``cluster`` extra.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from facefile.analyze.analyzer import FaceAnalyzer
from facefile.errors import FacefileError
from facefile.media.files import display_path
from facefile.media.video import VideoConfig
from facefile.metadata.regions import MAX_XMP_BYTES
from facefile.metadata.sidecars import existing_sidecars
from facefile.plugins import load_plugins
from facefile.scan.worker import Job, analyze, init_worker, photo_sidecars
from facefile.types import PhotoResult

RAY_MISSING = "Ray is not installed; pip install 'facefile[cluster]'"
TASKS_PER_CPU = 4
"""Tasks in flight per cluster CPU: enough that no worker waits for the driver."""
MAX_RETRIES = 3
"""Times Ray runs a photo's task again after its worker process died."""
LOCAL_OBJECT_STORE_BYTES = 100 * 2**20
"""Object store of a Ray started for the scan: results are small and photos are read from disk."""
MAX_SENT_BYTES = 2**30
"""Photos larger than this are not sent to a cluster (reported, like any unreadable photo)."""
CONNECT_TIMEOUT_S = 10.0

# -- driver side ----------------------------------------------------------------


def require_ray() -> None:
    """Raise unless Ray can be imported.

    Raises:
        FacefileError: Ray is not installed; the message says how to install it.
    """
    try:
        import ray  # noqa: F401
    except ImportError:
        raise FacefileError(RAY_MISSING) from None


def analyze_on_ray(
    jobs: Iterable[Job],
    analyzer: FaceAnalyzer,
    max_megapixels: float,
    max_seconds: float,
    *,
    address: str,
    workers: int,
    video: VideoConfig | None = None,
) -> Iterator[tuple[bytes, PhotoResult]]:
    """Analyse every job on Ray; yield ``(path, result)`` as each photo is done, in any order.

    Close the iterator (``contextlib.closing``) when stopping early: a Ray
    this call started or joined is shut down or left, which ends its tasks
    still in flight (a Ray this process had joined before lets them finish).

    Args:
        jobs: the photos to analyse.
        analyzer: sent once to the cluster; each worker process loads its
            models from its own installed facefile.
        max_megapixels, max_seconds: the scan's per-photo limits.
        address: ``"local"`` to start a Ray on this machine for the scan, or
            the address of a running cluster (``"auto"``, ``HOST:PORT``,
            ``ray://HOST:10001``). A Ray this process already joined is used
            as it is.
        workers: CPUs of a Ray started for the scan (the cluster's own otherwise).
        video: the library's video settings, sent with the analyzer
            (``None``: the defaults).

    Raises:
        FacefileError: Ray is missing, the cluster cannot be reached, or Ray
            failed in a way a rerun of the scan may not (the message says so).
    """
    require_ray()
    import ray

    is_mine = _connect(ray, address, workers)
    try:
        limits = (max_megapixels, max_seconds, video or VideoConfig())
        yield from _results(ray, jobs, analyzer, limits, is_sent=address != "local")
    finally:
        if is_mine:
            ray.shutdown()


def _connect(ray: Any, address: str, workers: int) -> bool:
    """Start or join Ray; ``True`` when this call did (and so must shut it down)."""
    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address == "local":
        ray.init(
            address="local",  # a new Ray of its own, even where another runs on this machine
            num_cpus=workers,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            include_dashboard=False,
            **quiet,
        )
        return True
    _check_reachable(address)
    # the cluster's workers import the same plugins (their backends register on import)
    plugins = os.environ.get("FACEFILE_PLUGINS", "")
    runtime_env = {"env_vars": {"FACEFILE_PLUGINS": plugins}} if plugins else None
    try:
        ray.init(address=address, runtime_env=runtime_env, **quiet)
    except (ConnectionError, RuntimeError, ValueError, SystemExit) as exc:
        # SystemExit: Ray ends the process when a cluster stops answering during start-up
        raise FacefileError(
            f"Cannot join the Ray cluster at {address!r} ({_first_line(exc)}); check the address "
            "and that the cluster runs ('ray status' on its head node)."
        ) from None
    return True


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes, when nothing listens at ``HOST:PORT`` (Ray retries for two)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except (OSError, ValueError) as exc:
        raise FacefileError(
            f"Cannot reach the Ray cluster at {address!r} ({_first_line(exc)}); check the address "
            "(the head's GCS port, 6379 by default, or ray://HOST:10001 for Ray Client) and that "
            "the cluster runs."
        ) from None


def _results(
    ray: Any,
    jobs: Iterable[Job],
    analyzer: FaceAnalyzer,
    limits: tuple[float, float, VideoConfig],
    is_sent: bool,
) -> Iterator[tuple[bytes, PhotoResult]]:
    remote = ray.remote(max_retries=MAX_RETRIES, num_cpus=1)(analyze_photo)
    run = (uuid.uuid4().hex, [ray.put((analyzer, *limits))])  # a list: Ray resolves it only on demand
    window = TASKS_PER_CPU * max(1, int(ray.cluster_resources().get("CPU", 1)))
    todo = iter(jobs)
    pending: dict[Any, tuple[Job, str | None]] = {}  # task -> its job and the sidecars it was sent
    # Stopped early, tasks in flight are not cancelled: ending the connection ends them, and
    # cancelling one as it completes trips a check in Ray's task manager (seen with Ray 2.60),
    # which kills the scan with a C++ stack trace instead of a clean Ctrl-C.
    while True:
        while len(pending) < window and (job := next(todo, None)) is not None:
            if not is_sent:
                pending[remote.remote(run, job, None)] = (job, None)
                continue
            # taken before reading, so a sidecar edited meanwhile is read again next scan
            sidecars = photo_sidecars(job.path, job.twins)
            files = _read_files(job)
            if isinstance(files, PhotoResult):
                yield job.path, files
                continue
            pending[remote.remote(run, job, files)] = (job, sidecars)
        if not pending:
            return
        ready, _ = ray.wait(list(pending), num_returns=1)
        job, sidecars = pending.pop(ready[0])
        path, result = _outcome(ray, ready[0], job)
        if sidecars is not None and result.metadata.sidecars is not None:
            result = replace(result, metadata=replace(result.metadata, sidecars=sidecars))
        yield path, result


def _outcome(ray: Any, ref: Any, job: Job) -> tuple[bytes, PhotoResult]:
    """A finished task's result; a photo that killed every worker trying it becomes an error."""
    from ray import exceptions as rex

    try:
        return ray.get(ref)  # type: ignore[no-any-return]
    except (rex.WorkerCrashedError, rex.OutOfMemoryError) as exc:
        reason = (
            f"the process analysing it died {MAX_RETRIES + 1} times ({_first_line(exc)[:120]}); "
            "a decoder crash or too little memory"
        )
        return job.path, PhotoResult(path=display_path(job.path), error=reason)
    except rex.RayTaskError as exc:
        if isinstance(exc.cause, FacefileError):  # e.g. a model file missing on a node
            raise exc.cause from None
        raise
    except rex.RayError as exc:
        raise FacefileError(
            f"Ray failed while analysing {display_path(job.path)} ({_first_line(exc)[:200]}); "
            "the photos analysed so far are saved: run the same scan again to finish."
        ) from None


def _read_files(job: Job) -> dict[bytes, bytes] | PhotoResult:
    """The photo's bytes and its (and its twins') sidecars', by path; an error result if unreadable."""
    display = display_path(job.path)
    try:
        size = os.path.getsize(job.path)
        if size > MAX_SENT_BYTES:
            reason = f"too large to send to the Ray cluster ({size / 2**20:.0f} MB; the limit is 1 GB)"
            return PhotoResult(path=display, error=reason)
        with open(job.path, "rb") as f:
            files = {job.path: f.read()}
    except OSError as exc:
        return PhotoResult(path=display, error=f"cannot read file ({exc.strerror or exc})")
    if job.read_metadata:
        for owner in (job.path, *job.twins):
            for sidecar in existing_sidecars(owner):
                try:
                    with open(sidecar, "rb") as f:
                        # one byte over the limit is enough for the worker to refuse it as too large
                        files.setdefault(sidecar, f.read(MAX_XMP_BYTES + 1))
                except OSError:
                    continue  # gone since listed: as if absent
    return files


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# -- worker side ----------------------------------------------------------------
_RUN: str | None = None
"""The run this worker process holds an analyzer for."""


def analyze_photo(
    run: tuple[str, list[Any]], job: Job, files: dict[bytes, bytes] | None
) -> tuple[bytes, PhotoResult]:
    """One photo, in a Ray worker process: set up once per run, then as a pool worker does.

    Args:
        run: ``(run id, [object ref of (analyzer, max_megapixels, max_seconds, video settings)])``.
        job: the photo.
        files: its bytes and its sidecars', by original path, or ``None`` to
            read the photo from disk.
    """
    global _RUN
    if run[0] != _RUN:
        import ray

        load_plugins()
        init_worker(*ray.get(run[1][0]))
        _RUN = run[0]
    if files is None:
        return analyze(job)
    return job.path, _analyze_sent(job, files)


def _analyze_sent(job: Job, files: dict[bytes, bytes]) -> PhotoResult:
    """Analyse a photo sent as bytes: written under its own name in a temporary folder.

    Twins and sidecars share the photo's folder, so one folder holds them all
    under their own names and the sidecar rules find them as on the driver.
    """
    with tempfile.TemporaryDirectory(prefix="facefile-ray-") as tmp:
        here = os.fsencode(tmp)

        def staged(path: bytes) -> bytes:
            return os.path.join(here, os.path.basename(path))

        for path, data in files.items():
            with open(staged(path), "wb") as f:
                f.write(data)
        _, result = analyze(replace(job, path=staged(job.path), twins=tuple(staged(t) for t in job.twins)))
        names = [(staged(p), p) for p in (*files, *job.twins)]
    return _relabel(result, names)


def _relabel(result: PhotoResult, names: list[tuple[bytes, bytes]]) -> PhotoResult:
    """``result`` with every staged file name put back to the original it stands for.

    Messages name files in two forms (``display_path`` escapes undecodable
    bytes, ``os.fsdecode`` keeps them as surrogates); each is mapped to the
    same form of the original, longest name first so a sidecar's name is not
    mistaken for its photo's.
    """
    subs: dict[str, str] = {}
    for staged, original in names:
        subs[display_path(staged)] = display_path(original)
        subs[os.fsdecode(staged)] = os.fsdecode(original)
    order = sorted(subs, key=len, reverse=True)

    def fix(text: str) -> str:
        for old in order:
            text = text.replace(old, subs[old])
        return text

    meta = result.metadata
    meta = replace(
        meta,
        claims=tuple(replace(c, source=fix(c.source)) for c in meta.claims),
        conflicts=tuple(fix(c) for c in meta.conflicts),
        problems=tuple((fix(p), fix(r)) for p, r in meta.problems),
    )
    error = fix(result.error) if result.error is not None else None
    return replace(result, path=fix(result.path), error=error, metadata=meta)
