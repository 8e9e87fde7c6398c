"""What the corpus code raises and warns, and how its messages name a row.

Every :class:`CorpusError` names the row (its position in the dataset and its ``id`` when it has one) and the
field, so a bad row in a million can be found and fixed. A row that carries :data:`ROW_INDEX` (added by
:func:`cf_vlm_hf.data.with_row_index`) is named by that dataset index wherever it is checked, e.g. inside a
collator that only knows the row's position in its batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ROW_INDEX = "__index__"
ROW_EPOCH = "__epoch__"  # the training epoch a row is read in (set by the trainer; seeds per-row random subsets)


class CorpusError(ValueError):
    """A corpus row that cannot be used; the message names the row and the field.

    ``reason`` is a short stable code (``"undecodable_image"``, ``"cf_length_mismatch"``, ...) used to count
    rejected rows by cause (docs/corpus.md lists them).
    """

    def __init__(self, message: str, reason: str = "invalid_row"):
        super().__init__(message)
        self.reason = reason


class CorpusWarning(UserWarning):
    """Something suspicious but usable (unknown edit types, keys outside the schema), or rows dropped in ``skip``."""


def describe_row(row: Mapping[str, Any] | None, index: int | str | None) -> str:
    """``"row 12 (id 'abc')"``: how errors name a row.

    The row's own :data:`ROW_INDEX` entry, when present, wins over ``index`` (a collator passes the position in
    its batch, ``"3 of the batch"``; the dataset index is what a user can look up).
    """
    if isinstance(row, Mapping) and row.get(ROW_INDEX) is not None:
        index = row[ROW_INDEX]
    where = f"row {index}" if index is not None else "row"
    row_id = row.get("id") if isinstance(row, Mapping) else None
    if isinstance(row_id, (str, int, float)) and not isinstance(row_id, bool):  # an id of a wrong type is not shown
        where += f" (id {row_id!r})"
    return where
