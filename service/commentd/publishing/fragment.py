"""A post's approved thread as an HTML fragment readable with no script: the markup of
/work/notes/fragment.md (docs/no-script.md), written by `commentd export static` for each post
and answered by `GET /api/posts/{slug}/comments.html`, from the same data as the public JSON.

The fragment stands alone: avatars are inline data: URIs, dates are text, and the form at the
end posts to the service with no script (the service answers it with pages of its own,
web/no_script.py). Names are text, never HTML; `body_html` goes in as the service sanitised it
(comments/rendering.py); no email appears in any form.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from markupsafe import escape

from commentd import i18n

# A thread nests at most this deep; deeper replies line up in their ancestor's replies at this
# depth (their data-commentd-parent still names the real parent). Bounds the markup's nesting
# and the template's recursion whatever a thread holds.
MAX_DEPTH = 6
# The fragment's only style: the pending note shows when the URL's fragment names it (after
# the no-script form's redirect), and the honeypot field is out of sight (and of aria).
STYLE = (
    ".commentd-pending-note{display:none}"
    ".commentd-pending-note:target{display:block}"
    ".commentd-hp{position:absolute!important;left:-10000px;top:auto;width:1px;height:1px;"
    "overflow:hidden}"
)

_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("commentd.publishing", "templates"),
    autoescape=True,
    auto_reload=False,  # templates are package files: no stat() of them on every render
    undefined=jinja2.StrictUndefined,
    trim_blocks=False,
    lstrip_blocks=False,
)

Translate = Callable[..., str]


@dataclass
class _Node:
    """One comment as the template shows it, with its replies."""

    id: int
    parent_id: int | None
    name: str
    website: str | None
    avatar: str
    body_html: str
    created_at: str
    date: str
    is_owner: bool = False
    pinned: bool = False
    replies: list[_Node] = field(default_factory=list)


@dataclass(frozen=True)
class ReplyOption:
    """A comment as the form's "In reply to" choice: its id and how the choice reads."""

    id: int
    label: str


def template(name: str) -> jinja2.Template:
    """One of the package's templates (`fragment.html`, `form.html`, …), compiled once."""
    return _environment.get_template(name)


def load_templates() -> None:
    """Compile every template now (the app calls it at start), so that no request opens a
    file for one: a process out of open files still answers a form with its page."""
    for name in _environment.list_templates():
        template(name)


@cache
def _word(language: str, key: str) -> str:
    return i18n.translate(language, key)


def translator(language: str) -> Translate:
    """`i18n.translate` bound to `language`: `t("name")`, `t("replyTo", name=…)` (texts
    without placeholders are kept once made: a template asks for the same ones every time)."""

    def t(key: str, /, **params: object) -> str:
        return i18n.translate(language, key, **params) if params else _word(language, key)

    return t


def format_date(timestamp: str, language: str) -> str:
    """An API timestamp (`2026-11-24T09:30:00Z`) as a date in words in `language`
    ("24 November 2026" in English: the catalogue's `date_day_month_year` and `month_<n>`).
    Raises ValueError for a timestamp that is not one."""
    return _date_words(timestamp[:10], language)


@lru_cache(maxsize=4096)
def _date_words(day: str, language: str) -> str:
    moment = date.fromisoformat(day)  # ValueError for anything else
    return i18n.translate(
        language,
        "date_day_month_year",
        day=moment.day,
        month=_word(language, f"month_{moment.month}"),
        year=moment.year,
    )


def safe_website(website: object) -> str | None:
    """A commenter's website if it is an http(s) URL with a host (stored ones always are;
    anything else is shown as no link at all), else None."""
    if not isinstance(website, str) or not website:
        return None
    try:
        parts = urlsplit(website)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return website


def slug_path(slug: str) -> str:
    """A slug as a URL path, percent-encoded segment by segment: a `/` stays a folder, and `.`
    and `..` segments are escaped so no browser or proxy resolves them away."""
    segments = []
    for segment in slug.split("/"):
        encoded = quote(segment, safe="")
        segments.append(encoded.replace(".", "%2E") if set(segment) == {"."} else encoded)
    return "/".join(segments)


def comments_path(slug: str) -> str:
    """The path of a post's comments, `/api/posts/<slug>/comments` (slug_path)."""
    return f"/api/posts/{slug_path(slug)}/comments"


@cache
def style_source(style: str = STYLE) -> str:
    """The Content-Security-Policy source allowing one inline style, by default the fragment's
    (`'sha256-…'`, a CSP Level 2 hash source), for a page that includes it under a CSP."""
    digest = hashlib.sha256(style.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


@cache
def markup_revision() -> str:
    """A short hash of the templates and style the fragment is made with: an exporter or a
    cache can tell that fragments made before a change of markup are out of date."""
    loader = _environment.loader
    assert loader is not None
    sources = [loader.get_source(_environment, name)[0] for name in sorted(loader.list_templates())]
    code = Path(__file__).read_text("utf-8")  # the fragment's own markup is written here
    return hashlib.sha256("\0".join([STYLE, code, *sources]).encode()).hexdigest()[:12]


def reply_options(comments: Sequence[Mapping[str, Any]], language: str) -> list[ReplyOption]:
    """The form's "In reply to" choices for a post's public comments (public_page's)."""
    return _tree(comments, language)[1]


def _tree(
    comments: Sequence[Mapping[str, Any]], language: str
) -> tuple[list[_Node], list[ReplyOption]]:
    """The public comments (oldest first, parents before replies) as a tree of nodes, and the
    form's reply choices (every comment, in order)."""
    nodes: dict[int, _Node] = {}
    depths: dict[int, int] = {}
    roots: list[_Node] = []
    options: list[ReplyOption] = []
    for comment in comments:
        author = comment["author"]
        node = _Node(
            id=int(comment["id"]),
            parent_id=comment["parent_id"],
            name=str(author["name"]),
            website=safe_website(author.get("website")),
            avatar=str(author["avatar"]),
            body_html=str(comment["body_html"]),
            created_at=str(comment["created_at"]),
            date=format_date(str(comment["created_at"]), language),
            is_owner=author.get("is_owner") is True,
            pinned=comment.get("pinned") is True and comment["parent_id"] is None,
        )
        nodes[node.id] = node
        options.append(
            ReplyOption(
                node.id, f"{i18n.translate(language, 'replyTo', name=node.name)} · {node.date}"
            )
        )
        parent = nodes.get(node.parent_id) if node.parent_id is not None else None
        if parent is None:
            depths[node.id] = 0
            roots.append(node)
            continue
        # At the deepest level a reply lines up beside its parent, under the same ancestor.
        while depths[parent.id] >= MAX_DEPTH and parent.parent_id in nodes:
            parent = nodes[parent.parent_id]
        depths[node.id] = depths[parent.id] + 1
        parent.replies.append(node)
    return roots, options


def render_thread(
    page: Mapping[str, Any],
    *,
    version: str | None,
    language: str,
    public_url: str,
    page_url: str | None = None,
) -> str:
    """A post's thread as the HTML fragment (docs/no-script.md): one `<section
    class="commentd-thread">`, UTF-8 text, no trailing newline.

    `page` is the post's public list as comments.public.public_page makes it with
    `inline_avatars=True` (`slug`, `count`, `closed`, `comments`: approved, oldest first, each
    `author.avatar` a data: URI); `version` the post's version (None or "" for a post with no
    comments yet); `language` a catalogue's name (i18n.resolve) for every word, `lang`/`dir`
    and the dates; `public_url` the service's base URL, where the form posts; `page_url` the
    blog page the fragment goes in, when known (COMMENTD_POST_URL), which the form sends as
    `return_to` (browsers often send only the origin as Referer). Reads nothing else: the
    caller may stream posts from anywhere. Raises KeyError when `page` lacks a field.

    Written with string joins, not a template, for the export's sake (about 20 µs a comment
    and 30 µs for the rest, against 100 µs and 700 µs from Jinja); the form, the same as the
    no-script pages', is rendered once per language from templates/form.html and filled in.
    """
    t = translator(language)
    roots, options = _tree(page["comments"], language)
    roots = pinned_first(roots, page.get("pinned") or [])
    count = int(page["count"])
    closed = bool(page.get("closed"))
    parts = [
        f'<section class="commentd-thread" id="commentd-thread" lang="{_e(language)}" '
        f'dir="{i18n.direction(language)}" data-commentd-slug="{_e(page["slug"])}" '
        f'data-commentd-count="{count}" data-commentd-version="{_e(version or "")}" '
        f'data-commentd-closed="{"true" if closed else "false"}">\n'
        f"<style>{STYLE}</style>\n"
        f'<h2 class="commentd-thread-heading">{_e(t("comments_heading"))}</h2>'
    ]
    if not count:
        parts.append(f'\n<p class="commentd-empty">{_e(t("no_comments"))}</p>')
    parts.append('\n<ol class="commentd-comments">')
    for root in roots:
        _write_comment(root, parts, t)
    parts.append(
        "\n</ol>\n"
        f'<p class="commentd-pending-note" id="commentd-pending" role="status">'
        f"{_e(t('thanksPending'))}</p>\n"
    )
    if closed:
        parts.append(f'<p class="commentd-closed">{_e(t("closed"))}</p>')
    else:
        action = public_url.rstrip("/") + comments_path(page["slug"])
        parts.append(_form(language, action, options, page_url))
    parts.append("\n</section>")
    return "".join(parts)


def _e(value: object) -> str:
    """Text or an attribute value, escaped for HTML (as the templates' autoescape does)."""
    return str(escape(value))


def pinned_first(roots: list[_Node], pinned: Sequence[object]) -> list[_Node]:
    """The top-level comments with the pinned ones first, in `pinned`'s order (public_page's
    ids, the newest pin first; pinned ones it does not name after those), the rest in place."""
    rank = {comment_id: i for i, comment_id in enumerate(pinned)}
    last = len(rank)

    def order(node: _Node) -> float:
        return rank.get(node.id, last) if node.pinned else float("inf")

    return sorted(roots, key=order)  # stable: the others keep their order


def _write_comment(node: _Node, parts: list[str], t: Translate) -> None:
    """One comment's `<li>` and, nested, its replies' (at most MAX_DEPTH levels: _tree)."""
    if node.website:
        name = (
            f'<a class="commentd-name" href="{_e(node.website)}" rel="nofollow ugc noopener">'
            f"{_e(node.name)}</a>"
        )
    else:
        name = f'<span class="commentd-name">{_e(node.name)}</span>'
    parent = "" if node.parent_id is None else str(node.parent_id)
    marks = ""
    if node.is_owner:
        name += f'\n<span class="commentd-badge commentd-owner">{_e(t("authorBadge"))}</span>'
        marks += ' data-commentd-owner="true"'
    if node.pinned:
        marks += ' data-commentd-pinned="true"'
    pin = (
        f'<span class="commentd-badge commentd-pin">{_e(t("pinned"))}</span>\n'
        if node.pinned
        else ""
    )
    parts.append(
        f'\n<li class="commentd-comment{" commentd-pinned" if node.pinned else ""}" '
        f'id="comment-{node.id}" data-commentd-id="{node.id}" '
        f'data-commentd-parent="{parent}"{marks}>\n<article>\n<header class="commentd-meta">\n'
        f'<img class="commentd-avatar" src="{_e(node.avatar)}" alt="" width="40" height="40">\n'
        f"{name}\n"
        f'<a class="commentd-permalink" href="#comment-{node.id}">'
        f'<time datetime="{_e(node.created_at)}">{_e(node.date)}</time></a>\n'
        f"{pin}"
        f'</header>\n<div class="commentd-body">{node.body_html}</div>\n</article>'
    )
    if node.replies:
        parts.append('\n<ol class="commentd-replies">')
        for reply in node.replies:
            _write_comment(reply, parts, t)
        parts.append("\n</ol>")
    parts.append("\n</li>")


# Stand-ins filled in after the form is rendered once per language (_form_shell).
_ACTION = "@@commentd-action@@"
_RETURN_TO = "@@commentd-return-to@@"
_CHOICE = "@@commentd-choice@@"


@lru_cache(maxsize=128)
def _form_shell(language: str, with_choices: bool) -> tuple[str, str, str]:
    """templates/form.html's form in `language`, rendered once, as (the form, its one stand-in
    `<option>` line, its `return_to` line) for _form to replace."""
    choices = [ReplyOption(0, _CHOICE)] if with_choices else []
    macro = template("form.html").module.comment_form  # type: ignore[attr-defined]
    form = str(macro(translator(language), _ACTION, language, choices, return_to=_RETURN_TO))
    choice_line = f'\n      <option value="0">{_CHOICE}</option>' if with_choices else ""
    return_line = f'\n  <input type="hidden" name="return_to" value="{_RETURN_TO}">'
    assert choice_line in form and return_line in form and _ACTION in form
    return form, choice_line, return_line


def _form(language: str, action: str, options: Sequence[ReplyOption], page_url: str | None) -> str:
    """The fragment's form: the shell for `language` with this post's action, reply choices
    and page."""
    form, choice_line, return_line = _form_shell(language, bool(options))
    if options:
        choices = "".join(
            f'\n      <option value="{option.id}">{_e(option.label)}</option>' for option in options
        )
        form = form.replace(choice_line, choices)
    returned = return_line.replace(_RETURN_TO, _e(page_url)) if page_url else ""
    return form.replace(return_line, returned).replace(_ACTION, _e(action))
