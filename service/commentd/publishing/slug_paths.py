"""Where `commentd export static` puts a post's files: a slug as a relative path that stays
inside the export's `posts/` folder whatever the slug holds, and back (docs/export-format.md,
"Static export").

A slug's `/` makes folders (API.md). Each segment between them is kept as it is, except
what a file system could read another way, which is percent-escaped (`%` and two capital hex
digits per UTF-8 byte, so the mapping is reversible by `slug_for_path`):

- `%` itself (so an escape in the output always means one), `\\`, control characters,
  and `< > : " | ? *` (not allowed in Windows names);
- a segment of dots only (`.`, `..`): every dot, so no segment climbs or stays put;
- the first character of a Windows device name (`con`, `nul`, `com1`, … with any extension);
- a trailing dot or space (Windows drops them);
- the dot of a `.json` or `.html` ending of a folder segment, so that the folder of `a.json/x`
  never meets the file of `a` (`a.json`);
- with `fold_case` (a case-insensitive file system, found by probing, or asked for): every
  character that case folding changes, so `Post` and `post` stay two files.

A segment longer than SEGMENT_BYTES once escaped (file names have at most 255 bytes) has all
its dots escaped and is cut into folders of at most SEGMENT_BYTES, each but the last ending in
`%+` (a `%` never followed by hex digits elsewhere): `<200 bytes>%+/<the rest>`.

Slugs that normalize_slug would not return (empty segments, a leading `/`, control characters
through the API) are never exported: `path_for_slug` raises UnsafeSlug for an empty segment,
and the exporter skips non-canonical slugs, since the API never answers for them either.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

# Bytes of one path component before `.json`/`.html` or `%+` (and up to two edge escapes, four
# bytes) are added: under the 255 bytes of ext4, XFS, btrfs, APFS and NTFS names.
SEGMENT_BYTES = 240
CONTINUED = "%+"
SUFFIXES = (".json", ".html")
_ALWAYS_ESCAPED = frozenset('%\\<>:"|?*')
_WINDOWS_DEVICES = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"com{n}" for n in "123456789¹²³"]
    + [f"lpt{n}" for n in "123456789¹²³"]
)
_HEX_ESCAPE = re.compile("%[0-9A-F]{2}")


class UnsafeSlug(ValueError):
    """A slug that has no place as a file: an empty segment (not a canonical slug)."""


def _escape(character: str) -> str:
    return "".join(f"%{byte:02X}" for byte in character.encode("utf-8", "surrogatepass"))


def _must_escape(character: str, fold_case: bool) -> bool:
    code = ord(character)
    return (
        character in _ALWAYS_ESCAPED
        or code < 0x20
        or 0x7F <= code <= 0x9F
        or 0xD800 <= code <= 0xDFFF  # lone surrogates cannot be written as UTF-8
        or (fold_case and character.casefold() != character)
    )


def _size(tokens: list[str]) -> int:
    return sum(len(token.encode("utf-8")) for token in tokens)


def _fix_edges(tokens: list[str], *, folder: bool) -> list[str]:
    """Escapes at the ends of one component: device names, trailing dot or space, and a
    folder's `.json`/`.html` ending."""
    text = "".join(tokens)
    if tokens and text.split(".", 1)[0].rstrip(" ").lower() in _WINDOWS_DEVICES:
        tokens = [_escape(tokens[0]), *tokens[1:]]
    if tokens and tokens[-1] in (".", " "):
        tokens = [*tokens[:-1], _escape(tokens[-1])]
    if folder and len(tokens) >= 5 and "".join(tokens[-5:]).lower() in SUFFIXES:
        tokens = [*tokens[:-5], _escape("."), *tokens[-4:]]
    return tokens


def _components(segment: str, *, last: bool, fold_case: bool) -> list[str]:
    """One slug segment as one or more path components (several when it is too long)."""
    if not segment:
        raise UnsafeSlug("A slug segment is empty.")
    dots_only = set(segment) == {"."}
    tokens = [
        _escape(c) if (dots_only and c == ".") or _must_escape(c, fold_case) else c for c in segment
    ]
    chunks = [tokens]
    if _size(tokens) > SEGMENT_BYTES:
        # Cut where no piece can be dots alone or end in a suffix: no literal dot is left.
        tokens = [_escape(".") if token == "." else token for token in tokens]
        chunks = []
        current: list[str] = []
        size = 0
        for token in tokens:
            width = len(token.encode("utf-8"))
            if size + width > SEGMENT_BYTES:
                chunks.append(current)
                current, size = [], 0
            current.append(token)
            size += width
        chunks.append(current)
    out = []
    for index, chunk in enumerate(chunks):
        final_chunk = index == len(chunks) - 1
        fixed = _fix_edges(chunk, folder=not (last and final_chunk))
        out.append("".join(fixed) + ("" if final_chunk else CONTINUED))
    return out


def path_for_slug(slug: str, *, fold_case: bool = False) -> str:
    """The relative path, without `.json`/`.html`, of a (canonical) slug's files under
    `posts/`: components joined by `/`, none empty, `.` or `..`, each at most 250 bytes.
    `2024/03/glute` -> `2024/03/glute`; `../x` -> `%2E%2E/x`. Raises UnsafeSlug for a slug
    with an empty segment (a leading, trailing or doubled `/`)."""
    segments = slug.split("/")
    components: list[str] = []
    for index, segment in enumerate(segments):
        components += _components(segment, last=index == len(segments) - 1, fold_case=fold_case)
    return "/".join(components)


def slug_for_path(path: str) -> str:
    """The slug whose files `path_for_slug` put at `path` (without the suffix): the inverse.
    Raises ValueError when `path` is not one path_for_slug makes."""
    segments: list[str] = []
    pending = ""
    for component in path.split("/"):
        if component.endswith(CONTINUED):
            pending += component.removesuffix(CONTINUED)
            continue
        segments.append(pending + component)
        pending = ""
    if pending or any("%" in _HEX_ESCAPE.sub("", segment) for segment in segments):
        raise ValueError(f"{path!r} is not a path of the static export.")
    return "/".join(unquote(segment, errors="strict") for segment in segments)
