"""Emergency and safeguarding phrases: the built-in list, and how a phrase is found in text.

A phrase matches as whole words, ignoring case, and is tolerant of how people write:

* **Inflections.**  Each word of a phrase also matches its common endings (:func:`word_forms`):
  ``smell`` finds smells, smelled, smelling, smelly (and smelt); ``pipe`` finds pipes; ``leak``
  finds leaks, leaked, leaking; ``die`` finds dies, died, dying.
* **Filler words.**  Up to two short filler words (:data:`FILLER_WORDS`: a, the, is, of, my,
  has...) may stand between two words of a phrase: ``smell gas`` finds "smells of gas",
  ``gas leak`` finds "gas is leaking", ``water coming through`` finds "water is coming
  through".  Negations (no, not, never) are never fillers.
* **Spacing.**  Words may be separated by any spaces, line breaks or hyphens:
  ``carbon monoxide`` finds "carbon-monoxide"; ``self harm`` finds "self-harming".

Every match is explainable: :func:`find_phrases` returns the phrase and the words as they
appeared ("gas is leaking" for ``gas leak``), and the decision's reason names both.

The trade-off is deliberate: a false alarm costs an officer a minute; a missed gas leak or a
threat of suicide costs far more.  So the list errs towards matching, with two exceptions
where a word is far more often something else: ``fire`` does not match *fired* or *firing*
(dismissal: "I was fired in March"), and "fire" alone is not a phrase (fire doors and fire
safety are everyday repairs and complaints); the phrases about fire say what is happening
("on fire", "there is a fire", "fire alarm going off").  Organisations replace the list
with ``[emergency] phrases``; the same matching applies.

Text is scanned word by word (one regular expression splits it into words; phrases are then
looked up by their first word), so a megabyte of text costs tens of milliseconds whatever
the number of phrases.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_EMERGENCY_PHRASES: tuple[str, ...] = (
    # gas
    "smell gas",  # smells of gas, can smell gas, smelt gas
    "gas smell",
    "gas leak",  # gas is leaking, gas leaks
    "leak gas",  # leaking gas
    "gas escape",  # gas escaping
    "gas alarm",
    # carbon monoxide
    "carbon monoxide",  # carbon-monoxide alarm
    "CO alarm",
    "CO detector",
    # fire
    "on fire",
    "caught fire",
    "there is a fire",
    "there's a fire",
    "fire in",  # fire in the kitchen (never "fired in")
    "house fire",
    "flat fire",
    "kitchen fire",
    "electrical fire",
    "fire alarm going off",  # the fire alarms keep going off
    "smoke alarm going off",
    "smoke coming",
    "full of smoke",
    "smell burning",  # smells of burning
    "burning smell",
    # water
    "flood",  # floods, flooded, flooding
    "water pouring",  # water is pouring through the ceiling
    "water coming through",
    "water coming in",
    "water everywhere",
    "burst pipe",  # burst pipes
    "pipe burst",  # the pipe has burst
    "sewage",
    "sewer overflow",
    "toilet overflow",  # toilet is overflowing
    # no heating, hot water or power (the officer judges vulnerability)
    "no heating",
    "no heat",
    "no hot water",
    "no running water",
    "no electricity",
    # electrical
    "electric shock",
    "electrical shock",
    "sparking",
    "exposed wire",  # exposed wires
    "wire exposed",  # wires are exposed
    "live wire",
    # structural
    "collapse",  # collapsed, collapsing
    "ceiling fall",  # the ceiling is falling in
    "structural damage",
    # self-harm and suicide
    "suicide",
    "suicidal",
    "kill myself",
    "end my life",
    "take my own life",
    "end it all",
    "want to die",  # I want to die, wanted to die
    "don't want to live",
    "better off dead",
    "overdose",
    "self harm",  # self-harm, self-harming
    "hurt myself",  # hurting myself
    # abuse and people at risk
    "abuse",  # abused, abusing
    "domestic violence",
    "threaten to kill",  # threatened to kill
    "child at risk",
    "adult at risk",
    "in danger",
    "safeguarding",
    "not breathing",
)

FILLER_WORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "my",
        "our",
        "your",
        "his",
        "her",
        "their",
        "its",
        "this",
        "that",
        "it",
        "some",
        "of",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "has",
        "have",
        "had",
        "all",
        "very",
        "really",
        "still",
        "now",
        "just",
        "keep",
        "keeps",
        "kept",
        "like",
        "lots",
        "so",
    }
)
"""Words that may stand between two words of a phrase (at most :data:`MAX_FILLERS`)."""
MAX_FILLERS = 2

# Forms that mean something else far more often than the emergency (see the module docstring).
_OTHER_MEANINGS: dict[str, frozenset[str]] = {"fire": frozenset({"fired", "firing"})}
# The few irregular forms worth knowing.
_IRREGULAR: dict[str, frozenset[str]] = {
    "smell": frozenset({"smelt"}),
    "burn": frozenset({"burnt"}),
    "catch": frozenset({"caught"}),
    "caught": frozenset({"catch", "catches", "catching"}),
    "fall": frozenset({"fell", "fallen"}),
    "burst": frozenset({"bursting"}),
}
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_SEPARATOR = re.compile(r"[\s\-‐‑–]+")
_VOWELS = frozenset("aeiou")


def word_forms(word: str) -> frozenset[str]:
    """The forms of ``word`` (lower case) that match it: the word and its common endings.

    Words of one or two letters (no, in, CO) and words with digits match only as written;
    a word with an apostrophe also matches without it (don't, dont).
    """
    w = word.lower().replace("’", "'")
    if "'" in w:
        return frozenset({w, w.replace("'", "")})
    if len(w) <= 2 or not w.isalpha():
        return frozenset({w})
    if w.endswith("ie"):  # die: dies, died, dying
        forms = {w, w + "s", w + "d", w[:-2] + "ying"}
    elif w.endswith("e"):  # smoke: smokes, smoked, smoking, smoky
        forms = {w, w + "s", w + "d", w[:-1] + "ing", w[:-1] + "y"}
    elif w.endswith("y") and w[-2] not in _VOWELS:  # emergency: emergencies
        forms = {w, w[:-1] + "ies", w[:-1] + "ied", w + "ing"}
    else:  # leak: leaks, leaked, leaking, leaky; gas: gases, gassed
        forms = {w + ending for ending in ("", "s", "es", "ed", "ing", "y")}
        if w[-1] not in _VOWELS and w[-1] not in "wxy" and w[-2] in _VOWELS:
            forms |= {w + w[-1] + ending for ending in ("ed", "ing", "y")}
    forms |= _IRREGULAR.get(w, frozenset())
    return frozenset(forms) - _OTHER_MEANINGS.get(w, frozenset())


@dataclass(frozen=True)
class PhraseMatch:
    """A phrase found in text, with the words as they appeared there."""

    phrase: str
    found: str  # e.g. "gas is leaking" for the phrase "gas leak"

    def __str__(self) -> str:
        if self.found.casefold() == self.phrase.casefold():
            return f'"{self.found}"'
        return f'"{self.found}" ({self.phrase})'


@dataclass(frozen=True)
class _Phrase:
    text: str
    words: tuple[frozenset[str], ...]  # the forms each word may take


class PhraseMatcher:
    """Finds a fixed set of phrases in text (build once with :func:`matcher`)."""

    def __init__(self, phrases: Sequence[str]) -> None:
        self._by_first: dict[str, list[_Phrase]] = {}
        for text in phrases:
            words = tuple(word_forms(w) for w in _WORD.findall(text.lower()))
            if not words:
                continue  # nothing to look for (the configuration refuses such phrases)
            phrase = _Phrase(" ".join(text.split()), words)
            for form in words[0]:
                self._by_first.setdefault(form, []).append(phrase)

    def find(self, text: str, *, limit: int = 10) -> list[PhraseMatch]:
        """The phrases found in ``text``, each once, in order of appearance (at most
        ``limit``)."""
        by_first = self._by_first
        found: dict[str, PhraseMatch] = {}
        if not by_first:
            return []
        for word in _WORD.finditer(text):
            phrases = by_first.get(_normal(word.group()))
            if not phrases:
                continue
            for phrase in phrases:
                if phrase.text in found:
                    continue
                end = _match_rest(text, word.end(), phrase.words[1:])
                if end is not None:
                    appeared = " ".join(text[word.start() : end].split())
                    found[phrase.text] = PhraseMatch(phrase.text, appeared)
                    if len(found) >= limit:
                        return list(found.values())
        return list(found.values())


def _normal(word: str) -> str:
    return word.lower().replace("’", "'")


def _next_word(text: str, position: int) -> re.Match[str] | None:
    """The word after ``position`` if only spaces, line breaks or hyphens come between
    (punctuation means another sentence or clause)."""
    separator = _SEPARATOR.match(text, position)
    return None if separator is None else _WORD.match(text, separator.end())


def _match_rest(text: str, position: int, words: tuple[frozenset[str], ...]) -> int | None:
    """Where the rest of a phrase (``words``), following a word that ends at ``position``,
    ends in ``text``; None if it does not follow.  Up to :data:`MAX_FILLERS` filler words may
    come before each word."""
    for forms in words:
        for _ in range(MAX_FILLERS + 1):
            word = _next_word(text, position)
            if word is None:
                return None
            token = _normal(word.group())
            position = word.end()
            if token in forms:
                break
            if token not in FILLER_WORDS:
                return None
        else:
            return None
    return position


@lru_cache(maxsize=16)
def matcher(phrases: tuple[str, ...]) -> PhraseMatcher:
    """A :class:`PhraseMatcher` for ``phrases``, built once per set of phrases."""
    return PhraseMatcher(phrases)


def find_phrases(text: str, phrases: Sequence[str]) -> list[PhraseMatch]:
    """The emergency phrases in ``text`` (see the module docstring for how they match)."""
    return matcher(tuple(phrases)).find(text)
