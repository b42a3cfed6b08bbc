"""axe-core (bundled by axe-playwright-python) audits both widgets in Chromium, in light and
dark mode, with comments, a pending comment, refused fields and a moderation queue on screen."""

from __future__ import annotations

from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
expect = sync_api.expect

from blogsite import ARTICLE, Site  # noqa: E402

pytestmark = pytest.mark.browser


def violations(page: Any, selector: str) -> list[tuple[str, list[str]]]:
    """Each broken axe rule with the elements that break it (empty when the audit passes)."""
    results = axe_module.Axe().run(page, context=selector)
    return [
        (v["id"], [" ".join(node["target"]) for node in v["nodes"]])
        for v in results.response["violations"]
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_comment_widget_passes_an_axe_audit(site: Site, new_context: Any, scheme: str) -> None:
    reply_to = site.post(
        name="Maya", website="https://maya.example", body="*Nice* [link](https://x.example)"
    )
    site.moderate(reply_to["id"], "approve")
    page = new_context(color_scheme=scheme).new_page()
    page.goto(site.page_url(ARTICLE))
    page.get_by_role("textbox", name="Name", exact=True).fill("Dana")
    page.get_by_role("textbox", name="Email", exact=True).fill("dana@example.com")
    page.get_by_role("textbox", name="Comment", exact=True).fill("Mine, pending.")
    page.get_by_role("button", name="Post comment").click()
    expect(page.locator(".commentd-pending")).to_have_count(1)
    page.get_by_role("button", name="Reply to Maya").click()
    page.get_by_role("textbox", name="Email", exact=True).fill("not-an-email")
    page.get_by_role("button", name="Post comment").click()
    expect(page.get_by_role("textbox", name="Email", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )

    assert violations(page, "#comments") == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_moderation_queue_passes_an_axe_audit(
    site: Site, new_context: Any, serve_env: dict[str, str], scheme: str
) -> None:
    site.post(
        name="Ann", website="https://ann.example", body="Hello https://a.example https://b.example"
    )
    site.post(name="Ben", notify=True)
    page = new_context(color_scheme=scheme).new_page()
    page.goto(site.page_url("/moderate.html"))
    assert violations(page, "#moderation") == []  # the token form

    page.get_by_label("Moderation token").fill(serve_env["COMMENTD_ADMIN_TOKEN"])
    page.keyboard.press("Enter")
    expect(page.locator(".commentd-mod-item")).to_have_count(2)
    page.locator(".commentd-mod-item").first.get_by_role("checkbox").check()

    assert violations(page, "#moderation") == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_view_of_the_console_passes_an_axe_audit(
    site: Site, new_context: Any, serve_env: dict[str, str], scheme: str
) -> None:
    site.post(name="Ann", body="Hello https://a.example https://b.example")
    page = new_context(color_scheme=scheme).new_page()
    page.goto(site.page_url("/moderate.html"))
    page.get_by_label("Moderation token").fill(serve_env["COMMENTD_ADMIN_TOKEN"])
    page.keyboard.press("Enter")
    item = page.locator(".commentd-mod-item")
    expect(item).to_have_count(1)
    if item.get_by_role("button", name="History").count():  # the author's tools (helper A)
        item.get_by_role("button", name="History").click()
        expect(item.locator(".commentd-mod-history li").first).to_be_visible()
        assert violations(page, "#moderation") == [], "the history"
        item.get_by_role("button", name="Edit").click()
        expect(item.get_by_label("Text (Markdown)")).to_be_focused()
        assert violations(page, "#moderation") == [], "the edit form"
        item.get_by_role("button", name="Approve and reply").first.click()
        assert violations(page, "#moderation") == [], "the reply form"
        page.keyboard.press("Escape")  # closes the form; the focus goes back to the comment
        expect(item).to_be_focused()
    if page.get_by_role("tab", name="All").is_visible():  # search (helper B)
        page.get_by_text("Filters").click()
        page.get_by_role("tab", name="All").click()
        expect(item.locator(".commentd-mod-badge")).to_have_text("Pending")
        assert violations(page, "#moderation") == [], "the filters and the All tab"
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keys")).to_be_visible()
    assert violations(page, "#moderation") == [], "the key help"
    page.keyboard.press("Escape")
    nav = page.get_by_role("navigation", name="Console")
    for name in ["Posts", "Rules", "Glance", "Import & export"]:
        nav.get_by_role("button", name=name).click()
        page.wait_for_load_state("networkidle")
        expect(page.locator(".commentd-mod-h")).to_be_focused()
        assert violations(page, "#moderation") == [], name
