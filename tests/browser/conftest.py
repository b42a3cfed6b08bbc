"""Browser fixtures: Debian's Chromium through Playwright, a real `commentd serve`, and the
example blog served from a second origin, so that every request the widgets make is cross-origin
and CORS is the real thing.

Only SQLite here: these tests are slow and prove the widgets, not the database layer.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from blogsite import Site

from tests.helpers import CHROMIUM, CHROMIUM_ARGS, load_example_blog

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

ROOT = Path(__file__).resolve().parents[2]
blog_server = load_example_blog()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "serve_env(**env): extra environment for commentd serve")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Overrides the root fixture: SQLite only, no PostgreSQL parametrization."""
    return f"sqlite:///{tmp_path / 'commentd.db'}"


@pytest.fixture
def blog() -> Iterator[Any]:
    """The example blog on its own origin (a free port on 127.0.0.1)."""
    server = blog_server.serve(0, "http://127.0.0.1:1")
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def blog_pages(blog: Any) -> dict[str, str]:
    """Extra pages of the blog, by the path as the browser sends it (escapes as spelled):
    a test adds {"/blog/%E8%AF%BB/": "<!doctype html>…"} and the blog's own origin serves it.
    (A page fulfilled by Playwright instead would not be on the loopback address, and Chromium
    would keep it from loading the service's scripts.)"""
    pages: dict[str, str] = {}

    class PageHandler(blog_server.BlogHandler):  # type: ignore[misc]
        def send_head(self) -> Any:
            page = pages.get(self.path.split("?", 1)[0])
            if page is None:
                return super().send_head()
            body = page.replace(blog_server.DEFAULT_COMMENTS_URL, self.server.comments_url).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            return io.BytesIO(body)

    blog.RequestHandlerClass = functools.partial(PageHandler, directory=str(blog_server.BLOG_DIR))
    return pages


@pytest.fixture
def serve_env(
    serve_env: dict[str, str], blog: Any, request: pytest.FixtureRequest
) -> dict[str, str]:
    """The root environment, with the blog's origin allowed to post and moderate."""
    env = serve_env | {
        "COMMENTD_ALLOWED_ORIGINS": blog.origin,
        "COMMENTD_POST_RATE_LIMIT": "1000 per minute",
        "COMMENTD_SITE_RATE_LIMIT": "1000 per minute",
    }
    marker = request.node.get_closest_marker("serve_env")
    return env | (marker.kwargs if marker else {})


@pytest.fixture
def site(blog: Any, live_server: Any, serve_env: dict[str, str]) -> Site:
    blog.comments_url = live_server.url
    return Site(blog, live_server.url, serve_env["COMMENTD_ADMIN_TOKEN"])


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium for the session. Without it the tests skip, which CI turns into failures."""
    try:
        from playwright.sync_api import Error, expect, sync_playwright
    except ImportError as error:
        pytest.skip(f"playwright is not installed: {error}")
    expect.set_options(timeout=10_000)  # a shared two-core machine can be slow; never a sleep
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Error as error:
        playwright.stop()
        pytest.skip(f"Chromium could not be launched from {CHROMIUM}: {error}")
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Any]:
    """Makes browser contexts (separate storage: one per person); fails the test on a JS error."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def make(**options: Any) -> BrowserContext:
        context = browser.new_context(
            **{"viewport": {"width": 1000, "height": 900}, "locale": "en-US"} | options
        )
        context.set_default_timeout(10_000)
        context.on("weberror", lambda error: errors.append(str(error.error)))
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert errors == [], "uncaught errors in the page"


@pytest.fixture
def page(new_context: Any) -> Page:
    """A reader's page."""
    page: Page = new_context().new_page()
    return page
