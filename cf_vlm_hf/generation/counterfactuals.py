"""`CounterfactualGenerator`: a batch of image-caption rows -> rows of the counterfactual corpus.

For each row (seed s = `row_seed(build seed, row id)`):

1. the caption editor makes up to ``max(K, M) + N`` distinct caption edits (seeded with s);
2. complete counterfactual k (k < K) renders edit k's caption as a new scene (text-to-image);
3. minimal edit j (j < M) edits the anchor image to show edit j's caption, with one of the edit strategies
   (strategy ``(j + s) mod len(strategies)``, so every strategy gets its share); its ``edit_types`` entry is the
   edit's type and its ``edit_captions`` entry the edited caption (what the edited image now shows);
4. the optional quality filter drops images that the checkpoint does not see as their own caption;
5. the remaining edit captions (beyond K and M), those of dropped images and the input's own
   ``negative_captions`` become the row's ``negative_captions`` (caption-only hard negatives).

A row whose caption no editor can change keeps its anchor with K = M = 0 and is reported. Every image's noise seed
is a `sub_seed` of s, so a row's bytes depend only on the row, the settings and the other rows of its batch.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ..data import decode_image
from .images.common import ImageJob
from .seeding import row_seed, sub_seed
from .sources import SourceRow


@dataclass
class RowReport:
    """What happened to one row, for the dataset card: ``uneditable`` / ``partial`` reasons, the images made
    (``{"kind", "edit_type", "strategy"}``), those dropped by the filter, fallback notes, rejected rewrites."""

    id: str
    index: int
    caption: str
    uneditable: str | None = None
    partial: str | None = None
    images: list[dict] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejected_rewrites: int = 0


@dataclass
class GeneratedRow:
    """A corpus row (images as ``{"bytes", "path"}`` dicts, ready for parquet) and its report."""

    row: dict[str, Any]
    report: RowReport


def png_bytes(image: Image.Image) -> bytes:
    """PNG encoding of ``image`` (lossless, and the same bytes for the same pixels)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def anchor_bytes(value: Any, where: str) -> bytes:
    """The anchor image's own encoded bytes (re-encoded as PNG only when it is not a file or bytes already)."""
    if isinstance(value, Mapping):
        if value.get("bytes") is not None:
            return value["bytes"]
        if value.get("path"):
            with open(value["path"], "rb") as f:
                return f.read()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, (str, os.PathLike)):
        with open(value, "rb") as f:
            return f.read()
    return png_bytes(decode_image(value, where))


class CounterfactualGenerator:
    """Caption edits, complete counterfactuals and minimal edits for batches of rows.

    Args:
        editor: a caption editor (`RulesEditor`, `LLMEditor`).
        text_to_image: the strategy rendering complete counterfactuals (`TextToImage`); needed when K > 0.
        edit_strategies: the minimal-edit strategies (`Img2ImgEdit`, `InpaintEdit`, `InstructPix2PixEdit`).
        num_counterfactuals: K, complete counterfactual pairs per row.
        num_edits: M, minimal edits per row.
        num_negative_captions: N, extra caption-only rewrites per row (``negative_captions``).
        quality_filter: an `ImageTextFilter`, or None to keep every image.
        seed: the build's seed (each row's seed derives from it and the row's id).
    """

    def __init__(self, editor, text_to_image=None, edit_strategies: Sequence = (), num_counterfactuals: int = 1,
                 num_edits: int = 1, num_negative_captions: int = 0, quality_filter=None, seed: int = 0):
        for name, value in (("num_counterfactuals", num_counterfactuals), ("num_edits", num_edits),
                            ("num_negative_captions", num_negative_captions)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if num_counterfactuals and text_to_image is None:
            raise ValueError("complete counterfactuals (num_counterfactuals > 0) need a text-to-image strategy")
        if num_edits and not edit_strategies:
            raise ValueError("minimal edits (num_edits > 0) need at least one edit strategy")
        self.editor, self.text_to_image = editor, text_to_image
        self.edit_strategies = list(edit_strategies)
        self.num_counterfactuals, self.num_edits = num_counterfactuals, num_edits
        self.num_negative_captions = num_negative_captions
        self.quality_filter, self.seed = quality_filter, seed

    @property
    def needs_anchor_pixels(self) -> bool:
        """Whether rows' images are decoded (they are when any image is made)."""
        return bool(self.num_counterfactuals or self.num_edits)

    def generate(self, rows: Sequence[SourceRow]) -> list[GeneratedRow]:
        """The corpus rows of ``rows``, in order (one pipeline call per strategy and working size)."""
        K, M = self.num_counterfactuals, self.num_edits
        seeds = [row_seed(self.seed, row.id) for row in rows]
        wanted = max(K, M) + self.num_negative_captions
        results = self.editor.edit_batch([row.caption for row in rows], wanted,
                                         [sub_seed(s, "caption") for s in seeds]) if wanted else [None] * len(rows)
        reports = [RowReport(row.id, row.index, row.caption) for row in rows]
        anchors, cf_jobs, edit_jobs = [], [], {id(s): [] for s in self.edit_strategies}
        for b, (row, seed, result, report) in enumerate(zip(rows, seeds, results, reports)):
            edits = result.edits if result is not None else []
            if result is not None:
                report.rejected_rewrites = len(result.rejected)
                if not edits:
                    report.uneditable = result.reason or "the editor made no edit"
                elif result.reason:
                    report.partial = result.reason
            needs_pixels = bool(edits) and (K or M)
            anchor = row.anchor() if needs_pixels else None
            anchors.append(anchor)
            mask = row.mask_image() if anchor is not None else None
            for k, edit in enumerate(edits[:K]):
                cf_jobs.append((b, k, ImageJob(edit.caption, sub_seed(seed, "counterfactual", k), size=anchor.size,
                                               edit=edit, row_id=row.id)))
            offset = sub_seed(seed, "strategy") % max(1, len(self.edit_strategies))
            for j, edit in enumerate(edits[:M]):
                strategy = self.edit_strategies[(j + offset) % len(self.edit_strategies)]
                edit_jobs[id(strategy)].append((b, j, ImageJob(edit.caption, sub_seed(seed, "edit", j),
                                                               image=anchor, edit=edit, mask=mask, row_id=row.id)))

        made = {}  # (b, "cf"|"edit", index) -> (RenderedImage, CaptionEdit)
        if cf_jobs:
            for (b, k, job), rendered in zip(cf_jobs, self.text_to_image([job for _, _, job in cf_jobs])):
                made[(b, "cf", k)] = (rendered, job.edit)
        for strategy in self.edit_strategies:
            jobs = edit_jobs[id(strategy)]
            if jobs:
                for (b, j, job), rendered in zip(jobs, strategy([job for _, _, job in jobs])):
                    made[(b, "edit", j)] = (rendered, job.edit)
        kept = self._filter(made, rows, reports)

        out = []
        for b, (row, result, report) in enumerate(zip(rows, results, reports)):
            edits = result.edits if result is not None else []
            corpus_row = {
                "id": row.id,
                "image": {"bytes": anchor_bytes(row.image, f"row {row.index} (id {row.id!r})"), "path": None},
                "caption": row.caption,
                "cf_images": [], "cf_captions": [], "edit_images": [], "edit_types": [], "edit_captions": [],
            }
            negatives = list(row.negative_captions)
            for key in sorted((key for key in made if key[0] == b), key=lambda key: (key[1], key[2])):
                rendered, edit = made[key]
                kind = "counterfactual" if key[1] == "cf" else "edit"
                if rendered is None:
                    report.notes.append(f"{kind} {key[2]} ({edit.edit_type}): no image made")
                    negatives.append(edit.caption)
                    continue
                if rendered.note:
                    report.notes.append(rendered.note)
                report.images.append({"kind": kind, "edit_type": edit.edit_type, "strategy": rendered.strategy})
                if not kept.get(key, True):
                    negatives.append(edit.caption)
                    continue
                image = {"bytes": png_bytes(rendered.image), "path": None}
                if key[1] == "cf":
                    corpus_row["cf_images"].append(image)
                    corpus_row["cf_captions"].append(edit.caption)
                else:
                    corpus_row["edit_images"].append(image)
                    corpus_row["edit_types"].append(edit.edit_type)
                    corpus_row["edit_captions"].append(edit.caption)
            negatives += [edit.caption for edit in edits[max(K, M):]]
            used = {row.caption, *corpus_row["cf_captions"], *corpus_row["edit_captions"]}
            corpus_row["negative_captions"] = [t for t in dict.fromkeys(negatives) if t not in used]
            out.append(GeneratedRow(corpus_row, report))
        return out

    def _filter(self, made: dict, rows: Sequence[SourceRow], reports: list[RowReport]) -> dict:
        """key -> keep, by the quality filter (everything is kept without one); dropped images are reported."""
        if self.quality_filter is None:
            return {}
        keys = [key for key, (rendered, _) in made.items() if rendered is not None]
        verdicts = self.quality_filter([made[k][0].image for k in keys], [made[k][1].caption for k in keys],
                                       [rows[k[0]].caption for k in keys])
        kept = {}
        for key, verdict in zip(keys, verdicts):
            kept[key] = verdict.keep
            if not verdict.keep:
                rendered, edit = made[key]
                reports[key[0]].dropped.append({
                    "kind": "counterfactual" if key[1] == "cf" else "edit", "index": key[2],
                    "edit_type": edit.edit_type, "strategy": rendered.strategy, "caption": edit.caption,
                    "own_score": round(verdict.own_score, 6), "anchor_score": round(verdict.anchor_score, 6),
                })
        return kept
