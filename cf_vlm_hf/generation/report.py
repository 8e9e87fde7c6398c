"""What a build made, for the dataset card: counts per edit type and strategy, and every row left out of them.

The shard reports are merged into a `BuildSummary`; every row left uneditable, every image dropped by the quality
filter and every input row rejected is listed in a JSONL file under ``generation/`` (and the first ones in the
card), so nothing is missing silently; the lists are written as the reports are read, so memory stays bounded.
The card is the corpus card of `cf_vlm_hf.data` (rows, K, M, edit types, image sizes) followed by how the corpus
was generated.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field

from ..data import corpus_card, corpus_statistics
from .shards import TEMPORARY_MARK, read_json, report_path, write_json

LISTED_IN_CARD = 50


@dataclass
class BuildSummary:
    """Totals over the shard reports of a build, with the first `LISTED_IN_CARD` rows of each list (the whole lists
    go to JSONL files as the reports are read, so memory does not grow with the corpus)."""

    rows: int = 0
    partial: int = 0
    counts: Counter = field(default_factory=Counter)  # "uneditable" / "dropped" / "rejected_rows" -> how many
    uneditable: list[dict] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)
    rejected_rows: list[dict] = field(default_factory=list)
    images: Counter = field(default_factory=Counter)  # (kind, edit type, strategy) -> images made
    dropped_images: Counter = field(default_factory=Counter)  # (kind, edit type, strategy) -> images dropped
    notes: Counter = field(default_factory=Counter)
    rejected_rewrites: int = 0

    def _list(self, name: str, record: dict, files: dict) -> None:
        self.counts[name] += 1
        kept = getattr(self, name)
        if len(kept) < LISTED_IN_CARD:
            kept.append(record)
        if name in files:
            files[name].write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")

    def add(self, shard: dict, files: dict | None = None) -> None:
        """Count one shard report; ``files`` maps list names to open JSONL files receiving every record."""
        files = files or {}
        for rejected in shard["rejected"]:
            self._list("rejected_rows", rejected, files)
        for row in shard["rows"]:
            self.rows += 1
            if row["uneditable"]:
                self._list("uneditable", {"id": row["id"], "index": row["index"], "caption": row["caption"],
                                          "reason": row["uneditable"]}, files)
            self.partial += bool(row["partial"])
            self.rejected_rewrites += row["rejected_rewrites"]
            for image in row["images"]:
                self.images[(image["kind"], image["edit_type"], image["strategy"])] += 1
            for dropped in row["dropped"]:
                self.dropped_images[(dropped["kind"], dropped["edit_type"], dropped["strategy"])] += 1
                self._list("dropped", {"id": row["id"], "index": row["index"], **dropped}, files)
            for note in row["notes"]:
                self.notes[note.split(":")[0]] += 1

    def to_dict(self) -> dict:
        return {
            "rows": self.rows, "uneditable_rows": self.counts["uneditable"], "rows_with_fewer_edits": self.partial,
            "rejected_input_rows": self.counts["rejected_rows"], "dropped_images": self.counts["dropped"],
            "rejected_rewrites": self.rejected_rewrites,
            "images": [{"kind": k, "edit_type": t, "strategy": s, "count": n}
                       for (k, t, s), n in sorted(self.images.items())],
            "notes": dict(sorted(self.notes.items())),
        }


_LISTS = {"uneditable": "uneditable.jsonl", "dropped": "dropped.jsonl", "rejected_rows": "rejected_rows.jsonl"}


def summarize(output_dir: str, split: str, num_shards: int) -> BuildSummary:
    """Merge the reports of shards 0..num_shards-1; write the full lists and ``summary.json`` under generation/."""
    summary = BuildSummary()
    folder = os.path.join(output_dir, "generation")
    temporary = {name: os.path.join(folder, f".{file}{TEMPORARY_MARK}{os.getpid()}") for name, file in _LISTS.items()}
    with contextlib.ExitStack() as stack:
        files = {name: stack.enter_context(open(path, "w", encoding="utf-8")) for name, path in temporary.items()}
        for index in range(num_shards):
            summary.add(read_json(report_path(output_dir, split, index)), files)
    for name, path in temporary.items():
        os.replace(path, os.path.join(folder, _LISTS[name]))
    write_json(os.path.join(folder, "summary.json"), summary.to_dict())
    return summary


def _escape(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _listing(title: str, records: list[dict], total: int, columns: tuple[str, ...], file: str) -> list[str]:
    lines = [f"### {title}: {total}\n"]
    if not total:
        return lines
    lines.append(f"All of them are listed in `generation/{file}`"
                 + (f"; the first {len(records)} here." if total > len(records) else ".") + "\n")
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for record in records[:LISTED_IN_CARD]:
        lines.append("| " + " | ".join(_escape(record.get(c, "")) for c in columns) + " |")
    return lines + [""]


def generation_section(summary: BuildSummary, settings: dict, models: dict, command: str | None) -> str:
    """The card's "How this corpus was generated" section."""
    lines = ["## How this corpus was generated\n"]
    if command:
        lines += ["```bash", command, "```\n"]
    lines += [f"- {name}: `{value}`" for name, value in models.items() if value]
    lines += [
        f"- edit strategies: {', '.join(settings['edit_strategies']) or 'none'}; K = {settings['num_counterfactuals']} "
        f"complete counterfactuals and M = {settings['num_edits']} minimal edits per row, "
        f"{settings['num_negative_captions']} extra caption-only negatives",
        f"- seeds: build seed {settings['seed']}; the seed of a row is blake2b(seed, row id), and every choice made "
        "for the row (its caption edits, each image's noise) derives from it: rebuilding gives the same bytes",
        f"- diffusion: {settings['num_inference_steps']} steps, guidance {settings['guidance_scale']}, img2img "
        f"strength {settings['img2img_strength']}, inpaint strength {settings['inpaint_strength']}, "
        f"batch of {settings['batch_size']} rows, {settings['rows_per_shard']} rows per shard",
        "",
        "### Images per edit type and strategy\n",
        "| image | edit type | strategy | made | dropped by the filter |",
        "|---|---|---|---:|---:|",
    ]
    for (kind, edit_type, strategy), count in sorted(summary.images.items()):
        dropped = summary.dropped_images[(kind, edit_type, strategy)]
        lines.append(f"| {kind} | {edit_type} | {strategy} | {count} | {dropped} |")
    if not summary.images:
        lines.append("| _none_ | | | 0 | 0 |")
    lines.append("")
    if summary.notes:
        lines += ["Notes: " + "; ".join(f"{note} ({n})" for note, n in sorted(summary.notes.items())) + "\n"]
    lines.append(f"{summary.rows} rows; {summary.partial} got fewer caption edits than asked; the caption editor's "
                 f"rejected rewrites: {summary.rejected_rewrites}.\n")
    lines += _listing("Rows left uneditable (kept with K = M = 0)", summary.uneditable, summary.counts["uneditable"],
                      ("id", "caption", "reason"), "uneditable.jsonl")
    lines += _listing("Images dropped by the quality filter", summary.dropped, summary.counts["dropped"],
                      ("id", "kind", "edit_type", "strategy", "caption", "own_score", "anchor_score"), "dropped.jsonl")
    lines += _listing("Input rows rejected", summary.rejected_rows, summary.counts["rejected_rows"],
                      ("index", "id", "reason", "message"), "rejected_rows.jsonl")
    return "\n".join(lines) + "\n"


def write_card(output_dir: str, split: str, summary: BuildSummary, settings: dict, models: dict,
               source: str, command: str | None = None) -> str:
    """Write ``README.md``: the corpus card (statistics read back from the shards) and the generation section."""
    from datasets import load_dataset

    shards = load_dataset("parquet", data_files=os.path.join(output_dir, "data", f"{split}-*.parquet"),
                          split="train", streaming=True)
    card = corpus_card({split: corpus_statistics(shards)}, {split: f"data/{split}-*"}, source=source,
                       pretty_name="Counterfactual corpus generated by cf-vlm")
    path = os.path.join(output_dir, "README.md")
    text = str(card).rstrip("\n") + "\n\n" + generation_section(summary, settings, models, command)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path
