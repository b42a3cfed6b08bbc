"""Static-site generators, for real: a `commentd serve` with approved and pending comments on the
seed article, its `commentd export static`, and the generators that build examples/ from it.

A generator that is not installed skips its test, and CI (COMMENTD_REQUIRE_ALL_TESTS=1) turns
that skip into a failure: .ci/run installs hugo and jekyll (Debian), Eleventy (npm ci in
examples/eleventy) and Pelican (its own virtualenv, .venv-pelican: see examples/pelican).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.helpers import (
    LiveServer,
    created,
    moderate_live,
    post_live,
    run_commentd,
    serve_environment,
    start_server,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
# Every example builds the seed article at /posts/<name>/; the slug is that path (embed.js's
# default), so the export's files sit in posts/posts/ (a slug's "/" makes folders).
SLUG = "posts/3-minute-muscles-gluteus-medius"
BUILD_TIMEOUT = 300


@dataclass
class Seeded:
    """A post's comments as the service holds them, and what a built page must show of them."""

    database_url: str
    service_url: str
    export_dir: Path
    shown: list[dict[str, str]]  # name (as typed) and body_html of each approved comment
    hidden: list[dict[str, str]]  # name and body of each pending or rejected comment
    emails: list[str]  # every address used: none may appear in any built file


# Names and bodies chosen to catch mistakes: HTML in a name (must stay text), template syntax
# of Liquid, Nunjucks, Jinja and Go templates in a body (must stay text: the fragment is never
# run through the site's template language), a reply (threading).
APPROVED = [
    {
        "name": "Dana <b>&</b> Ortiz",
        "email": "dana.private@example.org",
        "website": "https://dana.example",
        "body": "Pigeon pose opened my hips in a week.",
    },
    {
        "name": "Lee",
        "email": "lee.private@example.org",
        "body": "Liquid {{ site.title }}, Jinja {% raw %}, Go {{ .Site }}: text, not templates.",
    },
]
REPLY = {"name": "Sam Okafor", "email": "sam.private@example.org",
         "body": "Clamshells, three sets of twenty-five, every morning."}  # fmt: skip
PENDING = {"name": "Pat Pending", "email": "pat.private@example.org",
           "body": "This one still waits for the author."}  # fmt: skip
REJECTED = {"name": "Rex Rejected", "email": "rex.private@example.org",
            "body": "This one the author turned down."}  # fmt: skip


def seed_comments(server: LiveServer) -> tuple[list[int], list[int]]:
    """Post the comments above on SLUG through the live service; (approved ids, others)."""
    approved: list[int] = []
    for fields in APPROVED:
        approved.append(int(created(post_live(server, SLUG, **fields))["id"]))
        moderate_live(server, approved[-1], "approve")
    reply = created(post_live(server, SLUG, parent_id=approved[0], **REPLY))
    moderate_live(server, int(reply["id"]), "approve")
    approved.append(int(reply["id"]))
    pending = int(created(post_live(server, SLUG, **PENDING))["id"])
    rejected = int(created(post_live(server, SLUG, **REJECTED))["id"])
    moderate_live(server, rejected, "reject")
    return approved, [pending, rejected]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """One `commentd serve` (SQLite) for a module: the seed post's comments, exported."""
    workdir = tmp_path_factory.mktemp("site-service")
    database_url = f"sqlite:///{workdir / 'commentd.db'}"
    server = start_server(serve_environment(database_url), workdir)
    try:
        seed_comments(server)
        thread = requests.get(f"{server.url}/api/posts/{SLUG}/comments", timeout=30).json()
        export_dir = workdir / "export"
        # The files carry the service's address (the form's action, the JSON's avatars): the
        # same as the live answers', so fetching over HTTP gives the same bytes.
        public = {"COMMENTD_PUBLIC_URL": server.url}
        run_commentd(database_url, "export", "static", "--quiet", str(export_dir), env=public)
        by_name = {c["author"]["name"]: c for c in thread["comments"]}
        shown = [
            {"name": f["name"], "body_html": by_name[f["name"]]["body_html"]}
            for f in [*APPROVED, REPLY]
        ]
        hidden = [{"name": f["name"], "body": f["body"]} for f in (PENDING, REJECTED)]
        emails = [f["email"] for f in [*APPROVED, REPLY, PENDING, REJECTED]]
        yield Seeded(database_url, server.url, export_dir, shown, hidden, emails)
    finally:
        server.stop()


def site_copy(example: str, destination: Path, export_dir: Path | None) -> Path:
    """examples/<example> copied to `destination` (never building inside the repository),
    with the export copied in as its `comments/` folder; the copy's path."""
    site = destination / example
    shutil.copytree(
        EXAMPLES / example,
        site,
        ignore=shutil.ignore_patterns("node_modules", "comments", "_site", "public", "output"),
    )
    if export_dir is not None:
        shutil.copytree(export_dir, site / "comments")
    return site


def build(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a generator; its output, or AssertionError with it when it fails."""
    done = subprocess.run(
        command,
        cwd=cwd,
        env=os.environ | (env or {}),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def tool(name: str, hint: str) -> str:
    """The path of an installed program; a skip (a failure in CI) naming `hint` otherwise."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed ({hint})")
    return found


def pelican_command() -> str:
    """Pelican from its own virtualenv (.venv-pelican, as .ci/run makes it; see
    examples/pelican/README.md), or COMMENTD_TEST_PELICAN."""
    found = os.environ.get("COMMENTD_TEST_PELICAN") or str(ROOT / ".venv-pelican/bin/pelican")
    if not Path(found).is_file():
        pytest.skip("Pelican is not installed: see examples/pelican/README.md (.venv-pelican)")
    return found


def eleventy_command() -> str:
    """Eleventy as examples/eleventy/package-lock.json pins it (`npm ci` there)."""
    found = EXAMPLES / "eleventy/node_modules/.bin/eleventy"
    if not found.is_file():
        pytest.skip("Eleventy is not installed: run `npm ci` in examples/eleventy")
    return str(found)


def assert_shows_the_thread(page: str, seeded: Seeded, service_url: str) -> None:
    """The built post holds the approved comments as commentd exported them, none of the
    others, and embed.js from the service to adopt them."""
    assert 'id="commentd-thread"' in page
    assert f'data-slug="{SLUG}"' in page
    assert f'<script src="{service_url}/embed.js" defer></script>' in page
    for comment in seeded.shown:
        assert comment["body_html"] in page, comment["name"]
        escaped = comment["name"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert escaped in page, comment["name"]
    assert "<b>&</b>" not in page  # the name stayed text
    assert "{{ site.title }}" in page and "{% raw %}" in page  # the body stayed text
    for comment in seeded.hidden:
        assert comment["name"] not in page
        assert comment["body"] not in page


def assert_no_email(folder: Path, seeded: Seeded) -> None:
    """No file under `folder` holds any commenter's address, in any case."""
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="replace").lower()
            for email in seeded.emails:
                assert email.lower() not in text, path


def python() -> str:
    """This interpreter (the project's virtualenv), for `python -m commentd` in build lines."""
    return sys.executable


def read_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))
