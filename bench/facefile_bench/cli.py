"""``facefile bench``: grouping quality, hard conditions, growth, speed and scale.

:data:`bench_app` is published under the ``facefile.commands`` entry point
(``bench/pyproject.toml``), so ``facefile bench`` appears once this package
is installed (``pip install ./bench`` from a checkout), and only then.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console


def _require_extras() -> None:
    """The peers and plots need facefile-bench's dependencies; say how to get them."""
    import importlib.util

    missing = [m for m in ("sklearn", "infomap", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        from facefile.errors import FacefileError

        raise FacefileError(
            f"facefile bench needs {', '.join(missing)}: install the bench with its dependencies, "
            "pip install ./bench from a facefile checkout."
        )


bench_app = typer.Typer(
    help="Benchmark facefile's grouping against other tools' algorithms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    callback=_require_extras,
)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

DEFAULT_DATA = Path("../shared/data/lfw-dev")
DataOpt = Annotated[Path, typer.Option("--data", help="Labelled set: one folder per identity.")]
LimitOpt = Annotated[int | None, typer.Option("--limit", help="Use a seeded subset of about N images.")]
CacheOpt = Annotated[
    Path | None, typer.Option("--cache", help="Embedding cache (default ~/.cache/facefile/bench).")
]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder for .md/.json/.png results.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Subset, conditions and order seed.")]
WorkersOpt = Annotated[int, typer.Option("--workers", help="Analysis processes.")]


def _command() -> str:
    """The command line that ran, for the report (``facefile bench quality ...``)."""
    args = sys.argv[1:]
    if args[:1] == ["bench"]:  # run as `facefile bench ...`, not as this module
        args = args[1:]
    return "facefile bench " + " ".join(shlex.quote(a) for a in args)


def _load(data: Path, limit: int | None, seed: int) -> Any:
    from facefile_bench.dataset import load_labelled

    try:
        ds = load_labelled(data, limit=limit, seed=seed)
    except FileNotFoundError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"{ds.n_images} images of {ds.n_identities} identities from {data}")
    return ds


def _embed(
    ds: Any, condition: str, seed: int, cache: Path | None, workers: int, embedder: str = "mobilefacenet"
) -> Any:
    from facefile.analyze.analyzer import AnalyzeConfig
    from facefile_bench.embedcache import BENCH_VIEWS, embed_set

    config = AnalyzeConfig(views=BENCH_VIEWS, embedder=embedder)
    with console.status(f"Analysing {ds.n_images} images ({condition}, {embedder})"):
        es, cached = embed_set(ds, condition, seed=seed, cache_dir=cache, workers=workers, config=config)
    console.print(
        f"{condition}: {int(es.is_detected.sum())}/{es.n} labelled faces detected"
        + (" (cached)" if cached else f" in {es.seconds.sum():.0f} s of analysis")
    )
    return es


DEV_COLLECTIONS = (
    "../shared/data/lfw-dev:2000",
    "../shared/data/lfw-dev",
    "../shared/data/celeb17",
    "../shared/data/rmfrd-dev",
)
"""The collections ``quality`` runs when no ``--data`` is given."""


@bench_app.command()
def quality(
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            help="Labelled folder (one sub-folder per identity), or FOLDER:N for a seeded subset of "
            "about N images; repeatable. Default: lfw-dev:2000, lfw-dev, celeb17 and rmfrd-dev.",
        ),
    ] = None,
    condition: Annotated[
        list[str] | None,
        typer.Option(
            "--condition",
            help="mask|sunglasses|lowres|occlusion|mixed, or a check drawing hand|scarf|shades (repeatable).",
        ),
    ] = None,
    limit: LimitOpt = None,
    cache: CacheOpt = None,
    out: OutOpt = Path("bench-results"),
    seed: SeedOpt = 0,
    workers: WorkersOpt = 2,
    grid: Annotated[bool, typer.Option(help="Search each peer's grid (best-of-grid).")] = True,
    peers: Annotated[list[str] | None, typer.Option("--peers", help="Peers to run.")] = None,
    embedder: Annotated[
        list[str] | None,
        typer.Option(
            "--embedder", help="Face models to compare: mobilefacenet, dlib_resnet, onnx:PATH (repeatable)."
        ),
    ] = None,
) -> None:
    """Grouping quality on labelled collections, clean and under hard conditions.

    Every collection is grouped by facefile's defaults, by every peer (its
    default and its best-of-grid oracle) and by plain average linkage at
    facefile's bar and at the best single bar for that collection; the
    generalisation table puts them side by side with the mean over
    collections. With several ``--embedder``, every model is compared.
    """
    from facefile_bench.conditions import CONDITIONS
    from facefile_bench.generalise import Collection, generalisation_table, reference_rows
    from facefile_bench.quality_run import run_quality
    from facefile_bench.report import QUALITY_COLUMNS, plot_conditions, table, write_run

    conds = ["clean", *[c for c in condition or [] if c != "clean"]]
    for c in conds:
        if c not in CONDITIONS:
            err.print(f"[red]Unknown condition {c!r}; available: {', '.join(CONDITIONS)}.[/]")
            raise typer.Exit(1)
    collections = [Collection.parse(d, limit) for d in (data or DEV_COLLECTIONS)]
    rows: list[dict[str, Any]] = []
    sections: dict[str, str] = {}
    general: dict[str, dict[str, list[dict[str, Any]]]] = {}
    images: dict[str, Any] = {}
    models = embedder or ["mobilefacenet"]
    for col in collections:
        ds = _load(col.root, col.limit, seed)
        images[col.name] = {"paths": list(ds.paths), "identities": list(ds.identities)}
        for model in models:
            for c in conds:
                es = _embed(ds, c, seed, cache, workers, model)
                with console.status(f"Grouping {col.name} ({c})") as status:
                    got = run_quality(
                        es,
                        peers=peers,
                        use_grid=grid,
                        progress=lambda m, c=c, s=status, n=col.name: s.update(f"Grouping {n} ({c}): {m}"),
                    )
                    got += reference_rows(es)
                for r in got:
                    r.update(embedder=model, collection=col.name)
                rows += got
                key = c + (f", {model}" if len(models) > 1 else "")
                general.setdefault(key, {})[col.name] = got
                title = f"{col.name}, {c}" + (f" ({model})" if len(models) > 1 else "")
                sections[title] = table(got, QUALITY_COLUMNS)
    summary = {f"Generalisation (BCubed F, {k})": generalisation_table(v) for k, v in general.items()}
    sections = {**summary, **sections}
    specs = [str(c.root) + (f":{c.limit}" if c.limit else "") for c in collections]
    data_out = {"data": specs, "seed": seed, "images": images, "rows": rows}
    md, js = write_run(out, "quality", _command(), sections, data_out)
    png = plot_conditions(rows, md.with_suffix(".png"))
    for heading, body in summary.items():
        console.print(heading)
        console.print(body)
    console.print(f"Wrote {md}, {js}, {png}")


@bench_app.command()
def growth(
    data: DataOpt = DEFAULT_DATA,
    limit: LimitOpt = None,
    steps: Annotated[int, typer.Option(help="Increments.")] = 4,
    cache: CacheOpt = None,
    out: OutOpt = Path("bench-results"),
    seed: SeedOpt = 0,
    workers: WorkersOpt = 2,
) -> None:
    """Quality after each of STEPS increments, and beside a one-shot run."""
    from facefile_bench.growth import run_growth
    from facefile_bench.report import table, write_run

    ds = _load(data, limit, seed)
    es = _embed(ds, "clean", seed, cache, workers)
    rows = run_growth(es, n_steps=steps, seed=seed)
    cols = [
        ("algorithm", "algorithm"),
        ("step", "step"),
        ("images", "images"),
        ("pairwise_f", "pw F"),
        ("bcubed_f", "B3 F"),
        ("nmi", "NMI"),
        ("n_people", "people"),
        ("unassigned_share", "unassigned"),
        ("seconds", "time s"),
    ]
    body = table(rows, cols)
    md, js = write_run(
        out,
        "growth",
        _command(),
        {"Growth": body},
        {"data": str(data), "limit": limit, "seed": seed, "rows": rows},
    )
    console.print(body)
    console.print(f"Wrote {md}, {js}")


@bench_app.command()
def speed(
    data: DataOpt = DEFAULT_DATA,
    images: Annotated[int, typer.Option(help="250 px images to time.")] = 100,
    large: Annotated[int, typer.Option(help="12 MP group photos to compose and time.")] = 4,
    out: OutOpt = Path("bench-results"),
    seed: SeedOpt = 0,
    workers: WorkersOpt = 2,
) -> None:
    """Images/s and faces/s: facefile scan vs the face_recognition loop."""
    from facefile_bench.report import table, write_run
    from facefile_bench.speed import run_speed

    ds = _load(data, None, seed)
    with console.status("Timing"):
        rows = run_speed(ds, n_small=images, n_large=large, workers=workers, seed=seed)
    cols = [
        ("set", "images"),
        ("algorithm", "method"),
        ("images", "n images"),
        ("faces", "faces"),
        ("seconds", "time s"),
        ("images_per_s", "images/s"),
        ("faces_per_s", "faces/s"),
        ("detect_s_per_image", "detect s/image"),
        ("embed_s_per_face", "embed s/face"),
        ("model_only_faces_per_s", "model-only faces/s"),
    ]
    body = table(rows, cols)
    md, js = write_run(out, "speed", _command(), {"Speed": body}, {"rows": rows})
    console.print(body)
    console.print(f"Wrote {md}, {js}")


@bench_app.command()
def video(
    data: DataOpt = DEFAULT_DATA,
    seconds: Annotated[int, typer.Option(help="Length of each test video.")] = 60,
    sizes: Annotated[str, typer.Option(help="Comma-separated: 1080p, 720p.")] = "1080p,720p",
    descriptors: Annotated[
        bool, typer.Option(help="Also measure which track descriptor groups better (best view or mean).")
    ] = True,
    out: OutOpt = Path("bench-results"),
) -> None:
    """Video analysis: times faster than real time at the default sampling, and peak memory."""
    from facefile_bench.report import table, write_run
    from facefile_bench.video import load_average, run_video

    people = ("Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder")
    photos = [min((data / p).glob("*.jpg")) for p in people if (data / p).is_dir()]
    if len(photos) < len(people):
        err.print(f"[red]{data} lacks the folders {', '.join(people)} (lfw-dev)[/]")
        raise typer.Exit(1)
    load_before = load_average()
    with console.status("Encoding (cached) and analysing videos"):
        rows = run_video(photos, seconds, [s.strip() for s in sizes.split(",") if s.strip()])
    cols = [
        ("size", "video"),
        ("processes", "videos at once"),
        ("duration_s", "length s"),
        ("file_mb", "file MB"),
        ("wall_s", "analysis s"),
        ("cpu_s", "CPU s"),
        ("x_realtime", "x real time"),
        ("x_realtime_cpu", "x real time per CPU s"),
        ("x_realtime_by_cpu", "x real time by CPU"),
        ("peak_mb", "peak MB"),
        ("faces", "faces"),
        ("found", "appearances found"),
        ("appearances", "of"),
        ("extra", "extra faces"),
        ("stray", "stray faces"),
    ]
    body = table(rows, cols)
    body += f"\n\nLoad average (1 min) before: {load_before:.1f}, after: {load_average():.1f}.\n"
    sections = {"Video": body}
    choice: list[dict[str, Any]] = []
    if descriptors:
        from facefile_bench.video import descriptor_choice

        with console.status("Track descriptors: best view or mean of the best three"):
            choice = descriptor_choice(data)
        sections["Track descriptor"] = table(
            choice, [("descriptor", "descriptor"), ("people", "people"), ("rank1", "rank-1"),
                     ("mean_margin", "mean margin")]
        )  # fmt: skip
    md, js = write_run(out, "video", _command(), sections, {"rows": rows, "descriptors": choice})
    console.print("\n\n".join(sections.values()))
    console.print(f"Wrote {md}, {js}")


@bench_app.command()
def detect(
    data: Annotated[Path, typer.Option("--data", help="A folder of photos (no labels needed).")] = Path(
        "../shared/data/rwmfd-masked"
    ),
    out: OutOpt = Path("bench-results"),
    workers: WorkersOpt = 2,
) -> None:
    """Share of photos in which at least one face is found (e.g. real masked photos)."""
    from facefile_bench.detection import run_detection
    from facefile_bench.report import table, write_run

    if not data.is_dir():
        err.print(f"[red]{data} is not a folder (set --data).[/]")
        raise typer.Exit(1)
    with console.status("Detecting") as status:
        row = run_detection(data, workers=workers, progress=lambda m: status.update(f"Detecting: {m}"))
    row["data"] = str(data)
    cols = [
        ("data", "photos from"),
        ("photos", "photos"),
        ("photos_with_face", "with a face"),
        ("share_with_face", "share"),
        ("faces", "faces"),
        ("faces_per_photo", "faces/photo"),
        ("median_face_px", "median face px"),
        ("unreadable", "unreadable"),
        ("detect_s_per_photo", "detect s/photo"),
    ]
    body = table([row], cols)
    md, js = write_run(out, "detect", _command(), {"Detection": body}, {"rows": [row]})
    console.print(body)
    console.print(f"Wrote {md}, {js}")


@bench_app.command()
def scale(
    sizes: Annotated[str, typer.Option(help="Comma-separated collection sizes.")] = ("10000,100000,1000000"),
    algorithms: Annotated[str, typer.Option(help="facefile and/or peer names, comma-separated.")] = (
        "facefile,dlib-chinese-whispers,immich,photoprism-dbscan,hdbscan,"
        "agglomerative-average,rank-order,infomap-knn"
    ),
    timeout: Annotated[float, typer.Option(help="Seconds per run before giving up.")] = 600.0,
    max_memory_gb: Annotated[float, typer.Option(help="Memory cap per run (GB).")] = 8.0,
    out: OutOpt = Path("bench-results"),
    seed: SeedOpt = 0,
    scan_photos: Annotated[
        int,
        typer.Option(
            help="Also time scans of this many photos from --data: 1 and 2 processes, plain and on a "
            "local Ray (needs the 'cluster' extra); 0 skips it."
        ),
    ] = 0,
    scan_repeats: Annotated[int, typer.Option(help="Runs of each scan setting (the best counts).")] = 1,
    data: DataOpt = DEFAULT_DATA,
    library_faces: Annotated[
        int,
        typer.Option(
            help="Also build a library of this many synthetic faces on SQLite and on PostgreSQL and time "
            "a full regroup and 1,000 faces placed; 0 skips it."
        ),
    ] = 0,
    postgres: Annotated[
        str,
        typer.Option(
            help="PostgreSQL (with pgvector) for --library-faces; default: a pgserver started for it."
        ),
    ] = "",
) -> None:
    """Grouping time and peak memory on synthetic collections; scan throughput, plain and on Ray.

    --sizes '' skips the grouping runs.
    """
    from facefile_bench.report import plot_scale, table, write_run
    from facefile_bench.scale import run_scale

    ns = [int(s) for s in sizes.split(",") if s.strip()]
    algos = [a.strip() for a in algorithms.split(",") if a.strip()]
    sections: dict[str, str] = {}
    data_out: dict[str, Any] = {}
    if scan_photos > 0:
        sections["Scan throughput, plain and on Ray"], data_out["scan_rows"] = _scan_scale(
            data, scan_photos, scan_repeats, seed
        )
    if library_faces > 0:
        sections["A library on SQLite and on PostgreSQL"], data_out["store_rows"] = _store_scale(
            library_faces, postgres, seed
        )
    with console.status("Scaling") as status:
        rows = run_scale(
            ns,
            algos,
            timeout_s=timeout,
            seed=seed,
            progress=lambda m: status.update(f"Scaling: {m}"),
            max_memory_gb=max_memory_gb,
        )
    cols = [
        ("algorithm", "algorithm"),
        ("n_faces", "faces"),
        ("status", "status"),
        ("seconds", "time s"),
        ("cpu_seconds", "CPU s"),
        ("peak_mb", "peak MB"),
        ("confidence_seconds", "confidence s"),
        ("confidence_cpu_seconds", "confidence CPU s"),
        ("regroup_peak_mb", "with confidence peak MB"),
        ("bcubed_f", "B3 F"),
        ("pairwise_f", "pw F"),
        ("graph_seconds", "graph s"),
        ("graph_peak_mb", "graph MB"),
        ("linkage_seconds", "linkage s"),
        ("reason", "note"),
    ]
    if rows:
        sections = {"Scale": table(rows, cols), **sections}
    md, js = write_run(out, "scale", _command(), sections, {"rows": rows, **data_out})
    for body in sections.values():
        console.print(body)
    written = [md, js]
    if rows:
        written.append(plot_scale(rows, md.with_suffix(".png")))
    console.print("Wrote " + ", ".join(str(w) for w in written))


def _store_scale(n: int, postgres: str, seed: int) -> tuple[str, list[dict[str, Any]]]:
    """Each engine in its own process (peak memory apart): build, regroup, place 1,000 faces."""
    import json
    import subprocess
    import sys
    import tempfile

    from facefile_bench.report import table

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="facefile-store-bench-") as tmp:
        server = None
        if not postgres:
            import pgserver

            server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
            postgres = server.get_uri()
        try:
            for engine, location in (("sqlite", str(Path(tmp) / "lib")), ("postgresql", postgres)):
                with console.status(f"Library of {n} faces on {engine}"):
                    done = subprocess.run(
                        [sys.executable, "-m", "facefile_bench.store_scale", location, str(n), str(seed)],
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                if done.returncode != 0:
                    tail = (done.stderr.strip().splitlines() or ["?"])[-1]
                    rows.append({"engine": engine, "n_faces": n, "note": tail[:200]})
                    continue
                rows.append({"engine": engine, **json.loads(done.stdout.strip().splitlines()[-1])})
        finally:
            if server is not None:
                server.cleanup()
    cols = [
        ("engine", "engine"),
        ("n_faces", "faces"),
        ("load_s", "load s"),
        ("index_s", "HNSW index s"),
        ("regroup_s", "full regroup s"),
        ("place_s", "1,000 placed s"),
        ("placed", "placed in people"),
        ("peak_mb", "peak MB"),
        ("db_mb", "database MB"),
        ("note", "note"),
    ]
    return table(rows, cols), rows


def _scan_scale(data: Path, n_photos: int, repeats: int, seed: int) -> tuple[str, list[dict[str, Any]]]:
    """The scan-throughput table and rows: ``n_photos`` of ``data``, plain and on a local Ray."""
    from facefile.scan.on_ray import require_ray
    from facefile_bench.report import table
    from facefile_bench.scan_scale import run_scan_scale

    require_ray()
    ds = _load(data, n_photos, seed)
    paths = [ds.root / p for p in ds.paths]
    with console.status("Timing scans") as status:
        rows = run_scan_scale(paths, repeats=repeats, progress=lambda m: status.update(f"Timing: {m}"))
    cols = [
        ("mode", "scan"),
        ("workers", "processes"),
        ("photos", "photos"),
        ("faces", "faces"),
        ("seconds", "time s"),
        ("photos_per_s", "photos/s"),
        ("efficiency", "scaling efficiency"),
        ("overhead_ms_per_photo", "Ray overhead ms/photo"),
        ("steady_overhead_ms_per_photo", "... less start-up"),
    ]
    return table(rows, cols), rows


@bench_app.command("all")
def run_all(
    data: DataOpt = DEFAULT_DATA,
    limit: LimitOpt = 300,
    cache: CacheOpt = None,
    out: OutOpt = Path("bench-results"),
    seed: SeedOpt = 0,
    workers: WorkersOpt = 2,
) -> None:
    """Quality (clean and every condition), growth, speed, and scale to 100k."""
    conds = ["mask", "sunglasses", "lowres", "occlusion", "mixed"]
    quality(
        data=data,
        condition=conds,
        limit=limit,
        cache=cache,
        out=out,
        seed=seed,
        workers=workers,
        grid=True,
        peers=None,
    )
    growth(data=data, limit=limit, steps=4, cache=cache, out=out, seed=seed, workers=workers)
    speed(data=data, images=100, large=4, out=out, seed=seed, workers=workers)
    scale(
        sizes="10000,100000",
        algorithms="facefile,immich,infomap-knn,rank-order",
        timeout=600.0,
        out=out,
        seed=seed,
    )


if __name__ == "__main__":
    bench_app()


CALIBRATION_DATA = [
    Path("../shared/data/lfw-dev"),
    Path("../shared/data/celeb17"),
    Path("../shared/data/rmfrd-dev"),
]


@bench_app.command()
def calibration(
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data", help="Labelled sets to fit on and check (repeatable; default the three dev sets)."
        ),
    ] = None,
    people: Annotated[
        str, typer.Option(help="labels: each identity is a person; grouping: facefile's default grouping.")
    ] = "labels",
    cache: CacheOpt = None,
    out: OutOpt = Path("bench-results"),
    workers: WorkersOpt = 2,
) -> None:
    """Is the same-person chance honest? Fit on all sets but one, check on that one, in turn.

    Prints, per set left out, predicted against observed same-person rates
    in deciles of the prediction (with each decile's standard error), then
    the shipped constants (``facefile.cluster.calibration``, fitted on
    lfw-dev and celeb17) on every set, and a refit of them. With ``--people
    grouping``, also what the pages propose on facefile's grouping: the
    after-grouping constants of merge suggestions, rotated the same way, and
    what the unassigned page shows (``facefile_bench.left_apart``).
    """
    from facefile.cluster import calibration as shipped
    from facefile_bench import calibration as cal
    from facefile_bench import left_apart
    from facefile_bench.report import table, write_run

    if people not in ("labels", "grouping"):
        err.print(f"[red]Unknown --people {people!r}; use labels or grouping.[/]")
        raise typer.Exit(1)
    sets, merges = [], []
    for path in data or CALIBRATION_DATA:
        es = _embed(_load(path, None, 0), "clean", 0, cache, workers)
        sets.append(cal.pairs(path.name, es, people))
        if people == "grouping":
            merges.append(left_apart.merge_pairs(path.name, es))
    shipped_now = (shipped.INTERCEPT, shipped.COEF_EVIDENCE, shipped.COEF_MARGIN, shipped.COEF_CROWD)
    names = "INTERCEPT, COEF_EVIDENCE, COEF_MARGIN, COEF_CROWD"
    fit_on = [s for s in sets if s.name in cal.FIT_ON]
    refit = cal.fit(fit_on) if fit_on else None
    rotated = cal.rotate(sets) if len(sets) > 1 else []
    checked = [cal.check(shipped_now, s) for s in sets]
    cols = [("bin", "decile"), ("pairs", "pairs"), ("low", "from"), ("high", "to"),
            ("predicted", "predicted"), ("observed", "observed"), ("gap", "gap"),
            ("se", "standard error")]  # fmt: skip
    head = ("| pairs | worst decile gap (its standard error) | worst gap, people redrawn: median (5-95%) "
            "| top candidate hidden (<20%): n, same "
            "| maybe (20-50%): n, same | pre-filled (>50%): n, same |")  # fmt: skip

    def row(r: dict) -> str:
        worst = max(r["deciles"], key=lambda b: b["gap"])
        sh = r["shown"]
        cells = " | ".join(f"{sh[k]}, {sh[k + '_same']:.2f}" for k in ("hidden", "maybe", "prefilled"))
        lo, mid, hi = r["worst_range"]
        gaps = f"{worst['gap']:.3f} ({worst['se']:.3f}) | {mid:.3f} ({lo:.3f}-{hi:.3f})"
        return f"{r['pairs']} | {gaps} | {cells} |"

    sections: dict[str, str] = {}
    summary = [f"| left out | fitted on the others ({names}) {head}", "|---" * 8 + "|"]
    for r in rotated:
        params = ", ".join(f"{v:.2f}" for v in r["params"])
        summary.append(f"| {r['held_out']} | {params} | {row(r)}")
        sections[f"{r['held_out']} left out: deciles of the prediction"] = table(r["deciles"], cols)
        sections[f"{r['held_out']} left out: bins of width 0.1"] = table(r["bins"], cols)
        sections[f"{r['held_out']} left out: each face's most likely person only"] = table(
            r["top_deciles"], cols
        )
    fitted_on = ", ".join(cal.FIT_ON)
    summary += ["", f"Shipped constants (facefile.cluster.calibration, fitted on {fitted_on}; "
                "a collection among them is not held out):", "",
                f"| collection | held out {head}", "|---" * 8 + "|"]  # fmt: skip
    for r in checked:
        held = "no" if r["held_out"] in cal.FIT_ON else "**yes**"
        summary.append(f"| {r['held_out']} | {held} | {row(r)}")
        sections[f"{r['held_out']}, shipped constants: deciles of the prediction"] = table(r["deciles"], cols)
    if people == "grouping":
        summary += ["", "What the unassigned page proposes (shipped constants): each face in no person, "
                    "its most likely person among its three most likely candidates:", "",
                    "| collection | hidden (<20%): n, same | maybe (20-50%): n, same "
                    "| pre-filled (>50%): n, same |",
                    "|---" * 4 + "|"]  # fmt: skip
        for r in checked:
            sh = r["unassigned"]
            cells = " | ".join(f"{sh[k]}, {sh[k + '_same']:.2f}" for k in ("hidden", "maybe", "prefilled"))
            summary.append(f"| {r['held_out']} | {cells} |")
    summary.append(f"\nShipped: {names} = {', '.join(f'{v:.2f}' for v in shipped_now)}")
    if refit is not None:
        summary.append(f"Refitted on {fitted_on}: {', '.join(f'{v:.2f}' for v in refit)}")
    after: dict = {}
    if merges:
        summary += left_apart.summary(shipped_now, sets, merges, after, sections, cols)
    sections = {"Summary": "\n".join(summary), **sections}
    payload = {"rotated": rotated, "shipped": checked, "refit": refit, "fit_on": list(cal.FIT_ON), **after}
    md, js = write_run(out, "calibration", _command(), sections, payload)
    console.print(sections["Summary"])
    console.print(f"Wrote {md}, {js}")
