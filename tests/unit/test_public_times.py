"""comments.public.timestamp: API.md's time format (`2024-05-01T09:30:00Z`), RFC 3339's
profile of ISO 8601 (https://www.rfc-editor.org/rfc/rfc3339#section-5.6)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from commentd.comments.public import timestamp

RFC3339_UTC_SECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


@pytest.mark.parametrize(
    ("moment", "told"),
    [
        (datetime(2024, 5, 1, 9, 30, tzinfo=UTC), "2024-05-01T09:30:00Z"),
        # Fractions are dropped, never rounded up into the next second.
        (datetime(2024, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), "2024-12-31T23:59:59Z"),
        # Four digits whatever the year (stored times are 1970-9000: imports refuse others;
        # strftime's %Y would write "999-…", which is not RFC 3339).
        (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), "0999-01-02T03:04:05Z"),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "9999-12-31T23:59:59Z"),
    ],
)
def test_a_time_is_whole_seconds_in_utc_with_a_z(moment: datetime, told: str) -> None:
    assert timestamp(moment) == told
    assert RFC3339_UTC_SECONDS.fullmatch(told)
    assert datetime.fromisoformat(told) == moment.replace(microsecond=0)
