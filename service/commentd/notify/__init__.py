"""Telling people and systems: the outbox, its worker and handlers, emails, SMTP, webhooks,
signed email links."""
