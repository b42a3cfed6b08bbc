"""validation.py: every field rule of API.md, checked without an app."""

from __future__ import annotations

from typing import Any

import pytest

from service.errors import BadRequest, ValidationFailed
from service.validation import CommentSubmission, normalize_slug, parse_submission


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
