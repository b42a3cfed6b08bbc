"""validation.py: every field rule of API.md, checked without an app."""

from __future__ import annotations

from typing import Any

import pytest

from commentd.comments.validation import (
    CommentSubmission,
    form_fields,
    json_text,
    normalize_slug,
    parse_submission,
)
from commentd.errors import BadRequest, ValidationFailed


def fields(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "Dana", "email": "dana@example.com", "body": "Nice."}
    base.update(overrides)
    return base


def failing_fields(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_submission(raw)
    failed = caught.value.details["fields"]
    assert isinstance(failed, dict)
    return failed


def test_a_complete_submission_is_trimmed_and_normalised() -> None:
    submission = parse_submission(
        fields(
            name="  Dana  ",
            email="Dana@EXAMPLE.com",
            body="  Hi\r\nthere  ",
            website="https://dana.example/",
            parent_id="17",
            notify="on",
        )
    )

    assert submission == CommentSubmission(
        name="Dana",
        email="Dana@example.com",
        body="Hi\nthere",
        website="https://dana.example/",
        parent_id=17,
        notify=True,
    )
    assert submission.email_key == "dana@example.com"


def test_every_failing_field_is_named_at_once() -> None:
    failed = failing_fields(
        {"name": " ", "email": "not-an-address", "body": "", "website": "ftp://x", "parent_id": 0}
    )

    assert set(failed) == {"name", "email", "body", "website", "parent_id"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "x" * 81),
        ("name", "Da\x00na"),
        ("name", "\ud800"),
        ("name", ["Dana"]),
        ("email", "dana@"),
        ("email", "dana@example.com\x00"),
        ("email", 42),
        ("body", "x" * 5001),
        ("body", "hello\x00"),
        ("body", "bad surrogate \udfff"),
        ("body", {"text": "hi"}),
        ("website", "javascript:alert(1)"),
        ("website", "https://" + "a" * 300 + ".example"),
        ("website", "http://exa mple.com"),
        ("website", "https://"),
        ("parent_id", "abc"),
        ("parent_id", True),
        ("parent_id", -3),
        ("parent_id", 2**40),
        ("parent_id", 1.5),
        ("notify", "maybe"),
        ("notify", 3),
    ],
)
def test_a_bad_value_is_named(field: str, value: Any) -> None:
    assert field in failing_fields(fields(**{field: value}))


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("x" * 80, "y" * 5000),  # the limits themselves are allowed
        ("Zoë 👩‍💻", "Emoji 🎉, right-to-left ‏שלום‏, tabs\tand\nnewlines"),
    ],
)
def test_limits_and_unicode_that_people_type_are_accepted(name: str, body: str) -> None:
    submission = parse_submission(fields(name=name, body=body))

    assert (submission.name, submission.body) == (name, body)


def test_a_bare_host_as_website_becomes_an_https_url() -> None:
    assert parse_submission(fields(website="dana.example")).website == "https://dana.example"


def test_an_empty_website_is_no_website() -> None:
    assert parse_submission(fields(website="  ")).website is None


def test_unusable_tokens_are_ignored_rather_than_refused() -> None:
    submission = parse_submission(
        fields(form_token=["x"], commenter_token="t" * 600, url2="I am a bot")
    )

    assert submission.form_token is None
    assert submission.commenter_token is None
    assert submission.honeypot == "I am a bot"


@pytest.mark.parametrize(
    ("raw", "slug"),
    [
        ("gluteus-medius", "gluteus-medius"),
        ("/posts/x/", "posts/x"),
        ("2024/03/gluteus-medius", "2024/03/gluteus-medius"),
        ("café", "café"),
        ("x" * 255, "x" * 255),
    ],
)
def test_slugs_are_normalised(raw: str, slug: str) -> None:
    assert normalize_slug(raw) == slug


@pytest.mark.parametrize("raw", ["", "///", "x" * 256, "a\x00b", "tab\there"])
def test_bad_slugs_are_refused(raw: str) -> None:
    with pytest.raises(BadRequest):
        normalize_slug(raw)


# --- text with nothing to see, and bidi controls (issue 12) --------------------------------

EMPTY_MESSAGES = {"name": "Please enter your name.", "body": "Please write a comment."}
NOTHING_VISIBLE = [
    "\u200b\u200b",  # zero-width spaces (Cf)
    "\ufeff",  # byte order mark / zero-width no-break space
    "\u00a0",  # no-break space (Zs, trimmed)
    "\u3000\u2003",  # ideographic and em spaces
    "\u200c\u200d\u2060",  # joiners, word joiner
    "\u00ad",  # soft hyphen
    "\u180e",  # Mongolian vowel separator
    "\u2800",  # braille pattern blank (So, yet blank)
    "\u3164",  # Hangul filler (Lo, default-ignorable)
    "\u115f\u1160\uffa0",  # Hangul choseong/jungseong and halfwidth fillers
    "\U0001d159",  # musical symbol null notehead
    "\u0301\u0308",  # combining marks with nothing to sit on
    "\ufe0f\U000e0100",  # variation selectors
    "\u034f",  # combining grapheme joiner
    "\U000e0041\U000e007f",  # tag characters
    "\u200e\u200f",  # direction marks alone
    "\u2028\u2029",  # line and paragraph separators
    "\U0001d173",  # musical formatting (Cf)
    "\ufff0",  # reserved default-ignorable, unassigned
    " \u200b \u2800 \u0301 ",
]


@pytest.mark.parametrize("field", ["name", "body"])
@pytest.mark.parametrize("text", NOTHING_VISIBLE)
def test_text_with_nothing_visible_is_refused_like_an_empty_field(field: str, text: str) -> None:
    failed = failing_fields(fields(**{field: text}))

    assert failed == {field: EMPTY_MESSAGES[field]}
    assert failing_fields(fields(**{field: ""})) == failed


@pytest.mark.parametrize(
    "text",
    [
        "李",
        "🎉",
        "\ue000",  # private use: a font of the site may draw it
        "\U0001fae8",  # unassigned in this Python's Unicode, an emoji in a later one
        "Zoe\u0308",  # a mark on a letter
        "👩\u200d💻",  # a joiner inside an emoji sequence
        "\u200bx\u200b",  # one visible character is enough
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian, a zero-width non-joiner
        "שלום\u200f!",  # a right-to-left mark settles the "!"
        "_",
    ],
)
def test_any_visible_character_makes_the_text_count(text: str) -> None:
    submission = parse_submission(fields(name=text, body=text))

    assert (submission.name, submission.body) == (text, text)


@pytest.mark.parametrize(
    "control",
    ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"],
)
@pytest.mark.parametrize("field", ["name", "body"])
def test_bidi_embeddings_overrides_and_isolates_are_refused(field: str, control: str) -> None:
    failed = failing_fields(fields(**{field: f"Dana{control}moc.elpmaxe"}))

    assert set(failed) == {field}
    assert "direction" in failed[field]


@pytest.mark.parametrize(
    "website",
    [
        "https://exa\u200bmple.com",
        "https://example.com/\u202egpj.exe",
        "https://\u2800.example",
        "https://example.com/a\u00a0b",
        "https://example.com/\ufeff",
        "\u200b",
    ],
)
def test_a_website_with_invisible_characters_is_refused(website: str) -> None:
    assert set(failing_fields(fields(website=website))) == {"website"}


def test_a_website_may_hold_the_marks_of_an_internationalised_domain() -> None:
    website = "https://cafe\u0301.example/प्रिय"
    assert parse_submission(fields(website=website)).website == website


# --- one canonical slug -------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "blog/读书",
        "blog/%E8%AF%BB%E4%B9%A6",  # what a browser's location.pathname holds
        "blog/%e8%af%bb%e4%b9%a6",  # lower-case escapes
        "blog/%E8%af%BB%e4%B9%a6",
        "/blog/%E8%AF%BB%E4%B9%A6/",
        "blog%2F%E8%AF%BB%E4%B9%A6",  # an escaped slash
        "blog%2f读书",
        "blog/%25E8%25AF%25BB%25E4%25B9%25A6",  # escaped twice on the way
        "//blog//读书//",  # doubled slashes
        "blog/读%E4%B9%A6",  # half decoded
    ],
)
def test_every_spelling_of_a_slug_is_one_canonical_slug(raw: str) -> None:
    assert normalize_slug(raw) == "blog/读书"


def test_a_slug_is_put_in_nfc() -> None:
    nfc = "caf\u00e9"
    for raw in (nfc, "cafe\u0301", "cafe%CC%81", "caf%C3%A9"):
        assert normalize_slug(raw) == nfc


@pytest.mark.parametrize("raw", ["100%-sure", "50%off", "a%2", "%zz", "100%"])
def test_a_percent_sign_that_is_no_escape_stays(raw: str) -> None:
    assert normalize_slug(raw) == raw


def test_the_canonical_slug_is_its_own_canonical_form() -> None:
    for raw in ("blog/%25252541", "a%252Fb", "%2F%2Fx%2F%2F", "cafe\u0301/%2525"):
        slug = normalize_slug(raw)
        assert normalize_slug(slug) == slug


@pytest.mark.parametrize(
    ("raw", "slug"),
    [
        ("%FF", "%FF"),
        ("caf%e9", "caf%E9"),  # a page path on an ISO-8859-1 site, as embed.js sends it
        ("caf%E9", "caf%E9"),
        ("blog/%e8%af", "blog/%E8%AF"),  # a cut sequence
        ("%ed%a0%80", "%ED%A0%80"),  # an encoded surrogate
        ("%C0%AF", "%C0%AF"),  # an overlong "/"
        ("%25FF", "%FF"),  # not UTF-8 once decoded twice
        ("a%41%ff/%C3%A9", "aA%FF/\u00e9"),  # the UTF-8 part of a run is decoded
    ],
)
def test_escapes_that_are_not_utf8_stay_escapes_in_capitals(raw: str, slug: str) -> None:
    assert normalize_slug(raw) == slug
    assert normalize_slug(slug) == slug


@pytest.mark.parametrize(
    "raw",
    [
        "bad\udcff",  # bytes a server could not decode (surrogateescape)
        "%00",
        "a%0Ab",
        "%E2%80%AEevil",  # U+202E through escapes
        "x\u2066y",
        "\u200b",
        "/%E2%80%8B/",
        "%2F%2F",
        "%78" * 256,
    ],
)
def test_slugs_with_bad_escapes_controls_or_nothing_visible_are_refused(raw: str) -> None:
    with pytest.raises(BadRequest):
        normalize_slug(raw)


# --- bodies that are not UTF-8 ------------------------------------------------------------


def test_a_form_is_read_as_utf8_and_keeps_a_typed_percent_sign() -> None:
    raw = b"name=Zo%C3%AB&body=100%25EB+sure&body=second&email=a%40b.co&x="

    assert form_fields(raw) == {"name": "Zoë", "body": "100%EB sure", "email": "a@b.co", "x": ""}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"name=Zo%EB&body=Caf%E9", "name"),
        (b"name=Dana&body=Caf%E9", "body"),
        (b"name=Zo\xeb&body=x", "name"),
        (b"name=Dana&body=x\xff", "body"),
        (b"name=%ED%A0%80", "name"),
        (b"na%FFme=Dana", "na\ufffdme"),
        (b"name=%C3", "name"),
    ],
)
def test_a_form_field_that_is_not_utf8_is_a_400_naming_it(raw: bytes, field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        form_fields(raw)

    assert f"'{field}'" in caught.value.message
    assert "UTF-8" in caught.value.message


@pytest.mark.parametrize(
    "raw",
    [b'{"name": "Zo\xeb"}', '{"name": "Zoë"}'.encode("utf-16"), '{"a": 1}'.encode("utf-32")],
)
def test_a_json_body_that_is_not_utf8_is_a_400(raw: bytes) -> None:
    with pytest.raises(BadRequest):
        json_text(raw)


def test_a_json_body_may_start_with_a_byte_order_mark() -> None:
    assert json_text(b'\xef\xbb\xbf{"name": "Zo\xc3\xab"}') == '{"name": "Zoë"}'
