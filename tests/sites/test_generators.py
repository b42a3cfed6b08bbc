"""Each example site of examples/, built by its real generator from a real `commentd export
static`: the built post holds the approved comments (names, bodies), none of the pending or
rejected ones, no email, and embed.js to adopt them; the index shows the count."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.sites.conftest import (
    EXAMPLES,
    SLUG,
    Seeded,
    assert_no_email,
    assert_shows_the_thread,
    build,
    eleventy_command,
    pelican_command,
    read_json,
    site_copy,
    tool,
)

SERVICE = "http://127.0.0.1:9"  # what the built pages name as the service: nothing is fetched


def check_site(built: Path, seeded: Seeded) -> None:
    post = (built / SLUG / "index.html").read_text(encoding="utf-8")
    assert "Gluteus Medius Self-Care" in post  # the seed article itself
    assert_shows_the_thread(post, seeded, SERVICE)
    index = (built / "index.html").read_text(encoding="utf-8")
    assert f"{len(seeded.shown)} comments" in index  # from counts.json
    assert_no_email(built, seeded)


def test_export_holds_no_email_and_only_approved_comments(seeded: Seeded) -> None:
    assert_no_email(seeded.export_dir, seeded)
    fragment = (seeded.export_dir / "posts" / f"{SLUG}.html").read_text(encoding="utf-8")
    for comment in seeded.hidden:
        assert comment["body"] not in fragment


def test_hugo_builds_the_post_with_its_comments(seeded: Seeded, tmp_path: Path) -> None:
    hugo = tool("hugo", "Debian: apt-get install hugo")
    site = site_copy("hugo", tmp_path, seeded.export_dir)
    build(
        [hugo, "--quiet", "--destination", str(tmp_path / "public")],
        site,
        {"HUGO_PARAMS_COMMENTD_SERVICE": SERVICE},
    )
    check_site(tmp_path / "public", seeded)


def test_hugo_fetches_the_fragment_from_the_live_service_with_remote_on(
    seeded: Seeded, tmp_path: Path
) -> None:
    hugo = tool("hugo", "Debian: apt-get install hugo")
    site = site_copy("hugo", tmp_path, None)  # no export: resources.GetRemote at build time
    build(
        [hugo, "--quiet", "--destination", str(tmp_path / "public")],
        site,
        {"HUGO_PARAMS_COMMENTD_SERVICE": seeded.service_url, "HUGO_PARAMS_COMMENTD_REMOTE": "1"},
    )
    post = (tmp_path / "public" / SLUG / "index.html").read_text(encoding="utf-8")
    assert_shows_the_thread(post, seeded, seeded.service_url)
    assert_no_email(tmp_path / "public", seeded)


def test_hugo_builds_a_post_without_comments(tmp_path: Path) -> None:
    hugo = tool("hugo", "Debian: apt-get install hugo")
    site = site_copy("hugo", tmp_path, None)  # nothing exported yet: the first build
    build([hugo, "--quiet", "--destination", str(tmp_path / "public")], site)
    post = (tmp_path / "public" / SLUG / "index.html").read_text(encoding="utf-8")
    assert f'<div id="comments" class="comments" data-slug="{SLUG}">' in post
    assert "<noscript>" in post and "commentd-thread" not in post
    assert "0 comments" in (tmp_path / "public/index.html").read_text(encoding="utf-8")


def test_jekyll_builds_the_post_with_its_comments(seeded: Seeded, tmp_path: Path) -> None:
    jekyll = tool("jekyll", "Debian: apt-get install jekyll")
    site = site_copy("jekyll", tmp_path, seeded.export_dir)
    (site / "_test.yml").write_text(f"commentd:\n  service: {SERVICE}\n  export: comments\n")
    build(
        [jekyll, "build", "--quiet", "--config", "_config.yml,_test.yml",
         "--source", str(site), "--destination", str(tmp_path / "_site")],
        site,
    )  # fmt: skip
    check_site(tmp_path / "_site", seeded)


def test_jekyll_without_plugins_builds_the_post_from_the_json(
    seeded: Seeded, tmp_path: Path
) -> None:
    """GitHub Pages' own builder: --safe, no _plugins; the JSON in _data, avatars published."""
    jekyll = tool("jekyll", "Debian: apt-get install jekyll")
    site = site_copy("jekyll", tmp_path, None)
    shutil.rmtree(site / "_plugins")
    shutil.copytree(seeded.export_dir, site / "_data/commentd")
    shutil.copytree(seeded.export_dir / "avatars", site / "assets/commentd-avatars")
    (site / "_test.yml").write_text(f"commentd:\n  service: {SERVICE}\n  mode: data\n")
    build(
        [jekyll, "build", "--safe", "--quiet", "--config", "_config.yml,_test.yml",
         "--source", str(site), "--destination", str(tmp_path / "_site")],
        site,
    )  # fmt: skip
    check_site(tmp_path / "_site", seeded)
    post = (tmp_path / "_site" / SLUG / "index.html").read_text(encoding="utf-8")
    avatars = re.findall(r'src="/assets/commentd-avatars/([0-9a-f]+\.svg)"', post)
    assert len(avatars) == len(seeded.shown)
    for name in avatars:  # published with the site: no request to the service
        assert (tmp_path / "_site/assets/commentd-avatars" / name).read_bytes().startswith(b"<svg")


def test_eleventy_builds_the_post_with_its_comments(seeded: Seeded, tmp_path: Path) -> None:
    eleventy = eleventy_command()
    site = site_copy("eleventy", tmp_path, seeded.export_dir)
    os.symlink(Path(eleventy).parents[1], site / "node_modules")
    build(
        [eleventy, "--quiet", f"--output={tmp_path / '_site'}"],
        site,
        {"COMMENTD_SERVICE": SERVICE},
    )
    check_site(tmp_path / "_site", seeded)


def test_pelican_builds_the_post_with_its_comments(seeded: Seeded, tmp_path: Path) -> None:
    pelican = pelican_command()
    site = site_copy("pelican", tmp_path, seeded.export_dir)
    build(
        [pelican, "--quiet", "--settings", "pelicanconf.py",
         "--output", str(tmp_path / "output"), "content"],
        site,
        {"COMMENTD_SERVICE": SERVICE},
    )  # fmt: skip
    check_site(tmp_path / "output", seeded)


def test_fetching_over_http_writes_what_the_export_writes(seeded: Seeded, tmp_path: Path) -> None:
    out = tmp_path / "fetched"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "fetch-comments.py"), "--service", seeded.service_url,
         "--out", str(out), SLUG, "posts/no-comments-yet"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    exported = seeded.export_dir / "posts" / f"{SLUG}.json"
    assert (out / "posts" / f"{SLUG}.json").read_bytes() == exported.read_bytes()
    fragment = (seeded.export_dir / "posts" / f"{SLUG}.html").read_text(encoding="utf-8")
    assert (out / "posts" / f"{SLUG}.html").read_text(encoding="utf-8") == fragment
    assert read_json(out / "counts.json") == {SLUG: len(seeded.shown)}
    assert (out / "posts/posts/no-comments-yet.html").is_file()  # the form, with no comment
    thread = read_json(exported)
    assert isinstance(thread, dict)
    for comment in thread["comments"]:
        key = comment["author"]["avatar"].rsplit("/", 1)[-1]
        assert (out / "avatars" / key).read_bytes().startswith(b"<svg")
    assert_no_email(out, seeded)


def test_fetching_refuses_a_slug_that_would_leave_the_folder(
    seeded: Seeded, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "fetch-comments.py"), "--service", seeded.service_url,
         "--out", str(tmp_path / "out"), "posts/../../escaped"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode != 0 and "refusing slug" in done.stderr
    assert not list(tmp_path.rglob("escaped*"))


def test_a_changed_slug_that_would_leave_the_folder_is_skipped_and_the_others_fetched(
    seeded: Seeded, tmp_path: Path
) -> None:
    # The rebuild hook passes the slugs of changed posts, which any reader chooses by
    # commenting: one hostile slug must not hold back the rebuild of the others.
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "fetch-comments.py"), "--service", seeded.service_url,
         "--out", str(out), "--changed"],
        capture_output=True, text=True, timeout=120, check=False,
        env=os.environ | {"COMMENTD_CHANGED_SLUGS": f"posts/../../escaped\n{SLUG}\n"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "skipped" in done.stderr and "posts/../../escaped" in done.stderr
    assert (out / "posts" / f"{SLUG}.html").is_file()
    assert not list(tmp_path.rglob("escaped*"))
