"""Fetch posts' comments from a commentd service over HTTP, into `commentd export static`'s layout.

For a site built on another host than the one commentd runs on (where `commentd export static`
writes the same files directly). For each slug asked for:

- `<out>/posts/<slug>.json`: the body of `GET /api/posts/<slug>/comments`, byte for byte;
- `<out>/posts/<slug>.html`: the body of `GET /api/posts/<slug>/comments.html` (the fragment);
- `<out>/avatars/<key>.svg`: each commenter's identicon, so the JSON's avatars can be served
  beside the site (the fragment's avatars are inline already);
- `<out>/counts.json`: `{"<slug>": n, …}` from `GET /api/counts`, merged into the file there.

Unlike the export, a post with no approved comment gets its files too (the fragment still holds
the form). A slug's `/` makes folders; a slug the export would name otherwise (it escapes `%`,
`:`, `..`, a leading dot…: docs/export-format.md) is refused, so nothing can land outside `<out>`
(one from `--changed` is skipped and named: the others are still fetched).
Standard library only (Python 3.11+):

    python3 fetch-comments.py --service https://comments.example.com --out comments \\
        3-minute-muscles-gluteus-medius 2024/03/another-post
    COMMENTD_CHANGED_SLUGS=… python3 fetch-comments.py --service … --out comments --changed
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

COUNTS_BATCH = 100  # GET /api/counts takes at most 100 slugs (API.md)


WINDOWS_DEVICES = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"{d}{n}" for d in ("com", "lpt") for n in "123456789"),
}


def plain_segment(segment: str, *, folder: bool) -> bool:
    """Whether the export names this slug segment's file or folder by the segment itself
    (commentd.publishing.slug_paths escapes anything else: `%`, `:`, `..`, `con`, …)."""
    return (
        0 < len(segment.encode()) <= 240
        and all(c.isalnum() or c in "-_.~" for c in segment)
        and not segment.startswith(".")  # also: generators skip hidden files
        and not segment.endswith(".")
        and segment.split(".", 1)[0].lower() not in WINDOWS_DEVICES
        and not (folder and segment.lower().endswith((".json", ".html")))
    )


def slug_path(out: Path, slug: str, suffix: str) -> Path:
    """`<out>/posts/<slug><suffix>`, where `commentd export static` puts it; ValueError for a
    slug whose files the export names otherwise (escaped: docs/export-format.md), which could
    also leave `<out>`."""
    parts = slug.strip("/").split("/")
    if not all(plain_segment(part, folder=i < len(parts) - 1) for i, part in enumerate(parts)):
        raise ValueError(
            f"refusing slug {slug!r}: not letters, digits, '-', '_', '.', '~' and '/' alone"
        )
    return out.joinpath("posts", *parts[:-1], parts[-1] + suffix)


def get(url: str) -> bytes:
    """The body of a 200 answer to GET `url` (30 s timeout); urllib's errors otherwise."""
    request = urllib.request.Request(url, headers={"User-Agent": "commentd-fetch-comments"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


def write(path: Path, data: bytes) -> None:
    """Replace `path` atomically with `data` (a half-written file never reaches a build)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    temporary.write_bytes(data)
    temporary.replace(path)


def fetch(service: str, out: Path, slugs: list[str]) -> dict[str, int]:
    """Fetch every slug's files into `out` (see the module's docstring); returns the counts."""
    service = service.rstrip("/")
    counts: dict[str, int] = {}
    for start in range(0, len(slugs), COUNTS_BATCH):
        query = urlencode([("slug", slug) for slug in slugs[start : start + COUNTS_BATCH]])
        counts |= json.loads(get(f"{service}/api/counts?{query}"))
    for slug in slugs:
        json_path = slug_path(out, slug, ".json")
        html_path = slug_path(out, slug, ".html")
        base = f"{service}/api/posts/{quote(slug.strip('/'), safe='/')}"
        thread = get(f"{base}/comments")
        for comment in json.loads(thread)["comments"]:
            avatar = comment["author"]["avatar"]
            name = urlsplit(avatar).path.rsplit("/", 1)[-1]
            ours = avatar.startswith(service) and name.endswith(".svg") and name[:-4].isalnum()
            # A key's identicon never changes: one already fetched is kept.
            if ours and not (out / "avatars" / name).exists():
                write(out / "avatars" / name, get(avatar))
        write(json_path, thread)
        write(html_path, get(f"{base}/comments.html"))
    counts_path = out / "counts.json"
    known = json.loads(counts_path.read_bytes()) if counts_path.exists() else {}
    merged = {slug: n for slug, n in (known | counts).items() if n}
    write(counts_path, json.dumps(merged, ensure_ascii=False, sort_keys=True).encode())
    return counts


def main(argv: list[str] | None = None) -> int:
    """The command line: see --help."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", required=True, help="commentd's public URL")
    parser.add_argument("--out", required=True, type=Path, help="the export folder")
    parser.add_argument(
        "--changed",
        action="store_true",
        help="also the slugs in $COMMENTD_CHANGED_SLUGS (set by the rebuild hook)",
    )
    parser.add_argument("slugs", nargs="*", help="the posts' slugs")
    options = parser.parse_args(argv)
    try:
        for slug in options.slugs:  # every slug checked before anything is fetched or written
            slug_path(options.out, slug, ".json")
    except ValueError as error:
        parser.error(str(error))
    slugs = list(options.slugs)
    if options.changed:
        # Any reader picks a slug by commenting on it: a changed slug this layout cannot hold
        # is skipped (and named), so that it never holds back the rebuild of the others.
        for slug in os.environ.get("COMMENTD_CHANGED_SLUGS", "").splitlines():
            try:
                slug_path(options.out, slug, ".json")
            except ValueError as error:
                print(f"fetch-comments: skipped: {error}", file=sys.stderr)
                continue
            slugs.append(slug)
    slugs = list(dict.fromkeys(slugs))
    if not slugs and not options.changed:
        parser.error("no slugs to fetch")
    if not slugs:
        print("fetched 0 post(s): no changed slug to fetch")
        return 0
    counts = fetch(options.service, options.out, slugs)
    print(f"fetched {len(slugs)} post(s), {sum(counts.values())} approved comment(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
