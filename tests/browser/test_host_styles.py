"""A blog's stylesheet cannot reach the widgets through their class names or ids, in Chromium.

A theme ships rules such as Pygments' unscoped `.cm { font-style: italic }` (Pelican's do);
every class and id of both widgets carries the `commentd-` prefix, so none of them applies.
The test collects every class and id the rendered widgets use (inside the page's own
container, `#comments` or `#moderation`, which is the blog's), writes hostile rules for each
name without its prefix (and as the widgets once spelled them, `cd-…` and `cm-…`), adds
Pygments' real stylesheets unscoped, and checks that no computed style inside the widgets
moved. Element rules still reach them: that is how a theme gives them its fonts, on purpose.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pygments.formatters import HtmlFormatter

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

from blogsite import ARTICLE, Site  # noqa: E402

pytestmark = pytest.mark.browser

Page = Any  # playwright.sync_api.Page, imported lazily above

PROPERTIES = [
    "font-style",
    "font-weight",
    "font-size",
    "font-family",
    "color",
    "background-color",
    "display",
    "visibility",
    "margin-top",
    "margin-left",
    "padding-top",
    "padding-left",
    "border-top-width",
    "border-top-style",
    "border-left-color",
    "text-decoration-line",
    "line-height",
    "opacity",
    "position",
    "text-transform",
    "letter-spacing",
]
HOSTILE = (
    "{font-style:italic!important;font-weight:100!important;font-size:31px!important;"
    "font-family:fantasy!important;color:rgb(255,0,0)!important;"
    "background-color:rgb(255,255,0)!important;display:inline!important;"
    "visibility:hidden!important;margin:7px!important;padding:7px!important;"
    "border:3px dashed rgb(0,0,255)!important;text-decoration:line-through!important;"
    "line-height:3!important;opacity:.5!important;position:relative!important;"
    "text-transform:uppercase!important;letter-spacing:2px!important}"
)

NAMES = """root => {
    const el = document.querySelector(root), classes = new Set(), ids = new Set();
    for (const e of el.querySelectorAll("*")) {
        e.classList.forEach(c => classes.add(c));
        if (e.id) ids.add(e.id);
    }
    return [[...classes], [...ids]];
}"""
SNAPSHOT = """([root, properties]) => {
    const el = document.querySelector(root);
    return [...el.querySelectorAll("*")].map(e => {
        const style = getComputedStyle(e);
        return [e.tagName, e.getAttribute("class"), properties.map(p => style.getPropertyValue(p))];
    });
}"""
INJECT = """css => {
    const style = document.createElement("style");
    style.id = "host-theme";
    style.textContent = css;
    document.head.append(style);  /* last: it wins every tie */
    const probe = document.createElement("span");
    probe.className = "cm";
    probe.id = "host-probe";
    document.body.append(probe);
    return style.sheet.cssRules.length;
}"""


def unprefixed(name: str) -> set[str]:
    """A widget name as a host stylesheet might spell it without the widget's prefix."""
    bare = re.sub(r"^commentd(-mod)?-?", "", name)
    return {n for n in (bare, f"cd-{bare}", f"cm-{bare}") if bare} | {"cm"}


def pygments_rules() -> str:
    """Pygments' stylesheets as a Pelican theme ships them: not scoped to `.highlight`."""
    rules = []
    for style in ("default", "monokai", "friendly"):
        for line in HtmlFormatter(style=style).get_style_defs("").splitlines():
            if line.startswith("."):  # class rules; `pre {…}` is an element rule
                rules.append(line)
    return "\n".join(rules)


def host_theme(page: Page, root: str) -> str:
    classes, ids = page.evaluate(NAMES, root)
    assert classes, "the widget rendered nothing"
    selectors = {f".{n}" for c in classes for n in unprefixed(c)}
    selectors |= {f"#{n}" for i in ids if not i.startswith("comment-") for n in unprefixed(i)}
    return pygments_rules() + "\n" + "\n".join(s + HOSTILE for s in sorted(selectors))


def assert_unreachable(page: Page, root: str) -> None:
    before = page.evaluate(SNAPSHOT, [root, PROPERTIES])
    css = host_theme(page, root)

    assert page.evaluate(INJECT, css) > 100
    # The theme does apply to the page: a span of its own with the class `cm` is italic.
    assert page.locator("#host-probe").evaluate("e => getComputedStyle(e).fontStyle") == "italic"
    after = page.evaluate(SNAPSHOT, [root, PROPERTIES])
    moved = [
        (tag, cls, [(p, b, a) for p, b, a in zip(PROPERTIES, was, now, strict=True) if b != a])
        for (tag, cls, was), (_, _, now) in zip(before, after, strict=True)
        if was != now
    ]
    assert moved == []


def test_no_host_class_or_id_rule_reaches_the_comment_widget(site: Site, page: Page) -> None:
    parent = site.post(name="Ann", website="https://ann.example", body="*Hi* `code`\n\n> quote")
    site.moderate(parent["id"], "approve")
    site.moderate(site.post(name="Ben", body="Reply", parent_id=parent["id"])["id"], "approve")
    page.goto(site.page_url(ARTICLE))
    page.get_by_role("textbox", name="Name", exact=True).fill("Dana")
    page.get_by_role("textbox", name="Email", exact=True).fill("dana@example.com")
    page.get_by_role("textbox", name="Comment", exact=True).fill("Mine, waiting")
    page.get_by_role("button", name="Post comment").click()
    expect(page.get_by_text("Awaiting moderation", exact=True)).to_have_count(1)
    page.get_by_role("button", name="Reply to Ann").click()
    page.get_by_role("textbox", name="Email", exact=True).fill("not-an-email")
    page.get_by_role("button", name="Post comment").click()
    email = page.get_by_role("textbox", name="Email", exact=True)
    expect(email).to_have_attribute("aria-invalid", "true")

    assert_unreachable(page, "#comments")


def test_no_host_class_or_id_rule_reaches_the_moderation_queue(
    site: Site, page: Page, serve_env: dict[str, str]
) -> None:
    site.post(name="Ann", website="https://ann.example", body="Hi https://a.example https://b.x")
    site.post(name="Ben", notify=True, body="*Hello* `code`")
    page.goto(site.page_url("/moderate.html"))
    expect(page.get_by_label("Moderation token")).to_be_visible()
    assert_unreachable(page, "#moderation")  # the token form

    page.reload()
    page.get_by_label("Moderation token").fill(serve_env["COMMENTD_ADMIN_TOKEN"])
    page.keyboard.press("Enter")
    expect(page.locator("#moderation li[data-id]")).to_have_count(2)
    page.locator("#moderation li[data-id]").first.get_by_role("checkbox").check()

    assert_unreachable(page, "#moderation")  # the queue


HIDING = """root => [...document.querySelector(root).querySelectorAll("[hidden]")]
    .map(e => [e.tagName, e.getAttribute("class"), getComputedStyle(e).display])"""


def test_what_the_widgets_hide_stays_hidden_under_a_themes_element_rules(
    site: Site, page: Page, serve_env: dict[str, str]
) -> None:
    theme = "section,div,p,ol,li,span,button,form,label,h2,h3{display:block}"
    site.post(name="Ann")
    page.goto(site.page_url("/moderate.html"))
    page.get_by_label("Moderation token").fill(serve_env["COMMENTD_ADMIN_TOKEN"])
    page.keyboard.press("Enter")
    expect(page.locator("#moderation li[data-id]")).to_have_count(1)
    page.add_style_tag(content=theme)

    hidden = page.evaluate(HIDING, "#moderation")
    assert hidden and all(display == "none" for _, _, display in hidden), hidden

    page.goto(site.page_url(ARTICLE))
    expect(page.locator("#comments form")).to_be_visible()
    page.add_style_tag(content=theme)
    hidden = page.evaluate(HIDING, "#comments")
    assert hidden and all(display == "none" for _, _, display in hidden), hidden
