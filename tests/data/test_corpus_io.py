"""Corpus I/O: validation, loaders (our JSONL, the authors' format, parquet, save_to_disk), saving, streaming."""

import io
import json
import os

import datasets
import numpy as np
import pytest
from datasets import Dataset, DatasetDict, IterableDataset, load_dataset
from huggingface_hub import DatasetCard
from PIL import Image

from cf_vlm_hf.data import (
    CorpusError,
    CorpusWarning,
    corpus_totals,
    counterfactual_features,
    load_counterfactual_dataset,
    save_counterfactual_dataset,
    validate_counterfactual_dataset,
)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    datasets.disable_progress_bars()


def image(seed, size=(8, 6)):
    """A small RGB image whose pixels depend on ``seed``."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def png(seed, size=(8, 6)):
    buffer = io.BytesIO()
    image(seed, size).save(buffer, format="PNG")
    return buffer.getvalue()


def encoded(seed, size=(8, 6)):
    return {"bytes": png(seed, size), "path": None}


def pixels(value):
    return np.asarray(value.convert("RGB") if isinstance(value, Image.Image) else Image.open(value).convert("RGB"))


EDIT_TYPES = ["color", "shape", "relation", "count"]


def make_rows(n=6):
    """Rows with K = i % 3 counterfactuals and M = i % 2 * 2 edits; image seeds 100*i + j."""
    rows = []
    for i in range(n):
        k, m = i % 3, (i % 2) * 2
        rows.append(
            {
                "image": encoded(100 * i, size=(8, 6) if i % 2 else (12, 10)),
                "caption": f"caption {i}",
                "cf_images": [encoded(100 * i + 10 + j) for j in range(k)],
                "cf_captions": [f"counterfactual {i}.{j}" for j in range(k)],
                "edit_images": [encoded(100 * i + 50 + j) for j in range(m)],
                "edit_types": [EDIT_TYPES[(i + j) % 4] for j in range(m)],
                "edit_captions": [f"edit {i}.{j}" for j in range(m)],
                "id": f"r{i}",
            }
        )
    return rows


def corpus(rows=None):
    return Dataset.from_list(rows if rows is not None else make_rows(), features=counterfactual_features())


def assert_same_rows(loaded, rows):
    loaded = list(loaded)
    assert [r["caption"] for r in loaded] == [r["caption"] for r in rows]
    for got, want in zip(loaded, rows):
        assert got["id"] == want["id"]
        assert got["cf_captions"] == want["cf_captions"]
        assert got["edit_types"] == want["edit_types"]
        np.testing.assert_array_equal(pixels(got["image"]), pixels(io.BytesIO(want["image"]["bytes"])))
        for got_img, want_img in zip(got["cf_images"] + got["edit_images"], want["cf_images"] + want["edit_images"]):
            np.testing.assert_array_equal(pixels(got_img), pixels(io.BytesIO(want_img["bytes"])))


# ---------------------------------------------------------------- save / load round trip


def test_round_trip_through_parquet_shards_and_card(tmp_path):
    rows = make_rows(6)
    written = save_counterfactual_dataset(corpus(rows), tmp_path / "out", max_shard_size=600, source="unit-test")
    shard_files = sorted(os.listdir(tmp_path / "out" / "data"))
    assert len(shard_files) > 1 and all(f.startswith("train-") and f.endswith(".parquet") for f in shard_files)
    assert sorted(os.path.basename(p) for p in written) == shard_files

    loaded = load_counterfactual_dataset(tmp_path / "out")
    assert isinstance(loaded, Dataset) and loaded.features["cf_images"] == counterfactual_features()["cf_images"]
    assert_same_rows(loaded, rows)

    plain = load_dataset("parquet", data_files=str(tmp_path / "out" / "data" / "*.parquet"), split="train")
    assert plain.features["image"] == datasets.Image()
    assert plain["caption"] == [r["caption"] for r in rows]

    card = DatasetCard.load(tmp_path / "out" / "README.md")
    assert card.data.configs[0]["data_files"][0] == {"split": "train", "path": "data/train-*"}
    # A free-text source is recorded in the card's text; the Hub's source_datasets gets a valid value.
    assert card.data.source_datasets == ["original"] and "Source: unit-test" in card.text
    text = card.text
    assert "6 rows" in text
    # edits: rows 1, 3, 5 have two each -> color x2 (r1: shape,relation; r3: color,shape; r5: relation,count)
    assert "| shape | 2 |" in text and "| relation | 2 |" in text and "| color | 1 |" in text
    assert "| 0 | 2 |" in text and "| 0 | 3 |" in text  # K = 0 for rows 0 and 3; M = 0 for rows 0, 2, 4
    assert "| 12x10 | 3 |" in text and "| 8x6 | 15 |" in text  # 3 anchors; 3 anchors + 6 cf + 6 edit images


def test_corpus_totals_from_arrow_and_from_rows_agree():
    rows = make_rows(6)
    # K = 0,1,2,0,1,2 -> 6 counterfactuals; rows 1, 3, 5 have two edits each (see the card test above).
    expected = {"rows": 6, "counterfactuals": 6, "negative_captions": 0, "edits": 6,
                "edit_types": {"color": 1, "count": 1, "relation": 2, "shape": 2}}
    assert corpus_totals(corpus(rows)) == expected
    assert corpus_totals(rows) == expected
    assert corpus_totals(corpus(rows).to_iterable_dataset()) is None


def test_dataset_dict_one_prefix_per_split_and_plain_datasets_folder(tmp_path):
    rows = make_rows(4)
    save_counterfactual_dataset(DatasetDict(train=corpus(rows[:3]), test=corpus(rows[3:])), tmp_path / "dd")
    names = sorted(os.listdir(tmp_path / "dd" / "data"))
    assert names == ["test-00000-of-00001.parquet", "train-00000-of-00001.parquet"]
    loaded = load_counterfactual_dataset(tmp_path / "dd")
    assert isinstance(loaded, DatasetDict) and len(loaded["train"]) == 3 and len(loaded["test"]) == 1
    assert load_counterfactual_dataset(tmp_path / "dd", split="test")["id"] == ["r3"]


def test_save_to_disk_folder_and_parquet_file_load(tmp_path):
    rows = make_rows(3)
    corpus(rows).save_to_disk(tmp_path / "disk")
    assert_same_rows(load_counterfactual_dataset(tmp_path / "disk"), rows)
    corpus(rows).to_parquet(tmp_path / "one.parquet")
    assert_same_rows(load_counterfactual_dataset(tmp_path / "one.parquet"), rows)


def test_local_folders_with_the_same_name_do_not_share_a_cache(tmp_path):
    # datasets keys a local folder's cache by its name, not its path: without our own key the second folder
    # (and a rewrite of the first) loaded the first folder's cached rows.
    first, second = make_rows(3), make_rows(5)
    save_counterfactual_dataset(DatasetDict(train=corpus(first)), tmp_path / "a" / "corpus")
    save_counterfactual_dataset(DatasetDict(train=corpus(second)), tmp_path / "b" / "corpus")
    assert_same_rows(load_counterfactual_dataset(tmp_path / "a" / "corpus", split="train"), first)
    assert_same_rows(load_counterfactual_dataset(tmp_path / "b" / "corpus", split="train"), second)
    rewritten = make_rows(4)
    save_counterfactual_dataset(DatasetDict(train=corpus(rewritten)), tmp_path / "a" / "corpus")
    assert_same_rows(load_counterfactual_dataset(tmp_path / "a" / "corpus", split="train"), rewritten)


# ---------------------------------------------------------------- annotation files


def write_images(folder, seeds):
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        image(seed).save(folder / f"{seed}.png")


def test_jsonl_in_our_schema_with_relative_paths(tmp_path):
    root = tmp_path / "corpus"
    write_images(root / "img", [1, 2, 3, 4, 5])
    records = [
        {"id": "a", "image": "img/1.png", "caption": "one", "cf_images": ["img/2.png"], "cf_captions": ["two"],
         "edit_images": ["img/3.png"], "edit_types": ["color"]},
        {"id": "b", "image": "img/4.png", "caption": "four", "cf_images": ["img/5.png", "img/1.png"],
         "cf_captions": ["five", "one again"], "edit_images": [], "edit_types": []},
    ]
    (root / "train.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    loaded = load_counterfactual_dataset(root / "train.jsonl")
    assert loaded["caption"] == ["one", "four"] and loaded[1]["cf_captions"] == ["five", "one again"]
    np.testing.assert_array_equal(pixels(loaded[0]["image"]), pixels(image(1)))
    np.testing.assert_array_equal(pixels(loaded[0]["edit_images"][0]), pixels(image(3)))
    np.testing.assert_array_equal(pixels(loaded[1]["cf_images"][0]), pixels(image(5)))
    np.testing.assert_array_equal(pixels(loaded[1]["cf_images"][1]), pixels(image(1)))


def authors_records():
    return [
        {"orig_input": "Describe. <|vision_start|>pics/10.png<|vision_end|>", "orig_output": "a red cube",
         "cf_samples": [{"cf_text": "a blue cube", "cf_image_path": "pics/11.png"},
                        {"cf_text": "a red ball", "cf_image_path": "pics/12.png"}]},
        {"orig_input": "<|vision_start|>pics/20.png<|vision_end|> What is shown?", "orig_output": "two dogs",
         "cf_samples": [{"cf_text": "three dogs", "cf_image_path": "pics/21.png"}]},
    ]


@pytest.mark.parametrize("as_jsonl", [True, False], ids=["jsonl", "json"])
def test_authors_format_loads_into_schema(tmp_path, as_jsonl):
    root = tmp_path / "authors"
    write_images(root / "pics", [10, 11, 12, 20, 21])
    records = authors_records()
    path = root / ("ann.jsonl" if as_jsonl else "ann.json")
    path.write_text("\n".join(json.dumps(r) for r in records) if as_jsonl else json.dumps(records))
    loaded = load_counterfactual_dataset(path)
    assert loaded["caption"] == ["a red cube", "two dogs"]
    assert loaded["cf_captions"] == [["a blue cube", "a red ball"], ["three dogs"]]
    assert loaded["edit_images"] == [[], []] and loaded["edit_types"] == [[], []]
    for row, (anchor, cfs) in zip(loaded, [(10, [11, 12]), (20, [21])]):
        np.testing.assert_array_equal(pixels(row["image"]), pixels(image(anchor)))
        for got, seed in zip(row["cf_images"], cfs, strict=True):
            np.testing.assert_array_equal(pixels(got), pixels(image(seed)))


# ---------------------------------------------------------------- bad rows


def _undecodable(rows, tmp_path):
    rows[2]["image"] = {"bytes": b"not a png at all", "path": None}
    return "image", "undecodable_image"


def _missing_file(rows, tmp_path):
    rows[2]["cf_images"] = [{"bytes": None, "path": str(tmp_path / "gone.png")}] * len(rows[2]["cf_images"])
    return "cf_images[0]", "missing_image"


def _empty_caption(rows, tmp_path):
    rows[2]["caption"] = "   "
    return "caption", "empty_text"


def _cf_mismatch(rows, tmp_path):
    rows[2]["cf_captions"] = rows[2]["cf_captions"] + ["extra"]
    return "cf_captions", "cf_length_mismatch"


def _edit_mismatch(rows, tmp_path):
    rows[2]["edit_types"] = ["color"]
    rows[2]["edit_captions"] = ["x"]
    return "edit_types", "edit_length_mismatch"


def _edit_caption_mismatch(rows, tmp_path):
    rows[3]["edit_captions"] = ["only one"]
    return "edit_captions", "edit_length_mismatch"


def _duplicate_id(rows, tmp_path):
    rows[2]["id"] = "r0"
    return "id", "duplicate_id"


BAD_ROWS = [_undecodable, _missing_file, _empty_caption, _cf_mismatch, _edit_mismatch, _edit_caption_mismatch,
            _duplicate_id]


@pytest.mark.parametrize("spoil", BAD_ROWS, ids=lambda f: f.__name__.strip("_"))
def test_bad_row_raises_naming_row_and_field(tmp_path, spoil):
    rows = make_rows(5)
    field, reason = spoil(rows, tmp_path)
    bad_index = 3 if spoil is _edit_caption_mismatch else 2
    with pytest.raises(CorpusError) as info:
        validate_counterfactual_dataset(corpus(rows))
    assert info.value.reason == reason
    message = str(info.value)
    assert f"row {bad_index} (id '{rows[bad_index]['id']}')" in message and field in message


@pytest.mark.parametrize("spoil", BAD_ROWS, ids=lambda f: f.__name__.strip("_"))
def test_bad_row_skipped_counted_and_listed(tmp_path, spoil):
    rows = make_rows(5)
    _, reason = spoil(rows, tmp_path)
    bad_index = 3 if spoil is _edit_caption_mismatch else 2
    rejected = tmp_path / "rejected.jsonl"
    with pytest.warns(CorpusWarning, match=f"1 rejected.*{reason}: 1"):
        clean, report = validate_counterfactual_dataset(corpus(rows), on_error="skip", rejected_path=rejected)
    assert len(clean) == 4 and report.rejected == 1 and report.reasons == {reason: 1}
    assert rows[bad_index]["caption"] not in clean["caption"] or spoil is _duplicate_id
    listed = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [(r["index"], r["id"], r["reason"]) for r in listed] == [(bad_index, rows[bad_index]["id"], reason)]


def test_unknown_edit_type_warns_but_keeps_the_row():
    rows = make_rows(4)
    rows[1]["edit_types"] = ["color", "texture"]
    with pytest.warns(CorpusWarning, match="'texture' x1"):
        clean, report = validate_counterfactual_dataset(corpus(rows))
    assert len(clean) == 4 and report.unknown_edit_types == {"texture": 1}


def test_missing_image_file_through_the_loader(tmp_path):
    root = tmp_path / "c"
    write_images(root, [1])
    lines = [{"id": "ok", "image": "1.png", "caption": "fine"}, {"id": "lost", "image": "nope.png", "caption": "x"}]
    (root / "a.jsonl").write_text("\n".join(json.dumps(r) for r in lines))
    with pytest.raises(CorpusError, match=r"row 1 \(id 'lost'\), field 'image': image file not found"):
        load_counterfactual_dataset(root / "a.jsonl")
    with pytest.warns(CorpusWarning):
        clean = load_counterfactual_dataset(root / "a.jsonl", on_error="skip", rejected_path=tmp_path / "rej.jsonl")
    assert clean["id"] == ["ok"]
    assert json.loads((tmp_path / "rej.jsonl").read_text())["id"] == "lost"


# ---------------------------------------------------------------- path escapes


@pytest.mark.parametrize("kind", ["dotdot", "absolute"])  # a symlink under the root is followed: test_path_containment
def test_path_outside_annotation_folder_is_refused(tmp_path, kind):
    outside = tmp_path / "elsewhere"
    write_images(outside, [7])
    root = tmp_path / "ann"
    write_images(root, [1])
    target = {"dotdot": "../elsewhere/7.png", "absolute": str(outside / "7.png")}[kind]
    record = {"orig_input": "<|vision_start|>1.png<|vision_end|>", "orig_output": "anchor",
              "cf_samples": [{"cf_text": "cf", "cf_image_path": target}]}
    (root / "a.jsonl").write_text(json.dumps(record) + "\n")
    with pytest.raises(CorpusError, match=r"row 0, field 'cf_images\[0\]'.*outside the annotation folder"):
        load_counterfactual_dataset(root / "a.jsonl")
    loaded = load_counterfactual_dataset(root / "a.jsonl", allow_outside_root=True)
    np.testing.assert_array_equal(pixels(loaded[0]["cf_images"][0]), pixels(image(7)))


# ---------------------------------------------------------------- streaming


def test_streaming_folder_returns_iterable_dataset_with_same_rows(tmp_path):
    rows = make_rows(5)
    save_counterfactual_dataset(corpus(rows), tmp_path / "out", max_shard_size="1KB")
    streamed = load_counterfactual_dataset(tmp_path / "out", streaming=True)
    assert isinstance(streamed, IterableDataset)
    assert_same_rows(streamed, rows)


def test_streaming_skip_drops_and_records_lazily(tmp_path):
    rows = make_rows(4)
    rows[1]["caption"] = ""
    corpus(rows).save_to_disk(tmp_path / "disk")
    rejected = tmp_path / "rej.jsonl"
    streamed = load_counterfactual_dataset(tmp_path / "disk", streaming=True, on_error="skip", rejected_path=rejected)
    assert isinstance(streamed, IterableDataset) and not rejected.exists()  # nothing checked before iterating
    with pytest.warns(CorpusWarning, match="1 rejected"):
        assert [r["id"] for r in streamed] == ["r0", "r2", "r3"]
    assert json.loads(rejected.read_text())["id"] == "r1"
    with pytest.raises(CorpusError, match="row 1"):
        list(load_counterfactual_dataset(tmp_path / "disk", streaming=True))


def test_the_dataset_card_has_valid_hub_metadata(tmp_path):
    from cf_vlm_hf.data import corpus_card
    from cf_vlm_hf.data.card import CorpusStatistics, source_datasets_of

    assert source_datasets_of("HuggingFaceM4/COCO") == ["extended|HuggingFaceM4/COCO"]
    assert source_datasets_of("cf-vlm generate shapes-world") == ["original"]
    assert source_datasets_of(str(tmp_path)) == ["original"]  # a local folder is not a Hub dataset
    card = corpus_card({"train": CorpusStatistics(num_rows=3)}, {"train": "data/train-*"}, source="me/captions",
                       license="cc-by-4.0", generation={"image model": "stabilityai/sdxl", "seed": 0})
    assert card.data.license == "cc-by-4.0" and card.data.source_datasets == ["extended|me/captions"]
    assert "| image model | stabilityai/sdxl |" in card.text and "## Generation settings" in card.text
