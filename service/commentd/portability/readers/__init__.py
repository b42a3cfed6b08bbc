"""One module per source format; READERS maps the name `commentd import <format>` takes to
its reader (records.Reader)."""
