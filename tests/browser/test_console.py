"""The author's console (moderation.js) in Chromium: undo, bulk, keys, search, rules, posts,
glance, tokens, import, sign-in, the author's own tools; at phone width and under axe-core.

Features whose endpoint the service lacks are hidden by the console; their tests skip when the
service does not have the endpoint yet (helpers A, B, C of issue 16 land them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

import re  # noqa: E402

from blogsite import ARTICLE, ARTICLE_SLUG, Site  # noqa: E402
from sqlalchemy import create_engine, update  # noqa: E402

from commentd.comments.search import REASON_PATTERNS  # noqa: E402
from commentd.models import Comment  # noqa: E402
from tests.reason_samples import codes_of, reason_texts  # noqa: E402

pytestmark = pytest.mark.browser

Page = Any
Route = Any
ROOT = Path(__file__).resolve().parents[2]
DISQUS = ROOT / "tests/fixtures/import/disqus/sample.xml"


@pytest.fixture
def token(serve_env: dict[str, str]) -> str:
    return serve_env["COMMENTD_ADMIN_TOKEN"]


def has(site: Site, method: str, path: str) -> bool:
    """Whether the service has a moderation route (anything but 404/405 to a bare request)."""
    response = requests.request(
        method, f"{site.service}/api/moderation/{path}", headers=site.moderator, timeout=10
    )
    return response.status_code not in (404, 405)


def need(site: Site, method: str, path: str) -> None:
    if not has(site, method, path):
        pytest.skip(f"the service has no {method} /api/moderation/{path} yet")


# The texts of the elements that take more lines than they have words (a word broken inside).
BROKEN_WORDS = """els => els.filter(el => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
    const words = el.innerText.split(/\\s+/).filter(Boolean).length;
    return words > 0 && lines > words;
}).map(el => el.innerText)"""


# The labels of the buttons and fields that end past the right edge of the console's content.
PAST_THE_EDGE = """el => {
    const style = getComputedStyle(el);
    const edge = el.getBoundingClientRect().right - parseFloat(style.paddingRight);
    return [...el.querySelectorAll("button, input, select, textarea")]
        .filter(c => c.offsetParent && !c.closest(".commentd-mod-scroll, dialog"))
        .filter(c => c.getBoundingClientRect().right > edge + 0.5)
        .map(c => c.textContent || c.name || c.type);
}"""


def open_console(page: Page, url: str, token: str) -> None:
    page.goto(url)
    page.get_by_label("Moderation token").fill(token)
    page.keyboard.press("Enter")
    expect(page.get_by_role("tab", name="Pending")).to_be_visible()


def items(page: Page) -> Any:
    return page.locator(".commentd-mod-item")


def status(page: Page) -> Any:
    return page.locator(".commentd-mod-status")


def sent(page: Page) -> None:
    expect(page.locator(".commentd-mod")).to_have_attribute("data-unsent", "0", timeout=20_000)


def view(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Console").get_by_role("button", name=name).click()
    expect(page.locator(".commentd-mod-h")).to_be_focused()


def count_of(page: Page, tab: str) -> Any:
    return page.get_by_role("tab", name=tab).locator(".commentd-mod-count")


def test_an_action_shows_at_once_and_undo_brings_it_back_unsent(
    site: Site, new_context: Any, token: str
) -> None:
    ids = [site.post(name=name, body=f"From {name}")["id"] for name in ("Ann", "Ben")]
    page = new_context().new_page()
    page.clock.install()
    open_console(page, site.page_url("/moderate.html"), token)
    expect(items(page)).to_have_count(2)

    items(page).first.get_by_role("button", name="Approve", exact=True).click()
    expect(items(page)).to_have_count(1)
    expect(status(page)).to_have_text("Approved 1 comment.")
    expect(count_of(page, "Approved")).to_have_text("1")
    page.get_by_role("button", name="Undo").click()

    expect(items(page)).to_have_count(2)
    expect(items(page).first).to_contain_text("From Ben")
    expect(items(page).first).to_be_focused()
    expect(status(page)).to_have_text("Undone: 1 comment back in the list.")
    expect(count_of(page, "Approved")).to_have_text("0")
    page.clock.run_for(30_000)  # far past the undo delay
    sent(page)
    assert [c["id"] for c in site.queue("pending")] == ids[::-1]

    # Without undo, it is sent once the delay has passed: u undoes only what waits.
    items(page).first.focus()
    page.keyboard.press("r")
    expect(status(page)).to_have_text("Rejected 1 comment.")
    page.clock.run_for(6_000)
    sent(page)
    assert [c["id"] for c in site.queue("rejected")] == [ids[1]]
    page.keyboard.press("u")
    expect(items(page)).to_have_count(1)


def test_leaving_the_page_sends_what_waits(site: Site, page: Page, token: str) -> None:
    comment = site.post(name="Ann")
    open_console(page, site.page_url("/moderate.html"), token)
    items(page).first.get_by_role("button", name="Spam").click()
    expect(status(page)).to_have_text("Marked 1 comment as spam.")
    assert site.queue("spam") == []
    page.goto(site.page_url(ARTICLE))  # pagehide: sent with keepalive, at once
    for _ in range(40):
        if site.queue("spam"):
            break
        page.wait_for_timeout(100)
    assert [c["id"] for c in site.queue("spam")] == [comment["id"]]


def test_shift_click_selects_a_range_and_bulk_approve_can_be_undone(
    site: Site, page: Page, token: str
) -> None:
    ids = [site.post(name=f"N{n}", body=f"Number {n}")["id"] for n in range(5)]
    open_console(page, site.page_url("/moderate.html"), token)
    expect(items(page)).to_have_count(5)

    items(page).nth(1).get_by_role("checkbox").click()
    items(page).nth(3).get_by_role("checkbox").click(modifiers=["Shift"])
    expect(page.locator(".commentd-mod-bulk")).to_contain_text("3 selected")
    page.locator(".commentd-mod-bulk").get_by_role("button", name="Approve", exact=True).click()
    expect(items(page)).to_have_count(2)
    expect(status(page)).to_have_text("Approved 3 comments.")
    page.keyboard.press("Control+z")
    expect(items(page)).to_have_count(5)
    expect(count_of(page, "Pending")).to_have_text("5")

    page.keyboard.press("*")  # select all shown
    expect(page.locator(".commentd-mod-bulk")).to_contain_text("5 selected")
    page.locator(".commentd-mod-bulk").get_by_role("button", name="Approve", exact=True).click()
    expect(items(page)).to_have_count(0)
    sent(page)
    assert sorted(c["id"] for c in site.queue("approved")) == ids
    expect(count_of(page, "Approved")).to_have_text("5")


def test_a_ticked_filter_applies_at_once(site: Site, page: Page, token: str) -> None:
    site.post(name="Ann", body="No links here.")
    site.post(name="Ben", body="See https://ben.example/hips for more.")
    open_console(page, site.page_url("/moderate.html"), token)
    expect(items(page)).to_have_count(2)
    page.get_by_text("Filters", exact=True).click()
    page.get_by_label("Has links").check()
    expect(items(page)).to_have_count(1)
    expect(items(page).first).to_contain_text("Ben")
    page.get_by_label("Has links").uncheck()
    expect(items(page)).to_have_count(2)


def test_a_refused_field_is_not_hidden_under_the_message_bar(
    site: Site, page: Page, token: str
) -> None:
    open_console(page, f"{site.service}/moderate", token)
    view(page, "Rules")
    page.get_by_role("button", name="Save the rules").click()
    expect(status(page)).not_to_be_empty()
    links = page.get_by_role("spinbutton", name="Hold comments with this many links")
    links.fill("-5")
    page.get_by_role("button", name="Save the rules").click()
    expect(links).to_be_focused()
    bar = page.locator(".commentd-mod-toast").bounding_box()
    field = links.bounding_box()
    assert bar is not None and field is not None
    assert field["y"] >= bar["y"] + bar["height"], (bar, field)


def test_the_sign_in_says_where_a_token_comes_from(site: Site, page: Page) -> None:
    page.goto(f"{site.service}/moderate")
    hint = page.locator(".commentd-mod-hint")
    expect(hint).to_contain_text("This browser (every tab) stays signed in until you sign out")
    expect(hint).to_contain_text("No token yet? `commentd token` on the server prints one.")


def test_the_message_bar_shows_no_box_when_it_has_nothing_to_say(
    site: Site, page: Page, token: str
) -> None:
    site.post(name="Ann")
    open_console(page, f"{site.service}/moderate", token)
    toast = page.locator(".commentd-mod-toast")
    expect(status(page)).to_be_empty()
    expect(toast).to_have_css("background-color", "rgba(0, 0, 0, 0)")
    items(page).first.get_by_role("button", name="Approve", exact=True).click()
    expect(status(page)).to_have_text("Approved 1 comment.")
    expect(toast).not_to_have_css("background-color", "rgba(0, 0, 0, 0)")


def test_question_mark_shows_the_keys(site: Site, page: Page, token: str) -> None:
    open_console(page, site.page_url("/moderate.html"), token)
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keys")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("row", name="u or Ctrl+Z Undo the last action")).to_be_visible()
    # Each key its own <kbd>, the words between them plain; the key column holds keys only.
    undo_keys = dialog.get_by_role("row", name="u or Ctrl+Z Undo").locator("kbd")
    expect(undo_keys).to_have_text(["u", "Ctrl+Z"])
    expect(dialog.locator("kbd", has_text="switching")).to_have_count(0)
    expect(dialog.get_by_role("row", name="← / → The status tabs")).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.keyboard.press("3")
    expect(page.locator(".commentd-mod-h")).to_have_text("Rules for new comments")
    page.keyboard.press("1")
    expect(page.locator(".commentd-mod-h")).to_have_text("Comments")


def test_a_rule_changed_in_the_console_applies_to_the_next_comment(
    site: Site, page: Page, token: str
) -> None:
    open_console(page, site.page_url("/moderate.html"), token)
    view(page, "Rules")
    links = page.get_by_role("spinbutton", name="Hold comments with this many links")
    expect(links).to_have_value("2")
    expect(page.locator("#commentd-mod-rule-hold_links-effect")).to_have_text(
        "A comment with 2 links or more waits for you, whatever the mode."
    )
    links.fill("1")
    expect(page.locator("#commentd-mod-rule-hold_links-effect")).to_have_text(
        "A comment with 1 link or more waits for you, whatever the mode."
    )
    spam_words = page.get_by_role("textbox", name="Words that mark a comment as spam")
    spam_words.fill("casino\ncheap pills")
    digest = page.get_by_role("radiogroup", name="Spam digest mail")
    # No COMMENTD_NOTIFY_EMAIL here: the digest is off and cannot be turned on.
    expect(digest.get_by_role("radio", name="off", exact=False)).to_be_checked()
    digest.get_by_role("radio", name="weekly", exact=False).check()
    page.get_by_role("button", name="Save the rules").click()
    expect(page.locator("#commentd-mod-rule-spam_digest-err")).to_have_text(
        'Spam digest mail: must be "off": COMMENTD_NOTIFY_EMAIL is not set, '
        "so there is nowhere to send it."
    )
    digest.get_by_role("radio", name="off", exact=False).check()
    page.get_by_role("button", name="Save the rules").click()
    expect(status(page)).to_have_text(
        "The rules are saved: hold comments with this many links, "
        "words that mark a comment as spam."
    )

    held = site.post(body="See https://one.example")
    caught = site.post(body="Best casino in town")
    assert caught["status"] == "spam"
    [shown] = [c for c in site.queue("pending") if c["id"] == held["id"]]
    assert "1 link, limit 1" in shown["reasons"]

    # A bad value is named next to its field; the default comes back on request.
    page.get_by_role("spinbutton", name="Spam score threshold").fill("0.1")
    page.get_by_role("button", name="Save the rules").click()
    expect(page.locator("#commentd-mod-rule-hold_threshold-err")).to_contain_text(
        "must be at most spam_threshold"
    )
    page.get_by_role("spinbutton", name="Spam score threshold").fill("0.55")
    page.get_by_role(
        "button", name="Set Hold comments with this many links back to the server's default"
    ).click()
    expect(page.get_by_role("spinbutton", name="Hold comments with this many links")).to_have_value(
        "2"
    )
    settings = requests.get(
        f"{site.service}/api/moderation/settings", headers=site.moderator, timeout=10
    ).json()
    assert settings["rules"]["hold_links"] == 2
    assert settings["changed"] == ["disallowed_keywords"]


def test_the_moderation_mode_picked_in_the_console_applies_to_the_next_comment(
    site: Site, page: Page, token: str
) -> None:
    def post_as_the_widget(body: str) -> str:
        form = requests.get(f"{site.service}/api/form-token", timeout=10).json()
        return str(site.post(body=body, form_token=form["form_token"])["status"])

    open_console(page, site.page_url("/moderate.html"), token)
    view(page, "Rules")
    modes = page.get_by_role("radiogroup", name="Which comments wait for you")
    expect(modes.get_by_role("radio", name="Every new comment waits", exact=False)).to_be_checked()
    assert post_as_the_widget("Before the change") == "pending"

    modes.get_by_role("radio", name="Comments are published at once", exact=False).check()
    page.get_by_role("button", name="Save the rules").click()
    expect(status(page)).to_have_text("The rules are saved: which comments wait for you.")

    assert post_as_the_widget("After the change") == "approved"


def test_the_glance_shows_the_outbox(site: Site, page: Page, token: str) -> None:
    open_console(page, site.page_url("/moderate.html"), token)
    view(page, "Glance")
    box = page.locator(".commentd-mod-outbox")
    expect(box.get_by_role("heading", name="Emails and webhooks")).to_be_visible()
    expect(box.locator("dt")).to_have_text(["Sent", "Waiting", "Failing", "Skipped"])
    expect(box).to_contain_text("Nothing is failing.")
    # Nothing waits, so there is no "oldest waiting" line, and no stray "null" in its place.
    expect(box).not_to_contain_text("null")


def test_the_glance_charts_30_days(site: Site, page: Page, token: str) -> None:
    need(site, "GET", "stats?days=30")
    site.post(name="Ann")
    site.post(body="spam", url2="autofill")  # the honeypot: caught as spam
    open_console(page, site.page_url("/moderate.html"), token)
    view(page, "Glance")
    chart = page.get_by_role("img", name="Comments and spam per day, last 30 days")
    expect(chart).to_be_visible()
    expect(page.locator(".commentd-mod-glance")).to_contain_text("2 comments and 1 caught as spam.")
    page.get_by_text("The numbers as a table").click()
    expect(page.locator(".commentd-mod-glance tbody tr")).to_have_count(30)


def test_an_export_is_uploaded_checked_then_imported(site: Site, page: Page, token: str) -> None:
    open_console(page, site.page_url("/moderate.html"), token)
    view(page, "Import & export")
    page.get_by_label("From").select_option("disqus")
    page.get_by_label("Export file").set_input_files(str(DISQUS))
    page.get_by_role("button", name="Upload and check").click()
    result = page.locator(".commentd-mod-import")
    expect(result).to_contain_text("Checked: nothing is stored yet.")
    expect(result).to_contain_text("Read 18 comments (disqus).")
    expect(result).to_contain_text("Would import 11 approved, 2 pending, 2 spam on 3 posts.")
    assert site.queue("approved") == []
    page.get_by_role("button", name="Import 15 comments").click()
    expect(result).to_contain_text("Imported 11 approved, 2 pending, 2 spam on 3 posts.")
    assert len(site.queue("approved")) == 11

    # The same file again: nothing new, so no "Import 0 comments" button to press.
    page.get_by_role("button", name="Upload and check").click()
    expect(result).to_contain_text("Checked: nothing new to import.")
    expect(result).to_contain_text("15 are already here.")
    expect(result).not_to_contain_text("Would import")
    expect(result.get_by_role("button")).to_have_count(0)

    # A file of another kind than "From" says: the message names the kind it was read as.
    page.get_by_label("From").select_option("wordpress")
    page.get_by_role("button", name="Upload and check").click()
    expect(result).to_contain_text(
        "It was read as WordPress (WXR): if it is another kind of export, pick that under “From”"
    )

    with page.expect_download() as download:
        page.get_by_role("button", name="Download commentd JSON").click()
    assert download.value.suggested_filename == "commentd-export.json"


def test_posts_can_be_closed_and_opened(site: Site, page: Page, token: str) -> None:
    site.post(name="Ann")
    open_console(page, site.page_url("/moderate.html"), token)
    view(page, "Posts")
    if has(site, "GET", "posts"):
        row = page.get_by_role("row").filter(has_text=ARTICLE_SLUG)
        expect(row).to_contain_text("1 pending")
        # A column's heading is never broken inside a word ("Comment" over "s").
        assert page.locator(".commentd-mod-table thead th").evaluate_all(BROKEN_WORDS) == []
        row.get_by_role("button", name=f"Close {ARTICLE_SLUG}").click()
        expect(row.locator(".commentd-mod-badge")).to_have_text("Closed")
    else:
        page.get_by_label("Slug").fill(ARTICLE_SLUG)
        page.get_by_role("button", name="Close", exact=True).click()
        expect(status(page)).to_contain_text("takes no new comments")
    refused = requests.post(
        f"{site.service}/api/posts/{ARTICLE_SLUG}/comments",
        json={"name": "Late", "email": "late@example.com", "body": "Too late"},
        timeout=10,
    )
    assert refused.status_code == 403


def test_posts_show_titles_and_a_move_says_it_merges(site: Site, page: Page, token: str) -> None:
    need(site, "GET", "posts")
    site.post(name="Ann")
    site.post(slug="new-home", name="Ben")
    open_console(page, site.page_url("/moderate.html"), token)
    view(page, "Posts")
    row = page.get_by_role("row").filter(has_text=ARTICLE_SLUG)
    row.get_by_role("button", name=f"Set the title of {ARTICLE_SLUG}").click()
    page.get_by_role("textbox", name=f"Title of {ARTICLE_SLUG}").fill("Gluteus medius")
    page.get_by_role("button", name="Save title").click()
    row = page.get_by_role("row").filter(has_text="Gluteus medius")
    expect(row).to_contain_text(ARTICLE_SLUG)

    row.get_by_role("button", name="Move the comments of Gluteus medius").click()
    page.get_by_role("textbox", name=f"Move every comment of {ARTICLE_SLUG} to the slug").fill(
        "new-home"
    )
    page.get_by_role("button", name="Move", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("“new-home” has 1 comment already")
    dialog.get_by_role("button", name="Merge").click()
    # new-home had no title: it takes the moved post's, and the message says so.
    expect(status(page)).to_have_text(
        f"Moved 1 comment from {ARTICLE_SLUG} to new-home, merged with those already there. "
        "new-home takes the title “Gluteus medius” (it had none)."
    )
    assert {c["slug"] for c in site.queue("pending")} == {"new-home"}


def test_search_then_bulk_approve_and_undo(site: Site, page: Page, token: str) -> None:
    need(site, "POST", "comments/bulk")
    for n in range(3):
        site.post(name=f"Clam{n}", body=f"Clamshells, set {n}")
    other = site.post(name="Zed", body="Pigeon pose")
    open_console(page, site.page_url("/moderate.html"), token)
    expect(items(page)).to_have_count(4)
    # The search shows once the stats probe says the service has it: "/" before that is a no-op.
    expect(page.get_by_role("searchbox")).to_be_visible()

    page.keyboard.press("/")
    expect(page.get_by_role("searchbox")).to_be_focused()
    page.keyboard.type("clamshells")
    page.keyboard.press("Enter")
    expect(items(page)).to_have_count(3)
    expect(status(page)).to_have_text("3 comments match this search.")
    expect(count_of(page, "Pending")).to_have_text("3")
    page.get_by_label("Select all shown").check()
    page.locator(".commentd-mod-bulk").get_by_role("button", name="Approve", exact=True).click()
    expect(items(page)).to_have_count(0)
    page.get_by_role("button", name="Undo").click()
    expect(items(page)).to_have_count(3)
    page.get_by_label("Select all shown").check()
    page.locator(".commentd-mod-bulk").get_by_role("button", name="Approve", exact=True).click()
    sent(page)
    approved = {c["id"] for c in site.queue("approved")}
    assert len(approved) == 3 and other["id"] not in approved

    page.get_by_role("tab", name="All").click()
    expect(items(page)).to_have_count(3)
    expect(count_of(page, "All")).to_have_text("3")


def test_select_all_that_match_the_search(site: Site, new_context: Any, token: str) -> None:
    need(site, "POST", "comments/bulk")
    for n in range(25):
        site.post(name=f"Spammy{n}", body=f"Buy pills {n}")
    site.post(name="Real", body="A real question")
    page = new_context().new_page()
    open_console(page, site.page_url("/moderate.html"), token)
    page.get_by_role("searchbox").fill("pills")
    page.keyboard.press("Enter")
    expect(items(page)).to_have_count(20)
    page.get_by_label("Select all shown").check()
    page.get_by_role("button", name="Select all 25 that match this search").click()
    expect(page.locator(".commentd-mod-bulk")).to_contain_text("All 25 selected")
    page.locator(".commentd-mod-bulk").get_by_role("button", name="Spam").click()
    expect(status(page)).to_have_text("Marked 25 comments as spam.")
    sent(page)
    assert len(site.queue("spam")) == 25
    assert [c["author"]["name"] for c in site.queue("pending")] == ["Real"]


def test_counts_from_before_a_search_never_replace_the_searchs_own(
    site: Site, new_context: Any, token: str
) -> None:
    # CI once found "Select all 26 that match this search" for 25 matches: the whole queue's
    # counts, asked for as the console opened, came back after the search's.
    need(site, "POST", "comments/bulk")
    for n in range(25):
        site.post(name=f"Spammy{n}", body=f"Buy pills {n}")
    site.post(name="Real", body="A real question")
    page = new_context().new_page()
    held: list[Route] = []

    def hold_the_whole_queues_counts(route: Route) -> None:
        if "?" in route.request.url:
            route.continue_()
        else:
            held.append(route)

    open_console(page, site.page_url("/moderate.html"), token)
    expect(count_of(page, "Pending")).to_have_text("26")
    page.route("**/api/moderation/counts*", hold_the_whole_queues_counts)
    page.get_by_role("tab", name="Approved").click()  # each tab asks for the queue's counts
    page.get_by_role("tab", name="Pending").click()
    page.get_by_role("searchbox").fill("pills")
    page.keyboard.press("Enter")
    expect(count_of(page, "Pending")).to_have_text("25")
    assert held, "switching tabs asked for the whole queue's counts"
    for route in held:  # they come back late, after the search's own
        route.continue_()
    page.wait_for_timeout(500)

    expect(count_of(page, "Pending")).to_have_text("25")
    expect(items(page)).to_have_count(20)
    page.get_by_label("Select all shown").check()
    expect(page.get_by_role("button", name="Select all 25 that match this search")).to_be_visible()


def test_a_slow_answer_to_an_earlier_post_search_never_mixes_into_a_later_one(
    site: Site, new_context: Any, token: str
) -> None:
    need(site, "GET", "posts")
    for slug in ("alpha-pose", "beta-pose"):
        site.post(slug=slug, body=f"On {slug}")
    page = new_context().new_page()
    open_console(page, site.page_url("/moderate.html"), token)
    view(page, "Posts")
    held: list[Route] = []

    def hold_the_search_for_alpha(route: Route) -> None:
        if "q=alpha" in route.request.url:
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/moderation/posts*", hold_the_search_for_alpha)
    search = page.get_by_role("searchbox", name="Find a post (slug or title)")
    search.fill("alpha")
    search.press("Enter")
    search.fill("beta")
    search.press("Enter")
    table = page.locator(".commentd-mod-table tbody")
    expect(table).to_contain_text("beta-pose")
    assert held, "the search for alpha was asked for first"
    for route in held:  # its answer comes back late, after the search for beta's
        route.continue_()
    page.wait_for_timeout(500)

    expect(table).not_to_contain_text("alpha-pose")
    expect(table.get_by_role("row")).to_have_count(1)


def test_the_author_replies_edits_pins_and_reads_the_history(
    site: Site, new_context: Any, token: str
) -> None:
    need(site, "GET", "posts")
    asked = site.post(name="Dana", body="Is the clamshell enough?")
    page = new_context().new_page()
    open_console(page, site.page_url("/moderate.html"), token)
    item = items(page).first
    item.get_by_role("button", name="Approve and reply").click()
    page.get_by_label("Your reply (the comment is approved with it)").fill("Add side planks.")
    page.get_by_role("button", name="Approve and reply").last.click()
    expect(status(page)).to_have_text("Your reply is published. The comment by Dana is approved.")
    expect(items(page)).to_have_count(0)

    page.get_by_role("tab", name="Approved").click()
    expect(items(page)).to_have_count(2)
    mine = items(page).filter(has_text="Add side planks.")
    expect(mine.locator(".commentd-mod-badge")).to_have_text("Author")
    expect(mine.locator(".commentd-mod-context")).to_contain_text(
        f"In reply to Dana (#{asked['id']}): Is the clamshell enough?"
    )
    dana = page.locator(f".commentd-mod-item[data-id='{asked['id']}']")
    dana.get_by_role("button", name="Edit").click()
    page.get_by_label("Text (Markdown)").fill("Is the clamshell **enough**?")
    page.get_by_role("button", name="Save").click()
    expect(status(page)).to_have_text("The comment by Dana is saved.")
    expect(dana.locator(".commentd-mod-body strong")).to_have_text("enough")
    dana.get_by_role("button", name="Pin").click()
    expect(status(page)).to_have_text("Pinned to the top of its post.")
    expect(dana.get_by_role("button", name="Unpin")).to_be_visible()
    dana.get_by_role("button", name="History").click()
    history = dana.locator(".commentd-mod-history li")
    expect(history.first).to_contain_text("Submitted; the spam rules set it to Pending")
    # The rules' score and reasons are said where they were decided, not again on every later
    # event as if the approval or the edit had been scored.
    expect(history).to_have_count(5)  # submitted, approved, replied, edited, pinned
    expect(history.filter(has_text="Edited")).not_to_contain_text("score")
    expect(history.filter(has_text="Approved")).not_to_contain_text("score")
    expect(dana.locator(".commentd-mod-history")).to_contain_text("Edited")
    expect(dana.locator(".commentd-mod-history")).to_contain_text("Pinned")

    [reply] = [c for c in site.queue("approved") if c["author"].get("is_owner")]
    assert reply["parent_id"] == asked["id"]
    reader = new_context().new_page()
    reader.goto(site.page_url(ARTICLE))
    shown = reader.locator(f"#comment-{reply['id']}")
    expect(shown.locator(".commentd-body").first).to_have_text("Add side planks.")
    expect(shown.locator(".commentd-owner").first).to_have_text("Author")


def store_reasons(database_url: str, reasons: dict[int, list[str]]) -> None:
    """Gives comments these reasons, straight in the running service's database."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            for comment_id, stored in reasons.items():
                connection.execute(
                    update(Comment).where(Comment.id == comment_id).values(reasons=stored)
                )
    finally:
        engine.dispose()


# An internal code: words joined by underscores, outside quotes (a matched keyword may be any).
CODE = re.compile(r"[a-z]+(?:_[a-z]+)+")


def test_every_reason_the_service_writes_is_shown_in_words(
    site: Site, page: Page, token: str, database_url: str
) -> None:
    texts = reason_texts()
    comment = site.post(name="Ann", body="Every reason at once")
    store_reasons(database_url, {comment["id"]: texts})
    open_console(page, site.page_url("/moderate.html"), token)

    # The reason filter offers every code the service has, each in words.
    options = page.locator("#commentd-mod-reason option")
    words = dict(options.evaluate_all("os => os.filter(o => o.value).map(o => [o.value, o.text])"))
    assert set(words) == set(REASON_PATTERNS)
    assert [code for code, said in words.items() if not said or CODE.search(said)] == []
    # And each reason on the comment reads as words: a reason that is (or carries) a code shows
    # its code's words; the others stay as written, with their details.
    shown = items(page).first.locator(".commentd-mod-signals li")
    expect(shown).to_have_count(len(texts))
    for text, said in zip(texts, shown.all_inner_texts(), strict=True):
        [code] = codes_of(text)
        assert not CODE.search(re.sub(r"'[^']*'", "", said)), said
        assert said == (words[code] if CODE.search(re.sub(r"'[^']*'", "", text)) else text)


def test_spam_signals_of_a_decided_comment_are_history_not_a_warning(
    site: Site, page: Page, token: str, database_url: str
) -> None:
    waiting = site.post(name="Ann", body="Held")["id"]
    approved = site.post(name="Ben", body="Held, then approved")["id"]
    held = ["no form token (not sent from the comment form)", "2 links, limit 2"]
    store_reasons(database_url, {waiting: held, approved: held})
    site.moderate(approved, "approve")
    open_console(page, site.page_url("/moderate.html"), token)
    warning = items(page).first.locator(".commentd-mod-signals")
    expect(warning.locator("li")).to_have_text(held)
    red = warning.evaluate("el => getComputedStyle(el).borderInlineStartColor")

    page.get_by_role("tab", name="Approved").click()
    expect(items(page)).to_have_count(1)
    past = items(page).first.locator(".commentd-mod-signals")
    # Folded, under a title that says they are the past, and not in the warning's colour.
    expect(past).to_have_js_property("tagName", "DETAILS")
    expect(past).not_to_have_attribute("open", "")
    expect(past.locator("summary")).to_have_text(re.compile(r"^Spam signals when it came in"))
    expect(past.locator("li").first).to_be_hidden()
    assert past.evaluate("el => getComputedStyle(el).borderInlineStartColor") != red
    past.locator("summary").click()
    expect(past.locator("li")).to_have_text(held)

    page.get_by_role("tab", name="All").click()  # the waiting one is still a warning here
    expect(items(page)).to_have_count(2)
    again = page.locator(f".commentd-mod-item[data-id='{waiting}'] .commentd-mod-signals")
    expect(again).to_have_js_property("tagName", "DIV")


def test_a_reply_from_the_approved_tab_shows_at_once_under_its_parent(
    site: Site, page: Page, token: str
) -> None:
    need(site, "GET", "posts")
    older = site.post(name="Fay", body="An older comment")["id"]
    parent = site.post(name="Dana", body="Is the clamshell enough?")["id"]
    for comment_id in (older, parent):
        site.moderate(comment_id, "approve")
    open_console(page, site.page_url("/moderate.html"), token)
    page.get_by_role("tab", name="Approved").click()
    expect(items(page)).to_have_count(2)
    dana = page.locator(f".commentd-mod-item[data-id='{parent}']")
    dana.get_by_role("button", name="Reply").click()
    page.get_by_label("Your reply, published at once as the author").fill("Add side planks.")
    dana.locator("form").get_by_role("button", name="Reply", exact=True).click()
    expect(status(page)).to_have_text("Your reply is published.")

    expect(items(page)).to_have_count(3)  # no Refresh
    expect(items(page).nth(0)).to_have_attribute("data-id", str(parent))
    expect(items(page).nth(1)).to_contain_text("Add side planks.")
    expect(items(page).nth(1).locator(".commentd-mod-badge")).to_have_text("Author")
    expect(items(page).nth(2)).to_have_attribute("data-id", str(older))
    expect(count_of(page, "Approved")).to_have_text("3")
    page.get_by_role("button", name="Refresh").click()  # what the server says agrees
    expect(items(page)).to_have_count(3)


def test_tokens_are_made_shown_once_and_revoked(site: Site, page: Page, token: str) -> None:
    need(site, "GET", "tokens")
    open_console(page, site.page_url("/moderate.html"), token)
    view(page, "Tokens")
    page.get_by_label("Label of the new token").fill("phone")
    page.get_by_role("button", name="Create a token").click()
    made = page.get_by_label("Token", exact=True)
    expect(made).to_be_focused()
    new_token = made.input_value()
    assert len(new_token) > 20
    headers = {"Authorization": f"Bearer {new_token}"}
    assert requests.get(f"{site.service}/api/moderation/counts", headers=headers, timeout=10).ok
    page.get_by_role("button", name="Revoke phone").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(status(page)).to_have_text("“phone” is revoked.")
    answer = requests.get(f"{site.service}/api/moderation/counts", headers=headers, timeout=10)
    assert answer.status_code == 401


def test_a_token_list_answered_late_never_replaces_a_newer_one(
    site: Site, new_context: Any, token: str
) -> None:
    need(site, "GET", "tokens")
    page = new_context().new_page()
    open_console(page, site.page_url("/moderate.html"), token)
    view(page, "Tokens")
    held: list[tuple[Route, Any]] = []

    def hold_the_first_list(route: Route) -> None:
        if route.request.method == "GET" and not held:
            held.append((route, route.fetch()))  # the list as it is now, answered later
        else:
            route.continue_()

    page.route("**/api/moderation/tokens", hold_the_first_list)
    for label in ("laptop", "phone"):  # each new token asks for the list again
        page.get_by_label("Label of the new token").fill(label)
        page.get_by_role("button", name="Create a token").click()
        expect(page.get_by_label("Token", exact=True)).to_be_focused()
    expect(page.get_by_role("button", name="Revoke phone")).to_be_visible()
    [(route, answer)] = held
    route.fulfill(response=answer)  # the list from before "phone", arriving last
    page.wait_for_timeout(500)

    expect(page.get_by_role("button", name="Revoke phone")).to_be_visible()
    expect(page.get_by_role("button", name="Revoke laptop")).to_be_visible()


def test_the_hosted_page_signs_in_with_a_cookie_and_a_new_tab_is_signed_in(
    site: Site, new_context: Any, token: str
) -> None:
    if requests.get(f"{site.service}/api/moderation/session", timeout=10).status_code == 404:
        pytest.skip("the service has no session endpoint yet")
    site.post(name="Ann")
    context = new_context()
    page = context.new_page()
    open_console(page, site.service + "/moderate", token)
    assert page.evaluate("sessionStorage.length") == 0  # the token is not kept by the page
    cookies = context.cookies()
    assert [c["httpOnly"] for c in cookies if c["name"] == "commentd_session"] == [True]

    second = context.new_page()
    second.goto(site.service + "/moderate")
    expect(items(second)).to_have_count(1)
    items(second).first.get_by_role("button", name="Approve", exact=True).click()
    sent(second)
    assert len(site.queue("approved")) == 1

    second.get_by_role("button", name="Sign out").click()
    expect(second.get_by_label("Moderation token")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Moderation token")).to_be_visible()


VIEWS = ["Comments", "Posts", "Rules", "Glance", "Import & export"]


def test_every_view_fits_a_phone_without_sideways_scrolling(
    site: Site, new_context: Any, token: str
) -> None:
    site.post(
        name="A very long name that keeps going" * 2,
        website="https://a-very-long-website-name.example/with/a/long/path",
        body="https://a.example/" + "x" * 200,
    )
    page = new_context(viewport={"width": 390, "height": 844}).new_page()
    open_console(page, site.page_url("/moderate.html"), token)
    expect(items(page)).to_have_count(1)
    for name in VIEWS:
        view(page, name)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], (name, width)
        # Nor does a table fit by breaking its words: a button's label or a heading stays on
        # one line a word ("Clos" over "e"); the table scrolls in its own box instead.
        cells = page.locator(".commentd-mod-table .commentd-mod-btn, .commentd-mod-table thead th")
        broken = cells.evaluate_all(BROKEN_WORDS)
        assert broken == [], (name, broken)
        # And no control outside a scrolling table reaches past the console's edge.
        past = page.locator(".commentd-mod").evaluate(PAST_THE_EDGE)
        assert past == [], (name, past)
