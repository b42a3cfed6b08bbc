"""Moving comments in and out through the moderation API, for authors without a shell: an
export uploaded in parts and imported, and the site's comments downloaded (docs/api-additions.md).

The server takes no request body above 256 KiB (ops/server.py: a slow or huge upload must not
tie up a worker), so an export arrives in parts of PART_BYTES, each a short request, kept in
the database (shared by every process) until the author runs the import:

    POST   /api/moderation/imports                 {"format", "size"} → 201 {"id", "parts", ...}
    PUT    /api/moderation/imports/<id>/parts/<n>  the part's bytes → 204
    POST   /api/moderation/imports/<id>/run        {"dry_run"?, "teach"?, "map"?} → 200 summary
    DELETE /api/moderation/imports/<id>            → 204
    GET    /api/moderation/export/json             commentd's own export, as a download
    GET    /api/moderation/export/wordpress        WXR 1.2 (?site_url=, default: the first
                                                   allowed origin), as a download
"""

from __future__ import annotations

import io
import math
import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, request, send_file
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from commentd.errors import ApiError, BadRequest, NotFound, ValidationFailed
from commentd.models import ImportUpload, ImportUploadPart, utcnow
from commentd.portability import FORMATS
from commentd.web.auth import keep_private, require_moderator
from commentd.web.services import current
from commentd.web.sessions import get_session

if TYPE_CHECKING:
    from commentd.portability.slugs import SlugMap

bp = Blueprint("moving", __name__, url_prefix="/api/moderation")
bp.before_request(require_moderator)
bp.after_request(keep_private)

PART_BYTES = 192 * 1024  # under the server's 256 KiB for a whole request
UPLOAD_ID = "<string(length=32):upload_id>"
UPLOAD_HOURS = 24  # an upload never run is deleted after this
MAP_MAX_BYTES = 60 * 1024
MAX_WAITING_UPLOADS = 4


class ImportFailed(ApiError):
    """422 import_failed: the file cannot be read as its format; nothing was stored. `place`
    names where (a line, a record, a byte)."""

    status = 422
    code = "import_failed"


class TooManyUploads(ApiError):
    """409 too_many_uploads: MAX_WAITING_UPLOADS uploads wait already (each may be hundreds of
    megabytes of the database's disk)."""

    status = 409
    code = "too_many_uploads"


class UploadIncomplete(ApiError):
    """409 upload_incomplete: parts are missing; `missing` lists their numbers (at most 100)."""

    status = 409
    code = "upload_incomplete"


def _json_object() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None and not request.get_data():
        return {}
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    return data


@bp.post("/imports")
def begin_upload() -> tuple[dict[str, Any], int]:
    """Begin uploading an export of `format` that is `size` bytes long; 201 with its id and
    how to cut it: `parts` parts of `part_bytes` (the last one shorter)."""
    data = _json_object()
    source, size = data.get("format"), data.get("size")
    limit = current().settings.import_max_mb * 1024 * 1024
    errors = {}
    if not isinstance(source, str) or source not in FORMATS:
        errors["format"] = f"must be one of {', '.join(FORMATS)}"
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        errors["size"] = "must be the file's size in bytes, a whole number from 1"
    elif size > limit:
        raise _too_large(limit)
    if errors:
        raise ValidationFailed("The upload cannot begin.", fields=errors)
    assert isinstance(source, str) and isinstance(size, int)
    session = get_session(write=True)
    session.execute(
        delete(ImportUpload).where(
            ImportUpload.created_at < utcnow() - timedelta(hours=UPLOAD_HOURS)
        )
    )
    waiting = session.scalar(select(func.count()).select_from(ImportUpload)) or 0
    if waiting >= MAX_WAITING_UPLOADS:
        raise TooManyUploads(
            f"{waiting} uploads are waiting: run or delete one first "
            "(DELETE /api/moderation/imports/<id>); an upload never run is deleted after a day."
        )
    upload = ImportUpload(id=secrets.token_hex(16), source=source, size=size)
    session.add(upload)
    session.commit()
    return _shown(upload), 201


class UploadTooLarge(ApiError):
    """413 too_large: the announced file is larger than COMMENTD_IMPORT_MAX_MB."""

    status = 413
    code = "too_large"


def _too_large(limit: int) -> ApiError:
    return UploadTooLarge(
        f"An upload is at most {limit // (1024 * 1024)} MB (COMMENTD_IMPORT_MAX_MB); "
        "import a larger file with `commentd import`."
    )


def _shown(upload: ImportUpload) -> dict[str, Any]:
    return {
        "id": upload.id,
        "format": upload.source,
        "size": upload.size,
        "part_bytes": PART_BYTES,
        "parts": _parts(upload.size),
    }


def _parts(size: int) -> int:
    return max(1, math.ceil(size / PART_BYTES))


def _upload(session: Session, upload_id: str) -> ImportUpload:
    upload = session.get(ImportUpload, upload_id)
    if upload is None:
        raise NotFound("There is no such upload (it may have been imported, or expired).")
    return upload


@bp.put(f"/imports/{UPLOAD_ID}/parts/<int:number>")
def put_part(upload_id: str, number: int) -> tuple[str, int]:
    """Store part `number` (from 0): exactly `part_bytes` bytes, the last part the rest. A part
    sent again replaces the one before (a retried request changes nothing)."""
    request.max_content_length = PART_BYTES
    session = get_session(write=True)
    upload = _upload(session, upload_id)
    parts = _parts(upload.size)
    if number >= parts:
        raise BadRequest(f"This upload has parts 0 to {parts - 1}.")
    expected = PART_BYTES if number < parts - 1 else upload.size - PART_BYTES * (parts - 1)
    data = request.get_data(cache=False)
    if len(data) != expected:
        raise BadRequest(f"Part {number} is {expected} bytes; {len(data)} were sent.")
    session.merge(ImportUploadPart(upload_id=upload.id, number=number, data=data))
    session.commit()
    return "", 204


@bp.delete(f"/imports/{UPLOAD_ID}")
def cancel_upload(upload_id: str) -> tuple[str, int]:
    """Forget an upload and its parts."""
    session = get_session(write=True)
    session.delete(_upload(session, upload_id))
    session.commit()
    return "", 204


@bp.post(f"/imports/{UPLOAD_ID}/run")
def run_upload(upload_id: str) -> dict[str, Any]:
    """Import the uploaded file in one transaction, as `commentd import` does: 200 with the
    summary. `dry_run` keeps the upload (to run for real next); a real run deletes it. 409 if
    parts are missing, 422 import_failed (naming the place) if the file cannot be read."""
    # Here, not at the top: a server imports the importer only once an author runs one.
    from commentd.portability.importing import run_import
    from commentd.portability.records import ImportFileError

    options = _json_object()
    dry_run, teach = options.get("dry_run", False), options.get("teach", False)
    slug_map = options.get("map")
    flags = {"dry_run": dry_run, "teach": teach}
    not_flags = {name: "true or false" for name, value in flags.items() if type(value) is not bool}
    if not_flags:
        raise ValidationFailed("dry_run and teach are true or false.", fields=not_flags)
    if slug_map is not None and (not isinstance(slug_map, str) or len(slug_map) > MAP_MAX_BYTES):
        raise ValidationFailed(
            "map is the CSV text of old URL, new slug rows.",
            fields={"map": f"CSV text of at most {MAP_MAX_BYTES} characters"},
        )
    services = current()
    session = get_session(write=True)
    upload = _upload(session, upload_id)
    source = upload.source
    with tempfile.TemporaryDirectory(prefix="commentd-upload-") as folder:
        path = Path(folder) / "export"
        _assemble(session, upload, path)
        session.rollback()  # nothing held while the import runs in its own transaction
        try:
            parsed_map = _slug_map(slug_map, Path(folder)) if slug_map else None
            summary = run_import(
                services.engine,
                source,
                path,
                secret=services.secret_key,
                dry_run=dry_run,
                slug_map=parsed_map,
                teach=teach,
            )
        except ImportFileError as error:
            message = f"{str(error).rstrip('.')}. Nothing was imported."
            raise ImportFailed(message, place=error.place) from None
    if not dry_run:
        session.execute(delete(ImportUpload).where(ImportUpload.id == upload_id))
        session.commit()
    return summary.as_json()


def _assemble(session: Session, upload: ImportUpload, path: Path) -> None:
    """Write the upload's parts in order to `path` (readable by this user only); raises
    UploadIncomplete when any is missing."""
    parts = _parts(upload.size)
    have = set(
        session.scalars(
            select(ImportUploadPart.number).where(ImportUploadPart.upload_id == upload.id)
        )
    )
    missing = [n for n in range(parts) if n not in have]
    if missing:
        raise UploadIncomplete(
            f"{len(missing)} of {parts} parts are missing.", missing=missing[:100]
        )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        for number in range(parts):
            data = session.scalar(
                select(ImportUploadPart.data).where(
                    ImportUploadPart.upload_id == upload.id, ImportUploadPart.number == number
                )
            )
            file.write(data or b"")


def _slug_map(text: str, folder: Path) -> SlugMap:
    """The author's map, given as CSV text, read as `--map` reads a file."""
    from commentd.portability.slugs import SlugMap

    path = folder / "map.csv"
    path.write_text(text, encoding="utf-8")
    return SlugMap.read(path)


@bp.get("/export/<any(json, wordpress):export_format>")
def download(export_format: str) -> Response:
    """Every comment, as commentd's own export (json) or WXR 1.2 (wordpress), as a download.
    Written from one read transaction to a temporary file (memory stays bounded), then sent."""
    from commentd.portability.exporting import site_address, write_json, write_wxr

    services = current()
    site_url = request.args.get("site_url") or next(iter(services.settings.allowed_origins), "")
    if export_format == "wordpress":
        if not site_url:
            raise BadRequest("Give site_url (the blog's address): no allowed origin is set.")
        try:
            site_url = site_address(site_url)
        except ValueError as error:
            raise BadRequest(f"site_url: {error}.") from None
    session = get_session(write=False)
    file = tempfile.TemporaryFile()  # noqa: SIM115  # unnamed; send_file closes it (gone then)
    if export_format == "json":
        text = io.TextIOWrapper(file, encoding="utf-8", newline="\n")
        write_json(session, text, services.instance_id)
        text.flush()
        text.detach()
    else:
        write_wxr(session, file, site_url)
    file.seek(0)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return send_file(
        file,
        mimetype="application/json" if export_format == "json" else "application/xml",
        as_attachment=True,
        download_name=f"commentd-{stamp}.{'json' if export_format == 'json' else 'wxr.xml'}",
    )
