"""config.py: the environment is read once, with API.md's defaults and clear errors."""

from __future__ import annotations

import pytest

from service.config import ConfigError, ModerationMode, Settings
from service.server import worker_plan


def test_no_environment_gives_the_embedded_defaults() -> None:
    settings = Settings.from_env({})

    assert settings.database_url == "sqlite:///commentd.db"
    assert settings.ratelimit_storage_uri == "memory://"
    assert settings.post_rate_limit == "5 per minute;50 per day"
    assert settings.site_rate_limit == "60 per minute"
    assert (settings.min_fill_seconds, settings.hold_links, settings.trusted_proxies) == (3, 2, 0)
    assert settings.moderation is ModerationMode.ALL
    assert settings.admin_token is None and settings.secret_key is None
    assert settings.serving_at("0.0.0.0", 9000).public_url == "http://0.0.0.0:9000"


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "COMMENTD_DATABASE_URL": "postgresql+psycopg://db/commentd",
            "COMMENTD_ADMIN_TOKEN": "t0ken",
            "COMMENTD_ALLOWED_ORIGINS": "https://Blog.example/, https://www.blog.example",
            "COMMENTD_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
            "COMMENTD_POST_RATE_LIMIT": "3 per minute",
            "COMMENTD_SITE_RATE_LIMIT": "100 per hour",
            "COMMENTD_MIN_FILL_SECONDS": "5",
            "COMMENTD_HOLD_LINKS": "0",
            "COMMENTD_TRUSTED_PROXIES": "1",
            "COMMENTD_MODERATION": "known",
            "COMMENTD_PUBLIC_URL": "https://comments.example/",
            "COMMENTD_SECRET_KEY": "s3cret",
        }
    )

    assert settings.allowed_origins == ("https://blog.example", "https://www.blog.example")
    assert settings.moderation is ModerationMode.KNOWN
    assert settings.public_url == "https://comments.example"
    assert settings.serving_at("127.0.0.1", 8080).public_url == "https://comments.example"
    assert settings.uses_shared_rate_limit_storage
    assert (settings.hold_links, settings.trusted_proxies, settings.min_fill_seconds) == (0, 1, 5)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COMMENTD_MODERATION", "sometimes"),
        ("COMMENTD_POST_RATE_LIMIT", "lots"),
        ("COMMENTD_TRUSTED_PROXIES", "-1"),
        ("COMMENTD_HOLD_LINKS", "two"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_in_process_limits_mean_one_process_and_shared_ones_allow_several() -> None:
    assert worker_plan(Settings(), cpus=2) == (1, 4)
    assert worker_plan(Settings(ratelimit_storage_uri="redis://127.0.0.1:6379"), cpus=2)[0] >= 2
