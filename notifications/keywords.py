"""Classify an inbound SMS body as an opt-out, an opt-in, a HELP request or none.

Keywords count only when they are the whole message. Plain-language opt-outs
("stop texting me") are recognised too, because consent may be revoked by any
reasonable means; but the people who text us talk about stopping and quitting
drugs all the time, so a phrase counts only when it is about contacting them.
"""

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Intent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    NONE = "none"


OPT_OUT_KEYWORDS = frozenset(
    {
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "OPT OUT",
    }
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
# The single-word bodies Twilio blocks on its own by default; anything else
# (including "please stop") we must record and honour ourselves.
TWILIO_HANDLED_OPT_OUT = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)

# Twilio Advanced Opt-Out's `OptOutType` values.
OPT_OUT_TYPES = {"STOP": Intent.OPT_OUT, "START": Intent.OPT_IN, "HELP": Intent.HELP}


@dataclass(frozen=True)
class Classified:
    """What an inbound body asks for, and how we recognised it."""

    intent: Intent
    keyword: str = ""
    plain_language: bool = False


NOTHING = Classified(Intent.NONE)

# Courtesy words around an opt-out keyword ("stop please") leave it a keyword;
# around HELP or YES they do not, since "yes please call me" is a conversation.
COURTESY = frozenset({"please", "pls", "plz", "thanks", "thx", "ty"})
THANK_YOU = (("thank", "you"), ("thank", "u"))
# A first sentence that is only one of these ("STOP. Wrong number") is an
# opt-out; CANCEL, END and QUIT are left out, as in "Cancel. Can we do Friday?".
LEADING_OPT_OUT = frozenset({"STOP", "STOPALL", "REVOKE"})

# --- Plain-language opt-outs -------------------------------------------------------
#
# A phrase is a sequence of slots, each slot the set of words it accepts. Around
# the phrase, within one clause, only a few words may stand: before it requests
# and politeness ("can you please ..."), after it whom and how ("... me anymore").
# Anything else ("my son won't stop texting me", "stop texting my dealer") means
# the message is about something else.

STOP_VERBS = frozenset({"stop", "quit", "cease"})
CONTACTING = frozenset(
    {
        "texting",
        "txting",
        "messaging",
        "msging",
        "contacting",
        "calling",
        "emailing",
        "sending",
        "bothering",
        "harassing",
        "spamming",
    }
)
CONTACT_VERBS = frozenset(
    {"text", "txt", "message", "msg", "contact", "email", "sms", "send", "bother"}
)
CONTACT_NOUNS = frozenset(
    {
        "text",
        "texts",
        "txts",
        "texting",
        "message",
        "messages",
        "msgs",
        "sms",
        "calls",
        "contact",
        "emails",
        "spam",
    }
)
DETERMINERS = frozenset({"the", "these", "those", "this", "all", "your", "ur"})
ME = frozenset({"me", "us"})
MY = frozenset({"my"})
MY_DETAILS = frozenset({"number", "phone", "cell", "info", "name", "contact"})

BEFORE_OK = frozenset(
    {
        "please",
        "pls",
        "plz",
        "kindly",
        "just",
        "can",
        "could",
        "would",
        "will",
        "you",
        "u",
        "i",
        "we",
        "want",
        "wish",
        "need",
        "ask",
        "asked",
        "am",
        "asking",
        "told",
        "said",
        "to",
        "so",
        "and",
        "now",
        "ok",
        "okay",
        "hey",
        "hi",
        "yo",
        "seriously",
        "already",
        "guys",
        "yall",
        "id",
        "like",
    }
)
SUBJECTS = frozenset({"i", "we", "he", "she", "they", "it"})
AFTER_OK = frozenset(
    {
        "me",
        "us",
        "my",
        "this",
        "number",
        "phone",
        "cell",
        "anymore",
        "again",
        "ever",
        "please",
        "pls",
        "plz",
        "now",
        "thanks",
        "thank",
        "you",
        "thx",
        "ty",
        "ok",
        "okay",
        "from",
        "off",
        "of",
        "on",
        "the",
        "your",
        "ur",
        "list",
        "lists",
        "contacts",
        "database",
        "system",
        "mailing",
        "texting",
        "text",
        "texts",
        "message",
        "messages",
        "msgs",
        "these",
        "those",
        "stuff",
        "spam",
        "all",
        "any",
        "more",
    }
)


@dataclass(frozen=True)
class Phrase:
    """A plain-language opt-out and where it may stand in a clause."""

    slots: tuple[frozenset[str], ...]
    # Unmistakable words ("unsubscribe") count wherever they stand, unless negated.
    anywhere: bool = False
    # A word the rest of the clause must contain ("don't call me *again*").
    needs_after: frozenset[str] = frozenset()
    # "I don't want texts" is about us; "I don't text" is about the writer.
    may_follow_subject: bool = False


def _words(*words: str) -> tuple[frozenset[str], ...]:
    return tuple(frozenset({word}) for word in words)


NEGATIONS: tuple[tuple[frozenset[str], ...], ...] = (
    _words("dont"),
    _words("never"),
    _words("do", "not"),
    _words("dont", "ever"),
    _words("do", "not", "ever"),
)

PHRASES: tuple[Phrase, ...] = (
    Phrase((STOP_VERBS, CONTACTING)),
    Phrase((STOP_VERBS, CONTACT_NOUNS)),
    Phrase((STOP_VERBS, DETERMINERS, CONTACT_NOUNS)),
    *(Phrase((*negation, CONTACT_VERBS)) for negation in NEGATIONS),
    # People often ask not to be called so that we text instead.
    *(
        Phrase(
            (*negation, frozenset({"call"})),
            needs_after=frozenset({"again", "anymore", "ever"}),
        )
        for negation in NEGATIONS
    ),
    *(
        Phrase(
            (*_words(*negation, "want", *amount), CONTACT_NOUNS),
            may_follow_subject=True,
        )
        for negation in (("dont",), ("do", "not"))
        for amount in ((), ("any",), ("any", "more"), ("anymore",))
    ),
    Phrase((*_words("no", "more"), CONTACT_NOUNS)),
    Phrase((frozenset({"remove", "delete"}), ME)),
    Phrase((frozenset({"remove", "delete"}), MY, MY_DETAILS)),
    Phrase((frozenset({"take"}), ME, frozenset({"off"}))),
    Phrase((frozenset({"take"}), MY, MY_DETAILS, frozenset({"off"}))),
    Phrase(_words("leave", "me", "alone")),
    Phrase(_words("unsubscribe"), anywhere=True),
    Phrase(_words("unsub"), anywhere=True),
    Phrase(_words("optout"), anywhere=True),
    Phrase(_words("opt", "out"), anywhere=True),
    Phrase(_words("opt", "me", "out"), anywhere=True),
)
NEGATION_WORDS = frozenset({"dont", "not", "never", "wont", "cant", "doesnt"})

SENTENCE_BREAKS = frozenset(".!?\n\r\u2028\u2029")
CLAUSE_BREAKS = SENTENCE_BREAKS | frozenset(";,:")
APOSTROPHES = frozenset("'`\u2018\u2019\u02bc")


def classify(body: str, opt_out_type: str = "") -> Classified:
    """Tell what an inbound body asks for; Twilio's `OptOutType` wins when given."""
    sentences = _sentences(body)
    clauses = [clause for sentence in sentences for clause in sentence]
    words = [word for clause in clauses for word in clause]
    keyword = _keyword(words)
    twilio_intent = OPT_OUT_TYPES.get(opt_out_type.strip().upper())
    if twilio_intent is not None:
        # Advanced Opt-Out may have matched a custom keyword we do not know.
        if keyword is None or keyword.intent != twilio_intent:
            return Classified(twilio_intent, " ".join(words).upper())
        return keyword
    if keyword is not None:
        return keyword
    if any(_has_opt_out_phrase(clause) for clause in clauses) or (
        sentences and _leads_with_opt_out(sentences[0])
    ):
        return Classified(Intent.OPT_OUT, plain_language=True)
    return NOTHING


def _keyword(words: Sequence[str]) -> Classified | None:
    spaced = " ".join(words).upper()
    compact = spaced.replace(" ", "")
    for keywords, intent in (
        (HELP_KEYWORDS, Intent.HELP),
        (OPT_IN_KEYWORDS, Intent.OPT_IN),
        (OPT_OUT_KEYWORDS, Intent.OPT_OUT),
    ):
        if spaced in keywords:
            return Classified(intent, spaced)
        if compact in keywords:
            return Classified(intent, compact)
    core = _strip_courtesy(words)
    if core and len(core) < len(words):
        spaced = " ".join(core).upper()
        for candidate in (spaced, spaced.replace(" ", "")):
            if candidate in OPT_OUT_KEYWORDS:
                return Classified(Intent.OPT_OUT, candidate)
    # "STOP STOP STOP" is as clear as one STOP.
    upper = {word.upper() for word in core}
    if len(core) > 1 and upper <= OPT_OUT_KEYWORDS:
        return Classified(Intent.OPT_OUT, core[0].upper())
    return None


def _strip_courtesy(words: Sequence[str]) -> list[str]:
    start, end = 0, len(words)
    while start < end:
        if words[start] in COURTESY:
            start += 1
        elif tuple(words[start : start + 2]) in THANK_YOU:
            start += 2
        else:
            break
    while end > start:
        if words[end - 1] in COURTESY:
            end -= 1
        elif end - start >= 2 and tuple(words[end - 2 : end]) in THANK_YOU:
            end -= 2
        else:
            break
    return list(words[start:end])


def _leads_with_opt_out(sentence: Sequence[Sequence[str]]) -> bool:
    words = _strip_courtesy([word for clause in sentence for word in clause])
    return " ".join(words).upper() in LEADING_OPT_OUT


def _has_opt_out_phrase(clause: Sequence[str]) -> bool:
    return any(
        _phrase_at(phrase, clause, start)
        for start in range(len(clause))
        for phrase in PHRASES
    )


def _phrase_at(phrase: Phrase, clause: Sequence[str], start: int) -> bool:
    end = start + len(phrase.slots)
    if end > len(clause):
        return False
    if not all(
        word in slot for word, slot in zip(clause[start:end], phrase.slots, strict=True)
    ):
        return False
    before, after = clause[:start], clause[end:]
    if phrase.anywhere:
        return not NEGATION_WORDS.intersection(before)
    if phrase.needs_after and not phrase.needs_after.intersection(after):
        return False
    return (
        all(word in BEFORE_OK for word in before)
        and (phrase.may_follow_subject or not (before and before[-1] in SUBJECTS))
        and all(word in AFTER_OK for word in after)
    )


def _sentences(body: str) -> list[list[list[str]]]:
    """Split `body` into sentences of clauses of lower-case words, without symbols."""
    sentences: list[list[list[str]]] = []
    sentence: list[list[str]] = []
    clause: list[str] = []
    word: list[str] = []
    # NFKC folds full-width and styled letters ("ＳＴＯＰ") into plain ones.
    for char in unicodedata.normalize("NFKC", body):
        if char.isalnum():
            word.append(char)
            continue
        if char in APOSTROPHES:
            # "don't" and "dont" are one word.
            continue
        if word:
            clause.append("".join(word).casefold())
            word = []
        if char in CLAUSE_BREAKS and clause:
            sentence.append(clause)
            clause = []
        if char in SENTENCE_BREAKS and sentence:
            sentences.append(sentence)
            sentence = []
    if word:
        clause.append("".join(word).casefold())
    if clause:
        sentence.append(clause)
    if sentence:
        sentences.append(sentence)
    return sentences
