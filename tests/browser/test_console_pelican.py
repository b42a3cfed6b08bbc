"""The console embedded in a real theme: examples/pelican built by Pelican (its default theme,
notmyidea) with its moderation page (pages/moderate.md, templates/moderate.html), served from
the blog's origin, at desktop and phone width, under axe-core."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import load_example_blog
from tests.sites.conftest import build, pelican_command, site_copy

sync_api = pytest.importorskip("playwright.sync_api")
axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
expect = sync_api.expect

from blogsite import Site  # noqa: E402

pytestmark = pytest.mark.browser
blog_server = load_example_blog()
SLUG = "posts/3-minute-muscles-gluteus-medius"  # Pelican's article URL, embed.js's default slug


@pytest.fixture
def pelican_blog(blog: Any, tmp_path: Path) -> Path:
    """examples/pelican built into tmp_path/output and served as the blog."""
    pelican = pelican_command()
    site = site_copy("pelican", tmp_path, None)
    output = tmp_path / "output"
    build(
        [pelican, "--quiet", "--settings", "pelicanconf.py", "--output", str(output), "content"],
        site,
        {"COMMENTD_SERVICE": blog_server.DEFAULT_COMMENTS_URL},  # the blog swaps in the live one
    )
    blog.RequestHandlerClass = functools.partial(blog_server.BlogHandler, directory=str(output))
    return output


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1000, 390])
def test_the_console_in_pelicans_default_theme(
    pelican_blog: Path,
    site: Site,
    new_context: Any,
    serve_env: dict[str, str],
    width: int,
    scheme: str,
) -> None:
    site.post(slug=SLUG, name="Ann", website="https://ann.example", body="Clamshells *work*.")
    page = new_context(viewport={"width": width, "height": 900}, color_scheme=scheme).new_page()
    page.goto(site.page_url("/pages/moderate.html"))
    expect(page).to_have_title("Moderate · Revivified")
    page.get_by_label("Moderation token").fill(serve_env["COMMENTD_ADMIN_TOKEN"])
    page.keyboard.press("Enter")
    item = page.locator(".commentd-mod-item")
    expect(item).to_have_count(1)
    expect(item.get_by_role("link", name=SLUG)).to_have_attribute(
        "href", site.page_url(f"/{SLUG}/")
    )
    page.wait_for_load_state("networkidle")

    results = axe_module.Axe().run(page, context="#moderation")
    assert [
        (v["id"], [(n["target"], n["failureSummary"]) for n in v["nodes"]])
        for v in results.response["violations"]
    ] == []
    sizes = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1]
    box = page.locator("#moderation").bounding_box()
    assert box is not None and box["x"] + box["width"] <= width

    item.get_by_role("button", name="Approve", exact=True).click()
    expect(item).to_have_count(0)
    expect(page.locator(".commentd-mod")).to_have_attribute("data-unsent", "0", timeout=20_000)
    assert [c["slug"] for c in site.queue("approved")] == [SLUG]
