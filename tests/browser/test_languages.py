"""embed.js in the page's language (docs/languages.md), in Chromium: the words, right to left,
plurals by Intl.PluralRules, and the service's field errors in the same language."""

from __future__ import annotations

from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

from blogsite import ARTICLE_SLUG, Site  # noqa: E402

from commentd import i18n  # noqa: E402

pytestmark = pytest.mark.browser

Page = Any  # playwright.sync_api.Page, imported lazily above


def post_page(lang: str, root: str = "", before: str = "") -> str:
    """An article in `lang` (no dir on <html>: the widget must set its own), comments below."""
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Post</title>'
        f"</head><body><article><p>Text.</p></article>{before}"
        f'<div id="comments" data-slug="{ARTICLE_SLUG}"{root}></div>'
        '<script src="http://127.0.0.1:8080/embed.js" defer></script></body></html>'
    )


def catalogue_requests(page: Page) -> list[str]:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/i18n/" in r.url else None)
    return asked


def thread(site: Site) -> None:
    """Two approved comments: one, and a reply to it."""
    first = site.post(name="Dana", body="First")
    site.moderate(first["id"], "approve")
    site.moderate(site.post(name="Erin", body="Reply", parent_id=first["id"])["id"], "approve")


@pytest.mark.parametrize("language", ["ar", "he"])
def test_a_right_to_left_page_gets_its_words_right_to_left_and_its_field_errors(
    site: Site, page: Page, blog_pages: dict[str, str], language: str
) -> None:
    def say(key: str, **params: object) -> str:
        return i18n.translate(language, key, **params)

    blog_pages["/rtl.html"] = post_page(language)
    thread(site)
    asked = catalogue_requests(page)
    page.goto(site.page_url("/rtl.html"))

    root = page.locator("#comments")
    # Two comments: Arabic and Hebrew each have a "two" form, chosen by Intl.PluralRules.
    expect(root.locator(".commentd-heading")).to_have_text(say("heading_two"))
    expect(root).to_have_attribute("dir", "rtl")
    expect(root).to_have_attribute("lang", language)
    assert root.evaluate("el => getComputedStyle(el.querySelector('.commentd')).direction") == "rtl"
    expect(root.locator("#commentd-form-heading")).to_have_text(say("formHeading"))
    expect(root.locator("button[type=submit]")).to_have_text(say("submit"))
    expect(root.locator("label[for=commentd-name]")).to_contain_text(say("name"))
    assert [url.split("/api/i18n/")[1] for url in asked] == [
        f"{language}.json?v={i18n.version(language)}"
    ]

    # The reply is indented from the right: its right edge moves left, its rule on its right.
    parent, reply = (c.bounding_box() for c in root.locator(".commentd-c").all())
    assert reply["x"] + reply["width"] < parent["x"] + parent["width"] - 8
    nested = root.locator(".commentd-list .commentd-list").first
    assert nested.evaluate("el => getComputedStyle(el).borderRightWidth") == "2px"
    assert nested.evaluate("el => getComputedStyle(el).borderLeftWidth") == "0px"
    # Addresses stay left to right inside the right-to-left form.
    for address in ("#commentd-email", "#commentd-website"):
        assert root.locator(address).evaluate("el => getComputedStyle(el).direction") == "ltr"

    # A field the service refuses comes back in the page's language.
    root.locator("#commentd-name").fill("دانة")
    root.locator("#commentd-email").fill("dana@localhost")
    root.locator("#commentd-body").fill("نص")
    with page.expect_request(lambda r: r.method == "POST") as sent:
        root.locator("button[type=submit]").click()
    assert sent.value.headers["accept-language"] == language
    expect(root.locator("#commentd-email-error")).to_have_text(say("refused_email_domain"))
    expect(root.locator(".commentd-status")).to_have_text(say("invalid"))


def test_a_left_to_right_reply_is_indented_from_the_left(
    site: Site, page: Page, blog_pages: dict[str, str]
) -> None:
    blog_pages["/ltr.html"] = post_page("en")
    thread(site)
    page.goto(site.page_url("/ltr.html"))
    root = page.locator("#comments")
    expect(root.locator(".commentd-heading")).to_have_text("2 comments")
    expect(root).to_have_attribute("dir", "ltr")
    parent, reply = (c.bounding_box() for c in root.locator(".commentd-c").all())
    assert reply["x"] > parent["x"] + 8


@pytest.mark.parametrize(
    ("tag", "language"), [("de-AT", "de"), ("zh-TW", "zh-Hant"), ("pt-PT", "pt")]
)
def test_a_regional_tag_gets_its_languages_words(
    site: Site, page: Page, blog_pages: dict[str, str], tag: str, language: str
) -> None:
    blog_pages["/regional.html"] = post_page(tag)
    page.goto(site.page_url("/regional.html"))
    root = page.locator("#comments")
    heading = i18n.translate(language, "formHeading")
    expect(root.locator("#commentd-form-heading")).to_have_text(heading)
    expect(root).to_contain_text(i18n.translate(language, "empty"))
    expect(root).to_have_attribute("lang", tag)
    expect(root).to_have_attribute("dir", "ltr")


@pytest.mark.parametrize("lang", ["xx", "en-GB"])
def test_an_unknown_or_english_page_is_english_and_fetches_no_words(
    site: Site, page: Page, blog_pages: dict[str, str], lang: str
) -> None:
    blog_pages["/other.html"] = post_page(lang)
    asked = catalogue_requests(page)
    page.goto(site.page_url("/other.html"))
    root = page.locator("#comments")
    expect(root).to_contain_text("No comments yet. Be the first!")
    expect(root.locator("button[type=submit]")).to_have_text("Post comment")
    expect(root).to_have_attribute("lang", "en" if lang == "xx" else lang)
    assert asked == []


def test_the_roots_data_lang_wins_and_page_strings_still_override_key_by_key(
    site: Site, page: Page, blog_pages: dict[str, str]
) -> None:
    custom = '<script>window.commentdStrings = {submit: "Envoyer !"};</script>'
    blog_pages["/fr.html"] = post_page("en", root=' data-lang="fr"', before=custom)
    page.goto(site.page_url("/fr.html"))
    root = page.locator("#comments")
    expect(root.locator("button[type=submit]")).to_have_text("Envoyer !")
    expect(root.locator("#commentd-form-heading")).to_have_text("Laisser un commentaire")
    expect(root).to_have_attribute("lang", "fr")


def test_chromium_never_picks_a_plural_form_a_catalogue_lacks(page: Page) -> None:
    """Intl.PluralRules (Chromium's CLDR) against the catalogues (checked against Babel's CLDR
    in the unit tests): every category the browser can choose has a text."""
    names = list(i18n.languages())
    chosen = page.evaluate(
        "names => Object.fromEntries(names.map(n => "
        "[n, new Intl.PluralRules(n).resolvedOptions().pluralCategories]))",
        names,
    )
    for name in names:
        have = {k.rpartition("_")[2] for k in i18n.catalogue(name) if k.startswith("heading_")}
        assert set(chosen[name]) <= have, name
