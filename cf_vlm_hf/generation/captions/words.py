"""Words of a caption with their character offsets, and how much one caption differs from another.

Editors splice replacements into the original string at these offsets, so everything they do not touch
(capitals, punctuation, spacing) stays exactly as it was.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
VOWEL_SOUND_EXCEPTIONS = ("uni", "use", "usu", "eu", "one", "once")  # consonant sound after a vowel letter
SILENT_H = ("hour", "honest", "honor", "heir")


@dataclass(frozen=True)
class Word:
    """One word of a text: its characters and its ``[start, end)`` offsets in the text."""

    text: str
    start: int
    end: int

    @property
    def lower(self) -> str:
        return self.text.lower()


def words(text: str) -> list[Word]:
    """The words of ``text`` (letters and digits, with an apostrophe suffix such as "'s"), in order."""
    return [Word(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def normalized(text: str) -> str:
    """Lower-case words joined by single spaces: two captions that differ only in case or punctuation are equal."""
    return " ".join(w.lower for w in words(text))


def match_case(template: str, word: str) -> str:
    """``word`` capitalised like ``template`` ("Red" -> "Blue", "RED" -> "BLUE", "red" -> "blue")."""
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def indefinite_article(next_word: str) -> str:
    """ "a" or "an" before ``next_word`` (by its first sound, with the common exceptions)."""
    lower = next_word.lower()
    if lower.startswith(SILENT_H):
        return "an"
    if lower[:1] in "aeiou" and not lower.startswith(VOWEL_SOUND_EXCEPTIONS):
        return "an"
    return "a"


def splice(text: str, start: int, end: int, replacement: str) -> str:
    """``text`` with ``text[start:end]`` replaced."""
    return text[:start] + replacement + text[end:]


def changed_span(source: str, edited: str) -> tuple[int, int, int]:
    """Where ``edited`` differs from ``source``, in whole words: ``(start, end, edited_end)``.

    ``source[start:end]`` was replaced by ``edited[start:edited_end]``, and the texts around them are equal:
    ``edited == source[:start] + edited[start:edited_end] + source[end:]``. An insertion has ``start == end``,
    a deletion ``start == edited_end``.
    """
    limit = min(len(source), len(edited))
    prefix = 0
    while prefix < limit and source[prefix] == edited[prefix]:
        prefix += 1
    while prefix > 0 and source[prefix - 1].isalnum():  # back to the start of the word
        prefix -= 1
    suffix = 0
    while suffix < limit - prefix and source[-1 - suffix] == edited[-1 - suffix]:
        suffix += 1

    def inside_word(text: str, cut: int) -> bool:
        return 0 < cut < len(text) and text[cut - 1].isalnum() and text[cut].isalnum()

    while suffix > 0 and (inside_word(source, len(source) - suffix) or inside_word(edited, len(edited) - suffix)):
        suffix -= 1  # forward to the end of the word
    return prefix, len(source) - suffix, len(edited) - suffix


def changed_words(source: str, edited: str) -> int:
    """How many words were replaced, inserted or deleted between the two texts (case-insensitive).

    A replacement of n words by m words counts max(n, m): "red" -> "dark blue" is 2, "a dog" -> "two dogs" 2.
    """
    a, b = [w.lower for w in words(source)], [w.lower for w in words(edited)]
    total = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            total += max(i2 - i1, j2 - j1)
    return total
