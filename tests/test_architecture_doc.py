"""docs/architecture.md names only folders, modules and names that exist."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from facefile.config import setting_names

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "facefile"
DOC = ROOT / "docs" / "architecture.md"
STAGES = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}


def _names() -> list[str]:
    return re.findall(r"`([^`\s]+)`", DOC.read_text(encoding="utf-8"))


def _exists(path: str) -> bool:
    if "*" in path:
        return any(PACKAGE.glob(path))
    if path.startswith(("bench/", "docs/", "tests/", "src/")):
        return (ROOT / path).exists()
    if "/" in path.rstrip("/"):
        return (PACKAGE / path).exists()
    if path.endswith("/"):
        return (PACKAGE / path).is_dir()
    return any(PACKAGE.rglob(path))  # a module named inside its folder's row


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module("facefile." + ".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_every_folder_and_module_named_exists() -> None:
    paths = [n for n in _names() if n.endswith((".py", "/"))]
    assert len(paths) > 30
    assert [p for p in paths if not _exists(p)] == []
    named_stages = {p.split("/")[0] for p in paths if "/" in p and not p.startswith(("bench/", "src/"))}
    assert named_stages >= STAGES  # every stage folder has its place on the map


def test_every_dotted_name_resolves() -> None:
    dotted = [
        n
        for n in _names()
        if re.fullmatch(r"[a-z_]+(\.[A-Za-z_]+)+", n)
        and not n.endswith(".py")
        and n.split(".")[0] in STAGES | {"regroup", "review", "api", "registry", "plugins", "types", "config"}
    ]
    assert len(dotted) > 5
    assert [n for n in dotted if n not in setting_names() and not _resolves(n)] == []
