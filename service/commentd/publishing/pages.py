"""The pages the service answers a no-script form with (docs/no-script.md): "Check your
comment" (a preview with the form again and a fresh form token), the refused fields (422), the
other refusals, and the outcome when there is no page to go back to.

Each is a whole HTML document in the reader's language (`lang`/`dir`), with one inline style
(allowed by its hash: style_source), no script and nothing fetched from anywhere. Nothing a
reader typed is HTML; the email appears only as the value of their own form field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from commentd import i18n
from commentd.comments.public import timestamp
from commentd.publishing import fragment
from commentd.publishing.fragment import (
    ReplyOption,
    format_date,
    safe_website,
    template,
    translator,
)

# The pages' look: readable on its own, the honeypot out of sight (fragment.STYLE).
STYLE = fragment.STYLE + (
    "body{font-family:system-ui,sans-serif;line-height:1.5;max-width:40rem;margin:2rem auto;"
    "padding:0 1rem;color:#222;background:#fff}"
    "@media (prefers-color-scheme:dark){body{color:#eee;background:#1b1b1b}a{color:#8cf}}"
    ".commentd-field label{display:block;font-weight:600}"
    ".commentd-field input[type=text],.commentd-field input[type=email],"
    ".commentd-field input[type=url],textarea,select{width:100%;box-sizing:border-box;"
    "font:inherit;padding:.35rem}"
    ".commentd-field-notify label{font-weight:normal}"
    ".commentd-error,.commentd-errors{color:#b00020}"
    "@media (prefers-color-scheme:dark){.commentd-error,.commentd-errors{color:#ff8a80}}"
    ".commentd-invalid input,.commentd-invalid textarea,.commentd-invalid select"
    "{border:2px solid #b00020}"
    ".commentd-hint{display:block;font-size:.9em;opacity:.8}"
    ".commentd-preview{border:1px solid #8888;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}"
    ".commentd-meta{display:flex;gap:.75rem;align-items:baseline;flex-wrap:wrap}"
    ".commentd-name{font-weight:600}"
    "button{font:inherit;padding:.5rem 1.25rem;cursor:pointer}"
)


def style_source() -> str:
    """The Content-Security-Policy source that allows the pages' one inline style and nothing
    else (`'sha256-…'`, CSP Level 2 hash source)."""
    return fragment.style_source(STYLE)


@dataclass(frozen=True)
class Preview:
    """A comment as it will look once published (name and website as typed, body rendered)."""

    name: str
    website: str | None
    body_html: str
    created_at: str
    date: str


def preview(name: str, website: str | None, body_html: str, language: str) -> Preview:
    """The preview of a comment written now (`body_html` as comments.rendering renders it)."""
    now = timestamp(datetime.now(UTC))
    return Preview(name, safe_website(website), body_html, now, format_date(now, language))


@dataclass(frozen=True, kw_only=True)
class FormPage:
    """What one page shows. `values` are the fields as typed (strings), `errors` field ->
    message for the refused ones; `show_form` puts the form (posting to `action`) on the
    page, else `kept_text` (the comment's text, to copy) when there is some."""

    language: str
    title: str
    intro: Sequence[str] = ()
    action: str = ""
    values: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    options: Sequence[ReplyOption] = ()
    form_token: str | None = None
    return_to: str | None = None
    preview: Preview | None = None
    show_form: bool = True
    submit_key: str = "submit"
    kept_text: str = ""
    back_url: str | None = None


# The words naming each field on a page that refuses it.
FIELD_LABELS = {
    "name": "name",
    "email": "email",
    "website": "website",
    "body": "body",
    "parent_id": "field_parent",
    "notify": "notify",
}
FIELD_ORDER = ("name", "email", "website", "body", "parent_id", "notify")


def render_page(page: FormPage) -> str:
    """`page` as a whole HTML document (UTF-8 text)."""
    t = translator(page.language)
    ordered = [f for f in FIELD_ORDER if f in page.errors]
    ordered += sorted(f for f in page.errors if f not in FIELD_ORDER)
    error_list = [
        (name, t(FIELD_LABELS[name]) if name in FIELD_LABELS else name, page.errors[name])
        for name in ordered
    ]
    return template("page.html").render(
        t=t,
        lang=page.language,
        dir=i18n.direction(page.language),
        style=STYLE,
        title=page.title,
        intro=list(page.intro),
        error_list=error_list,
        preview=page.preview,
        show_form=page.show_form,
        action=page.action,
        options=list(page.options),
        values=dict(page.values),
        errors=dict(page.errors),
        form_token=page.form_token,
        submit_key=page.submit_key,
        return_to=page.return_to,
        kept_text=page.kept_text,
        back_url=page.back_url,
    )
