"""End-to-end: the web page in headless Chromium, checked through the CLI.

Needs Debian's ``chromium`` at /usr/bin/chromium (skipped otherwise). Each
test does what a user would do on the page, then reads the same library with
``facefile people --json`` / ``facefile faces --json``. Screenshots go to
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from facefile.api import Library
from tests.fakes import FAKE_SETTINGS, draw_photo, split_person

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
# identities per photo: 0 is split by hand into two people below (for the merge)
SPLIT: dict[str, str] = {}  # "source" and "part": the person split in two by the fixture
PHOTOS = [[0], [0], [0], [0], [1], [1, 2], [1], [2], [2, 3], [3], [3], [0, 1]]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
    ),
]


def cli_json(lib: Path, *args: str) -> list[dict[str, object]]:
    from typer.testing import CliRunner

    from facefile.cli import app

    result = CliRunner().invoke(
        app, [*args, "--json", "-L", str(lib)], env={"FACEFILE_PLUGINS": "tests.fakes"}
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def person_of(lib: Path, face: str) -> str | None:
    rows = {r["face"]: r for r in cli_json(lib, "faces")}
    return rows[face]["person"]  # type: ignore[return-value]


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("web")
    for i, ids in enumerate(PHOTOS):
        draw_photo(root / "photos" / f"p{i:02d}.png", ids, size=(480, 320), face_px=100)
    with Library(root / "lib", settings=FAKE_SETTINGS) as lib:
        lib.scan(root / "photos")
        biggest = lib.people()[0]
        faces = lib.faces(biggest.id)
        part = split_person(lib, [faces[0].id, faces[1].id])  # a person split in two, to merge back
        SPLIT.update(source=biggest.key, part=lib.person(part).key)
    return root / "lib"


@pytest.fixture(scope="module")
def base_url(library: Path) -> Iterator[str]:
    import uvicorn

    from facefile.web.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(library, settings=FAKE_SETTINGS), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(base_url: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on(
            "response",
            lambda r: (
                errors.append(f"{r.status} {r.request.method} {r.url} {r.request.headers} {r.text()}")
                if r.status == 403
                else None
            ),
        )
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        yield pg
        browser.close()
        assert not errors, f"browser errors: {errors}"


def shot(page: object, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_grid_shows_people(page, library: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto("/")
    cards = page.locator("#people .card")
    assert cards.count() == len(cli_json(library, "people"))
    page.locator("#people .card img").first.wait_for()
    shot(page, "01-people")


def test_rename(page, library: Path) -> None:  # type: ignore[no-untyped-def]
    first = SPLIT["source"]
    page.goto("/")
    page.get_by_placeholder("Search by name or id").fill(first)
    page.get_by_text("1 person", exact=True).wait_for()
    page.locator("#people .card-link").first.click()
    page.wait_for_url(f"**/person/{int(first.split('-')[1])}")
    page.get_by_label("Name", exact=True).fill("Ana <b>& Co</b>")
    page.get_by_role("button", name="Rename").click()
    page.get_by_role("status").filter(has_text="is now").wait_for()
    assert page.locator("h1").first.inner_text().startswith("Ana <b>& Co</b>")  # shown as text, escaped
    shot(page, "02-person-renamed")
    names = {r["person"]: r["name"] for r in cli_json(library, "people")}
    assert names[first] == "Ana <b>& Co</b>"


def test_merge_from_suggestions(page, library: Path) -> None:  # type: ignore[no-untyped-def]
    before = {r["person"]: r["faces"] for r in cli_json(library, "people")}
    newest = SPLIT["part"]
    page.goto("/")
    page.get_by_placeholder("Search by name or id").fill("Ana")
    page.get_by_text("1 person", exact=True).wait_for()
    page.locator("#people .card-link").first.click()
    page.wait_for_url("**/person/*")
    assert page.locator("h1").first.inner_text().startswith("Ana")
    ana = page.locator("h1 .key").inner_text()
    button = page.get_by_role("button", name=f"Merge {newest} here")
    button.wait_for()
    shot(page, "03-merge-suggestions")
    button.click()
    page.get_by_role("status").filter(has_text="Merged").wait_for()
    after = {r["person"]: r["faces"] for r in cli_json(library, "people")}
    assert newest not in after
    assert after[ana] == before[ana] + before[newest]


def test_move_face_to_new_person(page, library: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto("/")
    page.locator("#people .card-link").nth(1).click()
    page.wait_for_url("**/person/*")
    key = page.locator("h1 .key").inner_text()
    tile = page.locator("#faces .tile").first
    face = "face-" + tile.locator("input").get_attribute("value")
    tile.locator("input").check()
    assert page.locator("#selcount").inner_text() == "1 selected"
    shot(page, "04-face-selected")
    page.get_by_role("button", name="Move to a new person").click()
    page.get_by_role("status").filter(has_text="Moved 1 face").wait_for()
    moved_to = person_of(library, face)
    assert moved_to not in (None, key)
    rows = {r["face"]: r for r in cli_json(library, "faces", "--person", moved_to)}
    assert rows[face]["source"] == "user"


def test_face_photo_and_not_this_person(page, library: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto("/")
    page.locator("#people .card-link").first.click()
    page.wait_for_url("**/person/*")
    key = page.locator("h1 .key").inner_text()
    page.locator("#faces .tile .open").first.click()
    page.wait_for_url("**/face/*")
    face = page.locator("h1").inner_text()
    assert page.locator(".photo-frame .is-this rect").count() == 1
    page.locator(".photo-frame img").wait_for()
    shot(page, "05-face-in-photo")
    page.get_by_role("button", name=f"Not {page.locator('.facts a').inner_text()}").click()
    page.get_by_role("status").filter(has_text="belongs to nobody").wait_for()
    assert person_of(library, face) is None
    with Library(library, settings=FAKE_SETTINGS) as lib:  # remembered as a constraint
        assert ("not_person", lib.face_id(face), int(key.split("-")[1]), None) in lib.store.constraints()


def test_unassigned_group_named(page, library: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto("/unassigned")
    group = page.locator("section.group").first
    faces = ["face-" + v for v in group.locator("input[name=face]").evaluate_all("e => e.map(x => x.value)")]
    shot(page, "06-unassigned")
    group.get_by_placeholder("Who is this?").fill("Zoë")
    group.get_by_role("button", name="Name group").click()
    page.get_by_role("status").filter(has_text="Zoë").wait_for()
    named = {r["name"]: r["person"] for r in cli_json(library, "people")}
    assert all(person_of(library, f) == named["Zoë"] for f in faces)


def test_review_with_keyboard(page, library: Path) -> None:  # type: ignore[no-untyped-def]
    with Library(library, settings=FAKE_SETTINGS) as lib:  # the grouper splits someone again
        auto = [f for f in lib.faces() if f.source == "auto"]
        person = max({f.person_id for f in auto}, key=lambda p: sum(f.person_id == p for f in auto))
        split_person(lib, [f.id for f in auto if f.person_id == person][:2])
    page.goto("/review")
    page.locator("#question").wait_for(timeout=30_000)  # the queue is built in the background
    shot(page, "07-review")
    before = cli_json(library, "faces")
    progress = page.locator(".progress .meta")
    page.keyboard.press("s")
    progress.filter(has_text="1 skipped").wait_for()
    page.keyboard.press("y")
    progress.filter(has_text="1 answered").wait_for()
    after = cli_json(library, "faces")
    user_before = sum(r["source"] == "user" for r in before)
    people_before = len({r["person"] for r in before})
    assert (
        sum(r["source"] == "user" for r in after) > user_before
        or len({r["person"] for r in after}) < people_before
    )
    shot(page, "08-review-answered")


def test_forget_needs_confirmation(page, library: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto("/?q=Zoë")
    page.locator("#people .card-link").first.click()
    page.wait_for_url("**/person/*")
    key = page.locator("h1 .key").inner_text()
    page.get_by_role("link", name="Forget…").click()
    page.wait_for_url("**/forget")
    assert "erases, for good" in page.locator("main").inner_text()
    shot(page, "09-forget-confirm")
    page.get_by_label("Yes, erase").check()
    page.get_by_role("button", name="Erase").click()
    page.get_by_role("status").filter(has_text="Erased").wait_for()
    assert key not in {r["person"] for r in cli_json(library, "people", "--all")}
