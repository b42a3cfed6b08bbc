"""Produce docs/widget.png and docs/moderation.png: the example blog with a few real comments,
served next to a real `commentd serve`, photographed in Debian's Chromium.

Run from the repository: `.venv/bin/python scripts/screenshots.py`.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TOKEN = "screenshot-token-0123456789"
SLUG = "3-minute-muscles-gluteus-medius"
# The seed posts several comments in a second from one address, some from one email: every
# limit that would answer 429 to that is lifted (the same set as tests/conftest.py's).
LIFTED_LIMITS = {
    "COMMENTD_POST_RATE_LIMIT": "100000 per minute",
    "COMMENTD_SITE_RATE_LIMIT": "100000 per minute",
    "COMMENTD_EMAIL_RATE_LIMIT": "100000 per minute",
    "COMMENTD_SLUG_RATE_LIMIT": "100000 per minute",
    "COMMENTD_MIN_POST_INTERVAL": "0",
    "COMMENTD_DUPLICATE_WINDOW_SECONDS": "0",
}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def load_blog_server() -> Any:
    spec = importlib.util.spec_from_file_location("example_blog", ROOT / "examples/serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(workdir: Path, blog_origin: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "COMMENTD_DATABASE_URL": f"sqlite:///{workdir / 'commentd.db'}",
        "COMMENTD_ADMIN_TOKEN": TOKEN,
        "COMMENTD_ALLOWED_ORIGINS": blog_origin,
        "COMMENTD_MIN_FILL_SECONDS": "0",
    } | LIFTED_LIMITS
    command = [sys.executable, "-m", "commentd.ops.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("commentd serve did not start")


def seed(service: str) -> None:
    """A small, plausible conversation: approved comments with a reply, and a queue to moderate."""
    moderator = {"Authorization": f"Bearer {TOKEN}"}

    def post(**fields: Any) -> int:
        slug = fields.pop("slug", SLUG)
        if fields.pop("from_the_form", True):
            fields["form_token"] = requests.get(f"{service}/api/form-token", timeout=5).json()[
                "form_token"
            ]
        response = requests.post(f"{service}/api/posts/{slug}/comments", json=fields, timeout=5)
        response.raise_for_status()
        return int(response.json()["id"])

    def approve(comment_id: int) -> None:
        url = f"{service}/api/moderation/comments/{comment_id}/approve"
        requests.post(url, headers=moderator, timeout=5).raise_for_status()

    maya = post(
        name="Maya Lindqvist",
        email="maya@example.com",
        website="https://maya.example",
        body="Pigeon pose changed my runs. I had no idea the **gluteus medius** was behind "
        "my knee pain.",
    )
    approve(maya)
    approve(
        post(
            name="Revivified",
            email="author@example.com",
            parent_id=maya,
            body="So glad to hear it, Maya! Add the clamshells too: three sets of "
            "twenty-five on each side.",
        )
    )
    approve(
        post(
            name="Tom Okafor",
            email="tom@example.com",
            body="Is the chair stretch fine to do at work? My desk chair has wheels…",
        )
    )
    post(
        name="Priya",
        email="priya@example.com",
        website="https://priya.example",
        body="Does the clamshell help with hip pain after long drives?",
        notify=True,
        parent_id=maya,
    )
    post(  # no form token and two links: held, with its reasons shown
        name="Best Deals 4U",
        email="deals@spam.example",
        body="Great post!!! Cheap supplements at https://pills.example and https://deals.example",
        slug="about",
        from_the_form=False,
    )


def shoot_widget(page: Page, blog: str) -> None:
    page.goto(f"{blog}/posts/{SLUG}.html")
    page.get_by_role("textbox", name="Name", exact=True).fill("Sam Reyes")
    page.get_by_role("textbox", name="Email", exact=True).fill("sam@example.com")
    page.get_by_role("textbox", name="Comment", exact=True).fill(
        "I do these between massage clients. Any tips for the *piriformis*?"
    )
    page.get_by_role("button", name="Post comment").click()
    page.get_by_text("Thanks! Your comment is awaiting moderation.").wait_for()
    page.get_by_role("textbox", name="Name", exact=True).focus()
    page.locator("#comments").screenshot(path=DOCS / "widget.png")


def shoot_queue(page: Page, blog: str) -> None:
    page.goto(f"{blog}/moderate.html")
    page.get_by_label("Moderation token").fill(TOKEN)
    page.keyboard.press("Enter")
    page.locator(".commentd-mod-item").nth(2).wait_for()
    page.locator(".commentd-mod-item").nth(1).get_by_role("checkbox").check()
    page.mouse.move(0, 0)
    page.locator("main").screenshot(path=DOCS / "moderation.png")


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    blog = load_blog_server().serve(0, "http://127.0.0.1:1")
    with tempfile.TemporaryDirectory() as tmp:
        process, service = start_service(Path(tmp), blog.origin)
        blog.comments_url = service
        try:
            seed(service)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                context = browser.new_context(
                    viewport={"width": 820, "height": 900}, locale="en-US"
                )
                shoot_widget(context.new_page(), blog.origin)
                wide = browser.new_context(viewport={"width": 1000, "height": 900}, locale="en-US")
                shoot_queue(wide.new_page(), blog.origin)
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
            blog.shutdown()
            blog.server_close()
    print(f"wrote {DOCS / 'widget.png'} and {DOCS / 'moderation.png'}")


if __name__ == "__main__":
    main()
