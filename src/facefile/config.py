"""Settings: defaults < ``facefile.toml`` < ``FACEFILE_*`` variables < flags.

Each stage has its own frozen config dataclass; this module only assembles
them, validates every key once, and names the bad key when one is wrong.
Fields carry their help text in ``metadata["help"]`` so documentation and
``facefile config`` are generated from one place.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facefile.analyze.analyzer import AnalyzeConfig
from facefile.cluster import DEFAULT_CLUSTERER
from facefile.errors import ConfigError
from facefile.media.video import VideoConfig

CONFIG_FILE = "facefile.toml"


@dataclass(frozen=True)
class ScanConfig:
    workers: int = field(default=0, metadata={"help": "Processes that analyse photos; 0 uses every core."})
    max_megapixels: float = field(
        default=200.0,
        metadata={"help": "Photos larger than this are skipped as possible decompression bombs."},
    )
    max_seconds_per_photo: float = field(
        default=120.0,
        metadata={
            "help": "A photo whose decoding and analysis takes longer is skipped (reported); "
            "0 means no limit."
        },
    )
    read_metadata: bool = field(
        default=True,
        metadata={
            "help": "Read named face regions (XMP, embedded and in sidecars) and apply their names; "
            "--no-metadata turns it off for one scan."
        },
    )
    ray: str = field(
        default="",
        metadata={
            "help": "Analyse on Ray (the 'cluster' extra): '' does not, 'local' starts a Ray on this "
            "machine for the scan, an address ('auto', HOST:PORT, ray://HOST:10001) joins that cluster "
            "and sends it the photos."
        },
    )

    def __post_init__(self) -> None:
        if self.ray not in ("", "local", "auto") and ":" not in self.ray:
            raise ValueError(
                f"scan.ray={self.ray!r} is not a Ray address; use 'local', 'auto', HOST:PORT or "
                "ray://HOST:10001 ('' turns Ray off)."
            )


@dataclass(frozen=True)
class GroupConfig:
    clusterer: str = field(
        default=DEFAULT_CLUSTERER, metadata={"help": "Grouping algorithm (a name in facefile.cluster)."}
    )
    incremental_above: int = field(
        default=50_000,
        metadata={
            "help": "Libraries with more faces than this place new faces into existing people "
            "instead of regrouping everything on each scan ('facefile regroup' does a full pass)."
        },
    )


@dataclass(frozen=True)
class Settings:
    analyze: AnalyzeConfig = field(default_factory=AnalyzeConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    group: GroupConfig = field(default_factory=GroupConfig)
    video: VideoConfig = field(default_factory=VideoConfig)


SECTIONS: dict[str, type] = {
    "analyze": AnalyzeConfig,
    "scan": ScanConfig,
    "group": GroupConfig,
    "video": VideoConfig,
}


def setting_names() -> list[str]:
    """Every setting as ``section.key``."""
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def describe() -> list[tuple[str, object, str]]:
    """``(name, default, help)`` for every setting."""
    out = []
    defaults = Settings()
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            default = getattr(getattr(defaults, section), f.name)
            help_ = f.metadata.get("help") or _docstring_help(cls, f.name)
            out.append((f"{section}.{f.name}", default, help_))
    return out


def _docstring_help(cls: type, name: str) -> str:
    """The text of ``name`` in a class docstring's ``Attributes:`` section."""
    doc = inspect.getdoc(cls) or ""
    m = re.search(rf"^\s*{re.escape(name)}:(.*?)(?=^\s*\w+:|\Z)", doc, re.M | re.S)
    return " ".join(m.group(1).split()) if m else ""


def load_settings(
    library_dir: Path | None = None,
    overrides: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Assemble settings from every source, lowest precedence first.

    Args:
        library_dir: folder that may hold ``facefile.toml``.
        overrides: ``{"section.key": value}`` from command-line flags;
            ``None`` values are ignored.
        environ: variables to read ``FACEFILE_SECTION_KEY`` from
            (default ``os.environ``).

    Raises:
        ConfigError: an unknown key or a value of the wrong type; the
            message names the key and where it came from.
    """
    values: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    if library_dir is not None and (library_dir / CONFIG_FILE).is_file():
        path = library_dir / CONFIG_FILE
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML ({exc}); fix or remove it.") from None
        for section, table in data.items():
            if section not in SECTIONS or not isinstance(table, dict):
                raise ConfigError(f"Unknown section [{section}] in {path}; known: {', '.join(SECTIONS)}.")
            for key, value in table.items():
                _put(values, f"{section}.{key}", value, str(path))
    env = os.environ if environ is None else environ
    for name in setting_names():
        var = "FACEFILE_" + name.replace(".", "_").upper()
        if var in env:
            _put(values, name, env[var], f"${var}")
    for name, value in (overrides or {}).items():
        if value is not None:
            _put(values, name, value, "command line")
    try:
        return Settings(**{s: SECTIONS[s](**v) for s, v in values.items()})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Invalid setting: {exc}") from None


def _put(values: dict[str, dict[str, Any]], name: str, raw: object, origin: str) -> None:
    section, _, key = name.partition(".")
    cls = SECTIONS.get(section)
    fields = {f.name: f for f in dataclasses.fields(cls)} if cls else {}
    if key not in fields:
        raise ConfigError(
            f"Unknown setting {name!r} (from {origin}); known settings: {', '.join(setting_names())}."
        )
    default = getattr(getattr(Settings(), section), key)
    values[section][key] = _coerce(name, raw, default, origin)


def _coerce(name: str, raw: object, default: object, origin: str) -> object:
    try:
        if isinstance(default, bool):
            if isinstance(raw, str):
                if raw.lower() in ("1", "true", "yes", "on"):
                    return True
                if raw.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(raw)
            return bool(raw)
        if isinstance(default, int):
            return int(raw)  # type: ignore[arg-type]
        if isinstance(default, float):
            return float(raw)  # type: ignore[arg-type]
        if isinstance(default, tuple):
            if isinstance(raw, str):
                return tuple(p.strip() for p in raw.split(",") if p.strip())
            return tuple(raw)  # type: ignore[arg-type]
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(
            f"Setting {name!r} (from {origin}) must be a {type(default).__name__}, got {raw!r}."
        ) from None


def default_library_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$FACEFILE_LIBRARY``, else ``$XDG_DATA_HOME/facefile``, else ``~/.local/share/facefile``."""
    env = os.environ if environ is None else environ
    if env.get("FACEFILE_LIBRARY"):
        return Path(env["FACEFILE_LIBRARY"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "facefile"


def settings_dict(settings: Settings) -> dict[str, dict[str, Any]]:
    return {s: dataclasses.asdict(getattr(settings, s)) for s in SECTIONS}
