"""The emails themselves: plain text plus simple HTML, composed from what is stored at sending.

Jinja autoescapes the HTML parts, so a commenter's text, name or website is always shown as
text; the plain-text parts carry it as typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from commentd.comments.review import REVIEW_REQUESTED
from commentd.comments.validation import PrivacyKind
from commentd.config import Settings
from commentd.models import Comment
from commentd.notify import links, smtp
from commentd.notify.spam_digest import Caught

_templates = Environment(
    loader=PackageLoader("commentd", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
ACTION_LABELS = {
    links.Action.APPROVE: "Approve",
    links.Action.REJECT: "Reject",
    links.Action.SPAM: "Spam",
}
SUBJECT_NAME_LENGTH = 40
EXCERPT_LENGTH = 300


def _excerpt(body: str) -> str:
    """The start of a comment's text, on one line, at most EXCERPT_LENGTH characters."""
    return _one_line(body, EXCERPT_LENGTH)


def _one_line(value: str, length: int = 80) -> str:
    """Header-safe: no line breaks, bounded length."""
    flat = " ".join(value.split())
    return flat if len(flat) <= length else flat[: length - 1] + "…"


@dataclass(frozen=True)
class Writer:
    """Composes each kind of email for one site (its URLs, sender and link keys)."""

    settings: Settings
    secret: str

    def url(self, path: str) -> str:
        """`path` (starting with /) on the service's public URL (COMMENTD_PUBLIC_URL)."""
        return f"{self.settings.public_url}{path}"

    @property
    def site(self) -> str:
        """How mail to readers names the site: the blog's host (COMMENTD_POST_URL), else the
        service's. Set by the author: never anything a reader typed."""
        for url in (self.settings.post_url, self.settings.public_url):
            host = urlsplit(url).hostname if url else None
            if host:
                return host
        return "this site"

    def post_url(self, slug: str) -> str | None:
        """The blog page of a post, from COMMENTD_POST_URL's {slug} template; None without one."""
        template = self.settings.post_url
        return template.replace("{slug}", quote(slug, safe="/")) if template else None

    def action_urls(self, comment: Comment) -> list[tuple[str, str]]:
        """API.md: one line per action. The three share a nonce: deciding once spends all."""
        nonce = links.new_nonce()
        stamp = links.comment_stamp(comment)
        return [
            (
                ACTION_LABELS[action],
                self.url(
                    "/email/moderate/"
                    + links.moderation_token(
                        self.secret, links.ModerationLink(comment.id, action, nonce, stamp)
                    )
                ),
            )
            for action in links.Action
        ]

    def _item(self, comment: Comment, slug: str) -> dict[str, Any]:
        return {
            "comment": comment,
            "slug": slug,
            "post_url": self.post_url(slug),
            "actions": self.action_urls(comment),
        }

    def _render(self, name: str, **context: Any) -> tuple[str, str]:
        return (
            _templates.get_template(f"email/{name}.txt").render(**context),
            _templates.get_template(f"email/{name}.html").render(**context),
        )

    def _compose(
        self,
        *,
        to: str,
        subject: str,
        parts: tuple[str, str],
        key: str,
        headers: dict[str, str] | None = None,
    ) -> EmailMessage:
        return smtp.compose(
            sender=self.settings.mail_sender,
            to=to,
            subject=subject,
            text=parts[0],
            html=parts[1],
            message_key=key,
            extra_headers=headers,
        )

    def author_notice(self, comment: Comment, slug: str, key: str) -> EmailMessage:
        """The author's notice of one new comment, with its Approve/Reject/Spam links; the text
        is templates/email/author_notice.*. `key` makes its Message-ID. Needs COMMENTD_NOTIFY_EMAIL.
        """
        assert self.settings.notify_email
        parts = self._render(
            "author_notice",
            item=self._item(comment, slug),
            link_days=self.settings.action_link_days,
            moderation_url=self.url("/moderate"),
        )
        verb = "waits" if comment.status.value == "pending" else "published"
        what = f"New comment {verb}"
        if REVIEW_REQUESTED in comment.reasons and comment.status.value == "pending":
            what = "Review asked for a comment caught as spam"
        subject = f"{what}: {_one_line(comment.name, SUBJECT_NAME_LENGTH)} on {_one_line(slug)}"
        return self._compose(to=self.settings.notify_email, subject=subject, parts=parts, key=key)

    def author_digest(
        self, items: list[tuple[Comment, str]], minutes: int, key: str
    ) -> EmailMessage:
        """One email for the comments of a digest period of `minutes` (templates/email/
        author_digest.*), each with its links. Needs COMMENTD_NOTIFY_EMAIL.
        """
        assert self.settings.notify_email
        parts = self._render(
            "author_digest",
            items=[self._item(comment, slug) for comment, slug in items],
            minutes=minutes,
            link_days=self.settings.action_link_days,
            moderation_url=self.url("/moderate"),
        )
        count = len(items)
        subject = f"{count} new comment{'s' if count != 1 else ''} to look at"
        return self._compose(to=self.settings.notify_email, subject=subject, parts=parts, key=key)

    def not_spam_url(self, comment: Comment) -> str:
        """The spam digest's "Not spam" link of one comment: its own nonce, signed, expiring."""
        link = links.NotSpamLink(comment.id, links.new_nonce(), links.comment_stamp(comment))
        return self.url("/email/not-spam/" + links.not_spam_token(self.secret, link))

    def spam_digest(self, caught: Caught, cadence: str, key: str) -> EmailMessage:
        """The author's list of what the spam defences caught from `caught.since` to
        `caught.until` (templates/email/spam_digest.*): each comment's name, post, excerpt,
        reasons and time, with a Not spam link; and the console's link. Needs
        COMMENTD_NOTIFY_EMAIL."""
        assert self.settings.notify_email
        items = [
            {
                "comment": comment,
                "slug": slug,
                "post_url": self.post_url(slug),
                "excerpt": _excerpt(comment.body),
                "when": comment.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                "not_spam_url": self.not_spam_url(comment),
            }
            for comment, slug in caught.items
        ]
        count = len(items) + caught.more
        parts = self._render(
            "spam_digest",
            items=items,
            count=count,
            more=caught.more,
            period="day" if cadence == "daily" else "week",
            until=caught.until.strftime("%Y-%m-%d %H:%M UTC"),
            link_days=self.settings.action_link_days,
            console_url=self.url("/moderate"),
        )
        subject = f"Spam caught: {count} comment{'s' if count != 1 else ''} to glance at"
        return self._compose(to=self.settings.notify_email, subject=subject, parts=parts, key=key)

    def reply_notice(self, reply: Comment, parent: Comment, slug: str, key: str) -> EmailMessage:
        """A reply to `parent` was published: the notice to the parent's (proven) address, with
        an unsubscribe link and RFC 8058 headers (templates/email/reply_notice.*).
        """
        unsubscribe_url = self.url(
            "/email/unsubscribe/"
            + links.unsubscribe_token(
                self.secret, links.UnsubscribeLink(parent.id, links.comment_stamp(parent))
            )
        )
        parts = self._render(
            "reply_notice",
            reply=reply,
            parent=parent,
            slug=slug,
            post_url=self.post_url(slug),
            unsubscribe_url=unsubscribe_url,
        )
        return self._compose(
            to=parent.email,
            subject=f"{_one_line(reply.name, SUBJECT_NAME_LENGTH)} replied to you on "
            f"{_one_line(slug)}",
            parts=parts,
            key=key,
            headers={
                # RFC 2369 and RFC 8058: mail clients offer a one-click unsubscribe button.
                "List-Unsubscribe": f"<{unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )

    # The two confirmations go to an address anyone may have typed: their text is fixed (the
    # site's own names and a signed link), never anything the poster wrote, not even the slug;
    # the page behind the link shows the comment to whoever opens it from that mailbox.

    def confirmation(self, comment: Comment, slug: str, key: str) -> EmailMessage:
        """COMMENTD_MODERATION=known: a known address wrote from a browser without its proof."""
        assert comment.commenter_id is not None
        token = links.confirmation_token(
            self.secret,
            links.ConfirmationLink(
                comment.id,
                comment.commenter_id,
                links.new_nonce(),
                links.comment_stamp(comment),
            ),
        )
        parts = self._render(
            "confirm_email",
            site=self.site,
            confirm_url=self.url(f"/email/confirm/{token}"),
            link_days=self.settings.action_link_days,
        )
        return self._compose(
            to=comment.email, subject=f"Confirm your comment on {self.site}", parts=parts, key=key
        )

    def notices_confirmation(self, comment: Comment, key: str) -> EmailMessage:
        """Double opt-in: does the address's owner want reply notices for this comment?"""
        assert comment.commenter_id is not None
        token = links.notices_token(
            self.secret,
            links.ConfirmationLink(
                comment.id, comment.commenter_id, links.new_nonce(), links.comment_stamp(comment)
            ),
        )
        if comment.notify and comment.notify_approved:
            what = "is approved or gets a reply"
        else:
            what = "gets a reply" if comment.notify else "is approved"
        parts = self._render(
            "confirm_notices",
            site=self.site,
            what=what,
            confirm_url=self.url(f"/email/notices/{token}"),
            link_days=self.settings.action_link_days,
            window_minutes=self.settings.confirm_email_minutes,
        )
        noun = "reply notices" if comment.notify else "email notices"
        subject = f"Confirm {noun} from {self.site}"
        return self._compose(to=comment.email, subject=subject, parts=parts, key=key)

    def approved_notice(self, comment: Comment, slug: str, key: str) -> EmailMessage:
        """ "Your comment was approved": to a proven address that asked for it on the form
        (templates/email/approved_notice.*), with the post's link when COMMENTD_POST_URL says."""
        post_url = self.post_url(slug)
        parts = self._render(
            "approved_notice",
            site=self.site,
            comment=comment,
            post_url=f"{post_url}#comment-{comment.id}" if post_url else None,
        )
        subject = f"Your comment on {self.site} was approved"
        return self._compose(to=comment.email, subject=subject, parts=parts, key=key)

    def privacy_link(self, email: str, kind: PrivacyKind, key: str) -> EmailMessage:
        """The link of a data export or erasure request, to the address it is about; fixed
        text (templates/email/privacy_link.*): anyone may have typed the address."""
        token = links.privacy_token(self.secret, links.PrivacyLink(email, kind, links.new_nonce()))
        parts = self._render(
            "privacy_link",
            site=self.site,
            erase=kind is PrivacyKind.ERASE,
            link_url=self.url(f"/email/privacy/{token}"),
            link_hours=links.PRIVACY_LINK_HOURS,
        )
        verb = "Erase" if kind is PrivacyKind.ERASE else "Download"
        subject = f"{verb} your comments on {self.site}"
        return self._compose(to=email, subject=subject, parts=parts, key=key)
