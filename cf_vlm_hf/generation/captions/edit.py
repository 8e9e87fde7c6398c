"""What a caption editor returns: `CaptionEdit` (one rewrite, with the span it changed) and `EditResult`.

Every editor returns an `EditResult` per caption: the edits it made, in the order it made them, and, when it
made fewer than asked, why (``reason``), so uneditable captions are reported instead of silently skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .words import changed_span, normalized

# The edit types the editors know, with what each changes (the LLM editor asks for them in these words).
EDIT_TYPE_DESCRIPTIONS = {
    "color": "change the colour of one object",
    "count": "change how many there are of one kind of object",
    "object": "replace one object by another object of the same kind",
    "relation": "change one spatial relation (left/right, above/below, in front of/behind, on/under)",
    "action": "change what one person, animal or thing is doing",
    "attribute": "change one state or property of an object to its opposite (open/closed, empty/full, ...)",
    "negation": "negate one statement of the caption (add or remove 'not', 'with'/'without')",
    "binding": "swap the attributes of two objects (e.g. their colours)",
    "size": "change the size of one object (small/large, tall/short, ...)",
}
EDIT_TYPES = tuple(EDIT_TYPE_DESCRIPTIONS)


@dataclass(frozen=True)
class CaptionEdit:
    """One rewrite of ``source`` with one element changed.

    ``source[start:end]`` (``old``) became ``new``; everything around it is unchanged, so
    ``caption == source[:start] + new + source[end:]``.

    Attributes:
        source: the caption that was edited.
        caption: the rewrite: what a counterfactual image shows, or what a minimal edit of the anchor now shows.
        edit_type: one of :data:`EDIT_TYPES` (for the LLM editor, the type it was asked for).
        start, end: character span of the changed words in ``source``.
        new: what replaced ``source[start:end]`` (may be empty: a deletion).
        target: the phrase of ``source`` naming the region of the image the edit changes ("red car"), used to
            segment a mask for inpainting; None when the edit has no single region (a relation, a swap).
        instruction: an InstructPix2Pix-style instruction for the edit (None: :meth:`edit_instruction` derives a
            generic one from the span).
    """

    source: str
    caption: str
    edit_type: str
    start: int
    end: int
    new: str
    target: str | None = None
    instruction: str | None = None

    def __post_init__(self):
        if normalized(self.caption) == normalized(self.source):
            raise ValueError(f"a caption edit must change the caption; {self.caption!r} repeats {self.source!r}")
        if self.source[: self.start] + self.new + self.source[self.end :] != self.caption:
            raise ValueError(f"span ({self.start}, {self.end}) -> {self.new!r} does not turn {self.source!r} into "
                             f"{self.caption!r}")

    @classmethod
    def between(cls, source: str, caption: str, edit_type: str, target: str | None = None,
                instruction: str | None = None) -> CaptionEdit:
        """The edit that turns ``source`` into ``caption`` (the span is found word by word)."""
        start, end, new_end = changed_span(source, caption)
        return cls(source, caption, edit_type, start, end, caption[start:new_end], target, instruction)

    @property
    def old(self) -> str:
        """The words of ``source`` that changed (stripped; "" for an insertion)."""
        return self.source[self.start : self.end].strip()

    @property
    def replacement(self) -> str:
        """The words that replaced them (stripped; "" for a deletion)."""
        return self.new.strip()

    def edit_instruction(self) -> str:
        """The instruction for an instruction-following image editor (InstructPix2Pix)."""
        if self.instruction:
            return self.instruction
        if not self.old:
            return f"add {self.replacement!r} so that it shows: {self.caption}"
        if not self.replacement:
            return f"remove {self.old!r} so that it shows: {self.caption}"
        return f"replace {self.old} with {self.replacement}"


@dataclass
class EditResult:
    """An editor's answer for one caption: ``edits`` (at most the number asked, all distinct) and ``reason``.

    ``reason`` says why fewer edits than asked were made (None when all were made); ``rejected`` lists the
    rewrites an editor produced and threw away, as ``(text, why)`` (the LLM editor's malformed replies).
    """

    caption: str
    edits: list[CaptionEdit] = field(default_factory=list)
    reason: str | None = None
    rejected: list[tuple[str, str]] = field(default_factory=list)

    @property
    def uneditable(self) -> bool:
        return not self.edits


class CaptionEditor(Protocol):
    """What the builder needs of an editor (both `RulesEditor` and `LLMEditor` are one)."""

    name: str
    edit_types: tuple[str, ...]

    def edit_batch(self, captions: list[str], num_edits: int, seeds: list[int]) -> list[EditResult]:
        """At most ``num_edits`` distinct edits of each caption; ``seeds[i]`` decides every choice for caption i."""
        ...
