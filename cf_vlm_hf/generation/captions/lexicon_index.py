"""`Lexicon`: the rules editor's tables with the look-ups its functions need (nouns, phrases, plurals).

The default instance uses the tables of `lexicon.py`; pass other tables to cover another vocabulary, e.g.
``Lexicon(colors={**lexicon.COLOR_ALTERNATIVES, "teal": ("orange",)})``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import lexicon as lx
from .words import Word

MAX_PHRASE_WORDS = 5


@dataclass(frozen=True)
class NounMatch:
    """A noun (one or more words) of a caption: word indices ``first..last``, char span ``start..end``.

    ``group`` is its lexicon group (None for a word the lexicon does not know), ``singular`` its singular form,
    ``plural`` whether the caption has it in the plural.
    """

    first: int
    last: int
    start: int
    end: int
    singular: str
    plural: bool
    group: str | None = None

    @property
    def known(self) -> bool:
        return self.group is not None


def _plural(noun: str, irregular: dict[str, str]) -> str:
    if noun in irregular:
        return irregular[noun]
    *head, last = noun.split(" ")
    if head:
        return " ".join([*head, _plural(last, irregular)])
    if last.endswith(("s", "x", "z", "ch", "sh")):
        return last + "es"
    if last.endswith("y") and last[-2:-1] not in "aeiou":
        return last[:-1] + "ies"
    return last + "s"


@dataclass(frozen=True)
class Lexicon:
    """The tables of the rules editor (defaults: `cf_vlm_hf.generation.captions.lexicon`)."""

    colors: dict = field(default_factory=lambda: dict(lx.COLOR_ALTERNATIVES))
    sizes: dict = field(default_factory=lambda: dict(lx.SIZES))
    states: dict = field(default_factory=lambda: dict(lx.STATES))
    actions: dict = field(default_factory=lambda: dict(lx.ACTIONS))
    relations: dict = field(default_factory=lambda: dict(lx.RELATIONS))
    groups: dict = field(default_factory=lambda: dict(lx.OBJECT_GROUPS))
    irregular_plurals: dict = field(default_factory=lambda: dict(lx.IRREGULAR_PLURALS))

    def __post_init__(self):
        forms = {}
        for group, nouns in self.groups.items():
            for noun in nouns:
                forms.setdefault(tuple(noun.split(" ")), (group, noun, False))
                forms.setdefault(tuple(self.plural(noun).split(" ")), (group, noun, True))
        object.__setattr__(self, "_forms", forms)
        singulars = {plural: singular for singular, plural in self.irregular_plurals.items()}
        object.__setattr__(self, "_singulars", singulars)
        adjectives = set(self.colors) | set(self.sizes) | set(self.states)
        object.__setattr__(self, "_adjectives", frozenset(adjectives))

    def plural(self, noun: str) -> str:
        """The plural of a singular noun ("dog" -> "dogs", "man" -> "men", "hot dog" -> "hot dogs")."""
        return _plural(noun, self.irregular_plurals)

    def singular(self, word: str) -> str | None:
        """The singular of a plural-looking word ("boxes" -> "box"); None if it does not look plural."""
        if word in self._singulars:
            return self._singulars[word]
        for ending, replacement in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("xes", "x"), ("sses", "ss")):
            if word.endswith(ending) and len(word) > len(ending) + 1:
                return word[: -len(ending)] + replacement
        if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
            return word[:-1]
        return None

    def is_adjective(self, word: str) -> bool:
        return word in self._adjectives

    def is_action(self, word: str) -> bool:
        """An action word: in the action table, or an -ing form that is not a known non-action."""
        return word in self.actions or (word.endswith("ing") and len(word) >= 5 and word not in lx.NOT_ACTIONS)

    def phrases(self, ws: list[Word], table: dict) -> list[tuple[int, int, str]]:
        """Non-overlapping ``(first word, last word, key)`` of ``table``'s phrases in ``ws``, longest first."""
        lower = [w.lower for w in ws]
        taken = [False] * len(ws)
        found = []
        for length in range(MAX_PHRASE_WORDS, 0, -1):
            for i in range(len(ws) - length + 1):
                key = " ".join(lower[i : i + length])
                if key in table and not any(taken[i : i + length]):
                    found.append((i, i + length - 1, key))
                    taken[i : i + length] = [True] * length
        return sorted(found)

    def _known_at(self, ws: list[Word], i: int) -> NounMatch | None:
        lower = [w.lower for w in ws]
        for length in range(3, 0, -1):
            form = tuple(lower[i : i + length])
            if len(form) == length and form in self._forms:
                group, singular, plural = self._forms[form]
                last = i + length - 1
                return NounMatch(i, last, ws[i].start, ws[last].end, singular, plural, group)
        return None

    def nouns(self, ws: list[Word]) -> list[NounMatch]:
        """The known nouns of ``ws`` (longest match first, no overlaps), in order."""
        found, i = [], 0
        while i < len(ws):
            match = self._known_at(ws, i)
            if match is None:
                i += 1
            else:
                found.append(match)
                i = match.last + 1
        return found

    def _unknown_at(self, ws: list[Word], i: int) -> NounMatch:
        word = ws[i].lower
        singular = self.singular(word)
        return NounMatch(i, i, ws[i].start, ws[i].end, singular or word, singular is not None)

    def noun_after(self, ws: list[Word], i: int, reach: int = 3) -> NounMatch | None:
        """The noun that the modifier at word ``i`` describes ("car" for "red" in "a red old car"): the first
        known noun within ``reach`` words, else the first word that is no adjective, number or function word."""
        for j in range(i + 1, min(len(ws), i + 1 + reach)):
            known = self._known_at(ws, j)
            if known is not None:
                return known
            word = ws[j].lower
            if word in lx.FUNCTION_WORDS or word in lx.COPULAS:
                return None
            if not self.is_adjective(word) and word not in lx.NUMBERS and not self.is_action(word):
                return self._unknown_at(ws, j)
        return None

    def noun_before(self, ws: list[Word], i: int, reach: int = 4) -> NounMatch | None:
        """The closest noun before word ``i`` (within ``reach`` words): a known one, else the closest word that
        is no function word, adjective or action ("door" in "the door is open"); None if there is none."""
        fallback = None
        for j in range(i - 1, max(-1, i - 1 - reach), -1):
            for start in range(max(0, j - 2), j + 1):
                known = self._known_at(ws, start)
                if known is not None and known.last == j:
                    return known
            word = ws[j].lower
            if fallback is None and word.isalpha() and not (
                word in lx.FUNCTION_WORDS or word in lx.COPULAS or self.is_adjective(word) or self.is_action(word)
                or word in ("not", "there")
            ):
                fallback = self._unknown_at(ws, j)
        return fallback

    def counted_noun(self, ws: list[Word], i: int) -> NounMatch | None:
        """The noun counted by the number (or article) at word ``i``, past at most two adjectives."""
        j = i + 1
        while j < len(ws) and j <= i + 2 and self.is_adjective(ws[j].lower) and self._known_at(ws, j) is None:
            j += 1
        if j >= len(ws):
            return None
        known = self._known_at(ws, j)
        if known is not None:
            return known
        word = ws[j].lower
        if word in lx.FUNCTION_WORDS or word in lx.COPULAS or not word.isalpha():
            return None
        return self._unknown_at(ws, j)
