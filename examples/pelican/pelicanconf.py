"""A minimal Pelican blog whose article carries its commentd comments (README.md)."""

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent

AUTHOR = "Revivified"
SITENAME = "Revivified"
SITEURL = ""
PATH = "content"
TIMEZONE = "UTC"
DEFAULT_LANG = "en"
ARTICLE_URL = "posts/{slug}/"
ARTICLE_SAVE_AS = "posts/{slug}/index.html"
FEED_ALL_ATOM = CATEGORY_FEED_ATOM = TRANSLATION_FEED_ATOM = None
AUTHOR_FEED_ATOM = AUTHOR_FEED_RSS = None
DEFAULT_PAGINATION = False

# The commentd plugin (plugins/commentd.py) and the templates that use it (templates/), over
# Pelican's own theme, notmyidea.
PLUGIN_PATHS = [str(HERE / "plugins")]
PLUGINS = ["commentd"]
THEME_TEMPLATES_OVERRIDES = [str(HERE / "templates")]

# The commentd service's public URL: embed.js and the no-script form's action come from it.
COMMENTD_SERVICE = os.environ.get("COMMENTD_SERVICE", "https://comments.example").rstrip("/")
# Where `commentd export static` (or ../fetch-comments.py) wrote.
COMMENTD_EXPORT = str(HERE / "comments")
