"""Prints docs/configuration.md from the metadata of `Settings` (the one place settings are
described): `python -m commentd.ops.config_docs > docs/configuration.md`."""

from __future__ import annotations

import sys
from enum import Enum

from commentd.config import (
    GROUPS,
    MAKE_A_SECRET,
    SECRET_MIN_DISTINCT,
    SECRET_MIN_LENGTH,
    Variable,
    documented_variables,
)

COMMAND = "python -m commentd.ops.config_docs > docs/configuration.md"

# Where each group's settings are explained at length.
GROUP_PAGES = {
    "Core": "[Moderation](moderation.md) and [Embedding](embedding.md)",
    "Rate limits": "[Spam defence](spam.md#the-layers-in-the-order-a-comment-meets-them)",
    "Spam defences": "[Spam defence](spam.md)",
    "Email and webhooks": "[Notifications](notifications.md)",
    "Privacy": "[Your comments and your data](your-comments.md)",
    "Production": "[Production](production.md)",
}

INTRO = f"""\
# Configuration

<!-- Generated from the metadata of Settings (service/commentd/config.py) by
     `{COMMAND}`; edit the metadata, not this file. -->

Everything is an environment variable; nothing is required. Each variable is read once, at
start, by `Settings.from_env` in `service/commentd/config.py`, where its name, unit and
meaning below are kept beside its field.

Units, as written in a variable:

- **rate limit**: the `limits` library's notation, one or more of `N per second|minute|hour|day`
  joined by `;`, e.g. `5 per minute;50 per day`.
- **flag**: `1`, `true`, `yes` or `on` (any case) is on; anything else, or unset, is off.
- **word list**: entries comma-separated or one per line; an entry may be a phrase, and a `*`
  at either end lets it match inside words (see [Spam defence](spam.md)).
- **secret**: at least {SECRET_MIN_LENGTH} characters, of at least {SECRET_MIN_DISTINCT} different
  ones. Make one with `{MAKE_A_SECRET}`.
"""

OUTRO = f"""\
## Checked at start

A bad value stops `commentd serve` (and every other command) at start, before anything is
created, with a message naming the variable and the fix, never a traceback. Besides malformed
values, that is any setting that is accepted but could not work:

- a weak secret in `COMMENTD_ADMIN_TOKEN`, `COMMENTD_SECRET_KEY` or `COMMENTD_WEBHOOK_SECRET`:
  each needs at least {SECRET_MIN_LENGTH} characters, of at least {SECRET_MIN_DISTINCT} different
  ones. Make one with `{MAKE_A_SECRET}`;
- an entry of `COMMENTD_ALLOWED_ORIGINS` that is not an origin, `scheme://host[:port]` as
  browsers send it (`127.0.0.1:8000`, a path, `*`);
- a database that cannot be opened (server down, wrong password, missing folder, a driver that
  is not installed), or a `COMMENTD_RATELIMIT_STORAGE_URI` that does not answer;
- `COMMENTD_NOTIFY_EMAIL` without `COMMENTD_SMTP_URL` (no notice could be sent), and
  `COMMENTD_NOTIFY_APPROVED` or `COMMENTD_NOTIFY_DIGEST_MINUTES` without `COMMENTD_NOTIFY_EMAIL`;
- `COMMENTD_WEBHOOK_URLS` without `COMMENTD_WEBHOOK_SECRET`, and `COMMENTD_HOLD_THRESHOLD`
  above `COMMENTD_SPAM_THRESHOLD`.

`COMMENTD_MODERATION=known` without `COMMENTD_SMTP_URL` starts, with a warning: a returning
commenter on a new device cannot confirm by email, so that comment waits for moderation.

The database file (with its `-wal` and `-shm`), `commentd backup` copies and what `commentd
restore` puts in place are created readable by their owner only (mode 0600, whatever the
umask): they hold the site secret and readers' addresses. An existing database file that
others may read is made private once commentd has opened it as a database, with a warning in
the log; a file that is not one (a wrong `COMMENTD_DATABASE_URL`) is refused and left as it is.
"""


def shown_default(variable: Variable, default: object) -> str:
    """A setting's default as the page shows it: Markdown, `unset`/`off` for empty ones."""
    if variable.shown_default is not None:
        return variable.shown_default
    if default is None or default == "" or default == ():
        return "unset"
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, Enum):
        default = default.value
    return f"`{default}`"


def cell(text: str) -> str:
    """Text made safe for one cell of a Markdown table (a `|` would end the cell)."""
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The whole of docs/configuration.md, as a str ending in one newline."""
    variables = documented_variables()
    parts = [INTRO]
    for group in GROUPS:
        rows = [(v, d) for v, d in variables if v.group == group]
        if not rows:
            continue
        lines = [
            f"## {group}",
            "",
            f"Explained in {GROUP_PAGES[group]}.",
            "",
            "| variable | default | unit | meaning |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| `{v.name}` | {cell(shown_default(v, d))} | {cell(v.unit)} | {cell(v.meaning)} |"
            for v, d in rows
        ]
        parts.append("\n".join(lines) + "\n")
    parts.append(OUTRO)
    return "\n".join(parts)


def main() -> int:
    """Write the page to standard output; returns the exit status (0)."""
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
