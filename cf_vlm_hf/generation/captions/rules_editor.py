"""`RulesEditor`: deterministic caption edits from the rule functions of `rules.py`, chosen with each row's seed.

>>> from cf_vlm_hf.generation import RulesEditor
>>> result = RulesEditor(edit_types=["color", "size"]).edit("a small red ball", num_edits=2, seed=0)
>>> sorted(edit.edit_type for edit in result.edits)
['color', 'size']
>>> RulesEditor().edit("a photo", num_edits=2, seed=0).reason
'no rule applies: no colour, number, known object, relation, action, state, negatable word, size word found'
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .edit import EditResult
from .lexicon_index import Lexicon
from .rules import DEFAULT_LEXICON, RULES
from .words import normalized

# What each rule looks for, for the report of a caption none of them can edit.
_LOOKS_FOR = {
    "color": "colour", "count": "number", "object": "known object", "relation": "relation", "action": "action",
    "attribute": "state", "negation": "negatable word", "binding": "attribute pair", "size": "size word",
}


class RulesEditor:
    """Caption edits from the built-in lexicon, one rule function per edit type.

    For each caption, every rule of ``edit_types`` lists its candidates; the caption's seed orders the types that
    have any and draws candidates type after type (so K edits cover K different types when the caption allows),
    never the same rewrite twice and never the input unchanged. A caption with fewer candidates than asked gets
    what there is, and the result's ``reason`` says so; one with none is reported as uneditable.

    Args:
        edit_types: the rules to use (default: all of :data:`RULES`, in that order).
        lexicon: the word tables (default: the built-in `Lexicon`).
    """

    name = "rules"

    def __init__(self, edit_types: Sequence[str] | None = None, lexicon: Lexicon | None = None):
        edit_types = tuple(edit_types) if edit_types is not None else tuple(RULES)
        unknown = [t for t in edit_types if t not in RULES]
        if unknown or not edit_types:
            raise ValueError(f"unknown edit type(s) {unknown} for the rules editor; choose from {list(RULES)}")
        self.edit_types = edit_types
        self.lexicon = lexicon or DEFAULT_LEXICON

    def candidates(self, caption: str) -> dict[str, list]:
        """Every rewrite each rule allows: edit type -> list of `CaptionEdit` (distinct captions, rule order)."""
        found, seen = {}, {normalized(caption)}
        for edit_type in self.edit_types:
            unique = []
            for edit in RULES[edit_type](caption, self.lexicon):
                key = normalized(edit.caption)
                if key not in seen:
                    seen.add(key)
                    unique.append(edit)
            found[edit_type] = unique
        return found

    def edit(self, caption: str, num_edits: int, seed: int) -> EditResult:
        """At most ``num_edits`` distinct edits of ``caption``; ``seed`` makes every choice."""
        if num_edits < 0:
            raise ValueError(f"num_edits must be >= 0, got {num_edits}")
        if not caption or not caption.strip():
            return EditResult(caption, reason="the caption is empty")
        pools = {t: list(c) for t, c in self.candidates(caption).items() if c}
        if not pools:
            looked = ", ".join(dict.fromkeys(_LOOKS_FOR[t] for t in self.edit_types if t != "binding"))
            return EditResult(caption, reason=f"no rule applies: no {looked} found")
        rng = np.random.default_rng(seed)
        order = [list(pools)[i] for i in rng.permutation(len(pools))]
        edits = []
        while len(edits) < num_edits and any(pools.values()):
            for edit_type in order:
                pool = pools[edit_type]
                if pool and len(edits) < num_edits:
                    edits.append(pool.pop(int(rng.integers(len(pool)))))
        reason = None
        if len(edits) < num_edits:
            reason = f"only {len(edits)} distinct edit(s) possible ({', '.join(sorted({e.edit_type for e in edits}))})"
        return EditResult(caption, edits, reason)

    def edit_batch(self, captions: Sequence[str], num_edits: int, seeds: Sequence[int]) -> list[EditResult]:
        """:meth:`edit` for each caption with its own seed."""
        if len(captions) != len(seeds):
            raise ValueError(f"{len(captions)} captions but {len(seeds)} seeds")
        return [self.edit(caption, num_edits, seed) for caption, seed in zip(captions, seeds)]
