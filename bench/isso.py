"""Isso beside commentd: a pinned Isso in a virtualenv of its own, served and seeded for a run.

Isso (https://isso-comments.de) is the comment server for static blogs that commentd is
compared with. bench/run.py installs it here, never into the project's environment: a
virtualenv under bench/.isso-venv/ (ignored by git; made once per pinned version, reused by
later runs, checked before each), with ISSO_VERSION and GUNICORN_VERSION pinned. Each run
serves it as Isso's own deployment guide does, `gunicorn -w 2 --preload isso.run` with
ISSO_SETTINGS naming a configuration written into the run's temporary directory: its own
SQLite database there, bound to 127.0.0.1 on a free port, moderation off and the guard (its
per-address rate limit) off, so every post is accepted as commentd's are with its limits
lifted. Everything else is Isso's default (Markdown by mistune, PBKDF2 hashes of the
commenters' addresses).

If any of it fails (no registry, no compiler for misaka, a server that does not start), the
failure is an IssoUnavailable with the reason, which bench/run.py reports in place of the
figures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import requests

from .seed import BODIES

HERE = Path(__file__).resolve().parent
ISSO_VERSION = "0.14.0"
GUNICORN_VERSION = "27.0.1"  # the gunicorn of commentd's own environment
WORKERS = 2  # the reference figure: Isso on `gunicorn -w 2`, one process per core here
VENV_ROOT = HERE / ".isso-venv"
THREAD_TITLE = "Bench thread"
READ_URI = "/bench-20"
READ_COMMENTS = 20
POST_THREADS = 100  # posting goes to random ones of these threads, each made beforehand


class IssoUnavailable(Exception):
    """Isso could not be installed, started or seeded here: str() says why."""


def venv_dir() -> Path:
    return VENV_ROOT / f"isso-{ISSO_VERSION}-gunicorn-{GUNICORN_VERSION}"


def _pinned_versions(python: Path) -> tuple[str, str] | None:
    """(isso, gunicorn) as installed in the virtualenv of `python`, or None if it is unusable."""
    try:
        out = subprocess.run(
            [
                str(python),
                "-c",
                "from importlib.metadata import version; import isso, gunicorn; "
                "print(version('isso'), version('gunicorn'))",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = out.stdout.split()
    return (parts[0], parts[1]) if out.returncode == 0 and len(parts) == 2 else None


def ensure_installed() -> Path:
    """The bin/ directory of a virtualenv holding the pinned Isso and gunicorn, made if needed."""
    target = venv_dir()
    python = target / "bin" / "python"
    if python.exists() and _pinned_versions(python) == (ISSO_VERSION, GUNICORN_VERSION):
        return target / "bin"
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"installing Isso {ISSO_VERSION} into {target}", flush=True)
    # The interpreter the project runs on, not this virtualenv: venv resolves it from here.
    steps = [
        [sys.executable, "-m", "venv", str(target)],
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"isso=={ISSO_VERSION}",
            f"gunicorn=={GUNICORN_VERSION}",
        ],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as error:
            shutil.rmtree(target, ignore_errors=True)
            raise IssoUnavailable(f"`{' '.join(step[2:5])}` failed: {error}") from error
        if done.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            errors = [
                line
                for line in (done.stderr + done.stdout).splitlines()
                if line.strip() and "is ignored: it is neither" not in line
            ]
            raise IssoUnavailable(
                f"`{' '.join(step[2:5])}` exited {done.returncode}: " + " / ".join(errors[-6:])
            )
    found = _pinned_versions(python)
    if found != (ISSO_VERSION, GUNICORN_VERSION):
        raise IssoUnavailable(f"installed, but the virtualenv reports {found}")
    return target / "bin"


def installed_packages(bin_dir: Path) -> list[str]:
    """`pip freeze` of Isso's virtualenv: what was measured, to the last dependency."""
    done = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout.split()


def write_config(workdir: Path, label: str, closed_port: int) -> Path:
    """Isso's settings for one server: its own database in `workdir`, guard and moderation off.

    `host` (the blog, which Isso asks for a page's title and sends CORS headers for) is a
    closed port on loopback: every post gives its thread's title, so Isso never fetches one,
    and its start-up check of the blog fails at once with a warning instead of waiting.
    """
    config = workdir / f"isso-{label}.cfg"
    config.write_text(
        "\n".join(
            [
                "[general]",
                f"dbpath = {workdir / f'isso-{label}.db'}",
                f"host = http://127.0.0.1:{closed_port}/",
                "notify = stdout",
                "[moderation]",
                "enabled = false",
                "[guard]",
                "enabled = false",
                "[admin]",
                "enabled = false",
                "",
            ]
        )
    )
    return config


def serve_command(bin_dir: Path) -> list[str]:
    """Isso on gunicorn as its deployment guide gives it; bench/run.py adds the address."""
    return [
        str(bin_dir / "gunicorn"),
        "--workers",
        str(WORKERS),
        "--preload",
        # gunicorn's control socket defaults to one path in $HOME for every server.
        "--no-control-socket",
        "isso.run",
    ]


def bind_arguments(port: int) -> list[str]:
    return ["--bind", f"127.0.0.1:{port}"]


def server_env(bin_dir: Path, config: Path, home: Path) -> dict[str, str]:
    return {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(home),
        "ISSO_SETTINGS": str(config),
    }


def post_path(uri: str) -> str:
    return f"/new?uri={uri}"


def thread_uri(index: int) -> str:
    """The thread posting goes to: the same names as commentd's seeded posts."""
    return f"/post-{index:06d}"


def _post(url: str, uri: str, index: int, parent: int | None = None) -> int:
    body = {
        "text": BODIES[index % len(BODIES)],
        "author": f"Reader {index}",
        "email": f"reader{index}@example.org",
        "website": "https://example.org",
        "title": THREAD_TITLE,
        "parent": parent,
    }
    response = requests.post(f"{url}{post_path(uri)}", json=body, timeout=30)
    if response.status_code != 201:
        raise IssoUnavailable(
            f"POST {post_path(uri)} answered {response.status_code}: {response.text[:200]}"
        )
    return int(response.json()["id"])


def count_comments(tree: dict[str, object]) -> int:
    replies = tree.get("replies")
    if not isinstance(replies, list):
        return 0
    return len(replies) + sum(count_comments(reply) for reply in replies)


def seed(url: str) -> None:
    """Through Isso's own API: READ_URI with 20 comments (every fifth a reply to the one
    before, as bench/seed.py does for commentd's bench-20), and POST_THREADS threads of one
    comment each for posting to."""
    previous: int | None = None
    for index in range(READ_COMMENTS):
        previous = _post(url, READ_URI, index, previous if index % 5 == 4 else None)
    for index in range(POST_THREADS):
        _post(url, thread_uri(index), index)
    page = requests.get(f"{url}/?uri={READ_URI}", timeout=30)
    found = count_comments(page.json()) if page.status_code == 200 else None
    if found != READ_COMMENTS:
        raise IssoUnavailable(f"GET /?uri={READ_URI} gave {found} comments, not {READ_COMMENTS}")
