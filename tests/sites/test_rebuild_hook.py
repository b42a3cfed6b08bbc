"""examples/rebuild-hook: the receiver as a real process (waitress), signed by commentd's own
signer; then the whole loop with `commentd serve`, `commentd export static` and a real Hugo."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from commentd.notify.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_V2_HEADER,
    TIMESTAMP_HEADER,
    signature_v2,
)
from tests.helpers import (
    MODERATOR,
    created,
    listening_socket,
    moderate_live,
    port_of,
    post_live,
    serve_environment,
    start_server,
    wait_until,
)
from tests.sites.conftest import EXAMPLES, SLUG, site_copy, tool

HOOK = EXAMPLES / "rebuild-hook/commentd_rebuild_hook.py"
SECRET = "whsec-rebuild-0123456789abcdef"
PUBLIC_URL = "https://comments.example"  # where the exported form posts (the service's address)


@dataclass
class Hook:
    url: str
    process: subprocess.Popen[str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_hook(
    workdir: Path, command: str, *options: str, env: dict[str, str] | None = None
) -> Hook:
    """The rebuild hook on a socket already listening (no port race), in `workdir`."""
    sock = listening_socket()
    url = f"http://127.0.0.1:{port_of(sock)}/"
    log_path = workdir / "hook.log"
    full_env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    full_env |= {"COMMENTD_WEBHOOK_SECRET": SECRET} | (env or {})
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(HOOK), "--fd", str(sock.fileno()), "--command", command,
             *options],
            cwd=workdir, env=full_env, stdout=log_file, stderr=subprocess.STDOUT, text=True,
            pass_fds=[sock.fileno()],
        )  # fmt: skip
    sock.close()
    return Hook(url, process, log_path)


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def send(
    hook: Hook,
    event: str = "comment.approved",
    slug: str = SLUG,
    *,
    delivery: str = "1",
    secret: str = SECRET,
    at: float | None = None,
    body: bytes | None = None,
) -> requests.Response:
    """POST a webhook as commentd signs it (commentd.notify.webhooks.signature_v2)."""
    raw = body or json.dumps({"event": event, "comment": {"id": 1}, "slug": slug}).encode()
    timestamp = int(time.time() if at is None else at)
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        DELIVERY_HEADER: delivery,
        SIGNATURE_V2_HEADER: signature_v2(secret, timestamp, delivery, raw),
    }
    return requests.post(hook.url, data=raw, headers=headers, timeout=30)


@pytest.fixture
def recording_hook(tmp_path: Path) -> Iterator[tuple[Hook, Path]]:
    """A hook whose build appends the slugs it was given to builds.log, one build a line."""
    command = 'printf "%s\\n" "$COMMENTD_CHANGED_SLUGS" | paste -sd "|" >> builds.log'
    hook = start_hook(tmp_path, command, "--quiet", "1", "--longest", "10")
    wait_until(lambda: "Serving on" in hook.log(), "the hook to listen")
    yield hook, tmp_path / "builds.log"
    stop(hook.process)


def builds(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_signed_approval_builds_once_and_a_replay_does_not(
    recording_hook: tuple[Hook, Path],
) -> None:
    hook, log = recording_hook
    answer = send(hook, delivery="41")
    assert answer.status_code == 202, answer.text
    wait_until(lambda: len(builds(log)) == 1, "the build")
    assert builds(log) == [SLUG]
    again = send(hook, delivery="41")  # the same delivery: a replay or a retry
    assert again.status_code == 200 and "already taken" in again.text
    time.sleep(2)  # past the quiet period: a second build would have started
    assert builds(log) == [SLUG]


def test_refused_and_uninteresting_webhooks_build_nothing(
    recording_hook: tuple[Hook, Path],
) -> None:
    hook, log = recording_hook
    assert send(hook, secret="another-secret", delivery="1").status_code == 401
    old = time.time() - 600  # correctly signed, ten minutes ago: outside the replay window
    assert send(hook, at=old, delivery="2").status_code == 401
    raw = json.dumps({"event": "comment.approved", "comment": {}, "slug": SLUG}).encode()
    signed = send(hook, delivery="3", body=raw)
    assert signed.status_code == 202
    tampered = raw.replace(SLUG.encode(), b"posts/other")
    headers = dict(signed.request.headers) | {"Content-Length": str(len(tampered))}
    resent = requests.post(hook.url, data=tampered, headers=headers, timeout=30)
    assert resent.status_code == 401  # the body changed under the same signature
    unsigned = requests.post(hook.url, data=raw, timeout=30)
    assert unsigned.status_code == 401
    assert requests.get(hook.url, timeout=30).status_code == 405
    created_event = send(hook, "comment.created", delivery="4")  # pending: nothing to show yet
    assert created_event.status_code == 200 and "nothing to rebuild" in created_event.text
    wait_until(lambda: len(builds(log)) == 1, "the one build")
    time.sleep(2)
    assert builds(log) == [SLUG]


def test_a_burst_of_events_makes_one_build_with_every_slug(
    recording_hook: tuple[Hook, Path], tmp_path: Path
) -> None:
    hook, log = recording_hook
    hostile = "posts/$(touch pwned)`touch pwned2`"  # reaches the build as data only
    for number, slug in enumerate([SLUG, "posts/second", hostile]):
        event = "comment.deleted" if number == 1 else "comment.approved"
        assert send(hook, event, slug, delivery=f"burst-{number}").status_code == 202
    wait_until(lambda: len(builds(log)) == 1, "the build")
    time.sleep(2)
    assert builds(log) == ["|".join(sorted([SLUG, "posts/second", hostile]))]
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    assert "whsec" not in hook.log()


def alive(status: Path) -> bool:
    """Whether the process of /proc/<pid>/status runs (a zombie has ended)."""
    try:
        return "State:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False


def test_a_build_that_hangs_is_stopped_and_the_next_one_still_runs(tmp_path: Path) -> None:
    command = (
        "echo started >> runs.log; "
        "if [ -e hang ]; then rm hang; sleep 300 & echo $! > sleeper; wait; fi; "
        "echo done >> runs.log"
    )
    (tmp_path / "hang").touch()
    hook = start_hook(tmp_path, command, "--quiet", "0.2", "--build-timeout", "2")
    try:
        wait_until(lambda: "Serving on" in hook.log(), "the hook to listen")
        assert send(hook, delivery="1").status_code == 202
        wait_until(lambda: "stopped after 2 s" in hook.log(), "the hung build to be stopped")
        assert send(hook, delivery="2").status_code == 202
        wait_until(lambda: "exited 0" in hook.log(), "the next build")
    finally:
        stop(hook.process)
    assert (tmp_path / "runs.log").read_text().split() == ["started", "started", "done"]
    sleeper = Path("/proc") / (tmp_path / "sleeper").read_text().strip() / "status"
    # The hung build's own child was stopped with it (gone, or a zombie awaiting its reaper).
    wait_until(lambda: not alive(sleeper), "the sleeper's end")


def test_the_whole_loop_a_comment_approved_in_commentd_appears_in_the_rebuilt_hugo_site(
    tmp_path: Path,
) -> None:
    hugo = tool("hugo", "Debian: apt-get install hugo")
    site = site_copy("hugo", tmp_path, None)
    database_url = f"sqlite:///{tmp_path / 'commentd.db'}"
    # The operator's build line, as examples/rebuild-hook/README.md gives it.
    export = f"{sys.executable} -m commentd export static --quiet comments"
    command = f"{export} && {hugo} --quiet -d public"
    hook = start_hook(
        site, command, "--quiet", "0.5", "--longest", "5",
        env={"COMMENTD_DATABASE_URL": database_url, "COMMENTD_PUBLIC_URL": PUBLIC_URL},
    )  # fmt: skip
    env = serve_environment(database_url) | {
        "COMMENTD_WEBHOOK_URLS": hook.url,
        "COMMENTD_WEBHOOK_SECRET": SECRET,
        "COMMENTD_OUTBOX_POLL_SECONDS": "1",
    }
    server = start_server(env, tmp_path)
    page = site / "public" / SLUG / "index.html"

    def built() -> str:
        return page.read_text(encoding="utf-8") if page.exists() else ""

    try:
        first = created(post_live(server, SLUG, name="Dana", body="Pigeon pose, twice a day."))
        second = created(post_live(server, SLUG, name="Noor", body="Clamshells changed my gait."))
        assert first["status"] == second["status"] == "pending"
        moderate_live(server, int(first["id"]), "approve")
        wait_until(lambda: "Pigeon pose, twice a day." in built(), "the first rebuild")
        assert "Clamshells changed my gait." not in built()  # still pending
        assert "noor" not in built().lower() and "example.com" not in built()

        moderate_live(server, int(second["id"]), "approve")
        wait_until(lambda: "Clamshells changed my gait." in built(), "the second rebuild")
        assert "Pigeon pose, twice a day." in built()

        deleted = requests.delete(
            f"{server.url}/api/moderation/comments/{first['id']}", headers=MODERATOR, timeout=30
        )
        assert deleted.status_code == 204
        wait_until(lambda: "Pigeon pose, twice a day." not in built(), "the rebuild on deletion")
        assert "Clamshells changed my gait." in built()
    finally:
        server.stop()
        stop(hook.process)
    runs = re.findall(r"build for \d+ post\(s\) exited (\d+)", hook.log())
    assert runs and set(runs) == {"0"}, hook.log()
    assert len(runs) == 3  # one per change: the comment.created events built nothing
