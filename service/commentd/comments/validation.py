"""Raw submitted fields -> CommentSubmission, or ValidationFailed naming every failing field."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import parse_qsl, unquote_to_bytes, urlsplit

from email_validator import EmailNotValidError, EmailUndeliverableError, validate_email

from commentd.comments.rendering import render_body, shown_text
from commentd.errors import BadRequest, ValidationFailed
from commentd.i18n import Text, text
from commentd.spam.proof import PROOF_MAX

NAME_MAX = 80
BODY_MAX = 5000
WEBSITE_MAX = 300
EMAIL_MAX = 254  # RFC 5321's longest path, and the column's width
TOKEN_MAX = 512  # form and commenter tokens are far shorter; anything longer is not ours
SLUG_MAX = 255
TRUE_WORDS = frozenset({"true", "1", "on", "yes"})
FALSE_WORDS = frozenset({"false", "0", "off", "no", ""})


@dataclass(frozen=True, kw_only=True)
class CommentSubmission:
    """A reader's comment that passed every field rule of API.md."""

    name: str
    email: str  # normalised by email-validator
    body: str
    website: str | None = None
    parent_id: int | None = None
    notify: bool = False
    notify_approved: bool = False  # one email when the author approves it (double opt-in)
    form_token: str | None = None
    commenter_token: str | None = None
    altcha: str | None = None  # the proof of work as sent (spam.proof), cut at PROOF_MAX + 1
    honeypot: str = ""  # hidden field people never fill (the spam layers read it)
    # The page's title as the widget read it (kept as the post's title while it has none).
    title: str | None = None
    # render_body(body), made while checking that it shows something (not part of equality).
    body_html: str = field(default="", compare=False, repr=False)

    @property
    def email_key(self) -> str:
        """What emails are compared by: API.md says without regard to case."""
        return self.email.lower()


def normalize_slug(raw: str) -> str:
    """The one canonical form of a slug, whatever spelling of it reached the service (API.md).

    Percent-escapes are decoded (until none is left, so that a page path encoded once or
    twice on its way here is one post; any case of hex digits); escapes that do not spell
    UTF-8 (a page path on an ISO-8859-1 site, `caf%e9`) stay escapes, in capitals, as embed.js
    leaves them. The text is put in Unicode NFC, runs of `/` become one and leading/trailing
    `/` are stripped. The result has 1-255 characters, at least one of them visible, and no
    control or bidi control character. Raises BadRequest (400) otherwise, or when the text
    itself holds bytes that were not UTF-8 (a raw path the server could not decode).
    """
    slug = _percent_decoded(raw)
    slug = unicodedata.normalize("NFC", slug)
    slug = _SLASHES.sub("/", slug).strip("/")
    if not slug or not has_visible_character(slug):
        raise BadRequest("The post slug is empty.")
    if len(slug) > SLUG_MAX:
        raise BadRequest(f"A post slug is at most {SLUG_MAX} characters.")
    if _has_forbidden_characters(slug) or has_bidi_control(slug):
        raise BadRequest("A post slug must not contain control or text-direction characters.")
    return slug


_SLASHES = re.compile("/{2,}")
_ESCAPES = re.compile("(?:%[0-9A-Fa-f]{2})+")


def decode_escapes(text: str) -> str:
    """`text` with each run of percent-escapes that spells UTF-8 decoded, repeatedly (`%2541`
    is `A`); escapes of bytes that are not UTF-8 stay, with capital hex digits (`%e9` -> `%E9`).
    Idempotent. The one rule for slugs (the migration that canonicalised stored slugs copies it).
    """
    while True:
        decoded = _ESCAPES.sub(_decode_run, text)
        if decoded == text:
            return decoded
        text = decoded


def _decode_run(match: re.Match[str]) -> str:
    raw = unquote_to_bytes(match.group())
    text = raw.decode("utf-8", errors="surrogateescape")
    # Bytes that are not UTF-8 come back as lone surrogates (PEP 383): write them as escapes.
    return _SURROGATE.sub(lambda s: f"%{ord(s.group()) - 0xDC00:02X}", text)


def _percent_decoded(text: str) -> str:
    if is_undecodable(text):  # a surrogate from an undecodable path (PEP 383)
        raise BadRequest("The post slug is not UTF-8 text.")
    return decode_escapes(text)


# Cc: control characters (NUL included); Cs: lone surrogates, which no store can encode.
# Both are fixed ranges (Unicode's stability policy), so one regex search replaces a
# unicodedata.category() call per character: ~0.3 instead of ~6 µs for a short comment.
FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
FORBIDDEN_IN_BODY = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")  # \t, \n allowed


def _has_forbidden_characters(text: str, forbidden: re.Pattern[str] = FORBIDDEN) -> bool:
    return forbidden.search(text) is not None


# Explicit bidi embeddings, overrides and isolates (LRE RLE PDF LRO RLO, LRI RLI FSI PDI):
# each reorders the text after it, up to the end of its paragraph, wherever the text is
# shown next to other text (a mail subject, a page). The marks LRM, RLM and ALM (U+200E,
# U+200F, U+061C) are allowed: they only settle the direction of the punctuation next to
# them, as right-to-left writers need in mixed text, and reorder nothing around them.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def has_bidi_control(text: str) -> bool:
    """Whether `text` holds an explicit bidi embedding, override or isolate (see BIDI_CONTROLS)."""
    return BIDI_CONTROLS.search(text) is not None


# Letters and symbols (by their Unicode category) that every font draws as blank space: the
# Hangul fillers (Default_Ignorable_Code_Point) and two symbols that stand for "nothing".
BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800\U0001d159")


def is_visible(character: str) -> bool:
    """Whether one character draws something: a letter, number, punctuation or symbol (Unicode
    categories L, N, P, S), or a private-use or not yet assigned one (a font may give it a
    glyph), except BLANK_GLYPHS and the unassigned code points that Unicode reserves as
    default-ignorable. Never visible: white space and separators (Z), control, format and
    surrogate characters (Cc, Cf, Cs: zero-width spaces and joiners, bidi controls, the BOM,
    tags) and marks (M: combining accents, variation selectors), which draw only on a base.
    """
    category = unicodedata.category(character)
    if category[0] in "LNPS":
        return character not in BLANK_GLYPHS
    if category == "Co":
        return True
    if category == "Cn":
        code = ord(character)
        return not (code == 0x2065 or 0xFFF0 <= code <= 0xFFF8 or 0xE0000 <= code <= 0xE0FFF)
    return False


def has_visible_character(text: str) -> bool:
    """Whether `text` would show anything at all (is_visible); usually decided by its first
    character, so it costs nothing on ordinary text."""
    return any(map(is_visible, text))


def is_undecodable(text: str) -> bool:
    """Whether `text` holds a surrogate: what Python's `surrogateescape` makes of bytes that
    were not UTF-8 (PEP 383); decoding UTF-8 never yields one."""
    return _SURROGATE.search(text) is not None


_SURROGATE = re.compile("[\ud800-\udfff]")
NOT_UTF8 = "is not UTF-8 text"


def form_fields(raw: bytes, max_fields: int = 100) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body as {name: value} (a repeated name keeps its
    first value). Raises BadRequest (400) naming the field when a byte of it, raw or
    percent-escaped, is not UTF-8 (a form on a page in another charset), or beyond
    `max_fields` fields. Nothing is ever kept as its escapes."""
    text = raw.decode("utf-8", "surrogateescape")
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, errors="surrogateescape", max_num_fields=max_fields
        )
    except ValueError:
        raise BadRequest(f"A form has at most {max_fields} fields.") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if is_undecodable(name) or is_undecodable(value):
            shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:40]
            raise BadRequest(
                f"The form field '{shown}' {NOT_UTF8}: the page's form must send UTF-8 "
                '(<meta charset="utf-8"> on the page, or accept-charset="utf-8" on the form).'
            )
        fields.setdefault(name, value)
    return fields


def json_text(raw: bytes) -> str:
    """A JSON body as text: JSON is UTF-8 (RFC 8259; a leading BOM is ignored). Raises
    BadRequest (400) for any byte that is not, rather than guessing another encoding."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest(f"The JSON body {NOT_UTF8}.") from None


def _text(fields: Mapping[str, object], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError
    return value


def parse_submission(
    fields: Mapping[str, object], *, check_deliverability: bool = False
) -> CommentSubmission:
    """Check every field, then raise once with all the failures (API.md, POST comments).

    The texts of the ValidationFailed raised are `i18n.Text`s: English as str, and said in the
    reader's language by the web layer (`i18n.localise`).
    """
    errors: dict[str, str] = {}

    def given(name: str) -> str:
        try:
            return (_text(fields, name) or "").strip()
        except TypeError:
            errors[name] = text("refused_not_text")
            return ""

    name = given("name")
    if "name" not in errors:
        _check_name(name, errors)

    email = given("email")
    if "email" not in errors:
        email = _check_email(email, errors, check_deliverability)

    body = given("body").replace("\r\n", "\n").replace("\r", "\n")
    body_html = ""
    if "body" not in errors:
        body_html = _check_body(body, errors)

    website = given("website")
    if "website" not in errors and website:
        website = check_website(website, errors)

    parent_id = _parent_id(fields.get("parent_id"), errors)
    notify = _flag(fields.get("notify"), "notify", errors)
    notify_approved = _flag(fields.get("notify_approved"), "notify_approved", errors)

    if errors:
        raise ValidationFailed(
            text("refused_fields", fields=", ".join(sorted(errors))), fields=errors
        )
    return CommentSubmission(
        name=name,
        email=email,
        body=body,
        website=website or None,
        parent_id=parent_id,
        notify=notify,
        notify_approved=notify_approved,
        form_token=optional_token(fields.get("form_token")),
        commenter_token=optional_token(fields.get("commenter_token")),
        altcha=_proof_of_work(fields),
        honeypot=_honeypot(fields),
        title=page_title(fields.get("title")),
        body_html=body_html,
    )


TITLE_MAX = 300


def page_title(raw: object) -> str | None:
    """The `title` a widget sent with a comment, made fit to keep: trimmed, control and bidi
    control characters dropped, cut to TITLE_MAX characters; None for anything else (a title
    is a courtesy of the page, never a reason to refuse the comment)."""
    if not isinstance(raw, str):
        return None
    cleaned = " ".join(FORBIDDEN.sub(" ", BIDI_CONTROLS.sub("", raw)).split())[:TITLE_MAX]
    return cleaned if has_visible_character(cleaned) else None


def check_title(raw: object) -> str | None:
    """A post title the author sets (PUT /api/moderation/posts/<slug>): text of 1 to
    TITLE_MAX visible characters after trimming, or None (no title); raises ValidationFailed
    (422, on `title`) for anything else."""
    if raw is None:
        return None
    problem = None
    if not isinstance(raw, str):
        problem = "must be text or null"
    else:
        raw = raw.strip()
        if not has_visible_character(raw):
            problem = "must not be empty (send null for no title)"
        elif len(raw) > TITLE_MAX:
            problem = f"must be at most {TITLE_MAX} characters"
        elif _has_forbidden_characters(raw) or has_bidi_control(raw):
            problem = "must not hold control characters"
    if problem is not None:
        raise ValidationFailed(f"The title {problem}.", fields={"title": problem})
    assert isinstance(raw, str)
    return raw


def _check_name(name: str, errors: dict[str, str]) -> None:
    """API.md's rule for `name` (trimmed already); a failure goes into `errors`."""
    if not has_visible_character(name):  # empty, or only invisible characters
        errors["name"] = text("nameMissing")
    elif len(name) > NAME_MAX:
        errors["name"] = text("refused_name_long", max=NAME_MAX)
    elif _has_forbidden_characters(name):
        errors["name"] = text("refused_name_chars")
    elif has_bidi_control(name):
        errors["name"] = text("refused_name_bidi")


def _check_body(body: str, errors: dict[str, str]) -> str:
    """API.md's rule for `body` (trimmed, newlines made \\n); returns its rendering, or "" with
    the failure in `errors`."""
    if not has_visible_character(body):  # empty, or only invisible characters
        errors["body"] = text("bodyMissing")
    elif len(body) > BODY_MAX:
        errors["body"] = text("refused_body_long", max=BODY_MAX, length=len(body))
    elif _has_forbidden_characters(body, FORBIDDEN_IN_BODY):
        errors["body"] = text("refused_body_chars")
    elif has_bidi_control(body):
        errors["body"] = text("refused_body_bidi")
    else:
        # What is published is the rendered body: markup can stand for nothing visible
        # (`&#8203;`, a link with no text), and is then as empty as an empty field.
        body_html = render_body(body)
        if has_visible_character(shown_text(body_html)):
            return body_html
        errors["body"] = text("bodyMissing")
    return ""


AUTHOR_FIELDS = ("body", "name", "website")


@dataclass(frozen=True, kw_only=True)
class AuthorChanges:
    """What the author changes in a comment (PATCH /api/moderation/comments/<id>): only the
    fields given, each checked as a reader's comment's; `body_html` is the new body rendered.
    `website` "" means no website any more."""

    body: str | None = None
    body_html: str | None = None
    name: str | None = None
    website: str | None = None

    @property
    def changed(self) -> list[str]:
        """The names of the fields given, in AUTHOR_FIELDS order."""
        return [name for name in AUTHOR_FIELDS if getattr(self, name) is not None]


def parse_author_changes(data: object) -> AuthorChanges:
    """The author's edit of a comment: a JSON object with at least one of body, name, website,
    and nothing else; each given field meets a reader's rule (website may be "" or null to
    remove it). Raises ValidationFailed (422) naming every failing field."""
    if not isinstance(data, dict):
        raise ValidationFailed(
            "Send a JSON object with body, name or website.",
            fields={"body": "give at least one of body, name, website"},
        )
    errors: dict[str, str] = {}
    unknown = sorted(str(key)[:40] for key in data if key not in AUTHOR_FIELDS)
    for key in unknown[:10]:
        errors[key] = "not a field the author can change (body, name, website)"
    if not any(key in data for key in AUTHOR_FIELDS):
        errors["body"] = "give at least one of body, name, website"
    values: dict[str, str | None] = {}
    for key in AUTHOR_FIELDS:
        if key not in data:
            continue
        raw = data[key]
        if key == "website" and raw is None:
            values[key] = ""
            continue
        if not isinstance(raw, str):
            errors[key] = text("refused_not_text")
            continue
        values[key] = raw.strip()
    body_html = None
    if isinstance(values.get("body"), str):
        body = str(values["body"]).replace("\r\n", "\n").replace("\r", "\n")
        values["body"] = body
        body_html = _check_body(body, errors)
    if isinstance(values.get("name"), str):
        _check_name(str(values["name"]), errors)
    if values.get("website"):
        values["website"] = check_website(str(values["website"]), errors)
    if errors:
        raise ValidationFailed(
            text("refused_fields", fields=", ".join(sorted(errors))), fields=errors
        )
    return AuthorChanges(
        body=values.get("body"),
        body_html=body_html,
        name=values.get("name"),
        website=values.get("website"),
    )


def _check_email(email: str, errors: dict[str, str], check_deliverability: bool) -> str:
    if not email:
        errors["email"] = text("refused_email_missing")
        return ""
    if _has_forbidden_characters(email):
        errors["email"] = text("refused_email_chars")
        return ""
    try:
        return validate_email(email, check_deliverability=check_deliverability).normalized
    except EmailNotValidError as error:
        errors["email"] = email_reason(error)
        return ""


def email_reason(error: EmailNotValidError) -> Text:
    """email-validator's reason, word for word in English, as one of our keys in other
    languages (its sentences are English only): no deliverable domain, the @ sign, too long,
    the part before or after the @ sign, else "Please enter a valid email address."."""
    said = str(error)
    if isinstance(error, EmailUndeliverableError):
        key = "refused_email_undeliverable"
    elif "must have an @-sign" in said or "There must be something" in said:
        key = "refused_email_at"
    elif "too long" in said:
        key = "refused_email_long"
    elif "before the @-sign" in said:
        key = "refused_email_local"
    elif "after the @-sign" in said:
        key = "refused_email_domain"
    else:
        key = "emailInvalid"
    return text(key, english=said)


def check_website(website: str, errors: dict[str, str]) -> str:
    """`website` as stored (`https://` added to a bare `dana.example`), or "" with the reason
    put in `errors["website"]`: longer than WEBSITE_MAX, spaces or invisible characters, or
    not an http(s) URL with a host."""
    if len(website) > WEBSITE_MAX:
        errors["website"] = text("refused_website_long", max=WEBSITE_MAX)
        return ""
    if "://" not in website and "." in website and " " not in website:
        website = "https://" + website  # what people type: "dana.example"
    if _has_forbidden_characters(website) or any(_is_blank(ch) for ch in website):
        errors["website"] = text("refused_website_blank")
        return ""
    try:
        parts = urlsplit(website)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        errors["website"] = text("refused_website_scheme")
        return ""
    if len(website) > WEBSITE_MAX:
        errors["website"] = text("refused_website_long", max=WEBSITE_MAX)
        return ""
    return website


def _is_blank(character: str) -> bool:
    """Neither visible nor a mark (marks belong to the letters of an internationalised
    domain): white space, format characters such as zero-width spaces and bidi controls."""
    return not is_visible(character) and not unicodedata.category(character).startswith("M")


def _parent_id(value: object, errors: dict[str, str]) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        errors["parent_id"] = text("refused_parent_id")
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not 1 <= value < 2**31:
        errors["parent_id"] = text("refused_parent_id")
        return None
    return value


def _flag(value: object, name: str, errors: dict[str, str]) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    errors[name] = text("refused_flag")
    return False


def optional_token(value: object) -> str | None:
    """A form or commenter token as sent, or None for anything that cannot be one (not ASCII
    text of 1 to TOKEN_MAX characters)."""
    # Tokens are never a reason to refuse (API.md): one that is not even a string is just absent.
    if isinstance(value, str) and 0 < len(value) <= TOKEN_MAX and value.isascii():
        return value
    return None


def _proof_of_work(fields: Mapping[str, object]) -> str | None:
    """The `altcha` field: None when absent or empty, else its text (cut just past
    PROOF_MAX, so that spam.proof sees it is too long); anything but text is sent on as
    text no solution can be. Never a reason to refuse: the spam layers judge it."""
    value = fields.get("altcha")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        return "?"
    return value[: PROOF_MAX + 1]


HONEYPOT_FIELD = "url2"  # embed.js renders it hidden; only form-filling bots give it a value


def _honeypot(fields: Mapping[str, object]) -> str:
    value = fields.get(HONEYPOT_FIELD)
    return value[:TOKEN_MAX] if isinstance(value, str) else ""


class PrivacyKind(StrEnum):
    """What a reader asks of their data (API.md, POST /api/privacy/requests)."""

    EXPORT = "export"  # a JSON file of every comment by the address
    ERASE = "erase"  # every comment by the address, and all personal data about it, gone


@dataclass(frozen=True)
class PrivacyRequest:
    """A valid request about the data of one address (`email`: normalised by email-validator)."""

    email: str
    kind: PrivacyKind

    @property
    def email_key(self) -> str:
        """The address as emails are compared (lower case, API.md)."""
        return self.email.lower()


def parse_privacy_request(fields: Mapping[str, object]) -> PrivacyRequest:
    """`{"email", "kind"}` -> PrivacyRequest; ValidationFailed (422) naming every failing field.

    The address is checked as a comment's is (email-validator, no DNS lookup): what could never
    have commented needs no mail.
    """
    errors: dict[str, str] = {}
    raw_email = fields.get("email")
    email = _check_email(raw_email.strip(), errors, False) if isinstance(raw_email, str) else ""
    if not isinstance(raw_email, str):
        errors["email"] = "Please enter your email address."
    kind = fields.get("kind")
    if not isinstance(kind, str) or kind not in {k.value for k in PrivacyKind}:
        errors["kind"] = "must be export or erase"
    if errors:
        raise ValidationFailed(
            "Some fields need another look: " + ", ".join(sorted(errors)) + ".", fields=errors
        )
    return PrivacyRequest(email, PrivacyKind(str(kind)))
