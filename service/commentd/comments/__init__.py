"""What can happen to a comment: submit, moderate, erase, what links in emails may do, and the
reads views need. One entry point per operation, re-exported here; none commits.

Modules: submitting, moderation, erasure, email_links (confirm, opt into notices, unsubscribe,
moderate by link), queries, posts, identity, events (who hears of changes), validation,
rendering, public (the one audited public representation).
"""

from __future__ import annotations

from commentd.comments.email_links import (
    confirm_by_link,
    moderate_by_link,
    open_confirmation,
    open_moderation,
    open_notices,
    open_unsubscribe,
    opt_into_notices,
    unsubscribe_by_link,
)
from commentd.comments.erasure import erase, purge_spam
from commentd.comments.events import NO_EVENTS, CommentEvents
from commentd.comments.moderation import moderate
from commentd.comments.posts import set_closed
from commentd.comments.queries import (
    approved_comments,
    count_by_status,
    get_comment,
    own_comment_states,
    parent_links,
    queue,
)
from commentd.comments.submitting import Sender, Submitted, submit

__all__ = [
    "NO_EVENTS",
    "CommentEvents",
    "Sender",
    "Submitted",
    "approved_comments",
    "confirm_by_link",
    "count_by_status",
    "erase",
    "get_comment",
    "moderate",
    "moderate_by_link",
    "open_confirmation",
    "open_moderation",
    "open_notices",
    "open_unsubscribe",
    "opt_into_notices",
    "own_comment_states",
    "parent_links",
    "purge_spam",
    "queue",
    "set_closed",
    "submit",
    "unsubscribe_by_link",
]
