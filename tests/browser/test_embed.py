"""embed.js in Chromium: a reader on the example blog's article page, on another origin."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

from blogsite import ARTICLE, ARTICLE_SLUG, Site  # noqa: E402

from tests.helpers import start_server  # noqa: E402

pytestmark = pytest.mark.browser

Page = Any  # playwright.sync_api.Page, imported lazily above


def fill_comment(
    page: Page, name: str = "Dana", email: str = "dana@example.com", body: str = ""
) -> None:
    field(page, "Name").fill(name)
    field(page, "Email").fill(email)
    field(page, "Comment").fill(body)


def field(page: Page, name: str) -> Any:
    """A text field by its accessible name (the label without its aria-hidden "*")."""
    return page.get_by_role("textbox", name=name, exact=True)


def comment_form(page: Page) -> Any:
    return page.locator("#comments form")


def test_a_reader_posts_and_sees_their_pending_comment_even_after_a_reload(
    site: Site, page: Page
) -> None:
    page.goto(site.page_url(ARTICLE))
    expect(page.locator("#comments")).to_contain_text("No comments yet. Be the first!")

    fill_comment(page, body="Pigeon pose **really** helps.")
    page.get_by_role("button", name="Post comment").click()

    expect(page.get_by_role("status")).to_have_text("Thanks! Your comment is awaiting moderation.")
    mine = page.locator(".commentd-item.commentd-pending")
    expect(mine).to_have_count(1)
    expect(mine.locator(".commentd-name")).to_have_text("Dana")
    expect(mine.locator(".commentd-badge")).to_have_text("Awaiting moderation")
    expect(mine.locator(".commentd-body strong")).to_have_text("really")
    expect(field(page, "Comment")).to_have_value("")
    page.reload()
    expect(page.locator(".commentd-item.commentd-pending .commentd-body")).to_have_text(
        "Pigeon pose really helps."
    )
    [stored] = site.queue("pending")
    assert {k: stored[k] for k in ("slug", "email", "body", "status", "notify", "reasons")} == {
        "slug": ARTICLE_SLUG,
        "email": "dana@example.com",
        "body": "Pigeon pose **really** helps.",
        "status": "pending",
        "notify": False,
        "reasons": [],  # the form token was sent, and the honeypot left empty
    }


def test_a_bad_email_is_refused_in_place_and_everything_typed_is_kept(
    site: Site, page: Page
) -> None:
    page.goto(site.page_url(ARTICLE))
    fill_comment(page, email="dana@example", body="Text I do not want to type twice.")

    page.get_by_role("button", name="Post comment").click()

    email = field(page, "Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_be_focused()
    message = page.locator("#commentd-email-error")
    expect(message).to_contain_text("It should have a period")  # the service's own words
    assert "commentd-email-error" in (email.get_attribute("aria-describedby") or "").split()
    expect(field(page, "Name")).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("status")).to_have_text("Please check the marked fields.")
    expect(field(page, "Name")).to_have_value("Dana")
    expect(email).to_have_value("dana@example")
    expect(field(page, "Comment")).to_have_value("Text I do not want to type twice.")
    assert site.queue("pending") == []

    email.fill("dana@example.com")
    page.get_by_role("button", name="Post comment").click()

    expect(page.get_by_role("status")).to_have_text("Thanks! Your comment is awaiting moderation.")
    expect(email).not_to_have_attribute("aria-invalid", "true")
    expect(message).to_have_text("")


def test_empty_required_fields_are_marked_without_asking_the_service(
    site: Site, page: Page
) -> None:
    page.goto(site.page_url(ARTICLE))

    page.get_by_role("button", name="Post comment").click()

    for label, text in [
        ("Name", "Please enter your name."),
        ("Email", "Please enter your email address."),
    ]:
        expect(field(page, label)).to_have_attribute("aria-invalid", "true")
        expect(page.locator(f"#commentd-{label.lower()}-error")).to_have_text(text)
    expect(page.locator("#commentd-body-error")).to_have_text("Please write a comment.")
    expect(field(page, "Name")).to_be_focused()
    assert site.queue("pending") == []


def test_a_reader_replies_to_an_approved_comment_under_it(site: Site, page: Page) -> None:
    parent = site.post(name="Author", email="author@example.com", body="Ask me anything.")["id"]
    site.moderate(parent, "approve")
    page.goto(site.page_url(ARTICLE))
    expect(page.locator(".commentd-heading")).to_have_text("1 comment")

    reply_button = page.get_by_role("button", name="Reply to Author")
    reply_button.click()
    expect(comment_form(page).locator("h3")).to_have_text("Reply to Author")
    page.keyboard.press("Escape")
    expect(comment_form(page).locator("h3")).to_have_text("Leave a comment")
    expect(reply_button).to_be_focused()
    expect(reply_button).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Enter")

    form = comment_form(page)
    expect(form.locator("h3")).to_have_text("Reply to Author")
    assert page.locator(f"#comment-{parent} form").count() == 1
    expect(field(page, "Name")).to_be_focused()
    fill_comment(page, name="Sam", email="sam@example.com", body="Does it help knees too?")
    page.get_by_role("button", name="Post comment").click()

    reply = page.locator(f"#comment-{parent} .commentd-list .commentd-item.commentd-pending")
    expect(reply.locator(".commentd-body")).to_have_text("Does it help knees too?")
    [stored] = site.queue("pending")
    assert (stored["parent_id"], stored["author"]["name"]) == (parent, "Sam")
    expect(form.locator("h3")).to_have_text("Leave a comment")  # the form went back home


def test_keyboard_alone_can_post_a_comment_with_visible_focus(site: Site, page: Page) -> None:
    page.goto(site.page_url(ARTICLE))
    expect(comment_form(page)).to_be_visible()
    focused: list[str] = []
    for _ in range(60):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.name || document.activeElement.id"))
        if focused[-1] == "name":
            break
    assert focused[-1] == "name", focused

    page.keyboard.type("Kim")
    page.keyboard.press("Tab")
    page.keyboard.type("kim@example.com")
    page.keyboard.press("Tab")  # website, left empty
    page.keyboard.press("Tab")
    page.keyboard.type("Typed without a mouse.")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # notify me of replies
    page.keyboard.press("Tab")  # email me when it is approved, left alone
    page.keyboard.press("Tab")  # remember me, left alone
    page.keyboard.press("Tab")
    submit = page.get_by_role("button", name="Post comment")
    expect(submit).to_be_focused()
    outline = submit.evaluate(
        "b => getComputedStyle(b).outlineStyle + ' ' + getComputedStyle(b).outlineWidth"
    )
    assert outline == "solid 3px"
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_have_text("Thanks! Your comment is awaiting moderation.")
    [stored] = site.queue("pending")
    assert (stored["body"], stored["notify"], stored["reasons"]) == (
        "Typed without a mouse.",
        True,
        [],
    )


def test_the_honeypot_is_invisible_to_people_and_screen_readers_but_traps_bots(
    site: Site, page: Page
) -> None:
    page.goto(site.page_url(ARTICLE))
    trap = page.locator("input[name=url2]")
    expect(comment_form(page)).to_be_visible()

    box = trap.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 0
    assert (trap.get_attribute("tabindex"), trap.get_attribute("autocomplete")) == ("-1", "off")
    assert trap.evaluate("el => el.closest('[aria-hidden=true]') !== null")
    assert "Leave this field empty" not in page.locator("#comments").aria_snapshot()

    fill_comment(page, name="Bot", email="bot@example.com", body="Cheap pills")
    trap.evaluate("el => { el.value = 'https://spam.example' }")  # as a form-filling bot does
    page.get_by_role("button", name="Post comment").click()

    expect(page.get_by_role("status")).to_have_text("Thanks! Your comment is awaiting moderation.")
    [caught] = site.queue("spam")
    assert (caught["body"], caught["reasons"]) == ("Cheap pills", ["honeypot filled"])


def test_commenter_text_is_shown_as_text_and_their_link_is_nofollow_ugc(
    site: Site, page: Page
) -> None:
    name = '<img src=x onerror="window.pwned=1">Eve'
    comment = site.post(
        name=name, website="https://eve.example/", body="<script>window.pwned=1</script> **hi**"
    )
    site.moderate(comment["id"], "approve")

    page.goto(site.page_url(ARTICLE))

    author = page.locator(f"#comment-{comment['id']} .commentd-name")
    expect(author).to_have_text(name)
    assert author.evaluate("a => [a.tagName, a.href, a.rel, a.children.length]") == [
        "A",
        "https://eve.example/",
        "nofollow ugc noopener",
        0,
    ]
    body = page.locator(f"#comment-{comment['id']} .commentd-body")
    expect(body).to_contain_text("<script>window.pwned=1</script>")
    assert body.locator("script").count() == 0
    expect(body.locator("strong")).to_have_text("hi")
    assert page.evaluate("window.pwned") is None
    date = page.locator(f"#comment-{comment['id']} time")
    assert date.get_attribute("datetime") == comment["comment"]["created_at"]
    assert re.search(r"\d{4}", date.get_attribute("title") or "")  # the exact time on hover


@pytest.mark.serve_env(COMMENTD_POST_RATE_LIMIT="1 per minute")
def test_too_many_comments_say_when_to_try_again_and_keep_the_text(site: Site, page: Page) -> None:
    page.goto(site.page_url(ARTICLE))
    fill_comment(page, body="First.")
    page.get_by_role("button", name="Post comment").click()
    expect(page.get_by_role("status")).to_have_text("Thanks! Your comment is awaiting moderation.")

    field(page, "Comment").fill("Second, too soon.")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Post comment").click()

    assert answer.value.status == 429
    seconds = int(answer.value.headers["retry-after"])
    expect(page.get_by_role("status")).to_have_text(
        f"You are commenting too quickly. Please try again in {seconds} second"
        f"{'' if seconds == 1 else 's'}; your text is still here."
    )
    expect(field(page, "Comment")).to_have_value("Second, too soon.")


def test_a_network_failure_says_so_and_keeps_the_text(
    site: Site, page: Page, live_server: Any
) -> None:
    page.goto(site.page_url(ARTICLE))
    expect(comment_form(page)).to_be_visible()
    live_server.stop()

    fill_comment(page, body="Written on a train.")
    page.get_by_role("button", name="Post comment").click()

    expect(page.get_by_role("status")).to_have_text(
        "The comment server could not be reached. Your text is still here; please try again."
    )
    expect(field(page, "Comment")).to_have_value("Written on a train.")
    expect(page.get_by_role("button", name="Post comment")).to_be_enabled()


def test_comments_that_cannot_be_loaded_say_so_and_a_retry_loads_them(
    site: Site, page: Page
) -> None:
    site.moderate(site.post(body="Here all along.")["id"], "approve")
    page.route("**/api/posts/**", lambda route: route.abort("connectionreset"))

    page.goto(site.page_url(ARTICLE))

    expect(page.locator("#comments")).to_contain_text("Comments could not be loaded.")
    expect(comment_form(page)).to_be_visible()
    page.unroute("**/api/posts/**")
    page.get_by_role("button", name="Try again").click()
    expect(page.locator(".commentd-body")).to_have_text("Here all along.")
    expect(page.locator("#comments")).not_to_contain_text("could not be loaded")


def test_remember_me_keeps_name_email_and_website_and_the_token_is_sent_back(
    site: Site, page: Page
) -> None:
    page.goto(site.page_url(ARTICLE))
    fill_comment(page, body="One.")
    field(page, "Website").fill("https://dana.example")
    page.get_by_label("Save my name").check()
    page.get_by_role("button", name="Post comment").click()
    expect(page.get_by_role("status")).to_have_text("Thanks! Your comment is awaiting moderation.")

    page.reload()

    expect(field(page, "Name")).to_have_value("Dana")
    expect(field(page, "Email")).to_have_value("dana@example.com")
    expect(field(page, "Website")).to_have_value("https://dana.example")
    token = page.evaluate("JSON.parse(localStorage.getItem('commentd.token'))")
    assert isinstance(token, str) and token
    with page.expect_request(lambda r: r.method == "POST") as sent:
        field(page, "Comment").fill("Two.")
        page.get_by_role("button", name="Post comment").click()
    assert f"commenter_token={token}" in (sent.value.post_data or "")


def test_the_index_page_fills_in_comment_counts_with_one_request(site: Site, page: Page) -> None:
    site.moderate(site.post()["id"], "approve")
    counts_requests: list[str] = []
    page.on("request", lambda r: counts_requests.append(r.url) if "/api/counts" in r.url else None)

    page.goto(site.page_url("/index.html"))

    expect(page.locator(f"[data-commentd-count='{ARTICLE_SLUG}']")).to_have_text("1 comment")
    expect(page.locator("[data-commentd-count='about']")).to_have_text("No comments")
    assert len(counts_requests) == 1


def test_the_page_sets_the_words_and_colours(site: Site, new_context: Any) -> None:
    page = new_context(color_scheme="dark").new_page()

    page.goto(site.page_url("/posts/about.html"))

    expect(page.get_by_role("button", name="Publier")).to_be_visible()
    expect(field(page, "Nom")).to_be_visible()
    expect(page.locator("#comments")).to_contain_text("Pas encore de commentaire.")
    section = page.locator(".commentd")
    # data-theme="light" wins over the page's dark look; --commentd-accent comes from the page.
    expect(section).to_have_attribute("data-theme", "light")
    assert section.evaluate("s => getComputedStyle(s).colorScheme") == "light"
    button = page.get_by_role("button", name="Publier")
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(27, 127, 75)"


LOOK = """s => {
    const style = e => getComputedStyle(e ? s.querySelector(e) : s);
    return [style("").backgroundColor, style("").color, style(".commentd-name").color,
            style(".commentd-date").color, style(".commentd-link").color,
            style(".commentd-btn").backgroundColor];
}"""


def test_dark_mode_takes_the_pages_background_and_one_accent(site: Site, new_context: Any) -> None:
    site.moderate(site.post(website="https://dana.example")["id"], "approve")
    page = new_context(color_scheme="dark").new_page()

    page.goto(site.page_url(ARTICLE))

    section = page.locator(".commentd")
    expect(section).to_have_attribute("data-theme", "dark")  # the page's text is light
    background, text, name, date, reply, button = section.evaluate(LOOK)
    assert background == "rgba(0, 0, 0, 0)"  # no box of its own: the page shows through
    assert text == "rgb(232, 230, 227)"  # the page's --ink in dark mode (examples/blog)
    assert name == date == reply == button == "rgb(240, 163, 122)"  # its link colour
    assert section.evaluate("s => getComputedStyle(s).colorScheme") == "dark"


def test_a_light_page_keeps_a_light_widget_for_a_reader_who_prefers_dark(
    site: Site, new_context: Any, blog_pages: dict[str, str]
) -> None:
    site.moderate(site.post(website="https://dana.example")["id"], "approve")
    blog_pages["/light/"] = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" '
        'href="data:,"><style>body { color: #333; background: #fff } a { color: #c74350 }'
        "</style></head><body><h1>Light only</h1>"
        f'<div id="comments" data-slug="{ARTICLE_SLUG}"></div>'
        '<script src="http://127.0.0.1:8080/embed.js"></script></body></html>'
    )
    page = new_context(color_scheme="dark").new_page()

    page.goto(site.page_url("/light/"))

    section = page.locator(".commentd")
    expect(page.locator(".commentd-item")).to_have_count(1)
    expect(section).to_have_attribute("data-theme", "light")
    background, text, name, date, reply, button = section.evaluate(LOOK)
    assert (background, text) == ("rgba(0, 0, 0, 0)", "rgb(51, 51, 51)")
    assert name == date == reply == button == "rgb(199, 67, 80)"
    label = page.locator("button[type=submit]").evaluate("b => getComputedStyle(b).color")
    assert label == "rgb(255, 255, 255)"


def test_the_widgets_headings_follow_the_pages_heading_scale(
    site: Site, page: Page, blog_pages: dict[str, str]
) -> None:
    blog_pages["/headings/"] = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" '
        'href="data:,"><style>body { font: 15px/1.6 sans-serif }'
        " h2 { font: italic 300 29px/1.1 Georgia, serif } h3 { font: 700 19px/1.2 monospace }"
        "</style></head><body><h2>Section</h2><h3>Subsection</h3>"
        f'<div id="comments" data-slug="{ARTICLE_SLUG}"></div>'
        '<script src="http://127.0.0.1:8080/embed.js"></script></body></html>'
    )
    font = "e => { const s = getComputedStyle(e); return [s.font, s.fontSize, s.fontWeight]; }"

    page.goto(site.page_url("/headings/"))

    expect(page.locator(".commentd-heading")).to_have_text("Comments")
    page_h2, page_h3 = (
        page.locator("body > h2").evaluate(font),
        page.locator("body > h3").evaluate(font),
    )
    assert page.locator(".commentd-heading").evaluate(font) == page_h2
    assert page.locator("#commentd-form-heading").evaluate(font) == page_h3


def test_on_a_phone_the_widget_fits_the_screen(site: Site, new_context: Any) -> None:
    page = new_context(viewport={"width": 360, "height": 740}, is_mobile=True).new_page()
    site.moderate(site.post(body="A long word: " + "x" * 200)["id"], "approve")

    page.goto(site.page_url(ARTICLE))

    expect(page.locator(".commentd-item")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    name_box = field(page, "Name").bounding_box()
    assert name_box is not None and name_box["width"] > 250  # one field per row


def test_the_widget_asks_nothing_of_any_third_party(site: Site, page: Page) -> None:
    site.moderate(site.post(website="https://dana.example")["id"], "approve")
    origins: set[str] = set()
    page.on("request", lambda r: origins.add("/".join(r.url.split("/")[:3])))

    page.goto(site.page_url(ARTICLE))
    expect(page.locator(".commentd-avatar")).to_have_count(1)
    page.locator(".commentd-avatar").evaluate("img => img.decode()")

    assert origins == {site.blog, site.service}


NESTING_DEPTH = """li => {
    let depth = 0;
    for (let item = li; item; item = item.parentElement.closest(".commentd-item")) depth++;
    return depth;
}"""


def test_deep_replies_stop_nesting_at_the_maximum_depth(site: Site, page: Page) -> None:
    ids: list[int] = []
    for level in range(1, 7):
        parent = {"parent_id": ids[-1]} if ids else {}
        ids.append(site.post(name=f"Level {level}", body=f"Reply at level {level}", **parent)["id"])
        site.moderate(ids[-1], "approve")

    page.goto(site.page_url(ARTICLE))

    expect(page.locator(".commentd-item")).to_have_count(6)
    depths = [page.locator(f"#comment-{i}").evaluate(NESTING_DEPTH) for i in ids]
    assert depths == [1, 2, 3, 4, 4, 4]  # data-max-depth defaults to 4
    labels = [
        page.locator(f"#comment-{i} > .commentd-c .commentd-to").all_inner_texts() for i in ids
    ]
    assert labels == [[], [], [], [], ["in reply to Level 4"], ["in reply to Level 5"]]


def test_a_closed_post_shows_its_comments_without_a_form_and_a_reader_typing_keeps_the_text(
    site: Site, page: Page
) -> None:
    approved = site.post(body="Before closing")
    site.moderate(approved["id"], "approve")
    page.goto(site.page_url(ARTICLE))
    fill_comment(page, body="Typed while the author closed the post")

    close = requests.put(
        f"{site.service}/api/moderation/posts/{ARTICLE_SLUG}",
        json={"closed": True},
        headers=site.moderator,
        timeout=5,
    )
    page.get_by_role("button", name="Post comment").click()

    assert close.status_code == 200
    expect(page.get_by_role("status")).to_have_text("Comments on this post are closed.")
    expect(field(page, "Comment")).to_have_value("Typed while the author closed the post")
    # A later visitor: nothing cached from before the post was closed (lists may be cached 10 s).
    page.context.new_cdp_session(page).send("Network.clearBrowserCache")
    page.reload()
    expect(page.locator("#comments")).to_contain_text("Before closing")
    expect(page.locator(".commentd-closed")).to_be_visible()
    expect(page.locator(".commentd-closed")).to_have_text("Comments on this post are closed.")
    expect(comment_form(page)).to_be_hidden()
    expect(page.get_by_role("button", name="Reply to Dana")).to_have_count(0)


def readme_snippet() -> str:
    """The embedding snippet of the README's "Comments on a post", pointed at port 8080."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Comments on a post", 1)[1]
    snippet = section.split("```html\n", 1)[1].split("```", 1)[0]
    return snippet.replace("https://comments.example.com", "http://127.0.0.1:8080")


def shown_text(page: Page) -> str:
    """What the comments container shows, as rendered (innerText: a `<noscript>` counts only
    when scripts are off; Playwright's own text matching never reads one)."""
    return str(page.locator("#comments").evaluate("e => e.innerText")).strip()


def test_the_readme_snippet_says_only_true_things_without_scripts_or_service(
    site: Site,
    new_context: Any,
    blog_pages: dict[str, str],
    live_server: Any,
    serve_env: dict[str, str],
    tmp_path: Path,
) -> None:
    blog_pages["/readme-post.html"] = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A post</title>'
        f"</head><body><article><p>The post.</p></article>{readme_snippet()}</body></html>"
    )
    site.moderate(site.post(body="Here all along.")["id"], "approve")
    url = site.page_url("/readme-post.html")
    # Scripts off: the reader is told why there are no comments.
    no_script = new_context(java_script_enabled=False).new_page()
    no_script.goto(url)
    assert "JavaScript" in shown_text(no_script)
    # Scripts on, the service up: the comments, and no word about JavaScript.
    visitor = new_context().new_page()
    visitor.goto(url)
    expect(visitor.locator(".commentd-body")).to_have_text("Here all along.")
    assert "JavaScript" not in shown_text(visitor)
    # A reader who read another post: embed.js is in their browser's cache (max-age=300).
    reader = new_context().new_page()
    reader.goto(site.page_url("/posts/about.html"))
    expect(reader.locator("#comments form")).to_be_visible()

    live_server.stop()
    # A first visit while the service is down: embed.js cannot load; nothing claims anything.
    stranger = new_context().new_page()
    stranger.goto(url)
    stranger.wait_for_load_state("load")
    assert shown_text(stranger) == ""
    # The reader opens this post (embed.js from the cache): it says what is true, with a retry.
    reader.goto(url)
    expect(reader.locator("#comments")).to_contain_text("Comments could not be loaded.")
    assert not re.search("JavaScript|No comments yet|Loading", shown_text(reader))

    restarted = start_server(serve_env, tmp_path, port=live_server.port)
    try:
        reader.get_by_role("button", name="Try again").click()
        expect(reader.locator(".commentd-body")).to_have_text("Here all along.")
        expect(reader.locator("#comments")).not_to_contain_text("could not be loaded")
    finally:
        restarted.stop()
