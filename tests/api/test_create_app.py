"""create_app() as an embedding server calls it: what it opens, it closes when it fails."""

from __future__ import annotations

import gc
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine

from commentd.config import Settings
from commentd.web.app import create_app


def test_an_app_that_fails_to_assemble_leaves_no_connection_open(
    migrated_engine: Engine, settings: Settings
) -> None:
    # Any failure once the database is open (here a setting of the wrong type, which only
    # the spam rules read): the connections that read the secret and the instance id are
    # closed at once. Before, the engine waited for the garbage collector, which closed them
    # with a ResourceWarning during whichever later test was running (psycopg warns; with
    # warnings as errors that test failed).
    wrong: Any = "none"
    with pytest.raises(AttributeError):
        create_app(replace(settings, moderation=wrong))
    gc.collect()  # a connection left open would warn here, failing this test
