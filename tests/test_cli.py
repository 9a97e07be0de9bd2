"""The command line as a user runs it, checked through its output and the library (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import facefile
from facefile.cli import app
from tests.fakes import split_person
from tests.helpers import SMALL_SET, make_photos

ENV = {
    "FACEFILE_PLUGINS": "tests.fakes",
    "FACEFILE_ANALYZE_DETECTOR": "fake_squares",
    "FACEFILE_ANALYZE_EMBEDDER": "fake_squares",
    "FACEFILE_SCAN_WORKERS": "1",
}


@pytest.fixture()
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    return CliRunner()


def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture()
def scanned(runner: CliRunner, tmp_path: Path, library_location: str) -> str:
    """A scanned library: a folder, or a PostgreSQL URL (each test runs on both)."""
    make_photos(tmp_path / "photos")
    run(runner, "scan", str(tmp_path / "photos"), "--library", library_location, "--quiet")
    return library_location


def faces_json(runner: CliRunner, lib: str) -> list[dict[str, object]]:
    return json.loads(run(runner, "faces", "--json", "-L", str(lib)))


def test_scan_prints_a_summary(runner: CliRunner, tmp_path: Path, library_location: str) -> None:
    make_photos(tmp_path / "photos")
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff\x00garbage")
    out = run(runner, "scan", str(tmp_path / "photos"), "-L", library_location, "-q")
    assert "Scan summary" in out
    assert "photos found" in out and "10" in out
    assert "broken.jpg" in out or "skipped 1" in out


def test_faces_json_contract(runner: CliRunner, scanned: str, tmp_path: Path) -> None:
    rows = faces_json(runner, scanned)
    assert len(rows) == sum(len(v) for v in SMALL_SET.values())
    for row in rows:
        assert Path(str(row["photo"])).is_absolute()
        assert str(row["photo"]).startswith(str(tmp_path / "photos"))
        left, top, right, bottom = row["box"]  # type: ignore[misc]
        assert 0 <= left < right and 0 <= top < bottom
        assert row["person"] is None or str(row["person"]).startswith("person-")
        assert 0.0 <= float(row["confidence"]) <= 1.0  # type: ignore[arg-type]


def test_faces_confidence_is_the_chance_why_gives(runner: CliRunner, scanned: str) -> None:
    rows = faces_json(runner, scanned)
    grouped = [r for r in rows if r["person"]]
    assert grouped and all(0.5 < float(r["confidence"]) <= 1.0 for r in grouped)  # type: ignore[arg-type]
    for r in grouped[:2]:
        out = " ".join(run(runner, "why", str(r["face"]), "-L", str(scanned)).split())
        chance = f"{float(r['confidence']):.0%}"  # type: ignore[arg-type]
        assert f"confidence {chance}" in out and f"by its faces, {chance} likely the same person" in out


def test_people_name_show_merge_move(runner: CliRunner, scanned: str) -> None:
    people = json.loads(run(runner, "people", "--json", "-L", str(scanned)))
    assert len(people) == 4
    assert sum(p["faces"] for p in people) == sum(len(v) for v in SMALL_SET.values())
    first = people[0]["person"]
    run(runner, "name", first, "Ana María", "-L", str(scanned))
    out = run(runner, "show", "Ana María", "-L", str(scanned))
    assert first in out and "Ana María" in out
    rows = faces_json(runner, scanned)
    lone = next(r for r in rows if str(r["photo"]).endswith("d1.png"))
    run(runner, "move", str(lone["face"]), first, "-L", str(scanned))
    moved = next(r for r in faces_json(runner, scanned) if r["face"] == lone["face"])
    assert moved["person"] == first
    run(runner, "move", str(lone["face"]), "new", "-L", str(scanned))
    moved = next(r for r in faces_json(runner, scanned) if r["face"] == lone["face"])
    assert moved["person"] not in (first, lone["person"])


def test_hide_and_unassign(runner: CliRunner, scanned: str) -> None:
    people = json.loads(run(runner, "people", "--json", "-L", str(scanned)))
    target = people[-1]["person"]
    run(runner, "hide", target, "-L", str(scanned))
    visible = json.loads(run(runner, "people", "--json", "-L", str(scanned)))
    assert target not in [p["person"] for p in visible]
    everyone = json.loads(run(runner, "people", "--json", "--all", "-L", str(scanned)))
    assert target in [p["person"] for p in everyone]
    face = next(r for r in faces_json(runner, scanned) if r["person"] == people[0]["person"])
    run(runner, "unassign", str(face["face"]), "-L", str(scanned))
    after = next(r for r in faces_json(runner, scanned) if r["face"] == face["face"])
    assert after["person"] != people[0]["person"]


def test_export_writes_folders_and_tables(runner: CliRunner, scanned: str, tmp_path: Path) -> None:
    people = json.loads(run(runner, "people", "--json", "-L", str(scanned)))
    run(runner, "name", people[0]["person"], "Ana", "-L", str(scanned))
    out_dir = tmp_path / "People"
    run(runner, "export", str(out_dir), "--mode", "copy", "-L", str(scanned))
    assert (out_dir / "Ana").is_dir()
    assert len(list((out_dir / "Ana").iterdir())) == people[0]["faces"]
    table = json.loads((out_dir / "people.json").read_text())
    assert {"person", "name", "photo", "box"} <= set(table[0])
    csv_lines = (out_dir / "people.csv").read_text().splitlines()
    assert csv_lines[0] == "person,name,photo,box,twins"
    assert len(csv_lines) == 1 + len(table)


def test_forget_asks_then_erases(runner: CliRunner, scanned: str) -> None:
    people = json.loads(run(runner, "people", "--json", "-L", str(scanned)))
    target = people[-1]["person"]
    result = runner.invoke(app, ["forget", target, "-L", str(scanned)], input="n\n")
    assert result.exit_code == 1
    run(runner, "forget", target, "--yes", "-L", str(scanned))
    after = json.loads(run(runner, "people", "--json", "--all", "-L", str(scanned)))
    assert target not in [p["person"] for p in after]


def test_errors_say_what_to_do(runner: CliRunner, scanned: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["show", "person-9999", "-L", str(scanned)])
    assert result.exit_code == 1
    assert "No person person-9999" in result.output and "facefile people" in result.output
    result = runner.invoke(app, ["people", "-L", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "facefile scan" in result.output
    result = runner.invoke(
        app, ["scan", str(tmp_path / "photos"), "-L", str(scanned), "--detector", "retina"]
    )
    assert result.exit_code == 1
    assert "Unknown detector 'retina'" in result.output and "available" in result.output


def test_review_and_why(runner: CliRunner, scanned: str) -> None:
    rows = faces_json(runner, scanned)
    out = run(runner, "why", str(rows[0]["face"]), "-L", str(scanned))
    assert str(rows[0]["face"]) in out and "similar" in out.lower()
    # the grouper splits a person in two: review asks whether they are one, and "y" merges them
    with facefile.Library(scanned) as lib:
        a1 = next(f for f in lib.faces() if f.photo.endswith("a1.png"))
        twin = [f.id for f in lib.faces(a1.person_id) if f.id != a1.id]
        new_id = split_person(lib, twin)
        assert lib.person(new_id).n_faces == len(twin)
    result = runner.invoke(app, ["review", "-L", str(scanned), "--limit", "3"], input="y\ny\ny\n")
    assert result.exit_code == 0, result.output
    assert "[1/" in result.output and "same person" in result.output
    with facefile.Library(scanned) as lib:
        persons = {f.person_id for f in lib.faces() if f.id in twin or f.id == a1.id}
        assert len(persons) == 1


def test_the_other_commands(
    runner: CliRunner, scanned: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = ["-L", scanned]
    rows = faces_json(runner, scanned)
    a1 = next(r for r in rows if str(r["photo"]).endswith("a1.png"))
    out = run(runner, "move", str(a1["face"]), "new", *lib)
    split = re.search(r"person-\d+", out)[0]  # type: ignore[index]
    assert "Merged into" in run(runner, "merge", split, str(a1["person"]), *lib)
    assert next(r for r in faces_json(runner, scanned) if r["face"] == a1["face"])["person"] == a1["person"]
    run(runner, "exclude", str(a1["face"]), *lib)
    assert a1["face"] not in {r["face"] for r in faces_json(runner, scanned)}
    run(runner, "include", str(a1["face"]), *lib)
    assert a1["face"] in {r["face"] for r in faces_json(runner, scanned)}
    last = json.loads(run(runner, "people", "--json", *lib))[-1]["person"]
    run(runner, "hide", last, *lib)
    run(runner, "unhide", last, *lib)
    assert last in {p["person"] for p in json.loads(run(runner, "people", "--json", *lib))}
    assert "faces:" in run(runner, "regroup", "-q", *lib)
    assert "analyze.detector" in run(runner, "config", *lib)
    run(runner, "name", str(a1["person"]), "Ana", *lib)
    assert "would write" in run(runner, "xmp", "write", "--dry-run", *lib)
    monkeypatch.setenv("FACEFILE_LIBRARY", scanned)  # the variable names the library as well as -L
    assert run(runner, "people", "--json") == run(runner, "people", "--json", *lib)
    assert "Erased the library" in run(runner, "forget", "--all", "--yes", *lib)
    result = runner.invoke(app, ["people", *lib])
    assert result.exit_code == 1 and "facefile scan" in result.output
