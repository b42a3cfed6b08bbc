"""A live `commentd serve` keeps a client's connection open after a 304 (ops/server.py,
KeepAliveTask): waitress by itself closed it after every answer without content."""

from __future__ import annotations

import http.client
from pathlib import Path
from urllib.parse import urlsplit

from tests.helpers import ADMIN_TOKEN, LIFTED_LIMITS, start_server

PATH = "/api/posts/kept-alive/comments"


def test_a_304_leaves_the_connection_open_and_a_close_still_closes(tmp_path: Path) -> None:
    env = {
        "COMMENTD_DATABASE_URL": f"sqlite:///{tmp_path / 'commentd.db'}",
        "COMMENTD_ADMIN_TOKEN": ADMIN_TOKEN,
    } | LIFTED_LIMITS
    server = start_server(env, tmp_path)
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request("GET", PATH)
        first = connection.getresponse()
        first.read()
        etag = first.getheader("ETag")
        assert first.status == 200 and etag
        sock = connection.sock
        for _ in range(3):  # revalidations, one after the other on the one connection
            connection.request("GET", PATH, headers={"If-None-Match": etag})
            answer = connection.getresponse()
            assert answer.read() == b""
            assert answer.status == 304 and answer.getheader("ETag") == etag
            assert answer.getheader("Connection") is None and not answer.will_close
            assert connection.sock is sock
        connection.request("GET", PATH)
        again = connection.getresponse()
        assert again.status == 200 and again.read().startswith(b"{")
        assert connection.sock is sock
        # A client that asks for the connection to end still has it ended, 304 or not.
        connection.request("GET", PATH, headers={"If-None-Match": etag, "Connection": "close"})
        closing = connection.getresponse()
        closing.read()
        assert closing.status == 304 and closing.will_close
        assert closing.getheader("Connection") == "close"
    finally:
        connection.close()
        server.stop()
