"""Comment text to safe HTML (CommonMark, then sanitised); avatars that hide the email."""

from __future__ import annotations

import hashlib
import html
import re
import threading

import nh3
from markdown_it import MarkdownIt

# API.md: paragraphs, line breaks, emphasis, code, quotes, lists and links; nothing else.
ALLOWED_TAGS = frozenset(
    {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a"}
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
LINK_REL = "nofollow ugc noopener"

# html=False: what the commenter typed as HTML is escaped and shown as text.
# breaks=True: a single newline is a line break, as people expect in a comment box.
_markdown = (
    MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True})
    .enable("linkify")
    # Images are not embedded (API.md); headings and rules have no place in a comment, so
    # "# 1 tip" stays text instead of becoming a heading the sanitiser would flatten.
    .disable(["image", "heading", "lheading", "hr"])
)


# markdown-it-py does not promise thread safety, and it is not safe: it fills its rule lists and
# mdurl's percent-encoding tables on first use, publishing each before it is full. Two threads
# rendering at once in a new worker could then get nothing back (a real comment refused as
# empty) or an IndexError. One render at a time per process: the GIL already runs this
# pure-Python work one thread at a time, so the lock costs nothing but the wait it makes explicit.
_markdown_lock = threading.Lock()


# Built once: nh3.clean() would build the same sanitiser from these sets on every call.
_sanitiser = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={"*": set()} | {tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
    url_schemes={"http", "https", "mailto"},
    link_rel=LINK_REL,
)


def render_body(text: str) -> str:
    """Markdown to HTML, then the sanitiser keeps only the safe set and marks every link.
    Safe to call from any thread (one Markdown render at a time per process)."""
    with _markdown_lock:
        markup = _markdown.render(text)
    return _sanitiser.clean(markup).strip()


_TAG = re.compile(r"<[^>]*>")


def shown_text(markup: str) -> str:
    """The text a reader sees of `markup` as render_body() or sanitise_html() return it (tags,
    whose attributes show nothing, dropped; character references decoded): `<p>&#8203;</p>`
    shows "\u200b", an empty link `<a href="…"></a>` shows ""."""
    return html.unescape(_TAG.sub("", markup))


def sanitise_html(markup: str) -> str:
    """HTML from elsewhere (an imported Disqus or WordPress comment) cut down to exactly what a
    rendered comment may contain (ALLOWED_TAGS, every link marked); `<b>` and `<i>` become the
    `<strong>` and `<em>` a rendered comment uses, so emphasis survives the cut."""
    return _sanitiser.clean(_PRESENTATIONAL.sub(_semantic_tag, markup)).strip()


_PRESENTATIONAL = re.compile(r"<(/?)(b|i)(\s[^>]*)?>", re.IGNORECASE)
_SEMANTIC = {"b": "strong", "i": "em"}


def _semantic_tag(match: re.Match[str]) -> str:
    return f"<{match.group(1)}{_SEMANTIC[match.group(2).lower()]}>"


_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")
_BLOCK_START = re.compile(r"\s*<(?:p|blockquote|ul|ol|pre|div|table|h[1-6])[\s>]", re.IGNORECASE)


def paragraphs(text: str) -> str:
    """Text whose blank lines separate paragraphs and whose other line breaks are breaks, as
    HTML: what WordPress's wpautop() does to a comment before showing it (its core rule; the
    result is then sanitised like any HTML). A paragraph that already opens with a block
    element is left as it is. Source: wp-includes/formatting.php, wpautop()."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return ""
    out = []
    for block in _BLANK_LINES.split(text):
        if _BLOCK_START.match(block):
            out.append(block)
        else:
            out.append("<p>" + block.strip().replace("\n", "<br>\n") + "</p>")
    return "\n".join(out)


def plain_text_html(text: str) -> str:
    """Text shown exactly as typed (no markup of any kind): escaped, paragraphs and breaks kept."""
    return paragraphs(html.escape(text, quote=False))


# An identicon's pattern: of its 15 free cells (5 rows, the left 3 columns, mirrored), between
# 6 and 10 are drawn. Fewer, or a long run, and a pattern reads as a letter (a blue "T").
IDENTICON_CELLS = (6, 10)
# The markup of each free cell (row * 3 + column): its rounded square and its mirror image.
_IDENTICON_RECTS = tuple(
    "".join(
        f'<rect x="{1.55 + 1.4 * x:.2f}" y="{1.55 + 1.4 * row:.2f}" width="1.3" height="1.3" '
        'rx=".4"/>'
        for x in sorted({col, 4 - col})
    )
    for row in range(5)
    for col in range(3)
)


def identicon_svg(key: str) -> str:
    """An avatar drawn from `key` (a keyed hash of the commenter): an SVG string, ~1 KB.

    A symmetric 5x5 pattern of rounded cells in two shades of one hue, on a disc of a soft
    tint of it. Deterministic (the same key, the same drawing), distinct between keys, and
    only `<svg>`, `<circle>`, `<g>` and `<rect>` with numeric attributes: safe inline as a
    `data:` URI (the thread fragment) or served as `image/svg+xml`. The pattern is the first
    of sixteen candidate 15-bit windows of SHA-256(key) with `IDENTICON_CELLS` cells drawn.
    """
    digest = hashlib.sha256(key.encode()).digest()
    bits = int.from_bytes(digest, "big")
    hue = int.from_bytes(digest[:2], "big") % 360
    shades = int.from_bytes(hashlib.sha256(digest).digest()[:4], "big")
    low, high = IDENTICON_CELLS
    pattern = 0
    for attempt in range(16):
        pattern = (bits >> (16 + 15 * attempt)) & 0x7FFF
        if low <= pattern.bit_count() <= high:
            break
    else:  # no window fits (0.21 ** 16, about one key in 10^11): a fixed, full-enough one
        pattern = 0b101_010_111_010_101
    cells: tuple[list[str], list[str]] = ([], [])  # the deep shade's, the light shade's
    for index, rects in enumerate(_IDENTICON_RECTS):
        if pattern >> index & 1:
            cells[shades >> index & 1].append(rects)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10" width="48" height="48">'
        f'<circle cx="5" cy="5" r="5" fill="hsl({hue},55%,91%)"/>'
        f'<g fill="hsl({hue},50%,38%)">{"".join(cells[0])}</g>'
        f'<g fill="hsl({(hue + 25) % 360},60%,52%)">{"".join(cells[1])}</g></svg>'
    )
