"""The author's rules for new comments: environment defaults, overridden through the moderation
API and stored in the database, so every process applies a change from its next comment on.

Each process keeps the rules compiled (keyword patterns included) and re-reads them only when
the stored version moves: one primary-key lookup per comment.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from commentd import spam
from commentd.config import ModerationMode, Settings
from commentd.errors import ValidationFailed
from commentd.group_commit import GROUP_SHARED
from commentd.models import SiteRuleSet, SpamFilterState
from commentd.spam.keywords import ENTRIES_MAX, ENTRY_MAX, KeywordList, clean
from commentd.spam.learned import STATE_COLUMNS, STATE_ID, FilterState, SpamFilter

RULES_ID = 1
HOLD_LINKS_MAX = 1000
WINDOW_MAX = 366 * 86400
KEYWORD_RULES = ("moderation_keywords", "disallowed_keywords")
RULE_NAMES = (
    "moderation",
    "hold_links",
    "moderation_keywords",
    "disallowed_keywords",
    "duplicate_window_seconds",
    "spam_threshold",
    "hold_threshold",
    "spam_digest",
)
SPAM_DIGEST_CHOICES = ("daily", "weekly", "off")
MODERATION_CHOICES = tuple(mode.value for mode in ModerationMode)
# In a group's GROUP_SHARED: the rules its first member read (no one else can change them
# while the group holds the write lock).
_RULES_SEEN = "rules"
# The rules' version and the filter's state, in one query of two one-row tables (built once).
_VERSIONS = (
    select(SiteRuleSet.version, *STATE_COLUMNS)
    .join(SpamFilterState, SpamFilterState.id == STATE_ID)
    .where(SiteRuleSet.id == RULES_ID)
)


def defaults(settings: Settings) -> dict[str, Any]:
    """The rules as the environment sets them."""
    return {
        "moderation": settings.moderation.value,
        "hold_links": settings.hold_links,
        "moderation_keywords": list(clean(settings.moderation_keywords)),
        "disallowed_keywords": list(clean(settings.disallowed_keywords)),
        "duplicate_window_seconds": settings.duplicate_window_seconds,
        "spam_threshold": settings.spam_threshold,
        "hold_threshold": settings.hold_threshold,
        # Mail of what the defences caught: only where the author gets mail at all.
        "spam_digest": settings.spam_digest if settings.notify_email else "off",
    }


def effective(settings: Settings, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The rules in force: the environment's, with the stored overrides over them (JSON-ready)."""
    values = defaults(settings)
    values.update({name: overrides[name] for name in RULE_NAMES if name in overrides})
    return values


def _whole(value: object, maximum: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        return None
    return value


def _fraction(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        return None
    return float(value)


def _keywords(value: object) -> list[str] | None:
    """A JSON list of entries, or one string of them, one per line (a WordPress text box)."""
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
        return None
    entries = list(clean(value))
    if len(entries) > ENTRIES_MAX or any(len(entry) > ENTRY_MAX for entry in entries):
        return None
    return entries


def _digest(value: object, settings: Settings | None) -> str | None:
    if not isinstance(value, str) or value not in SPAM_DIGEST_CHOICES:
        return None
    if value != "off" and settings is not None and not settings.notify_email:
        return None  # nowhere to send it: say so now rather than never mail
    return value


def parse_changes(payload: object, settings: Settings | None = None) -> dict[str, Any]:
    """A PUT body -> {rule: new value, or None to return to the environment's}; 422 otherwise.

    With `settings`, `spam_digest` may be "daily" or "weekly" only where COMMENTD_NOTIFY_EMAIL
    is set (else "off" is its one value)."""
    if not isinstance(payload, dict):
        raise ValidationFailed("Send a JSON object of rules.", fields={})
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {}
    for name, value in payload.items():
        if name not in RULE_NAMES:
            errors[str(name)[:50]] = "is not a rule; the rules are " + ", ".join(RULE_NAMES)
            continue
        if value is None:
            changes[name] = None
            continue
        parsed: object
        if name == "moderation":
            parsed = value if isinstance(value, str) and value in MODERATION_CHOICES else None
            problem = "must be " + ", ".join(f'"{mode}"' for mode in MODERATION_CHOICES)
        elif name == "hold_links":
            parsed = _whole(value, HOLD_LINKS_MAX)
            problem = f"must be a whole number from 0 (off) to {HOLD_LINKS_MAX}"
        elif name == "duplicate_window_seconds":
            parsed = _whole(value, WINDOW_MAX)
            problem = f"must be a whole number of seconds from 0 (off) to {WINDOW_MAX}"
        elif name == "spam_digest":
            parsed = _digest(value, settings)
            problem = (
                '"daily", "weekly" or "off"'
                if settings is None or settings.notify_email
                else '"off": COMMENTD_NOTIFY_EMAIL is not set, so there is nowhere to send it'
            )
            problem = "must be " + problem
        elif name in KEYWORD_RULES:
            parsed = _keywords(value)
            problem = (
                f"must be a list of at most {ENTRIES_MAX} words or phrases "
                f"of at most {ENTRY_MAX} characters"
            )
        else:
            parsed = _fraction(value)
            problem = "must be a number from 0 to 1"
        if parsed is None:
            errors[name] = problem
        else:
            changes[name] = parsed
    if errors:
        raise ValidationFailed(
            "Some rules need another look: " + ", ".join(sorted(errors)) + ".", fields=errors
        )
    return changes


def stored_overrides(session: Session) -> dict[str, Any]:
    """The rules the author changed through the moderation API, by name."""
    row = session.get(SiteRuleSet, RULES_ID)
    return dict(row.overrides) if row is not None else {}


def save(session: Session, settings: Settings, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Apply changes over the stored overrides (None removes one); flushes, never commits."""
    overrides = stored_overrides(session)
    for name, value in changes.items():
        if value is None:
            overrides.pop(name, None)
        else:
            overrides[name] = value
    values = effective(settings, overrides)
    if values["hold_threshold"] > values["spam_threshold"]:
        limit = values["spam_threshold"]
        raise ValidationFailed(
            "The hold threshold must not be above the spam threshold.",
            fields={"hold_threshold": f"must be at most spam_threshold ({limit})"},
        )
    session.execute(
        update(SiteRuleSet)
        .where(SiteRuleSet.id == RULES_ID)
        .values(overrides=overrides, version=secrets.token_hex(8))
    )
    session.flush()
    return overrides


def spam_digest(session: Session, settings: Settings) -> str:
    """How often the author gets the spam digest now: "daily", "weekly" or "off" (always
    "off" without COMMENTD_NOTIFY_EMAIL)."""
    if not settings.notify_email:
        return "off"
    return str(effective(settings, stored_overrides(session))["spam_digest"])


def moderation_mode(session: Session, settings: Settings) -> ModerationMode:
    """The moderation mode in force now: COMMENTD_MODERATION, or the author's choice."""
    return ModerationMode(effective(settings, stored_overrides(session))["moderation"])


def compile_rules(settings: Settings, overrides: Mapping[str, Any]) -> spam.SpamRules:
    """The rules in force, compiled (keyword lists built) for spam.assess."""
    values = effective(settings, overrides)
    return spam.SpamRules(
        hold_links=values["hold_links"],
        min_fill_seconds=settings.min_fill_seconds,
        moderation_keywords=KeywordList(values["moderation_keywords"]),
        disallowed_keywords=KeywordList(values["disallowed_keywords"]),
        duplicate_window_seconds=values["duplicate_window_seconds"],
        spam_threshold=values["spam_threshold"],
        hold_threshold=values["hold_threshold"],
        pow_max_number=settings.pow_max_number,
        moderation=ModerationMode(values["moderation"]),
    )


class RulesCache:
    """One process's compiled rules, rebuilt when the stored version moves."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._version: str | None = None
        self._rules = compile_rules(settings, {})

    def current(self, session: Session, version: str | None = None) -> spam.SpamRules:
        """The rules as stored now; `version` when the caller has already read it."""
        if version is None:
            version = session.scalar(select(SiteRuleSet.version).where(SiteRuleSet.id == RULES_ID))
        if version != self._version:
            with self._lock:
                if version != self._version:
                    self._rules = compile_rules(self._settings, stored_overrides(session))
                    self._version = version
        return self._rules


def bring_up_to_date(
    session: Session, rules: RulesCache, spam_filter: SpamFilter
) -> spam.SpamRules:
    """The post path's one look at the database for both per-process copies: the rules'
    version and the filter's state are read in one query, and either reloads only if moved."""
    shared = session.info.get(GROUP_SHARED)
    if shared is not None and isinstance(known := shared.get(_RULES_SEEN), spam.SpamRules):
        return known  # seen by an earlier member of this write transaction
    row = session.connection().execute(_VERSIONS).one()  # past the ORM layer: ~20 µs less
    spam_filter.refresh(session, FilterState(*row[1:]))
    current = rules.current(session, row[0])
    if shared is not None:
        shared[_RULES_SEEN] = current
    return current
