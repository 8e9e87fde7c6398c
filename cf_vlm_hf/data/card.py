"""The dataset card of a saved corpus: Hub YAML metadata plus what is in it (rows, edit types, K, M, image sizes)."""

from __future__ import annotations

import io
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData
from PIL import Image

_IMAGE_COLUMNS = ("image", "cf_images", "edit_images")


@dataclass
class CorpusStatistics:
    """Counts over one split, accumulated batch by batch (see :meth:`add_rows`)."""

    num_rows: int = 0
    edit_types: Counter = field(default_factory=Counter)
    num_counterfactuals: Counter = field(default_factory=Counter)  # K -> rows
    num_edits: Counter = field(default_factory=Counter)  # M -> rows
    num_negative_captions: Counter = field(default_factory=Counter)  # caption-only negatives -> rows
    image_sizes: Counter = field(default_factory=Counter)  # "WxH" -> images, all image columns

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """Count rows whose images are still encoded (``{"bytes", "path"}`` dicts, as Arrow gives them)."""
        for row in rows:
            self.num_rows += 1
            self.edit_types.update(row.get("edit_types") or [])
            self.num_counterfactuals[len(row.get("cf_captions") or [])] += 1
            self.num_edits[len(row.get("edit_types") or [])] += 1
            self.num_negative_captions[len(row.get("negative_captions") or [])] += 1
            for column in _IMAGE_COLUMNS:
                value = row.get(column)
                for image in value if isinstance(value, list) else [value]:
                    size = _image_size(image)
                    if size is not None:
                        self.image_sizes[f"{size[0]}x{size[1]}"] += 1


def _image_size(value: Any) -> tuple[int, int] | None:
    # Image.open reads only the header: sizes without decoding pixels.
    if not isinstance(value, dict):
        return None
    try:
        if value.get("bytes") is not None:
            with Image.open(io.BytesIO(value["bytes"])) as image:
                return image.size
        if value.get("path"):
            with Image.open(value["path"]) as image:
                return image.size
    except (OSError, SyntaxError, ValueError):
        return None
    return None


def corpus_statistics(dataset, batch_size: int = 64) -> CorpusStatistics:
    """Return the :class:`CorpusStatistics` of a ``datasets.Dataset`` (scanned in Arrow batches, images not decoded)."""
    stats = CorpusStatistics()
    for batch in dataset.with_format("arrow").iter(batch_size=batch_size):
        stats.add_rows(batch.to_pylist())
    return stats


def corpus_totals(dataset) -> dict[str, Any] | None:
    """Rows, total counterfactuals / negative captions / edits, and edits per type of an in-memory corpus.

    Read from Arrow list lengths (a ``datasets.Dataset``) or from the rows (a list of dicts), images never decoded;
    None when the size is not known up front (a streamed dataset, a map-style dataset that decodes on access).
    """
    import datasets

    if isinstance(dataset, datasets.Dataset):
        import pyarrow.compute as pc

        table = dataset.data

        def total(name: str) -> int:
            if name not in table.column_names:
                return 0
            return int(pc.sum(pc.list_value_length(table.column(name))).as_py() or 0)

        types = Counter()
        if "edit_types" in table.column_names:
            for item in pc.value_counts(pc.list_flatten(table.column("edit_types"))).to_pylist():
                types[str(item["values"])] = int(item["counts"])
        rows = dataset.num_rows
        totals = {key: total(key) for key in ("cf_captions", "negative_captions", "edit_types")}
    elif isinstance(dataset, (list, tuple)) and all(isinstance(row, dict) for row in dataset):
        types = Counter(kind for row in dataset for kind in row.get("edit_types") or [])
        rows = len(dataset)
        totals = {key: sum(len(row.get(key) or []) for row in dataset)
                  for key in ("cf_captions", "negative_captions", "edit_types")}
    else:
        return None
    return {"rows": rows, "counterfactuals": totals["cf_captions"], "negative_captions": totals["negative_captions"],
            "edits": totals["edit_types"], "edit_types": dict(sorted(types.items()))}


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "1M<n<10M" if n < 10_000_000 else "n>10M"


def _settings_table(settings: dict[str, Any]) -> str:
    lines = ["## Generation settings\n", "| setting | value |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _table(header: tuple[str, str], counts: Counter) -> str:
    if not counts:
        return "_none_\n"
    lines = [f"| {header[0]} | {header[1]} |", "|---|---:|"]
    lines += [f"| {key} | {value} |" for key, value in sorted(counts.items(), key=lambda kv: str(kv[0]))]
    return "\n".join(lines) + "\n"


_HUB_DATASET_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def source_datasets_of(source: str | None) -> list[str]:
    """The Hub's ``source_datasets`` value for a corpus made from ``source``: ``extended|ID`` for a Hub dataset id,
    ``original`` otherwise (a local folder, a generator)."""
    if source and _HUB_DATASET_ID.match(source) and not os.path.exists(source):
        return [f"extended|{source}"]
    return ["original"]


def corpus_card(
    statistics: dict[str, CorpusStatistics],
    data_files: dict[str, str],
    source: str | None = None,
    pretty_name: str | None = None,
    *,
    license: str | None = None,
    source_datasets: list[str] | None = None,
    generation: dict[str, Any] | None = None,
) -> DatasetCard:
    """Return a ``huggingface_hub.DatasetCard`` for a corpus saved as parquet shards.

    ``statistics`` and ``data_files`` are keyed by split (``data_files`` holds each split's glob, relative to
    the card, e.g. ``"data/train-*"``); the YAML ``configs`` entry lets ``datasets.load_dataset`` find them.
    ``source`` says where the corpus came from (free text in the card; a Hub dataset id also sets
    ``source_datasets: extended|ID``), ``license`` is the Hub license id, ``generation`` the settings that made it
    (models, strategies, seeds: a table in the card).
    """
    total = sum(s.num_rows for s in statistics.values())
    data = DatasetCardData(
        pretty_name=pretty_name or "Counterfactual image-caption corpus (CF-VLM)",
        license=license,
        size_categories=[_size_category(total)],
        task_categories=["zero-shot-image-classification", "image-to-text"],
        source_datasets=source_datasets or source_datasets_of(source),
        tags=["counterfactual", "cf-vlm", "hard-negatives", "compositionality"],
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": path} for split, path in data_files.items()],
            }
        ],
    )
    body = [
        f"# {data.pretty_name}\n",
        "A counterfactual corpus for CF-VLM fine-tuning (Zhang et al., arXiv 2506.17267), saved by "
        "`cf_vlm_hf.save_counterfactual_dataset`. Each row holds a factual anchor (`image`, `caption`), "
        "K complete counterfactual pairs (`cf_images`, `cf_captions`) and M minimal edits of the anchor image "
        "(`edit_images`, `edit_types`, optional `edit_captions`), which with the original caption are hard "
        "negatives, and optional caption-only negatives (`negative_captions`: captions that do not describe the "
        "image and have no image of their own).\n",
        f"Source: {source or 'not recorded'}\n",
        *([_settings_table(generation)] if generation else []),
        "Load it with `cf_vlm_hf.load_counterfactual_dataset(...)` (validated) or `datasets.load_dataset(...)`.\n",
    ]
    for split, stats in statistics.items():
        body += [
            f"## Split `{split}`: {stats.num_rows} rows\n",
            "### Minimal edits per edit type\n",
            _table(("edit type", "edits"), stats.edit_types),
            "### Complete counterfactuals per row (K)\n",
            _table(("K", "rows"), stats.num_counterfactuals),
            "### Minimal edits per row (M)\n",
            _table(("M", "rows"), stats.num_edits),
            f"### Caption-only negatives per row ({sum(k * n for k, n in stats.num_negative_captions.items())} in "
            "all)\n",
            _table(("negatives", "rows"), stats.num_negative_captions),
            "### Image sizes (all image columns)\n",
            _table(("size", "images"), stats.image_sizes),
        ]
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body))
