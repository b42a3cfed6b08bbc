"""`commentd export static <dir>` through the command line, against the API on the same
database: the JSON files are the API's answers byte for byte, the fragments and counts follow,
a second run touches only what changed, and nothing lands outside <dir> whatever the slug."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from commentd.models import CommentStatus
from commentd.publishing.slug_paths import path_for_slug, slug_for_path
from tests.helpers import MODERATOR, moderate, run_commentd, run_with_terminal_stderr

PUBLIC = {"COMMENTD_PUBLIC_URL": "https://comments.example"}  # the test app's (conftest)
MakeComment = Callable[..., int]


def export(
    database_url: str, target: Path, *extra: str, check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    """`commentd export static <target>`; its finished process."""
    return run_commentd(
        database_url, "export", "static", str(target), *extra, check=check, env=PUBLIC | env
    )


def api_body(client: FlaskClient, slug: str) -> bytes:
    response = client.get(f"/api/posts/{quote(slug, safe='')}/comments")
    assert response.status_code == 200
    return response.data


def files_under(root: Path) -> dict[str, os.stat_result]:
    """Every file and link below `root` (links not followed), by relative path."""
    found = {}
    for folder, dirs, names in os.walk(root, followlinks=False):
        for name in names + [d for d in dirs if Path(folder, d).is_symlink()]:
            path = Path(folder, name)
            found[str(path.relative_to(root))] = path.lstat()
    return found


def post_file(root: Path, slug: str, suffix: str, *, fold_case: bool = False) -> Path:
    return root / "posts" / f"{path_for_slug(slug, fold_case=fold_case)}{suffix}"


def test_every_post_is_the_apis_answer_byte_for_byte(
    client: FlaskClient, make_comment: MakeComment, database_url: str, tmp_path: Path
) -> None:
    first = make_comment(slug="2024/03/glute", name="Dana <b>", body="Pigeon *pose*")
    reply = make_comment(slug="2024/03/glute", parent_id=first, name="Author", email="a@x.org")
    make_comment(slug="2024/03/glute", parent_id=reply, body="and more")
    doomed = make_comment(slug="threads", body="gone soon")
    orphan = make_comment(slug="threads", parent_id=doomed, body="re-attached")
    assert client.delete(f"/api/moderation/comments/{doomed}", headers=MODERATOR).status_code == 204
    make_comment(slug="threads", status=CommentStatus.PENDING, body="still waiting")
    make_comment(slug="only-pending", status=CommentStatus.PENDING)
    make_comment(slug="rejected", status=CommentStatus.REJECTED)
    make_comment(slug="closed-post")
    closing = client.put(
        "/api/moderation/posts/closed-post", json={"closed": True}, headers=MODERATOR
    )
    assert closing.status_code == 200

    done = export(database_url, tmp_path / "site")
    assert "3 posts written, 0 unchanged, 0 removed" in done.stdout
    site = tmp_path / "site"
    for slug in ("2024/03/glute", "threads", "closed-post"):
        assert post_file(site, slug, ".json").read_bytes() == api_body(client, slug)
    assert json.loads((site / "counts.json").read_text()) == {
        "2024/03/glute": 3,
        "threads": 1,
        "closed-post": 1,
    }
    threads = json.loads(post_file(site, "threads", ".json").read_text())
    assert [(c["id"], c["parent_id"]) for c in threads["comments"]] == [(orphan, None)]
    assert json.loads(post_file(site, "closed-post", ".json").read_text())["closed"] is True
    # No pending, rejected or emptied post has a file; no email anywhere.
    assert not post_file(site, "only-pending", ".json").exists()
    assert not post_file(site, "rejected", ".html").exists()
    everything = b"".join(p.read_bytes() for p in site.rglob("*") if p.is_file())
    assert b"dana@example.com" not in everything and b"a@x.org" not in everything
    assert b"still waiting" not in everything
    # The fragment: the thread, names as text, avatars inline.
    fragment = post_file(site, "2024/03/glute", ".html").read_text()
    assert 'class="commentd-thread"' in fragment and 'data-commentd-count="3"' in fragment
    assert "Dana &lt;b&gt;" in fragment and "<em>pose</em>" in fragment
    assert "data:image/svg+xml," in fragment
    # Avatars beside: the API's pictures, for every avatar the JSON names.
    for name in ("2024/03/glute", "threads"):
        for comment in json.loads(post_file(site, name, ".json").read_text())["comments"]:
            url = comment["author"]["avatar"]
            key = re.fullmatch(r"https://comments\.example/api/avatars/([0-9a-f]+)\.svg", url)
            assert key is not None
            served = client.get(f"/api/avatars/{key[1]}.svg").data
            assert (site / "avatars" / f"{key[1]}.svg").read_bytes() == served
    # Published files are readable by a web server, whatever commentd's private umask.
    assert post_file(site, "threads", ".json").stat().st_mode & 0o777 == 0o644
    assert (site / "posts" / "2024").stat().st_mode & 0o777 == 0o755
    assert (site / "counts.json").stat().st_mode & 0o777 == 0o644


def test_a_second_run_writes_only_what_changed(
    client: FlaskClient, make_comment: MakeComment, database_url: str, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    for n in range(4):
        make_comment(slug=f"post-{n}")
    lone = make_comment(slug="deep/lone")
    export(database_url, site)
    before = files_under(site)

    again = export(database_url, site)
    assert "0 posts written, 5 unchanged, 0 removed" in again.stdout
    after = files_under(site)
    assert {k: (v.st_ino, v.st_mtime_ns) for k, v in after.items()} == {
        k: (v.st_ino, v.st_mtime_ns) for k, v in before.items()
    }

    make_comment(slug="post-1", body="a second one")
    moderate(client, lone, "reject")
    third = export(database_url, site)
    assert "1 posts written, 3 unchanged, 1 removed" in third.stdout
    now = files_under(site)
    for n in (0, 2, 3):
        for suffix in (".json", ".html"):
            name = f"posts/post-{n}{suffix}"
            assert (now[name].st_ino, now[name].st_mtime_ns) == (
                before[name].st_ino,
                before[name].st_mtime_ns,
            )
    assert now["posts/post-1.json"].st_ino != before["posts/post-1.json"].st_ino
    assert (site / "posts/post-1.json").read_bytes() == api_body(client, "post-1")
    assert not (site / "posts/deep").exists()  # the emptied post's files, and its folder
    counts = json.loads((site / "counts.json").read_text())
    assert counts == {"post-0": 1, "post-1": 2, "post-2": 1, "post-3": 1}
    manifest = (site / "manifest.jsonl").read_text().splitlines()
    assert json.loads(manifest[0])["parameters"]["public_url"] == "https://comments.example"
    assert [json.loads(line)["slug"] for line in manifest[1:]] == list(counts)  # in id order
    fourth = export(database_url, site)
    assert "0 posts written, 4 unchanged, 0 removed" in fourth.stdout


def test_a_changed_parameter_rewrites_every_post(
    make_comment: MakeComment, database_url: str, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    make_comment(slug="one")
    make_comment(slug="two")
    export(database_url, site)
    before = files_under(site)
    moved = export(database_url, site, COMMENTD_PUBLIC_URL="https://talk.example")
    assert "2 posts written, 0 unchanged, 0 removed" in moved.stdout
    after = files_under(site)
    assert after["posts/one.json"].st_ino != before["posts/one.json"].st_ino
    assert "https://talk.example/api/avatars/" in (site / "posts/one.json").read_text()
    assert (
        'action="https://talk.example/api/posts/two/comments"'
        in (site / "posts/two.html").read_text()
    )


HOSTILE = [
    "..",
    ".",
    "...",
    "../../escaped",
    "a/../../../escaped",
    "a/./b",
    "back\\..\\..\\slash",
    "%2E%2E%2Fencoded",  # decoded by the API to ../encoded
    "caf%E9",  # an escape that is not UTF-8 stays, as the API keeps it
    "con",
    "nul.txt/x",
    "x:y*z?<>|",
    "a",
    "a/b",  # a file and a folder: a.json beside a/
    "a.json/x",  # a folder that would meet a.json
    "trailing.",
    "é" * 255,  # 510 bytes
    "语" * 255,  # 765 bytes, more than a file name may hold
]


def test_hostile_slugs_stay_inside_and_match_the_api(
    client: FlaskClient, make_comment: MakeComment, database_url: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    site = tmp_path / "jail" / "site"
    slugs = []
    for raw in HOSTILE:
        created = client.post(
            f"/api/posts/{quote(raw, safe='')}/comments",
            json={"name": "Eve", "email": "eve@example.com", "body": "hostile"},
        )
        assert created.status_code == 201, (raw, created.json)
        moderate(client, int(created.json["id"]), "approve")  # type: ignore[index]
        listed = client.get(f"/api/posts/{quote(raw, safe='')}/comments").json
        slugs.append(listed["slug"])  # type: ignore[index]

    done = export(database_url, site)
    assert f"{len(set(slugs))} posts written" in done.stdout
    jail = (tmp_path / "jail").resolve()
    for relative in files_under(tmp_path / "jail"):
        resolved = (tmp_path / "jail" / relative).resolve()
        assert resolved.is_relative_to(jail / "site"), relative
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "jail" / "escaped").exists()
    for slug in slugs:
        path = post_file(site, slug, ".json")
        assert path.read_bytes() == api_body(client, slug), slug
        assert path.resolve().is_relative_to(site.resolve() / "posts")
        assert all(len(part.encode()) <= 255 for part in path.parts)
        relative = str(path.relative_to(site / "posts")).removesuffix(".json")
        assert slug_for_path(relative) == slug
    assert (site / "posts" / "a.json").is_file() and (site / "posts" / "a" / "b.json").is_file()
    assert json.loads((site / "counts.json").read_text()) == dict.fromkeys(slugs, 1)


def test_control_characters_and_empty_segments_are_never_exported(
    client: FlaskClient,
    make_comment: MakeComment,
    migrated_engine: Engine,
    database_url: str,
    tmp_path: Path,
) -> None:
    for raw in ("a%00b", "a%01b", "%2F%2F"):
        refused = client.post(
            f"/api/posts/{raw}/comments",
            json={"name": "Eve", "email": "eve@example.com", "body": "hostile"},
        )
        assert refused.status_code == 400
    # Stored behind the API's back (an old database, a hand edit): skipped, never a path.
    planted = ["/lead", "a//b", "ctl\x01x", "trail/"]
    for n in range(len(planted)):
        make_comment(slug=f"planted-{n}")
    with migrated_engine.begin() as connection:
        for n, slug in enumerate(planted):
            connection.execute(
                text("UPDATE posts SET slug = :slug WHERE slug = :old"),
                {"slug": slug, "old": f"planted-{n}"},
            )
    make_comment(slug="fine")
    done = export(database_url, tmp_path / "site")
    assert "1 posts written" in done.stdout and f"Skipped {len(planted)} posts" in done.stdout
    assert sorted(files_under(tmp_path / "site" / "posts")) == ["fine.html", "fine.json"]
    assert json.loads((tmp_path / "site" / "counts.json").read_text()) == {"fine": 1}


def test_links_inside_and_a_linked_dir_are_never_followed(
    make_comment: MakeComment, database_url: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.json").write_text("keep me")
    site = tmp_path / "site"
    (site / "posts").mkdir(parents=True)
    (site / "posts" / "evil").symlink_to(outside, target_is_directory=True)
    (site / "posts" / "plain.json").symlink_to(outside / "victim.json")
    (site / "avatars").symlink_to(outside, target_is_directory=True)
    make_comment(slug="evil/x")
    make_comment(slug="plain")

    refused = export(database_url, site, check=False)
    assert refused.returncode == 1
    assert "evil" in refused.stderr and "not followed" in refused.stderr
    assert "avatars" in refused.stderr
    assert "1 posts written" in refused.stdout and "Refused 2 " in refused.stdout
    assert sorted(p.name for p in outside.iterdir()) == ["victim.json"]
    assert (outside / "victim.json").read_text() == "keep me"
    assert not (
        site / "posts" / "plain.json"
    ).is_symlink()  # the link replaced, not written through
    assert (site / "posts" / "evil").is_symlink()

    linked = tmp_path / "linked"
    linked.symlink_to(outside, target_is_directory=True)
    refused = export(database_url, linked, check=False)
    assert refused.returncode != 0 and "symbolic link" in refused.stderr
    assert sorted(p.name for p in outside.iterdir()) == ["victim.json"]


def test_case_folding_keeps_slugs_that_differ_in_case_apart(
    client: FlaskClient, make_comment: MakeComment, database_url: str, tmp_path: Path
) -> None:
    make_comment(slug="Post")
    make_comment(slug="post", body="another post")
    site = tmp_path / "site"
    done = export(database_url, site, "--fold-case")
    assert "2 posts written" in done.stdout
    names = sorted(p.name for p in (site / "posts").iterdir())
    assert names == ["%50ost.html", "%50ost.json", "post.html", "post.json"]
    assert all(name == name.lower() or "%" in name for name in names)
    assert (site / "posts" / "%50ost.json").read_bytes() == api_body(client, "Post")
    # Going back to kept case is a parameter change: every file moves, none is lost.
    kept = export(database_url, site, "--keep-case")
    assert "2 posts written" in kept.stdout
    names = sorted(p.name for p in (site / "posts").iterdir())
    assert names == ["Post.html", "Post.json", "post.html", "post.json"]


def test_refusals_are_plain(database_url: str, tmp_path: Path) -> None:
    no_url = run_commentd(database_url, "export", "static", str(tmp_path / "x"), check=False)
    assert no_url.returncode != 0 and "COMMENTD_PUBLIC_URL" in no_url.stderr
    dash = export(database_url, Path("-"), check=False)
    assert dash.returncode != 0 and "folder" in dash.stderr
    afile = tmp_path / "file"
    afile.write_text("x")
    on_file = export(database_url, afile, check=False)
    assert on_file.returncode != 0 and "Traceback" not in on_file.stderr


def test_a_progress_bar_shows_on_a_terminal_and_never_in_a_pipe(
    make_comment: MakeComment, database_url: str, tmp_path: Path
) -> None:
    make_comment(slug="one")
    environment = os.environ | {"COMMENTD_DATABASE_URL": database_url} | PUBLIC
    returncode, seen, output = run_with_terminal_stderr(
        ["export", "static", str(tmp_path / "site")], environment, 120
    )
    assert returncode == 0, seen
    assert b"export static" in seen and b"%|" in seen  # tqdm's bar, on standard error
    assert b"1 posts written" in output
    piped = export(database_url, tmp_path / "site")
    assert "%|" not in piped.stderr and "1 unchanged" in piped.stdout


def test_a_tampered_manifest_cannot_remove_anything_outside(
    make_comment: MakeComment, database_url: str, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    victim = tmp_path / "victim.json"
    victim.write_text("keep me")
    make_comment(slug="kept")
    export(database_url, site)
    lines = (site / "manifest.jsonl").read_text().splitlines()
    forged = [
        {"id": 0, "slug": "x", "version": "v", "count": 1, "path": "../../victim"},
        {"id": 0, "slug": "x", "version": "v", "count": 1, "path": "%2E%2E/%2E%2E/victim"},
    ]
    (site / "manifest.jsonl").write_text(
        "\n".join([lines[0], *(json.dumps(f) for f in forged), *lines[1:]]) + "\n"
    )
    done = export(database_url, site)
    assert "0 posts written, 1 unchanged" in done.stdout
    assert victim.read_text() == "keep me"
    assert (site / "posts" / "kept.json").is_file()
