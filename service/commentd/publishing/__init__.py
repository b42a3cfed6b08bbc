"""What commentd publishes for pages to include: the HTML fragment of a post's thread, readable
with no script (fragment.py), shared by `commentd export static` and `GET comments.html`."""
