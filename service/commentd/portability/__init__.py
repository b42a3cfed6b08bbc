"""Moving comments in and out (API.md, "Moving comments in and out"): readers of other systems'
exports, the one importer that stores what they read, and the exporters.

    readers/<format>.py  a file → SourceComment records, streaming, nothing stored
    importing.py         SourceComment records → stored comments: all or nothing, idempotent
    exporting.py         stored comments → commentd's JSON, or WordPress's WXR 1.2
"""
