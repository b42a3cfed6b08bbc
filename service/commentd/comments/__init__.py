"""What can happen to a comment: submit, moderate, erase, what links in emails may do, and the
reads views need. One entry point per operation, re-exported here; none commits.

Modules: submitting, moderation, authoring (the author replies, edits, pins), history (each
comment's decisions), own (a writer edits or deletes), privacy (a reader's data by
address), erasure (and retention), email_links (confirm, opt into notices, unsubscribe,
moderate by link), review (a reader asks the author to look at caught spam), queries, search
(the console's filters, bulk selections, daily counts), posts, identity, events (who hears of
changes), validation, rendering, public (the one audited public representation).
"""

from __future__ import annotations

from commentd.comments.authoring import Author, edit_as_author, reply_as_author, set_pinned
from commentd.comments.email_links import (
    confirm_by_link,
    moderate_by_link,
    not_spam_by_link,
    open_confirmation,
    open_moderation,
    open_not_spam,
    open_notices,
    open_unsubscribe,
    opt_into_notices,
    unsubscribe_by_link,
)
from commentd.comments.erasure import Purged, Retention, erase, purge
from commentd.comments.events import NO_EVENTS, CommentEvents
from commentd.comments.moderation import moderate
from commentd.comments.own import delete_own, edit_own, editable_until
from commentd.comments.posts import Moved, PostSummary, list_posts, move_post, set_closed, set_title
from commentd.comments.privacy import ask, erase_by_link, export_by_link, open_privacy
from commentd.comments.queries import (
    approved_comments,
    get_comment,
    own_comment_states,
    parent_links,
)
from commentd.comments.review import request_review
from commentd.comments.submitting import Sender, Submitted, submit

__all__ = [
    "NO_EVENTS",
    "Author",
    "CommentEvents",
    "Moved",
    "PostSummary",
    "Purged",
    "Retention",
    "Sender",
    "Submitted",
    "approved_comments",
    "ask",
    "confirm_by_link",
    "delete_own",
    "edit_as_author",
    "edit_own",
    "editable_until",
    "erase",
    "erase_by_link",
    "export_by_link",
    "get_comment",
    "list_posts",
    "moderate",
    "moderate_by_link",
    "move_post",
    "not_spam_by_link",
    "open_confirmation",
    "open_moderation",
    "open_not_spam",
    "open_notices",
    "open_privacy",
    "open_unsubscribe",
    "opt_into_notices",
    "own_comment_states",
    "parent_links",
    "purge",
    "reply_as_author",
    "request_review",
    "set_closed",
    "set_pinned",
    "set_title",
    "submit",
    "unsubscribe_by_link",
]
