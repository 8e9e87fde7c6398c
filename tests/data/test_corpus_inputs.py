"""Bad input a user could write: checked before any cast, each a CorpusError naming the row, the id and the field.

Row faults in an annotation file are rejected by row in ``raise`` mode and dropped (and listed with their line) in
``skip`` mode; a column of the wrong type in a ``datasets`` corpus is refused in both modes.
"""

import io
import json
import os

import datasets
import numpy as np
import pytest
from datasets import Dataset
from PIL import Image

from cf_vlm_hf import CounterfactualCollator
from cf_vlm_hf.data import (
    ROW_INDEX,
    CorpusError,
    CorpusWarning,
    check_row,
    counterfactual_features,
    load_counterfactual_dataset,
    validate_counterfactual_dataset,
    with_row_index,
)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    datasets.disable_progress_bars()


def png(seed):
    buffer = io.BytesIO()
    Image.fromarray(np.full((6, 8, 3), seed, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


GOOD = {"image": "a.png", "caption": "a red cube"}

# (name, the bad record's fields, reason, field named, message part)
ROW_FAULTS = [
    ("caption_number", {"caption": 3}, "not_a_string", "caption", "expected a string, got a number (3)"),
    ("caption_nan", {"caption": float("nan")}, "not_a_string", "caption", "expected a string, got a number (nan)"),
    ("caption_list", {"caption": ["a", "list"]}, "not_a_string", "caption", "expected a string, got a list"),
    ("caption_null", {"caption": None}, "missing_text", "caption", "caption is missing (null)"),
    ("caption_dict", {"caption": {"en": "a"}}, "not_a_string", "caption", "expected a string, got a dict"),
    ("caption_blank", {"caption": "  "}, "empty_text", "caption", "text is empty"),
    ("cf_captions_string", {"cf_images": ["a.png"], "cf_captions": "a blue cube"}, "not_a_list", "cf_captions",
     "must be a list, got a string ('a blue cube'); write ['a blue cube']"),
    ("edit_types_string", {"edit_images": ["a.png"], "edit_types": "color"}, "not_a_list", "edit_types",
     "must be a list, got a string ('color')"),
    ("negatives_string", {"negative_captions": "a blue cube"}, "not_a_list", "negative_captions",
     "must be a list, got a string"),
    ("negative_empty", {"negative_captions": ["ok", ""]}, "empty_text", "negative_captions[1]", "text is empty"),
    ("negative_number", {"negative_captions": [7]}, "not_a_string", "negative_captions[0]",
     "expected a string, got a number (7)"),
    ("negative_null", {"negative_captions": [None]}, "missing_text", "negative_captions[0]", "text is missing"),
    ("image_number", {"image": 3}, "not_an_image", "image", "expected an image (a path, a {'path': ...} or"),
    ("image_list", {"image": ["a.png"]}, "not_an_image", "image", "got a list"),
    ("image_null", {"image": None}, "missing_image", "image", "image is missing (None)"),
    ("image_empty_path", {"image": " "}, "missing_image", "image", "image path is empty"),
    ("image_dict_number_path", {"image": {"path": 5}}, "not_an_image", "image", "image 'path' must be a string"),
    ("image_empty_dict", {"image": {}}, "missing_image", "image", "image dict has neither 'bytes' nor 'path'"),
    ("cf_image_number", {"cf_images": [1.5], "cf_captions": ["x"]}, "not_an_image", "cf_images[0]",
     "got a number (1.5)"),
    ("id_list", {"id": ["x"]}, "not_a_string", "id", "expected a string or number, got a list"),
    ("captions_without_images", {"cf_captions": ["a blue cube"]}, "cf_length_mismatch", None,
     "'cf_images' has 0 entries but 'cf_captions' has 1; captions that describe no image of their own are "
     "caption-only negatives: put them in 'negative_captions'"),
    ("typo_key", {"cf_image": ["a.png"], "cf_captions": ["x"]}, "cf_length_mismatch", None,
     "note: key 'cf_image' (did you mean 'cf_images'?) is not in the schema"),
    ("edit_captions_short", {"edit_images": ["a.png", "a.png"], "edit_types": ["color", "size"],
                             "edit_captions": ["one"]}, "edit_length_mismatch", None,
     "'edit_images' has 2 entries but 'edit_captions' has 1"),
]


def write_corpus(folder, bad_fields):
    os.makedirs(folder, exist_ok=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(os.path.join(folder, "a.png"))
    records = [dict(GOOD, id="r0"), dict(GOOD, id="r1"), {**GOOD, "id": "bad", **bad_fields}, dict(GOOD, id="r3")]
    path = os.path.join(folder, "train.jsonl")
    with open(path, "w") as f:  # allow_nan: JSON's NaN literal, as Python writes it
        f.write("\n".join(json.dumps(r, allow_nan=True) for r in records) + "\n")
    return path


@pytest.mark.parametrize("name, fields, reason, field, part", ROW_FAULTS, ids=[f[0] for f in ROW_FAULTS])
def test_row_fault_in_jsonl_raises_naming_row_id_and_field(tmp_path, name, fields, reason, field, part):
    path = write_corpus(tmp_path / "c", fields)
    bad_id = "bad" if name != "id_list" else None
    with pytest.raises(CorpusError) as info:
        load_counterfactual_dataset(path)
    message, where = str(info.value), "row 2" + (" (id 'bad')" if bad_id else "")
    assert info.value.reason == reason and part in message
    assert message.startswith(f"{where}, field '{field}': " if field else f"{where}: "), message


@pytest.mark.parametrize("name, fields, reason, field, part", ROW_FAULTS, ids=[f[0] for f in ROW_FAULTS])
def test_row_fault_in_jsonl_is_skipped_and_listed_with_its_line(tmp_path, name, fields, reason, field, part):
    path = write_corpus(tmp_path / "c", fields)
    rejected = tmp_path / "rejected.jsonl"
    with pytest.warns(CorpusWarning, match=rf"4 rows: 3 kept, 1 rejected \({reason}: 1\)"):
        clean = load_counterfactual_dataset(path, on_error="skip", rejected_path=rejected)
    assert clean["id"] == ["r0", "r1", "r3"] and clean["caption"] == ["a red cube"] * 3
    (record,) = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert (record["index"], record["reason"], record["line"]) == (2, reason, 3) and part in record["message"]


def test_bad_json_lines_are_skipped_in_skip_mode_and_raise_in_raise_mode(tmp_path):
    path = write_corpus(tmp_path / "c", {})
    lines = open(path).read().splitlines()
    lines[1] = '{"image": "a.png", "caption": '  # cut short
    lines.insert(3, "[1, 2]")  # JSON, not an object
    lines.insert(0, "")  # blank lines are not records
    open(path, "w").write("\n".join(lines) + "\n")
    with pytest.raises(CorpusError, match=r"^row 1: .*train\.jsonl, line 3: not valid JSON \(Expecting value"):
        load_counterfactual_dataset(path)
    rejected = tmp_path / "rej.jsonl"
    with pytest.warns(CorpusWarning, match=r"5 rows: 3 kept, 2 rejected \(bad_json: 2\)"):
        clean = load_counterfactual_dataset(path, on_error="skip", rejected_path=rejected)
    assert clean["id"] == ["r0", "bad", "r3"]
    listed = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [(r["index"], r["line"], r["reason"]) for r in listed] == [(1, 3, "bad_json"), (3, 5, "bad_json")]
    assert "line 5: not a JSON object" in listed[1]["message"]
    streamed = load_counterfactual_dataset(path, on_error="skip", streaming=True)
    with pytest.warns(CorpusWarning, match="2 rejected"):
        assert [r["id"] for r in streamed] == ["r0", "bad", "r3"]


def test_a_json_list_file_that_does_not_parse_raises_in_both_modes(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[{"image": "a.png", "caption": "x"},')
    for mode in ("raise", "skip"):
        with pytest.raises(CorpusError, match=r"a\.json: not valid JSON .*skip mode cannot drop one bad record"):
            load_counterfactual_dataset(path, on_error=mode)


def test_unknown_keys_warn_once_with_counts_and_did_you_mean(tmp_path):
    path = write_corpus(tmp_path / "c", {"cf_image": [], "colour": "red"})
    records = [json.loads(line) for line in open(path)]
    records[0]["cf_image"] = []
    open(path, "w").write("\n".join(json.dumps(r) for r in records) + "\n")
    with pytest.warns(CorpusWarning) as caught:
        clean = load_counterfactual_dataset(path)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and len(clean) == 4
    assert messages[0].startswith("corpus records have keys outside the schema, dropped: 'cf_image' in 2 rows (did "
                                  "you mean 'cf_images'?), 'colour' in 1 row. The schema's keys are image, caption,")
    assert "cf_image" not in clean.column_names and "colour" not in clean.column_names


def test_a_key_given_twice_through_the_mapping_is_refused(tmp_path):
    path = write_corpus(tmp_path / "c", {"image_path": "a.png"})
    with pytest.raises(CorpusError, match=r"^row 2 \(id 'bad'\): both 'image_path' and another key give field 'image'"):
        load_counterfactual_dataset(path, image_column="image_path")


# ---------------------------------------------------------------- datasets corpora: column types before any cast


def typed(column, values):
    data = {"image": [{"bytes": png(i), "path": None} for i in range(3)], "caption": ["a", "b", "c"],
            "id": ["x0", "x1", "x2"]}
    data[column] = values
    dataset = Dataset.from_dict(data)
    return dataset.cast_column("image", datasets.Image()) if column != "image" else dataset


COLUMN_FAULTS = [
    ("caption", [1.5, 2.0, float("nan")], "expected a string, got a float64 value"),
    ("caption", [["a", "list"], ["b"], ["c"]], "expected a string, got a list of strings"),
    ("cf_captions", ["a", "b", "c"], "must be a list, got a string"),
    ("negative_captions", [[1], [2], [3]], "must be a list of strings, got a list of int64 values"),
    ("image", [1, 2, 3], "expected an image (Image, path or bytes), got a int64 value"),
    ("cf_images", [[1], [], []], "must be a list of images, got a list of int64 values"),
    ("id", [["x"], ["y"], ["z"]], "expected a string or number, got a list of strings"),
]


@pytest.mark.parametrize("column, values, part", COLUMN_FAULTS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(COLUMN_FAULTS)])
def test_a_column_of_the_wrong_type_is_refused_before_the_cast(tmp_path, column, values, part):
    dataset = typed(column, values)
    dataset.to_parquet(str(tmp_path / "c.parquet"))
    first = "row 0" if column == "id" else "row 0 (id 'x0')"
    for source in (dataset, tmp_path / "c.parquet"):
        for mode in ("raise", "skip"):
            with pytest.raises(CorpusError) as info:
                load_counterfactual_dataset(source, on_error=mode)
            assert info.value.reason == "wrong_type"
            assert str(info.value) == (f"{first}, field '{column}': {part} (the column has this type, so every row of "
                                       "the corpus is affected)")


def test_null_values_in_typed_columns_are_row_faults(tmp_path):
    rows = [{"image": {"bytes": png(i), "path": None}, "caption": c, "cf_images": [], "cf_captions": [],
             "edit_images": [], "edit_types": [], "edit_captions": None, "negative_captions": n, "id": f"x{i}"}
            for i, (c, n) in enumerate([("a", []), (None, []), ("c", ["ok", None])])]
    dataset = Dataset.from_list(rows, features=counterfactual_features(with_negative_captions=True))
    with pytest.raises(CorpusError, match=r"^row 1 \(id 'x1'\), field 'caption': caption is missing \(null\)$"):
        validate_counterfactual_dataset(dataset)
    with pytest.warns(CorpusWarning, match=r"missing_text: 2"):
        clean, report = validate_counterfactual_dataset(dataset, on_error="skip")
    assert clean["id"] == ["x0"] and report.rejected == 2


def test_columns_outside_the_schema_warn_before_the_first_row_error():
    dataset = typed("caption", [None, "b", "c"]).add_column("cf_image", [[]] * 3)
    with pytest.warns(CorpusWarning, match=r"columns outside the schema, kept but not used: 'cf_image' \(did you mean "
                                           r"'cf_images'\?\)"):
        with pytest.raises(CorpusError, match="row 0 .*caption is missing"):
            validate_counterfactual_dataset(dataset)


# ---------------------------------------------------------------- errors name the dataset row, also in a collator


def corrupt_corpus(tmp_path):
    rows = [{"image": {"bytes": png(i), "path": None}, "caption": f"c{i}", "id": f"x{i}"} for i in range(5)]
    rows[3]["image"] = {"bytes": b"\x89PNG\r\n\x1a\n not really", "path": None}
    dataset = Dataset.from_list(rows).cast_column("image", datasets.Image())
    dataset.to_parquet(str(tmp_path / "c.parquet"))
    return tmp_path / "c.parquet"


def test_a_corrupt_image_is_named_by_its_row_at_load_time_and_in_a_stream(tmp_path):
    path = corrupt_corpus(tmp_path)
    with pytest.raises(CorpusError, match=r"^row 3 \(id 'x3'\), field 'image': image cannot be decoded"):
        load_counterfactual_dataset(path)
    streamed = load_counterfactual_dataset(path, streaming=True)
    with pytest.raises(CorpusError, match=r"^row 3 \(id 'x3'\), field 'image': image cannot be decoded"):
        list(streamed)


def test_with_row_index_lets_a_collator_name_the_dataset_row_of_a_lazily_decoded_image(tmp_path):
    from testing_utils import tiny_clip

    corpus = load_counterfactual_dataset(corrupt_corpus(tmp_path), decode_images=False)  # corruption not seen yet
    with pytest.raises(Exception) as raw:  # datasets' own decoding: nothing names the row
        corpus[3]
    assert "row" not in str(raw.value) and not isinstance(raw.value, CorpusError)

    _, processor = tiny_clip()
    collate = CounterfactualCollator(processor)
    rows = with_row_index(corpus)
    assert len(rows) == 5 and rows[4][ROW_INDEX] == 4 and rows[-1]["id"] == "x4"
    batch = collate(rows.__getitems__([0, 2]))
    assert batch["pixel_values"].shape == (2, 3, 32, 32)
    with pytest.raises(CorpusError, match=r"^row 3 \(id 'x3'\), field 'image': image cannot be decoded"):
        collate(rows.__getitems__([4, 3]))  # position 1 of the batch, row 3 of the dataset

    streamed = with_row_index(load_counterfactual_dataset(corrupt_corpus(tmp_path), streaming=True,
                                                          decode_images=False))
    batch = []
    with pytest.raises(CorpusError, match=r"^row 3 \(id 'x3'\), field 'image': image cannot be decoded"):
        for row in streamed:
            batch.append(row)
            collate([row])
    assert [r[ROW_INDEX] for r in batch] == [0, 1, 2, 3] and isinstance(batch[0]["image"], dict)


def test_check_row_prefers_the_row_index_over_the_batch_position():
    row = {"image": None, "caption": "x", "id": "q", ROW_INDEX: 41}
    with pytest.raises(CorpusError, match=r"^row 41 \(id 'q'\), field 'image': image is missing"):
        check_row(row, index="0 of the batch")
    with pytest.raises(CorpusError, match=r"^row 0 of the batch, field 'image'"):
        check_row({"image": None, "caption": "x"}, index="0 of the batch")


def test_a_broken_shard_is_named(tmp_path):
    rows = [{"image": {"bytes": png(i), "path": None}, "caption": f"c{i}", "id": f"x{i}"} for i in range(6)]
    dataset = Dataset.from_list(rows).cast_column("image", datasets.Image())
    os.makedirs(tmp_path / "c" / "data")
    for k in range(2):
        shard = tmp_path / "c" / "data" / f"train-0000{k}-of-00002.parquet"
        dataset.select(range(3 * k, 3 * k + 3)).to_parquet(str(shard))
    broken = tmp_path / "c" / "data" / "train-00001-of-00002.parquet"
    broken.write_bytes(broken.read_bytes()[:40])  # cut short
    streamed = load_counterfactual_dataset(tmp_path / "c", streaming=True)
    seen = []
    with pytest.raises(CorpusError) as info:
        for row in streamed:
            seen.append(row["id"])
    assert seen == ["x0", "x1", "x2"] and info.value.reason == "unreadable"
    assert str(info.value).startswith("row 3: the corpus cannot be read here (")
    with pytest.raises(CorpusError) as info:
        load_counterfactual_dataset(tmp_path / "c")
    assert info.value.reason == "unreadable"
    assert str(info.value).startswith(f"cannot read the corpus {str(tmp_path / 'c')!r}: ")


def test_byte_order_mark_is_read_and_a_line_that_is_not_utf8_is_a_row_fault(tmp_path):
    path = write_corpus(tmp_path / "c", {})
    lines = open(path, "rb").read().splitlines()
    lines[0] = b"\xef\xbb\xbf" + lines[0]  # a BOM, as some editors write
    lines[2] = lines[2].replace(b"a red cube", b"caf\xe9")  # latin-1, not UTF-8
    open(path, "wb").write(b"\n".join(lines) + b"\n")
    with pytest.raises(CorpusError, match=r"^row 2: .*train\.jsonl, line 3: not UTF-8 text \('utf-8' codec"):
        load_counterfactual_dataset(path)
    with pytest.warns(CorpusWarning, match=r"1 rejected \(bad_json: 1\)"):
        assert load_counterfactual_dataset(path, on_error="skip")["id"] == ["r0", "r1", "r3"]


@pytest.mark.parametrize("kind, part", [("directory", "image cannot be decoded ("), ("empty_file", "cannot identify"),
                                        ("truncated", "image cannot be decoded ("), ("text_file", "cannot identify"),
                                        ("missing", "image file not found: ")])
def test_image_files_that_are_not_images_are_named(tmp_path, kind, part):
    folder = tmp_path / "c"
    path = write_corpus(folder, {"image": "b.png"})
    whole = png(3) * 1
    target = folder / "b.png"
    if kind == "directory":
        os.makedirs(target)
    elif kind == "empty_file":
        target.write_bytes(b"")
    elif kind == "truncated":
        target.write_bytes(whole[: len(whole) // 2])
    elif kind == "text_file":
        target.write_text("hello")
    with pytest.raises(CorpusError) as info:
        load_counterfactual_dataset(path)
    assert str(info.value).startswith("row 2 (id 'bad'), field 'image': ") and part in str(info.value)
    assert info.value.reason == ("missing_image" if kind == "missing" else "undecodable_image")
