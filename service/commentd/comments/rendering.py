"""Comment text to safe HTML (CommonMark, then sanitised); avatars that hide the email."""

from __future__ import annotations

import hashlib
import html
import re

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


# Built once: nh3.clean() would build the same sanitiser from these sets on every call.
_sanitiser = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={"*": set()} | {tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
    url_schemes={"http", "https", "mailto"},
    link_rel=LINK_REL,
)


def render_body(text: str) -> str:
    """Markdown to HTML, then the sanitiser keeps only the safe set and marks every link."""
    return _sanitiser.clean(_markdown.render(text)).strip()


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


def identicon_svg(key: str) -> str:
    """A 5x5 mirrored identicon from a keyed hash: distinct per commenter, no third party."""
    digest = hashlib.sha256(key.encode()).digest()
    hue = int.from_bytes(digest[:2], "big") % 360
    cells = []
    for row in range(5):
        for col in range(3):
            if digest[2 + row * 3 + col] % 2:
                for x in {col, 4 - col}:
                    cells.append(f'<rect x="{x + 1}" y="{row + 1}" width="1" height="1"/>')
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 7 7" width="48" height="48" '
        'shape-rendering="crispEdges">'
        f'<rect width="7" height="7" fill="hsl({hue},45%,92%)"/>'
        f'<g fill="hsl({hue},55%,45%)">{"".join(cells)}</g></svg>'
    )
