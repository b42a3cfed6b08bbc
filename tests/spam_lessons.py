"""A few hundred lessons for the learned filter, made up here with a fixed seed: readers'
comments on a small blog (cooking, running, money, gardening) and the spam such a blog gets
(pharma, casino, crypto, loans, SEO), each with the name, email and website its kind gives.

Readers and spammers share free-mail domains (`freemail.example`, `inbox.example`), as they do
in life: the email domain alone cannot tell them apart. No text here is from the dev corpus.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SEED = 20261130
SHARED_MAIL = ("freemail.example", "inbox.example", "example.com")


@dataclass(frozen=True)
class Lesson:
    """One comment and what the author decided about it."""

    is_spam: bool
    name: str
    email: str
    website: str | None
    body: str


_HAM_OPENERS = [
    "Thanks for writing this up.",
    "I tried this last weekend.",
    "Quick question about the second step.",
    "My grandmother did it almost the same way.",
    "Been reading for a year, first comment.",
    "Not sure I agree with the part about timing.",
    "This finally made it click for me.",
    "We made it with the kids on Sunday.",
]
_HAM_MIDDLES = [
    "the starter doubled in about six hours on the counter",
    "my knees felt much better after two weeks of the stretches",
    "we moved our emergency fund to a separate account like you said",
    "the tomatoes in the raised bed did better than the ones in pots",
    "the lentil soup needed a bit more salt but was lovely",
    "my long run pace dropped by twenty seconds per mile",
    "I kept the budget envelopes in a shoebox and it worked",
    "the slugs stayed away from the lettuce with the copper tape",
    "I used a cast iron pan instead of the dutch oven",
    "my daughter asked for seconds, which never happens",
]
_HAM_CLOSERS = [
    "Would you do anything different in winter?",
    "Looking forward to the next post.",
    "Cheers from a rainy garden.",
    "Does it matter if the flour is wholemeal?",
    "Keep them coming!",
    "How long does it keep in the fridge?",
    "Thanks again.",
    "",
]
_HAM_NAMES = ["Anna", "Tom Reid", "maria", "Kofi Mensah", "Jules", "Priya S.", "Dan", "Lotte"]
_HAM_MAIL = ["mailbox.example", "post.example", "letterbox.example", *SHARED_MAIL]

_SPAM_PITCHES = [
    "Buy cheap viagra and cialis online without prescription, discreet shipping",
    "Best online casino bonus, free spins and instant withdrawals every day",
    "Double your bitcoin in 24 hours with our guaranteed crypto trading signals",
    "Fast payday loans approved in minutes, no credit check, cash today",
    "We sell high quality backlinks and SEO packages to rank your site first",
    "Lose weight fast with our keto pills, order now and get a free bottle",
    "Recover your lost crypto funds, our hackers get your money back guaranteed",
    "Cheap replica watches and designer bags outlet, huge discount sale",
]
_SPAM_HOOKS = [
    "Visit {site} now!!",
    "Click here: {site}",
    "Order today at {site} and save $50",
    "Contact us on WhatsApp +1 555 0142 or visit {site}",
    "Limited offer, check {site}",
]
# Spam borrows readers' words: a compliment or a question first, the pitch after.
_SPAM_OPENERS = [
    "Thank you, this helped me a lot!",
    "Great post, thanks for sharing.",
    "Is this safe? Our doctors answer every question.",
    "did it today 💪 thanks to this",
    "Watch the video: https://www.youtube.com/watch?v=x1y2z3",
    "Obrigado pelo post!",
]
_SPAM_NAMES = ["Cheap Pills Online", "Casino Bonus", "Crypto Expert", "Loan Agent", "SEO Services"]
_SPAM_SITES = [
    "cheap-pills-shop.example",
    "casino-bonus-vip.example",
    "crypto-signals-pro.example",
    "fast-cash-loans.example",
    "seo-backlinks-store.example",
    "keto-slim-direct.example",
    "fund-recovery-help.example",
    "replica-watches-outlet.example",
]
_SPAM_USERS = ["sales", "info", "office", "seo", "marketing"]


def lessons(count: int = 300, seed: int = SEED) -> list[Lesson]:
    """`count` lessons, 55% real comments, shuffled; the same every time for one seed."""
    rng = random.Random(seed)
    made: list[Lesson] = []
    for number in range(count):
        if number % 20 < 11:
            body = " ".join(
                part
                for part in (
                    rng.choice(_HAM_OPENERS),
                    rng.choice(_HAM_MIDDLES).capitalize() + ".",
                    rng.choice(_HAM_CLOSERS),
                )
                if part
            )
            name = rng.choice(_HAM_NAMES)
            user = name.split()[0].lower().strip(".") + str(rng.randrange(100))
            website = f"https://{user}-blog.example" if rng.random() < 0.2 else None
            made.append(Lesson(False, name, f"{user}@{rng.choice(_HAM_MAIL)}", website, body))
        else:
            site = rng.choice(_SPAM_SITES)
            body = f"{rng.choice(_SPAM_PITCHES)}. {rng.choice(_SPAM_HOOKS).format(site=site)}"
            if rng.random() < 0.5:
                body = f"{rng.choice(_SPAM_OPENERS)} {body}"
            if rng.random() < 0.5:
                body = body.replace(site, f"https://{site}")
            shared = rng.random() < 0.4  # a free-mail address, as readers use
            domain = rng.choice(SHARED_MAIL) if shared else site
            user = f"x{rng.randrange(10000)}" if shared else rng.choice(_SPAM_USERS)
            made.append(
                Lesson(True, rng.choice(_SPAM_NAMES), f"{user}@{domain}", f"https://{site}", body)
            )
    rng.shuffle(made)
    return made
