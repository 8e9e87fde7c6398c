"""The CF-VLM authors' annotation records, read into rows of the corpus schema.

The authors' records look like::

    {"orig_input": "... <|vision_start|>images/a.png<|vision_end|>", "orig_output": "a red cube",
     "cf_samples": [{"cf_text": "a blue cube", "cf_image_path": "images/a_cf0.png"}]}

and become an anchor (image, caption) with complete counterfactual pairs and no minimal edits. Paths stay as
written: :func:`~cf_vlm_hf.data.rows.check_row` resolves and confines them like those of our own schema.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import CorpusError, describe_row

VISION_SPAN = re.compile(r"<\|vision_start\|>(.*?)<\|vision_end\|>", re.DOTALL)


def is_authors_record(record: dict[str, Any]) -> bool:
    """Return whether a record is in the CF-VLM authors' format (it has ``orig_input``)."""
    return "orig_input" in record


def authors_record_to_row(record: dict[str, Any], index: int | None = None) -> dict[str, Any]:
    """Return one authors' record as a corpus row (paths as written, edit lists empty).

    A record with no ``<|vision_start|>PATH<|vision_end|>`` span gets ``image=None``, so that the row check rejects
    it by name; ``cf_samples`` that is not a list of objects is a :class:`CorpusError`.
    """
    where = describe_row(record, index)
    orig_input = record.get("orig_input")
    if not isinstance(orig_input, str):
        raise CorpusError(f"{where}, field 'orig_input': expected a string, got {type(orig_input).__name__}",
                          "not_a_string")
    match = VISION_SPAN.search(orig_input)
    samples = record.get("cf_samples") or []
    if not isinstance(samples, list) or not all(isinstance(s, dict) for s in samples):
        raise CorpusError(f"{where}, field 'cf_samples': must be a list of objects", "not_a_list")
    row_id = record.get("id")
    return {
        "image": match.group(1).strip() if match else None,
        "caption": record.get("orig_output"),
        "cf_images": [s.get("cf_image_path") for s in samples],
        "cf_captions": [s.get("cf_text") for s in samples],
        "edit_images": [],
        "edit_types": [],
        "edit_captions": None,
        "negative_captions": [],
        "id": None if row_id is None else str(row_id),
    }
