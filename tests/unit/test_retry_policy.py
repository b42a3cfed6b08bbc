"""The outbox's retry policy, without a database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from commentd.notify import outbox


@pytest.mark.parametrize(
    ("attempts", "seconds"), [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (30, 3600)]
)
def test_the_retry_delay_doubles_up_to_an_hour(attempts: int, seconds: int) -> None:
    assert outbox.retry_delay(attempts, 30) == timedelta(seconds=seconds)
