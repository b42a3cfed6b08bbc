# ruff: noqa: RUF001  (the examples are in Greek, Cyrillic, Turkish … on purpose)
"""What the filter can read of a comment that is not plain English (issue 17): the writing
system it uses, whole words in scripts with combining marks, emoji, Chinese and Japanese names
by pairs of characters, amounts in CJK currencies, a numeric email's length. Every example is
made up here; none is from the dev corpus."""

from __future__ import annotations

import re

import pytest

from commentd.spam import SpamRules, filter_verdict
from commentd.spam.features import _word_token, extract, is_who, only_clears
from commentd.spam.learned import SpamFilter
from tests.spam_lessons import Lesson, lessons
from tests.unit.test_spam_precision import trained

RULES = SpamRules()  # the shipped thresholds
OLD_WORD = re.compile(r"[^\W_]+(?:['\u2019.][^\W_]+)*")  # the word pattern lessons were taught with


@pytest.mark.parametrize(
    ("body", "script"),
    [
        ("Dzięki, spróbuję jutro.", "script:latin-ext"),
        ("Schöner Beitrag, danke!", "script:latin-ext"),
        ("Teşekkürler, çok işime yaradı.", "script:latin-ext"),
        ("Спасибо, очень полезно.", "script:cyrillic"),
        ("Ευχαριστώ πολύ!", "script:greek"),
        ("תודה רבה על המאמר", "script:hebrew"),
        ("شكرا على المقال", "script:arabic"),
        ("बहुत अच्छा लेख", "script:devanagari"),
        ("ขอบคุณมากครับ", "script:thai"),
        ("정말 유용한 글이에요", "script:hangul"),
        ("ありがとう", "script:kana"),
        ("谢谢分享", "script:han"),
    ],
)
def test_the_writing_system_is_one_feature(body: str, script: str) -> None:
    scripts = {feature for feature in extract(body) if feature.startswith("script:")}

    assert scripts == {script}
    assert not is_who(script)  # it is what was written: it counts in the text's evidence


def test_japanese_uses_two_scripts_and_plain_english_none() -> None:
    assert {"script:kana", "script:han"} <= extract("週末に試してみます")
    for english in ("Thanks, this helped!", "did it at 6:30 - 10/10 :)", "x" * 3000):
        assert not any(feature.startswith("script:") for feature in extract(english))


# Three made-up comments each in Polish, German and Greek, from readers with a blog of their own
# (has a website, email on its domain: who-features that spam has too), as lessons of "ham".
FOREIGN_READERS = [
    ("pl", "Super przepis, upiekłam dwa bochenki w sobotę."),
    ("pl", "Świetne zdjęcia, pozdrawiam z Krakowa."),
    ("pl", "Czy można użyć mąki żytniej?"),
    ("de", "Danke für die Erklärung, hat gut geklappt."),
    ("de", "Gibt es eine Alternative für Hefe? Grüße aus Köln."),
    ("de", "Sehr hilfreich, ich probiere es nächste Woche aus."),
    ("el", "Ευχαριστώ για τη συνταγή, βγήκε τέλεια."),
    ("el", "Πολύ χρήσιμο άρθρο, το μοιράστηκα."),
    ("el", "Μπορώ να βάλω λιγότερη ζάχαρη;"),
]
NEW_COMMENTS = [
    pytest.param("pl", "Pomidory dojrzewają, słoiki gotowe, dziękuję!", id="polish"),
    pytest.param("de", "Der Sauerteig blubbert endlich, große Freude!", id="german"),
    pytest.param("el", "Φέτος οι ντομάτες ωρίμασαν νωρίς, χαρά μεγάλη!", id="greek"),
]


def with_readers(base: list[Lesson], languages: set[str]) -> SpamFilter:
    blogger = [
        Lesson(False, f"Reader {n}", f"me@reader{n}.example", f"https://reader{n}.example", body)
        for n, (lang, body) in enumerate(FOREIGN_READERS)
        if lang in languages
    ]
    return trained(base + blogger)


@pytest.mark.parametrize(("lang", "body"), NEW_COMMENTS)
def test_a_known_script_speaks_when_none_of_the_words_are_known(lang: str, body: str) -> None:
    # A new comment from another blogger, in a language the site's readers wrote before, with
    # no word the filter has seen: before scripts were features, the who-features alone spoke.
    base = lessons(300)
    features = extract(body, "Ola", "https://ola-notes.example", "ola@ola-notes.example")
    scripts = {f for f in features if f.startswith("script:")}
    assert scripts
    taught = with_readers(base, {lang})

    judgement = taught.judge(features)
    without_script = taught.judge(features - scripts)
    unknown = trained(base).judge(features)  # a site with no reader in this language yet

    assert judgement is not None and without_script is not None and unknown is not None
    assert without_script.score >= RULES.hold_threshold  # held on who-features alone
    # The script is a clue of the text, and it says "our readers write so".
    assert judgement.clues == without_script.clues + len(scripts)
    assert judgement.evidence is not None and without_script.evidence is not None
    assert judgement.evidence < without_script.evidence
    assert judgement.score < without_script.score - 0.1
    # Learned, not built in: where no reader wrote in this script, it says nothing.
    assert unknown.score >= without_script.score


@pytest.mark.parametrize(
    "body",
    [
        "Спасибо за рецепт, испекла вчера, очень вкусно получилось.",
        "Отличная статья, сохранила себе в закладки.",
    ],
)
def test_a_script_seen_only_in_spam_says_nothing_against_a_reader(body: str) -> None:
    # Every Cyrillic lesson was spam; a Russian reader's words are all new to the filter. Her
    # language is no evidence against her: the script may only lean towards ham.
    spam_in_russian = [
        Lesson(
            True,
            "Дешевые кредиты",
            f"sales{n}@credit-fast.example",
            "https://credit-fast.example",
            text,
        )
        for n, text in enumerate(
            [
                "Быстрые кредиты без проверки, деньги сегодня, звоните!",
                "Лучшее онлайн казино, бонус за регистрацию, бесплатные вращения.",
                "Купить подписчиков недорого, гарантия результата.",
                "Заработок в интернете от 5000 в день, пишите в телеграм.",
            ]
        )
    ]
    spam_filter = trained(lessons(300) + spam_in_russian)
    assert spam_filter.counts("script:cyrillic") == (4, 0)
    features = extract(body, "Ольга", None, "olga@mailbox.example")
    assert "script:cyrillic" in features

    judgement = spam_filter.judge(features)
    without_script = spam_filter.judge(features - {"script:cyrillic"})

    assert judgement is not None and without_script is not None
    # The same clues, so the same score (but for the order of a float sum over a set).
    assert judgement.clues == without_script.clues
    assert judgement.score == pytest.approx(without_script.score)
    assert judgement.score < RULES.hold_threshold, judgement
    assert filter_verdict(judgement, RULES) is None


def test_only_the_script_is_one_sided() -> None:
    assert only_clears("script:han") and only_clears("script:latin-ext")
    assert not any(map(only_clears, ["casino", "name:casino", "has:website", "links:3", "🔥"]))


@pytest.mark.parametrize(
    ("body", "whole"),
    [
        ("बहुत बढ़िया लेख", {"बहुत", "बढ़िया", "लेख"}),  # Hindi
        ("ধন্যবাদ, খুব ভালো লেগেছে", {"ধন্যবাদ", "খুব", "ভালো", "লেগেছে"}),  # Bengali
        ("ขอบคุณ ครับ", {"ขอบคุณ", "ครับ"}),  # Thai
        ("நன்றி நண்பரே", {"நன்றி", "நண்பரே"}),  # Tamil
    ],
)
def test_words_keep_their_combining_marks(body: str, whole: set[str]) -> None:
    features = extract(body)

    assert whole <= features
    # The pieces the old word pattern gave stay too: a lesson taught before is untaught whole.
    assert set(OLD_WORD.findall(body.lower())) <= features


def test_words_without_marks_are_as_before() -> None:
    for body in ("don't stop, see example.com", "café ąę żółw", "jianzhi_888 ok", "Ünïcödé"):
        words = {f for f in extract(body) if " " not in f and ":" not in f}
        assert words == {_word_token(w) for w in OLD_WORD.findall(body.lower())}, body


@pytest.mark.parametrize(
    ("body", "emoji"),
    [
        ("☀️🥵💦", {"☀", "🥵", "💦"}),
        ("did it today 💪 thx", {"💪"}),
        ("🏃‍♀️🏃‍♀️ day 3 done", {"🏃", "♀"}),
        ("🔥🔥🔥 FOLLOWERS 🚀", {"🔥", "🚀"}),
    ],
)
def test_emoji_are_features(body: str, emoji: set[str]) -> None:
    features = extract(body)

    assert emoji <= features
    assert "\ufe0f" not in features and "\u200d" not in features  # presentation, not meaning


def test_an_emoji_only_comment_is_judged_by_its_emoji() -> None:
    # Readers cheer with emoji here; an emoji-only comment used to give the filter no text.
    cheers = ["🎉👏", "👏👏🙌", "🙌🎉", "🎉🎉👏", "👏🙌"]
    taught = trained(
        lessons(300)
        + [
            Lesson(False, "Fan", f"fan{n}@post.example", None, body)
            for n, body in enumerate(cheers)
        ]
    )

    judgement = taught.judge(extract("🙌👏", "Kim", None, "kim@post.example"))

    assert judgement is not None and judgement.clues >= 2
    assert judgement.score < RULES.hold_threshold


@pytest.mark.parametrize(
    ("name", "pairs"),
    [
        ("在家赚钱", {"name:在家", "name:家赚", "name:赚钱"}),
        ("兼职赚钱", {"name:兼职", "name:职赚", "name:赚钱"}),
        ("佐藤 美咲", {"name:佐藤", "name:美咲"}),
        ("キャッシング", {"name:キャ", "name:ング"}),
    ],
)
def test_chinese_and_japanese_names_give_pairs(name: str, pairs: set[str]) -> None:
    features = extract("hello", name)

    assert pairs <= features
    assert f"name:{OLD_WORD.findall(name.lower())[0]}" in features  # the whole run, as before
    assert all(is_who(feature) for feature in pairs)


def test_two_keyword_names_share_their_words() -> None:
    shared = extract("x", "在家赚钱") & extract("x", "兼职赚钱")

    assert "name:赚钱" in shared


@pytest.mark.parametrize(
    ("first", "second"),
    [("2847195900@a.example", "1111111111@b.example"), ("123456@a.example", "654321@c.example")],
)
def test_an_all_digit_email_user_is_a_number_by_its_length(first: str, second: str) -> None:
    length = len(first.partition("@")[0])
    for email in (first, second):
        assert f"emailuser:#{length}" in extract("hi", email=email)


def test_a_mixed_email_user_is_not_a_number() -> None:
    for email in ("anna1984@a.example", "1984anna@a.example", "a.b@a.example"):
        assert not any(f.startswith("emailuser:#") for f in extract("hi", email=email)), email


@pytest.mark.parametrize(
    "body",
    [
        "日赚300元以上",
        "每天收入500块",
        "一泊8000円でした",
        "하루 5000원",
        "save $50",
        "only 20 usd",
    ],
)
def test_amounts_in_cjk_currencies_are_money(body: str) -> None:
    assert "has:money" in extract(body)


@pytest.mark.parametrize("body", ["一个月瘦20斤", "30 minutes", "第3天", "in 2024 we"])
def test_numbers_that_are_not_amounts_are_not_money(body: str) -> None:
    assert "has:money" not in extract(body)
