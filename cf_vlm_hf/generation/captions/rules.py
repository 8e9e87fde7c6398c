"""The rules editor: one function per edit type, over the built-in lexicon (`lexicon.py`).

Each ``edit_<type>(caption, lexicon)`` returns every rewrite of its type that the lexicon allows, in a fixed
order (by position, then by preference), as `CaptionEdit` objects that name the span they changed, the region
of the image it concerns and an instruction. A function returns ``[]`` when its type does not apply; it never
invents a change outside its tables. `RulesEditor` draws from these candidates with each row's seed.

>>> from cf_vlm_hf.generation.captions.rules import edit_color
>>> [e.caption for e in edit_color("A red car.")][:2]
['A blue car.', 'A green car.']
"""

from __future__ import annotations

from . import lexicon as lx
from .edit import CaptionEdit
from .lexicon_index import Lexicon
from .words import Word, indefinite_article, match_case, words

DEFAULT_LEXICON = Lexicon()


def _edit(caption: str, start: int, end: int, new: str, edit_type: str, target=None, instruction=None):
    return CaptionEdit(caption, caption[:start] + new + caption[end:], edit_type, start, end, new, target, instruction)


def _target(caption: str, ws: list[Word], i: int, lexicon: Lexicon) -> tuple[str | None, str | None]:
    """(phrase from word i to the noun it describes, that noun) — e.g. ("red car", "car"); (None, None)."""
    noun = lexicon.noun_after(ws, i)
    if noun is None:
        return None, None
    return caption[ws[i].start : noun.end], caption[noun.start : noun.end]


def _subject_before(caption: str, ws: list[Word], i: int, lexicon: Lexicon) -> str | None:
    """The closest noun before word i (the one doing the action or in the state), or None."""
    noun = lexicon.noun_before(ws, i)
    return None if noun is None else caption[noun.start : noun.end]


def _swap_words(caption, ws, table, edit_type, lexicon, instruction) -> list[CaptionEdit]:
    edits = []
    for i, w in enumerate(ws):
        for alternative in table.get(w.lower, ()):
            target, noun = _target(caption, ws, i, lexicon)
            if target is None:  # predicative ("the door is open"): the subject is the region
                noun = _subject_before(caption, ws, i, lexicon)
                target = noun
            edit = _edit(caption, w.start, w.end, match_case(w.text, alternative), edit_type, target,
                         instruction(f"the {noun}" if noun else "it", alternative, w.lower))
            edits.append(_with_article(edit, ws))
    return edits


def edit_color(caption: str, lexicon: Lexicon = DEFAULT_LEXICON) -> list[CaptionEdit]:
    """Each colour word replaced by each contrasting colour: "a red car" -> "a blue car"."""
    return _swap_words(caption, words(caption), lexicon.colors, "color", lexicon,
                       lambda noun, new, old: f"make {noun} {new}")


def edit_size(caption: str, lexicon: Lexicon = DEFAULT_LEXICON) -> list[CaptionEdit]:
    """Each size word replaced by its opposite: "a small dog" -> "a large dog"."""
    return _swap_words(caption, words(caption), lexicon.sizes, "size", lexicon,
                       lambda noun, new, old: f"make {noun} {new}")


def edit_attribute(caption: str, lexicon: Lexicon = DEFAULT_LEXICON) -> list[CaptionEdit]:
    """Each state word replaced by its antonym: "an open door" -> "a closed door" (article fixed)."""
    return _swap_words(caption, words(caption), lexicon.states, "attribute", lexicon,
                       lambda noun, new, old: f"make {noun} {new}")


def _with_article(edit: CaptionEdit, ws: list[Word]) -> CaptionEdit:
    """Re-agree "a"/"an" right before the changed word with the new word."""
    before = [w for w in ws if w.end <= edit.start]
    if not before or before[-1].lower not in ("a", "an") or edit.source[before[-1].end : edit.start].strip():
        return edit
    article = before[-1]
    wanted = match_case(article.text, indefinite_article(edit.new))
    if wanted == article.text:
        return edit
    new = wanted + edit.source[article.end : edit.start] + edit.new
    return _edit(edit.source, article.start, edit.end, new, edit.edit_type, edit.target, edit.instruction)


def edit_action(caption: str, lexicon: Lexicon = DEFAULT_LEXICON) -> list[CaptionEdit]:
    """Each action replaced by a contrasting one: "a man sitting on a bench" -> "a man standing on a bench"."""
    ws = words(caption)
    edits = []
    for i, w in enumerate(ws):
        for alternative in lexicon.actions.get(w.lower, ()):
            subject = _subject_before(caption, ws, i, lexicon)
            instruction = f"make the {subject or 'subject'} {alternative} instead of {w.lower}"
            edits.append(_edit(caption, w.start, w.end, match_case(w.text, alternative), "action", subject,
                               instruction))
    return edits


def edit_relation(caption: str, lexicon: Lexicon = DEFAULT_LEXICON) -> list[CaptionEdit]:
    """Each spatial relation replaced by its opposite: "a cat to the left of a dog" -> "... right of ..."."""
    ws = words(caption)
    edits = []
    for first, last, key in lexicon.phrases(ws, lexicon.relations):
        start, end = ws[first].start, ws[last].end
        for alternative in lexicon.relations[key]:
            new = match_case(ws[first].text, alternative)
            edits.append(_edit(caption, start, end, new, "relation", None, None))
    return edits


def edit_object(caption: str, lexicon: Lexicon = DEFAULT_LEXICON) -> list[CaptionEdit]:
    """Each known object replaced by another of its group, number and article kept right: "a dog" -> "an elephant"."""
    ws = words(caption)
    edits = []
    for match in lexicon.nouns(ws):
        old = caption[ws[match.first].start : ws[match.last].end]
        for alternative in lexicon.groups[match.group]:
            if alternative == match.singular:
                continue
            new = lexicon.plural(alternative) if match.plural else alternative
            new = match_case(old, new)
            edit = _edit(caption, ws[match.first].start, ws[match.last].end, new, "object", old,
                         f"turn the {old.lower()} into {'' if match.plural else indefinite_article(new) + ' '}"
                         f"{new.lower()}")
            edits.append(_with_article(edit, ws))
    return edits


def _count_of(word: str) -> int | None:
    lower = word.lower()
    if lower.isdigit():
        return int(lower)
    return lx.NUMBERS.index(lower) + 1 if lower in lx.NUMBERS else None


def _number_word(n: int, like: str) -> str:
    text = str(n) if like.isdigit() else (lx.NUMBERS[n - 1] if n <= len(lx.NUMBERS) else str(n))
    return match_case(like, text)


def _agree_verb(caption: str, ws: list[Word], last: int) -> tuple[int, str]:
    """(end, text) extending a count edit over a following "is"/"are" whose number must change with the noun."""
    following = ws[last + 1] if last + 1 < len(ws) else None
    if following is not None and following.lower in lx.COPULA_NUMBER:
        between = caption[ws[last].end : following.start]
        return following.end, between + match_case(following.text, lx.COPULA_NUMBER[following.lower])
    return ws[last].end, ""


def edit_count(caption: str, lexicon: Lexicon = DEFAULT_LEXICON) -> list[CaptionEdit]:
    """A number changed by one, nouns and verbs agreeing: "two dogs" -> "three dogs" / "one dog"; "a dog" -> "two dogs".

    Singular nouns after "a"/"an"/"one" must be in the lexicon (so "a lot of" is never counted).
    """
    ws = words(caption)
    edits = []
    for i, w in enumerate(ws):
        n = _count_of(w.text)
        if w.lower in ("a", "an"):
            n = 1
        if n is None:
            continue
        noun = lexicon.counted_noun(ws, i)
        if noun is None or (n == 1 and noun.plural) or (n > 1 and not noun.plural) or (n == 1 and not noun.known):
            continue
        noun_text = caption[ws[noun.first].start : ws[noun.last].end]
        middle = caption[w.end : ws[noun.first].start]
        for new_n in (n + 1, n - 1):
            if new_n < 1 or (new_n == 1 and not noun.singular):
                continue
            plural_now = new_n > 1
            new_noun = match_case(noun_text, lexicon.plural(noun.singular) if plural_now else noun.singular) \
                if plural_now != noun.plural else noun_text
            number = _number_word(new_n, w.text if w.lower not in ("a", "an") else "two")
            number = match_case(w.text, number)
            start, end, verb = w.start, ws[noun.last].end, ""
            if plural_now != noun.plural:
                end, verb = _agree_verb(caption, ws, noun.last)
                if i >= 2 and ws[i - 2].lower == "there" and ws[i - 1].lower in lx.COPULA_NUMBER:  # "there is a dog"
                    copula = ws[i - 1]
                    start = copula.start
                    number = (match_case(copula.text, lx.COPULA_NUMBER[copula.lower]) + caption[copula.end : w.start]
                              + number)
            new = number + middle + new_noun + verb
            instruction = (f"add another {noun.singular}" if new_n > n else f"remove one of the {noun_text.lower()}")
            edits.append(_edit(caption, start, end, new, "count", noun_text, instruction))
    return edits


_CONTRACTIONS = {"isn't": "is", "aren't": "are", "wasn't": "was", "weren't": "were", "doesn't": "does",
                 "don't": "do"}


def edit_negation(caption: str, lexicon: Lexicon = DEFAULT_LEXICON) -> list[CaptionEdit]:
    """Add or remove one negation: "a man is riding" <-> "a man is not riding"; "with" <-> "without";
    "a man riding a horse" -> "a man not riding a horse"."""
    ws = words(caption)
    edits = []
    for i, w in enumerate(ws):
        nxt = ws[i + 1] if i + 1 < len(ws) else None
        prev = ws[i - 1] if i else None
        if w.lower in ("is", "are", "was", "were") and nxt is not None and nxt.lower != "not":
            edits.append(_edit(caption, nxt.start, nxt.start, "not ", "negation"))
        elif w.lower == "not" and prev is not None and prev.lower in ("is", "are", "was", "were", "does", "do"):
            edits.append(_edit(caption, prev.end, w.end, "", "negation"))
        elif w.lower in _CONTRACTIONS:
            edits.append(_edit(caption, w.start, w.end, match_case(w.text, _CONTRACTIONS[w.lower]), "negation"))
        elif w.lower in lx.NEGATION_SWAPS:
            edits.append(_edit(caption, w.start, w.end, match_case(w.text, lx.NEGATION_SWAPS[w.lower]), "negation"))
        elif (lexicon.is_action(w.lower) and prev is not None and prev.lower not in lx.COPULAS
              and prev.lower not in ("not", "a", "an", "the")):
            edits.append(_edit(caption, w.start, w.start, "not ", "negation"))
    return edits


def edit_binding(caption: str, lexicon: Lexicon = DEFAULT_LEXICON) -> list[CaptionEdit]:
    """Two attributes of the same kind on two different objects swapped: "a red car and a blue bus" ->
    "a blue car and a red bus"."""
    ws = words(caption)
    edits = []
    for kind, table in (("colors", lexicon.colors), ("sizes", lexicon.sizes), ("states", lexicon.states)):
        slots = []
        for i, w in enumerate(ws):
            if w.lower in table:
                noun = lexicon.noun_after(ws, i)
                if noun is not None:
                    slots.append((i, noun))
        for a in range(len(slots)):
            for b in range(a + 1, len(slots)):
                (i, noun_i), (k, noun_k) = slots[a], slots[b]
                if ws[i].lower == ws[k].lower or noun_i.start == noun_k.start:
                    continue
                first, second = ws[i], ws[k]
                new = (match_case(first.text, second.lower) + caption[first.end : second.start]
                       + match_case(second.text, first.lower))
                instruction = (f"swap the {kind} of the {caption[noun_i.start:noun_i.end]} and the "
                               f"{caption[noun_k.start:noun_k.end]}")
                edits.append(_edit(caption, first.start, second.end, new, "binding", None, instruction))
    return edits


# Edit type -> the function that makes its candidates (the order is the editor's default order of types).
RULES = {
    "color": edit_color,
    "count": edit_count,
    "object": edit_object,
    "relation": edit_relation,
    "action": edit_action,
    "attribute": edit_attribute,
    "negation": edit_negation,
    "binding": edit_binding,
    "size": edit_size,
}
