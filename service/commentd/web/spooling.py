"""Answers over a megabyte, written whole to a temporary file before their first byte is sent.

waitress keeps an answer in memory up to 1 MB (its `outbuf_overflow`) and spills the rest to
a temporary file in TMPDIR as the app hands it over, after the status line and headers have
gone out: on a full TMPDIR the spill failed half-way and the client got a 200 cut short (a
thread too big for the page cache, its HTML fragment, a long feed). This WSGI layer, outermost,
writes such an answer to a temporary file of its own first and hands waitress that file
(`wsgi.file_wrapper`: sent from it, neither copied nor spilled again). When the file cannot
be written, the client gets the 503 of errors.unexpected instead (`storage_full`, or
`overloaded` out of open files), before anything was sent. The disk's work is the same as
waitress's spill, and memory stays bounded by the same megabyte for each slow client.

Passed as they are: answers of known length up to SPOOL_BYTES, answers to HEAD, answers the
app already hands over as a file (fast_reads' threads sent from the page cache's bytes), and
answers of unknown length (streamed: a cut shows to the client as a chunked body without its
last chunk).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable, Iterator
from http import HTTPStatus
from typing import IO, TYPE_CHECKING, Any

from commentd.errors import error_json, short_of
from commentd.web import errors

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# waitress's default outbuf_overflow: past it an answer goes to a file whatever is done here.
SPOOL_BYTES = 1024 * 1024
SEND_BLOCK_BYTES = 64 * 1024  # what waitress reads of the file at a time
# The answer's own headers that do not describe a 503 said in JSON instead.
_BODY_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-encoding",
        "content-disposition",
        "content-language",
        "etag",
        "last-modified",
        "cache-control",
        "expires",
        "vary",
    }
)


class SpooledAnswers:
    """WSGI middleware: `app`'s answers past SPOOL_BYTES go whole to a temporary file first."""

    def __init__(self, app: WSGIApplication) -> None:
        """Around `app` (the outermost layer: every answer passes here)."""
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """`app`'s answer, from a temporary file when it is big; a 503 when that file cannot
        be written."""
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is None or environ.get("REQUEST_METHOD") == "HEAD":
            return self.app(environ, start_response)
        held: list[Any] = []

        def hold(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Any:
            held[:] = [status, headers, exc_info]
            return _write_unsupported

        body = self.app(environ, hold)
        status, headers, exc_info = held
        if isinstance(body, wrapper) or not _longer_than(headers, SPOOL_BYTES):
            start_response(status, headers, exc_info)
            return body
        try:
            spooled = _spool(body)
        except (OSError, MemoryError) as error:
            if short_of(error) is None:
                raise
            # Logged there ("disk full, answered 503…"); the access line said the app's status.
            refused, code, message, extra = errors.unexpected(error)
            refusal = error_json(code, message)
            start_response(
                f"{refused} {HTTPStatus(refused).phrase}",
                [
                    *_kept(headers),
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(refusal))),
                    ("Cache-Control", "no-store"),
                    *extra.items(),
                ],
            )
            return [refusal]
        start_response(status, headers, exc_info)
        return wrapper(spooled, SEND_BLOCK_BYTES)  # type: ignore[no-any-return]


def _write_unsupported(_data: bytes) -> None:
    raise NotImplementedError("commentd's app never uses start_response's write()")


def _longer_than(headers: list[tuple[str, str]], limit: int) -> bool:
    for name, value in headers:
        if name.lower() == "content-length":
            return value.isdigit() and int(value) > limit
    return False


def _spool(body: Iterable[bytes]) -> IO[bytes]:
    """`body` written whole to a new temporary file (in TMPDIR, already unlinked), read from
    its start; `body` closed. Raises OSError (ENOSPC, EMFILE...) when it cannot be."""
    try:
        # Not closed here: handed to the server, which closes it once sent.
        spooled = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            for chunk in body:
                spooled.write(chunk)
            spooled.flush()  # a full disk shows here at the latest, not while sending
            spooled.seek(0)
        except BaseException:
            with contextlib.suppress(OSError):  # its descriptor is closed even so
                spooled.close()  # may fail to flush what did not fit
            raise
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return spooled


def _kept(headers: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """The answer's headers that still hold for a 503 instead (request id, CORS, nosniff)."""
    return ((name, value) for name, value in headers if name.lower() not in _BODY_HEADERS)
