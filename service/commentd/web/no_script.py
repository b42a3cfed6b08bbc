"""Pages without JavaScript (API.md, "Pages without JavaScript, and feeds"; docs/no-script.md):
`GET /api/posts/{slug}/comments.html`, the thread as an HTML fragment, and the answers to the
fragment's plain HTML form posting to `POST /api/posts/{slug}/comments`.

A form post is one whose body is form-encoded and whose `Accept` prefers text/html to JSON (a
browser submitting a form); everything else gets the JSON answers unchanged. A form post:
- without a valid form token (the fragment's form has none: a static build cannot hold a fresh
  one) is not stored: it gets "Check your comment" (200), the comment as it will look, every
  field in an editable form with a fresh form token, whose button posts again;
- with one goes the usual way and is answered `303 See Other` back to the page it came from
  (when that page is on an allowed origin) at `#comment-<id>` once published, or at
  `#commentd-pending` while it waits (spam too: a spammer is never told);
- refused gets a page: the fields named in words with what was typed kept (422), or the
  refusal (403, 400, 413, 429, 503) with the text kept where it could be read.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from flask import Response, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException
from werkzeug.urls import iri_to_uri

from commentd import i18n
from commentd.comments.posts import find_post
from commentd.comments.public import Thread
from commentd.comments.rendering import render_body
from commentd.comments.submitting import Submitted, check_parent
from commentd.comments.validation import (
    CommentSubmission,
    form_fields,
    normalize_slug,
    parse_submission,
)
from commentd.config import Settings
from commentd.errors import (
    ApiError,
    BadRequest,
    OriginNotAllowed,
    PostClosed,
    RateLimited,
    ValidationFailed,
)
from commentd.models import CommentStatus
from commentd.publishing import fragment, pages
from commentd.spam import traps
from commentd.web.cors import is_allowed_origin, own_origin
from commentd.web.errors import is_unavailable, unexpected
from commentd.web.page_cache import Variant
from commentd.web.services import current
from commentd.web.sessions import get_session

HTML = "text/html; charset=utf-8"
FORM = "application/x-www-form-urlencoded"
MAX_LANGUAGE_TAG = 35  # RFC 5646 §4.4.1: 35 characters hold every tag a registry can make
MAX_RETURN_URL = 2000
MAX_FORM_FIELDS = 100  # as validation.form_fields
TEXT_FIELDS = ("name", "email", "website", "body", "parent_id", "notify", "return_to", "lang")


def asked_language(tag: str | None, site_language: str) -> str:
    """The catalogue a `?lang=` or form `lang` names (`de-AT` → `de`); the site's language
    (COMMENTD_SITE_LANGUAGE, resolved the same way) when there is none, or none of ours comes
    near it."""
    if tag and len(tag) <= MAX_LANGUAGE_TAG:
        resolved = i18n.resolve(tag)
        primary = tag.strip().replace("_", "-").split("-")[0].lower()
        if resolved != i18n.DEFAULT or primary == i18n.DEFAULT:
            return resolved
    return i18n.resolve(site_language)


def post_page_url(slug: str) -> str | None:
    """The blog page of a post from COMMENTD_POST_URL's {slug} template; None without one."""
    template = current().settings.post_url
    return template.replace("{slug}", fragment.slug_path(slug)) if template else None


# --- GET comments.html -------------------------------------------------------------------


@functools.cache
def fragment_variant(language: str, post_url: str | None) -> Variant:
    """The page cache's variant for the fragment in `language` (one per language and
    COMMENTD_POST_URL): its ETag changes with the words, the markup and the page URL, so a
    deploy that changes any of them is not answered 304 from an older copy."""
    revision = hashlib.sha256(
        "\0".join(
            [json.dumps(dict(i18n.catalogue(language))), fragment.markup_revision(), post_url or ""]
        ).encode()
    ).hexdigest()[:8]

    def build_fragment(thread: Thread, slug: str, public_url: str) -> bytes:
        page = thread.page(slug, public_url, inline_avatars=True)
        page_url = post_url.replace("{slug}", fragment.slug_path(slug)) if post_url else None
        return fragment.render_thread(
            page,
            version=thread.version or "",
            language=language,
            public_url=public_url,
            page_url=page_url,
        ).encode()

    return Variant(f"html-{language}-{revision}", HTML, build_fragment)


def fragment_read(settings: Settings, lang: str | None) -> tuple[Variant, tuple[str, str]]:
    """How to answer `GET comments.html?lang=…` under `settings`: the page cache's variant,
    and the header its 200 and 304 carry besides the JSON list's (a Content-Security-Policy
    for the fragment opened on its own). The view and the PublicReads accelerator both ask."""
    language = asked_language(lang, settings.site_language)
    policy = (
        f"default-src 'none'; style-src {fragment.style_source()}; img-src data:; "
        f"form-action {form_targets(settings)}; base-uri 'none'; frame-ancestors *"
    )
    return fragment_variant(language, settings.post_url), ("Content-Security-Policy", policy)


def form_targets(settings: Settings) -> str:
    """CSP `form-action` sources: here (where the forms post) and the blog's origins (where a
    303 after a form post leads: browsers check redirects of a form against form-action)."""
    origins = {"'self'", _origin_of(settings.public_url), *settings.allowed_origins}
    return " ".join(sorted(o for o in origins if o))


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


# --- POST from the no-script form -------------------------------------------------------


def wants_html() -> bool:
    """Whether this POST is a plain HTML form's: form-encoded, and `Accept` prefers text/html
    to JSON (a browser's form submission); a script's request gets JSON."""
    if request.mimetype != FORM:
        return False
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def _return_url(fields: Mapping[str, str], slug: str | None) -> str | None:
    """Where the reader goes back to, if anywhere: the form's `return_to`, else the Referer,
    else (when the Referer names only the blog's origin, as browsers send it across origins by
    default) the post's page from COMMENTD_POST_URL; only ever a page on an allowed origin,
    never the service's own API."""
    candidates = [fields.get("return_to"), request.headers.get("Referer")]
    for candidate in candidates:
        url = _allowed_page(candidate)
        if url is None:
            continue
        if urlsplit(url).path in ("", "/") and slug is not None:
            from_template = _allowed_page(post_page_url(slug))
            if from_template is not None and _origin_of(from_template) == _origin_of(url):
                return from_template
        return url
    return None


def _allowed_page(url: str | None) -> str | None:
    """`url` without its fragment when it is an http(s) page on an allowed origin, and not
    one of the service's own API URLs (a preview page's address); else None."""
    if not url or len(url) > MAX_RETURN_URL:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ch in url for ch in "\r\n\t\0") or parts.username or parts.password:
        return None
    origin = _origin_of(url)
    if not is_allowed_origin(origin):
        return None
    settings = current().settings
    if origin in (own_origin(), _origin_of(settings.public_url)) and _is_api_path(
        parts.path, urlsplit(settings.public_url).path
    ):
        return None
    page = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
    return page if page.isascii() else iri_to_uri(page)  # a Location header is ASCII


def _is_api_path(path: str, base_path: str) -> bool:
    """Whether `path` may name the service's API: with its escapes decoded until none is left
    (`/%61pi/` is `/api/` to the service) and doubled slashes and backslashes made one `/`,
    under `/api/` or under COMMENTD_PUBLIC_URL's own path (`/comments/api/`)."""
    decoded = path
    for _ in range(MAX_RETURN_URL):
        unescaped = unquote(decoded)
        if unescaped == decoded:
            break
        decoded = unescaped
    decoded = re.sub(r"/{2,}", "/", decoded.replace("\\", "/"))
    prefixes = {"/api/", re.sub(r"/{2,}", "/", base_path.rstrip("/") + "/api/")}
    return any(decoded.startswith(prefix) for prefix in prefixes)


def _lenient_fields(raw: bytes) -> dict[str, str]:
    """A form body read as well as it can be (bytes that are not UTF-8, raw or escaped, become
    U+FFFD), to give the reader back what they typed on the page that refuses it."""
    try:
        pairs = parse_qsl(
            raw.decode("utf-8", "replace"),
            keep_blank_values=True,
            errors="replace",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError:
        return {}
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in TEXT_FIELDS:
            fields.setdefault(name, value)
    return fields


def answer_form_post(
    raw_slug: str, store: Callable[[str, CommentSubmission], Submitted]
) -> Response:
    """The answer to a plain HTML form's POST of a comment (this module's docstring); `store`
    stores a submission as the JSON route does (comments.submit, commit, metrics) or raises
    its refusals. Never raises: every refusal is a page."""
    fields: dict[str, str] = {}
    slug: str | None = None
    try:
        origin = request.headers.get("Origin")
        slug = normalize_slug(raw_slug)
        raw = request.get_data(cache=False)  # 413 beyond the limit
        try:
            fields = form_fields(raw)
        except BadRequest:
            fields = _lenient_fields(raw)
            raise
        if origin is not None and not is_allowed_origin(origin):
            raise OriginNotAllowed(f"Comments cannot be posted from {origin[:100]}.")
        settings = current().settings
        submission = parse_submission(
            fields, check_deliverability=settings.check_email_deliverability
        )
        if not _has_valid_token(submission):
            _check_before_preview(slug, submission)
            return _preview_page(slug, fields, submission)
        submitted = store(slug, submission)
    except ValidationFailed as error:
        return _refused_fields_page(slug, fields, error)
    except ApiError as error:
        return _refusal_page(slug, fields, error.status, _refusal_words(error, fields), error)
    except HTTPException as error:  # 413 from reading the body, and their kin
        status = error.code or 400
        return _refusal_page(slug, fields, status, [_words(fields, "page_too_large")], None)
    except (DBAPIError, OSError, MemoryError) as error:
        if not is_unavailable(error):
            raise
        # As the JSON API answers it (logged, and when to try again); the reader's words
        # are the same for a database that is down, a full disk or a busy server.
        status, _code, _message, headers = unexpected(error)
        response = _refusal_page(slug, fields, status, [_words(fields, "page_unavailable")], None)
        response.headers.update(headers)
        return response
    return _after_storing(slug, fields, submitted)


def _check_before_preview(slug: str, submission: CommentSubmission) -> None:
    """What storing would refuse that the reader can act on now, before the preview: a closed
    post (PostClosed), a parent that is not a public comment of the post (ValidationFailed)."""
    post = find_post(get_session(write=False), slug)
    if post is not None and post.closed:
        raise PostClosed("Comments on this post are closed.")
    if submission.parent_id is not None:
        if post is None:
            raise ValidationFailed(
                "There is no such comment on this post to reply to.",
                fields={"parent_id": i18n.text("refused_parent_unknown_field")},
            )
        check_parent(get_session(write=False), post.id, submission.parent_id)


def _language(fields: Mapping[str, str]) -> str:
    return asked_language(fields.get("lang"), current().settings.site_language)


def _words(fields: Mapping[str, str], key: str, **params: object) -> str:
    return i18n.translate(_language(fields), key, **params)


def _has_valid_token(submission: CommentSubmission) -> bool:
    check = traps.check(current().secret_key, submission.form_token)
    return check.state is traps.FormTokenState.VALID


def _form_values(fields: Mapping[str, str]) -> dict[str, str]:
    """The typed fields to put back in the form (never the token, honeypot or return_to)."""
    return {
        name: fields[name]
        for name in ("name", "email", "website", "body", "parent_id", "notify")
        if fields.get(name)
    }


def _options(slug: str | None, language: str) -> list[fragment.ReplyOption]:
    """The post's public comments as the form's "In reply to" choices (from the page cache);
    none while the database is down (the page still keeps what was typed)."""
    if slug is None:
        return []
    cache = current().page_cache
    try:
        body = cache.page(slug).body
    except (DBAPIError, OSError, MemoryError) as error:
        if not is_unavailable(error):
            raise
        return []
    return fragment.reply_options(json.loads(body)["comments"], language)


def _action(slug: str | None) -> str:
    base = current().settings.public_url.rstrip("/")
    return base + fragment.comments_path(slug) if slug is not None else ""


def _html(body: str, status: int) -> Response:
    response = Response(body, status, content_type=HTML)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src {pages.style_source()}; img-src data:; "
        f"form-action {form_targets(current().settings)}; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    return response


def _preview_page(slug: str, fields: Mapping[str, str], submission: CommentSubmission) -> Response:
    language = _language(fields)
    t = fragment.translator(language)
    page = pages.FormPage(
        language=language,
        title=t("page_preview_title"),
        intro=[t("page_preview_intro")],
        action=_action(slug),
        values=_form_values(fields),
        options=_options(slug, language),
        form_token=traps.issue(current().secret_key),
        return_to=_return_url(fields, slug),
        preview=pages.preview(
            submission.name, submission.website, render_body(submission.body), language
        ),
        submit_key="submit_publish",
    )
    return _html(pages.render_page(page), 200)


def _field_message(name: str, message: object, fields: Mapping[str, str], language: str) -> str:
    """A refused field's message in the page's language (an `i18n.Text` localised); the
    email's never repeats what was typed (the address stays in its own field only)."""
    t = fragment.translator(language)
    typed = fields.get(name, "").strip()
    if name == "name" and not typed:
        return t("nameMissing")
    if name == "email":
        return t("emailInvalid") if typed else t("emailMissing")
    if name == "body" and not typed:
        return t("bodyMissing")
    return str(i18n.localise(message, language))


def _refused_fields_page(
    slug: str | None, fields: Mapping[str, str], error: ValidationFailed
) -> Response:
    language = _language(fields)
    t = fragment.translator(language)
    refused = error.details.get("fields")
    named = refused if isinstance(refused, dict) else {}
    errors = {
        str(name): _field_message(str(name), message, fields, language)
        for name, message in named.items()
    }
    page = pages.FormPage(
        language=language,
        title=t("page_error_title"),
        intro=[t("page_error_intro")],
        action=_action(slug),
        values=_form_values(fields),
        errors=errors,
        options=_options(slug, language),
        form_token=traps.issue(current().secret_key),
        return_to=_return_url(fields, slug),
    )
    return _html(pages.render_page(page), 422)


def _refusal_words(error: ApiError, fields: Mapping[str, str]) -> list[str]:
    if isinstance(error, RateLimited):
        return [_words(fields, "page_rate_limited", seconds=error.retry_after)]
    if isinstance(error, PostClosed):
        return [_words(fields, "closed")]
    if isinstance(error, OriginNotAllowed):
        return [_words(fields, "page_origin_refused")]
    if isinstance(error, BadRequest) and fields:
        return [_words(fields, "page_not_utf8")]
    return [_words(fields, "failed"), error.message]


def _refusal_page(
    slug: str | None,
    fields: Mapping[str, str],
    status: int,
    intro: list[str],
    error: ApiError | None,
) -> Response:
    """A refusal other than the fields: what happened, and what was typed. The form comes
    back (with a fresh token) where posting again can work — too fast, a body that was not
    UTF-8, a database that was down; a closed post or a page not allowed to post keep only
    the text, to copy."""
    language = _language(fields)
    t = fragment.translator(language)
    can_retry = slug is not None and not isinstance(error, (PostClosed, OriginNotAllowed))
    can_retry = can_retry and bool(fields)  # a body too large to read left nothing to refill
    back = _return_url(fields, slug) if not isinstance(error, OriginNotAllowed) else None
    page = pages.FormPage(
        language=language,
        title=t("failed"),
        intro=intro,
        action=_action(slug),
        values=_form_values(fields),
        options=_options(slug, language) if can_retry else [],
        form_token=traps.issue(current().secret_key) if can_retry else None,
        return_to=back,
        show_form=can_retry,
        kept_text=fields.get("body", ""),
        back_url=back
        or (
            post_page_url(slug)
            if slug is not None and not isinstance(error, OriginNotAllowed)
            else None
        ),
    )
    response = _html(pages.render_page(page), status)
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _after_storing(slug: str, fields: Mapping[str, str], submitted: Submitted) -> Response:
    """303 back to the page at the comment or at the pending note; without a page to go back
    to, a page saying what became of it. Spam reads as waiting."""
    comment = submitted.comment
    published = comment.status is CommentStatus.APPROVED
    anchor = f"#comment-{comment.id}" if published else "#commentd-pending"
    back = _return_url(fields, slug)
    if back is not None:
        response = Response(status=303, headers={"Location": back + anchor})
        response.headers["Cache-Control"] = "no-store"
        return response
    language = _language(fields)
    t = fragment.translator(language)
    known = post_page_url(slug)
    page = pages.FormPage(
        language=language,
        title=t("thanksApproved" if published else "thanksPending"),
        show_form=False,
        back_url=(known + anchor) if known else None,
    )
    return _html(pages.render_page(page), 200)
