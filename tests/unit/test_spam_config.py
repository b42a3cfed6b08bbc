"""The spam settings read from the environment: documented defaults, clear errors."""

from __future__ import annotations

import pytest

from commentd.config import ConfigError, Settings


def test_the_spam_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "COMMENTD_EMAIL_RATE_LIMIT": "2 per minute",
            "COMMENTD_SLUG_RATE_LIMIT": "9 per hour",
            "COMMENTD_MIN_POST_INTERVAL": "0",
            "COMMENTD_MODERATION_KEYWORDS": "casino, free money\npoker",
            "COMMENTD_DISALLOWED_KEYWORDS": "viagra*",
            "COMMENTD_DUPLICATE_WINDOW_SECONDS": "60",
            "COMMENTD_SPAM_THRESHOLD": "0.9",
            "COMMENTD_HOLD_THRESHOLD": "0.2",
            "COMMENTD_SPAM_RETENTION_DAYS": "7",
        }
    )

    assert (
        settings.email_rate_limit,
        settings.slug_rate_limit,
        settings.min_post_interval,
        settings.moderation_keywords,
        settings.disallowed_keywords,
        settings.duplicate_window_seconds,
        settings.spam_threshold,
        settings.hold_threshold,
        settings.spam_retention_days,
    ) == (
        "2 per minute",
        "9 per hour",
        0,
        ("casino", "free money", "poker"),
        ("viagra*",),
        60,
        0.9,
        0.2,
        7,
    )


def test_without_them_the_documented_defaults_apply() -> None:
    settings = Settings.from_env({})

    assert (
        settings.email_rate_limit,
        settings.slug_rate_limit,
        settings.min_post_interval,
        settings.duplicate_window_seconds,
        settings.spam_threshold,
        settings.hold_threshold,
        settings.spam_retention_days,
    ) == ("3 per minute;30 per day", "20 per minute", 15, 86400, 0.84, 0.4, 30)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"COMMENTD_SPAM_THRESHOLD": "1.5"}, "COMMENTD_SPAM_THRESHOLD"),
        ({"COMMENTD_HOLD_THRESHOLD": "half"}, "COMMENTD_HOLD_THRESHOLD"),
        ({"COMMENTD_SPAM_THRESHOLD": "0.2", "COMMENTD_HOLD_THRESHOLD": "0.5"}, "COMMENTD_HOLD"),
        ({"COMMENTD_EMAIL_RATE_LIMIT": "lots"}, "COMMENTD_EMAIL_RATE_LIMIT"),
        ({"COMMENTD_MIN_POST_INTERVAL": "-1"}, "COMMENTD_MIN_POST_INTERVAL"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)
