"""Inbound keywords: opt-out, opt-in and HELP, and plain-language opt-outs."""

import time

import pytest

from notifications.keywords import (
    HELP_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    TWILIO_HANDLED_OPT_OUT,
    Classified,
    Intent,
    classify,
)


def casings(word: str) -> list[str]:
    mixed = "".join(
        char.upper() if i % 2 else char.lower() for i, char in enumerate(word)
    )
    return [word.upper(), word.lower(), word.title(), mixed]


# --- Bare keywords -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        (f"{pad}{spelled}{pad}", keyword)
        for keyword in sorted(OPT_OUT_KEYWORDS)
        for spelled in casings(keyword)
        for pad in ("", " ", "  \n", "\t", "\u00a0", "\u2003")
    ],
)
def test_every_opt_out_keyword_in_any_case_with_spaces_is_an_opt_out(body, keyword):
    assert classify(body) == Classified(Intent.OPT_OUT, keyword, plain_language=False)


@pytest.mark.parametrize(
    "body",
    [
        "STOP!!",
        " stop. ",
        "Stop 🙏",
        "🛑 STOP 🛑",
        "Stop 👍🏽",
        '"stop"',
        "stop\n\n",
        "ＳＴＯＰ",
        "please stop",
        "stop please",
        "Stop, please!",
        "Please STOP. Thank you",
        "stop thank u",
        "STOP STOP STOP",
    ],
)
def test_stop_with_punctuation_emoji_or_courtesy_is_still_stop(body):
    assert classify(body) == Classified(Intent.OPT_OUT, "STOP", plain_language=False)


@pytest.mark.parametrize(
    ("body", "keyword"),
    [("opt-out", "OPT OUT"), ("Opt out", "OPT OUT"), ("stop all", "STOPALL")],
)
def test_spelling_variants_of_multi_word_keywords_match(body, keyword):
    assert classify(body) == Classified(Intent.OPT_OUT, keyword)


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        (spelled, keyword)
        for keyword in sorted(OPT_IN_KEYWORDS)
        for spelled in (*casings(keyword), f" {keyword.lower()}! ")
    ],
)
def test_opt_in_keywords_alone_are_an_opt_in(body, keyword):
    assert classify(body) == Classified(Intent.OPT_IN, keyword)


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        (spelled, keyword)
        for keyword in sorted(HELP_KEYWORDS)
        for spelled in (*casings(keyword), f" {keyword.lower()}? ")
    ],
)
def test_help_keywords_alone_are_a_help_request(body, keyword):
    assert classify(body) == Classified(Intent.HELP, keyword)


def test_twilio_blocks_every_single_word_opt_out_keyword_and_no_other():
    assert {k for k in OPT_OUT_KEYWORDS if " " not in k} == TWILIO_HANDLED_OPT_OUT


# --- Twilio's OptOutType -----------------------------------------------------------


@pytest.mark.parametrize(
    ("opt_out_type", "intent"),
    [
        ("STOP", Intent.OPT_OUT),
        ("stop", Intent.OPT_OUT),
        ("START", Intent.OPT_IN),
        (" Help ", Intent.HELP),
    ],
)
def test_twilio_opt_out_type_wins_over_the_body(opt_out_type, intent):
    # Given a custom Advanced Opt-Out keyword we do not know ourselves
    found = classify("Arret", opt_out_type)

    assert found == Classified(intent, "ARRET")


def test_twilio_opt_out_type_keeps_our_keyword_when_both_agree():
    assert classify("stop!", "STOP") == Classified(Intent.OPT_OUT, "STOP")


def test_unknown_twilio_opt_out_type_is_ignored():
    assert classify("hello", "SOMETHING") == Classified(Intent.NONE, "")


# --- Plain language ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "stop texting me",
        "please stop messaging me",
        "don't text me",
        "Don’t text me!",
        "do not contact me",
        "dont text me anymore",
        "no more texts",
        "remove me from your list",
        "take me off your list",
        "unsubscribe me",
        "opt me out",
        "leave me alone",
        "I want to opt-out",
        "stop sending me messages",
        "quit texting",
        "STOP TEXTING ME!!! 🙏",
        "Can you please stop calling me",
        "I want you to stop texting me",
        "Who is this? Stop texting me.",
        "stop the texts",
        "don't call me again",
        "remove my number",
        "how do I unsubscribe",
        "I don't want any more messages",
        "we dont want texts anymore",
        "STOP. Wrong number",
        "Please stop! Who is this?",
    ],
)
def test_plain_language_opt_outs_are_recognised(body):
    assert classify(body) == Classified(Intent.OPT_OUT, "", plain_language=True)


@pytest.mark.parametrize(
    "body",
    [
        "I need help to stop drinking",
        "how do I stop using",
        "I want to quit meth",
        "can you help me end this",
        "yes I can talk at 3",
        "my son won't stop using",
        "stop by tomorrow?",
        "is the program going to end soon",
        "I can't stop",
        "yes please call me",
        "help me",
        "my son won't stop texting me",
        "I need to stop texting my dealer",
        "please don't stop texting me",
        "don't call me, text me instead",
        "don't text me after 9pm",
        "I don't text, call me",
        "my family won't leave me alone about rehab",
        "can you take me off suboxone",
        "no more meth for me",
        "I quit drinking last week. Can I still start?",
        "Cancel. Can we do Friday instead?",
        "Stop, I'm in a meeting, call me at 5",
        "thank you",
    ],
)
def test_ordinary_messages_about_treatment_are_not_opt_outs(body):
    assert classify(body).intent == Intent.NONE


def test_help_alone_is_help_not_an_opt_out():
    assert classify("help") == Classified(Intent.HELP, "HELP")


def test_yes_alone_is_an_opt_in():
    assert classify("Yes") == Classified(Intent.OPT_IN, "YES")


@pytest.mark.parametrize("body", ["", "   ", "\n", "🙏", "..."])
def test_empty_or_symbol_only_bodies_are_nothing(body):
    assert classify(body) == Classified(Intent.NONE, "", plain_language=False)


# --- Size --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "stop " * 320,
        "a" * 1600,
        "don't " * 266,
        "please " * 228,
        "stop texting " * 123,
        "!" * 1600,
        "I need help to stop " * 80,
    ],
)
def test_long_bodies_are_classified_quickly(body):
    started = time.perf_counter()

    classify(body)

    assert time.perf_counter() - started < 0.1
