"""Settings precedence and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from facefile.config import default_library_dir, describe, load_settings
from facefile.errors import ConfigError


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    assert load_settings(tmp_path, environ={}).scan.workers == 0
    (tmp_path / "facefile.toml").write_text("[scan]\nworkers = 3\nmax_megapixels = 50\n")
    assert load_settings(tmp_path, environ={}).scan.workers == 3
    env = {"FACEFILE_SCAN_WORKERS": "5"}
    s = load_settings(tmp_path, environ=env)
    assert s.scan.workers == 5 and s.scan.max_megapixels == 50.0
    assert load_settings(tmp_path, {"scan.workers": 7}, environ=env).scan.workers == 7


def test_unknown_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "facefile.toml").write_text("[scan]\nwokers = 3\n")
    with pytest.raises(ConfigError, match=r"scan\.wokers"):
        load_settings(tmp_path, environ={})


def test_bad_value_names_key_and_origin(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"scan.workers.*FACEFILE_SCAN_WORKERS.*int"):
        load_settings(tmp_path, environ={"FACEFILE_SCAN_WORKERS": "many"})


def test_every_setting_is_documented() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name, _default, _help in describe():
        assert f"`{name}`" in readme, f"{name} missing from README's settings table"


def test_library_location() -> None:
    assert default_library_dir({"FACEFILE_LIBRARY": "/x/lib"}) == Path("/x/lib")
    assert default_library_dir({"XDG_DATA_HOME": "/d"}) == Path("/d/facefile")
