"""Caption editors: each rewrites a caption with one element changed and says what it changed.

- `RulesEditor` (`rules.py`, one function per edit type, over `lexicon.py`): deterministic, offline;
- `LLMEditor` (`llm.py`): any `transformers` chat model through its chat template (`chat.py`).

Both return one `EditResult` per caption, holding `CaptionEdit` objects (edited caption, edit type, changed span,
image region, instruction) and, when a caption could not be edited as asked, the reason.
"""

from .edit import EDIT_TYPE_DESCRIPTIONS, EDIT_TYPES, CaptionEdit, CaptionEditor, EditResult
from .lexicon_index import Lexicon
from .llm import LLMEditor, build_conversation, check_rewrite, parse_rewrites
from .rules import RULES
from .rules_editor import RulesEditor

__all__ = [
    "EDIT_TYPES",
    "EDIT_TYPE_DESCRIPTIONS",
    "RULES",
    "CaptionEdit",
    "CaptionEditor",
    "EditResult",
    "LLMEditor",
    "Lexicon",
    "RulesEditor",
    "build_conversation",
    "check_rewrite",
    "parse_rewrites",
]
