"""Proof of work, ALTCHA style: the widget finds the number behind a signed challenge (about
`max_number / 2` SHA-256 hashes in the reader's browser) and sends it back as the `altcha` field,
so a bot pays CPU for every comment. No third-party service: the `altcha` library (its v1
protocol, SHA-256) makes and checks the challenges with an HMAC key derived from the site's
secret, and a solution, once used, is kept in the shared spent_links table so that it never
counts twice, whichever process sees it.

Issuing a challenge stores nothing (GET /api/form-token hands one out); only redeeming one
writes, in the caller's transaction.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, cast

from altcha import v1 as altcha
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commentd.config import POW_MAX_NUMBER_LIMIT
from commentd.keys import keyed_hash
from commentd.models import SpentLink

ALGORITHM: Final = "SHA-256"
CHALLENGE_LIFETIME = 3600  # seconds a challenge may be solved and sent back in
PROOF_MAX = 1024  # characters of an `altcha` field; a real one has about 350
# A spent solution's key in spent_links: "pow:" + 28 hex characters of its challenge (an email
# link's nonce is 32 hex characters, so the two never meet, and purging finds only these).
SPENT_PREFIX = "pow:"
PURGE_EVERY = 600.0  # seconds between one process's purges of expired spent solutions
_HEX64 = re.compile(r"[0-9a-f]{64}")


class ProofState(StrEnum):
    """What a submission's proof of work turned out to be."""

    VALID = "valid"
    MISSING = "missing"  # no `altcha` field: a bot, a script, or the form without script
    INVALID = "invalid"  # malformed, a wrong number, or signed with another key
    EXPIRED = "expired"  # solved, but sent back after CHALLENGE_LIFETIME
    SPENT = "spent"  # a solution already used by an earlier comment


@dataclass(frozen=True)
class ProofCheck:
    """A submission's proof of work, checked (and, when valid, spent)."""

    state: ProofState


def hmac_key(secret: str) -> str:
    """The challenges' HMAC key: the site's secret, kept apart from its other uses."""
    return keyed_hash(secret, "altcha", "challenge-key", length=64)


def issue(secret: str, max_number: int, *, now: float | None = None) -> dict[str, Any]:
    """A fresh challenge, as ALTCHA's widgets take it: `{"algorithm": "SHA-256", "challenge":
    64 hex, "maxnumber": max_number, "salt": "<32 hex>?expires=<Unix s>&", "signature": 64 hex}`.
    Valid CHALLENGE_LIFETIME seconds from `now` (Unix seconds; the clock by default). Pure: it
    stores nothing. `max_number` is 1 to config.POW_MAX_NUMBER_LIMIT."""
    issued = now if now is not None else time.time()
    challenge = altcha.create_challenge(
        altcha.ChallengeOptions(
            algorithm=ALGORITHM,
            max_number=max_number,
            salt_length=16,  # 128 bits (the library's default is 96)
            hmac_key=hmac_key(secret),
            expires=datetime.fromtimestamp(issued + CHALLENGE_LIFETIME, UTC),
        )
    )
    return {
        "algorithm": challenge.algorithm,
        "challenge": challenge.challenge,
        "maxnumber": challenge.max_number,
        "salt": challenge.salt,
        "signature": challenge.signature,
    }


def _payload(raw: str) -> dict[str, object] | None:
    """The decoded `altcha` field when it has the shape of a v1 payload, else None."""
    if len(raw) > PROOF_MAX:
        return None
    try:
        decoded = json.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        return None
    if not isinstance(decoded, dict):
        return None
    number, salt = decoded.get("number"), decoded.get("salt")
    challenge, signature = decoded.get("challenge"), decoded.get("signature")
    if (
        decoded.get("algorithm") != ALGORITHM
        or not isinstance(challenge, str)
        or not _HEX64.fullmatch(challenge)
        or not isinstance(signature, str)
        or not _HEX64.fullmatch(signature)
        or not isinstance(salt, str)
        or len(salt) > 200
        or isinstance(number, bool)
        or not isinstance(number, int)
        or not 0 <= number <= POW_MAX_NUMBER_LIMIT
    ):
        return None
    return cast(dict[str, object], decoded)


def _expires(payload: dict[str, object]) -> float | None:
    values = altcha.extract_params(cast(Any, payload)).get("expires", [])
    if len(values) != 1 or not values[0].isdigit():
        return None
    return float(values[0])


def verify(secret: str, raw: str | None, *, now: float | None = None) -> ProofState:
    """What an `altcha` field proves, without spending it (`now`: Unix seconds, for tests).

    The number must hash with the salt to the challenge, and the challenge must carry this
    site's signature (compared in constant time before the library checks it again) and an
    expiry still ahead. Never raises.
    """
    if raw is None:
        return ProofState.MISSING
    payload = _payload(raw)
    if payload is None:
        return ProofState.INVALID
    return _verify_payload(secret, payload, now)


def _verify_payload(secret: str, payload: dict[str, object], now: float | None) -> ProofState:
    key = hmac_key(secret)
    salt = cast(str, payload["salt"])
    if not salt.endswith("&"):
        salt += "&"
    challenge = altcha.hash_hex(ALGORITHM, f"{salt}{payload['number']}".encode())
    signature = altcha.hmac_hex(ALGORITHM, challenge.encode(), key)
    if not (
        hmac.compare_digest(challenge, cast(str, payload["challenge"]))
        and hmac.compare_digest(signature, cast(str, payload["signature"]))
    ):
        return ProofState.INVALID
    expires = _expires(payload)
    if expires is None:
        return ProofState.INVALID  # every challenge of ours carries its expiry
    if expires < (now if now is not None else time.time()):
        return ProofState.EXPIRED
    verified, _ = altcha.verify_solution(cast(Any, payload), key, check_expires=False)
    return ProofState.VALID if verified else ProofState.INVALID


def spent_key(challenge: str) -> str:
    """The spent_links key of a solved challenge (32 characters)."""
    return SPENT_PREFIX + challenge[:28]


class _Purges:
    """When this process last purged expired spent solutions (one purge per PURGE_EVERY)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = -math.inf

    def due(self, now: float) -> bool:
        with self._lock:
            if now - self._last < PURGE_EVERY:
                return False
            self._last = now
            return True


_PURGES = _Purges()


def purge_spent(session: Session, now: datetime) -> int:
    """Delete the spent solutions older than CHALLENGE_LIFETIME before `now` (aware UTC): their
    challenges have expired, so they can never come back valid. Flushes; returns how many."""
    cutoff = now - timedelta(seconds=CHALLENGE_LIFETIME + 60)
    result = session.execute(
        delete(SpentLink).where(
            SpentLink.nonce.startswith(SPENT_PREFIX, autoescape=True), SpentLink.spent_at < cutoff
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def redeem(session: Session, secret: str, raw: str | None, now: datetime) -> ProofCheck:
    """Check an `altcha` field at `now` (aware UTC) and, when valid, spend it in the caller's
    transaction (a savepoint: the primary key decides between two processes racing with the
    same solution). SPENT when it was used before. Now and then also purges expired spent
    solutions. Raises only what the database raises."""
    payload = _payload(raw) if raw is not None else None
    if payload is None:
        return ProofCheck(ProofState.MISSING if raw is None else ProofState.INVALID)
    state = _verify_payload(secret, payload, now.timestamp())
    if state is not ProofState.VALID:
        return ProofCheck(state)
    key = spent_key(cast(str, payload["challenge"]))
    if session.get(SpentLink, key) is not None:
        return ProofCheck(ProofState.SPENT)
    try:
        with session.begin_nested():
            session.add(SpentLink(nonce=key, spent_at=now))
    except IntegrityError:
        return ProofCheck(ProofState.SPENT)
    if _PURGES.due(time.monotonic()):
        purge_spent(session, now)
    return ProofCheck(ProofState.VALID)
