"""Every corpus source gives the same schema: missing list columns are empty, negative_captions loads, columns map."""

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
    load_counterfactual_dataset,
    save_counterfactual_dataset,
)
from cf_vlm_hf.data.schema import corpus_features

LISTS = ["cf_images", "cf_captions", "edit_images", "edit_types", "negative_captions"]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    datasets.disable_progress_bars()


def picture(seed):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (6, 8, 3), dtype=np.uint8))


def write_pictures(folder, seeds):
    os.makedirs(folder, exist_ok=True)
    for seed in seeds:
        picture(seed).save(os.path.join(folder, f"{seed}.png"))


def pixels(image):
    return np.asarray(image.convert("RGB"))


def write_jsonl(path, records):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(json.dumps(r) for r in records) + "\n")


# Two rows that name only image and caption (and, in row 1, caption-only negatives): every list column is missing.
PLAIN = [{"id": "p0", "caption": "zero"}, {"id": "p1", "caption": "one", "negative_captions": ["not one", "two"]}]


def assert_plain(loaded, seeds=(0, 1)):
    """The loaded PLAIN rows: every missing list empty, edit_captions None, negatives kept, images exact."""
    rows = list(loaded)
    assert [r["id"] for r in rows] == ["p0", "p1"] and [r["caption"] for r in rows] == ["zero", "one"]
    for row in rows:
        assert row["cf_images"] == [] and row["cf_captions"] == [] and row["edit_images"] == []
        assert row["edit_types"] == [] and row["edit_captions"] is None
    assert rows[0]["negative_captions"] == [] and rows[1]["negative_captions"] == ["not one", "two"]
    for row, seed in zip(rows, seeds):
        np.testing.assert_array_equal(pixels(row["image"]), pixels(picture(seed)))
    if not isinstance(loaded, IterableDataset):
        assert loaded.features == corpus_features()


def plain_dataset(with_negatives=True):
    data = {"image": [picture(0), picture(1)], "caption": ["zero", "one"], "id": ["p0", "p1"]}
    if with_negatives:
        data["negative_captions"] = [[], ["not one", "two"]]
    return Dataset.from_dict(data).cast_column("image", datasets.Image())


def test_jsonl_with_only_image_and_caption(tmp_path):
    write_pictures(tmp_path / "c", [0, 1])
    write_jsonl(str(tmp_path / "c" / "a.jsonl"), [dict(r, image=f"{i}.png") for i, r in enumerate(PLAIN)])
    assert_plain(load_counterfactual_dataset(tmp_path / "c" / "a.jsonl"))
    assert_plain(load_counterfactual_dataset(tmp_path / "c" / "a.jsonl", streaming=True))


def test_folder_of_split_files_gives_one_split_per_file(tmp_path):
    write_pictures(tmp_path / "c" / "img", [0, 1, 5])
    write_jsonl(str(tmp_path / "c" / "train.jsonl"), [dict(r, image=f"img/{i}.png") for i, r in enumerate(PLAIN)])
    write_jsonl(str(tmp_path / "c" / "test.jsonl"), [{"id": "t", "image": "img/5.png", "caption": "five"}])
    both = load_counterfactual_dataset(tmp_path / "c")
    assert isinstance(both, DatasetDict) and sorted(both) == ["test", "train"]
    assert_plain(both["train"])
    assert load_counterfactual_dataset(tmp_path / "c", split="test")["id"] == ["t"]
    with pytest.raises(ValueError, match=r"has split\(s\) \['test', 'train'\], not 'validation'"):
        load_counterfactual_dataset(tmp_path / "c", split="validation")


@pytest.mark.parametrize("layout", ["top", "split_folders", "symlinked_photos"])
def test_image_folder_with_metadata_jsonl(tmp_path, layout):
    root = tmp_path / "if"
    folder = root / "train" if layout == "split_folders" else root
    photos = folder / "photos"
    if layout == "symlinked_photos":  # ln -s /data/coco/images photos
        write_pictures(tmp_path / "elsewhere", [0, 1, 2])
        os.makedirs(folder)
        os.symlink(tmp_path / "elsewhere", photos)
    else:
        write_pictures(photos, [0, 1, 2])
    records = [dict(r, file_name=f"photos/{i}.png") for i, r in enumerate(PLAIN)]
    records[0].update(cf_images_file_names=["photos/2.png"], cf_captions=["two"])  # only row 0 has a cf list
    write_jsonl(str(folder / "metadata.jsonl"), records)
    loaded = load_counterfactual_dataset(root)
    assert loaded["cf_captions"] == [["two"], []] and loaded["negative_captions"] == [[], ["not one", "two"]]
    np.testing.assert_array_equal(pixels(loaded[0]["cf_images"][0]), pixels(picture(2)))
    np.testing.assert_array_equal(pixels(loaded[1]["image"]), pixels(picture(1)))
    assert loaded[1]["cf_images"] == [] and loaded[1]["edit_images"] == [] and loaded[1]["edit_captions"] is None


def test_save_to_disk_folder_parquet_file_and_parquet_shards_without_list_columns(tmp_path):
    for negatives in (True, False):
        base = tmp_path / str(negatives)
        plain_dataset(negatives).save_to_disk(base / "disk")
        plain_dataset(negatives).to_parquet(str(base / "one.parquet"))
        os.makedirs(base / "shards" / "data")
        plain_dataset(negatives).to_parquet(str(base / "shards" / "data" / "train-00000-of-00001.parquet"))
        for source in (base / "disk", base / "one.parquet", base / "shards"):
            loaded = load_counterfactual_dataset(source)
            if negatives:
                assert_plain(loaded)
            else:
                assert loaded["negative_captions"] == [[], []] and loaded["cf_images"] == [[], []]
                assert loaded["edit_captions"] == [None, None] and loaded.features == corpus_features()
        assert_plain(load_counterfactual_dataset(base / "shards", streaming=True)) if negatives else None


def test_in_memory_dataset_dict_and_iterable_dataset(tmp_path):
    assert_plain(load_counterfactual_dataset(plain_dataset()))
    both = load_counterfactual_dataset(DatasetDict(train=plain_dataset(), test=plain_dataset()))
    assert isinstance(both, DatasetDict)
    assert_plain(both["test"])
    assert_plain(load_counterfactual_dataset(DatasetDict(train=plain_dataset()), split="train"))
    streamed = load_counterfactual_dataset(plain_dataset().to_iterable_dataset())
    assert isinstance(streamed, IterableDataset)
    assert_plain(streamed)
    assert_plain(load_counterfactual_dataset(plain_dataset(), streaming=True))
    with pytest.raises(ValueError, match=r"keyword arguments \['revision'\] are for datasets.load_dataset"):
        load_counterfactual_dataset(plain_dataset(), revision="main")


def test_negative_captions_survive_save_and_are_counted_in_the_card(tmp_path):
    corpus = load_counterfactual_dataset(plain_dataset())
    save_counterfactual_dataset(corpus, tmp_path / "out")
    assert_plain(load_counterfactual_dataset(tmp_path / "out"))
    assert load_dataset(str(tmp_path / "out"), split="train")["negative_captions"] == [[], ["not one", "two"]]
    text = DatasetCard.load(tmp_path / "out" / "README.md").text
    assert "### Caption-only negatives per row (2 in all)" in text
    assert "| 0 | 1 |" in text.split("Caption-only negatives")[1] and "| 2 | 1 |" in text.split("Caption-only")[1]


# ---------------------------------------------------------------- column mapping


def test_run_clip_style_columns_in_jsonl_parquet_and_memory(tmp_path):
    write_pictures(tmp_path / "c", [0, 1])
    records = [{"image_path": f"{i}.png", "text": r.pop("caption"), **r} for i, r in enumerate(map(dict, PLAIN))]
    write_jsonl(str(tmp_path / "c" / "a.jsonl"), records)
    mapping = {"image_column": "image_path", "caption_column": "text"}
    assert_plain(load_counterfactual_dataset(tmp_path / "c" / "a.jsonl", **mapping))
    memory = plain_dataset().rename_columns({"image": "image_path", "caption": "text"})
    assert_plain(load_counterfactual_dataset(memory, **mapping))
    memory.to_parquet(str(tmp_path / "m.parquet"))
    assert_plain(load_counterfactual_dataset(tmp_path / "m.parquet", **mapping))
    assert_plain(load_counterfactual_dataset(memory.to_iterable_dataset(), **mapping))


def test_mapping_errors_name_the_columns(tmp_path):
    with pytest.raises(CorpusError) as info:
        load_counterfactual_dataset(plain_dataset(), image_column="photo")
    assert str(info.value) == ("image_column='photo' is not a column of the corpus; it has ['caption', 'id', 'image', "
                               "'negative_captions']")
    with pytest.raises(CorpusError, match=r"caption_column='captions' is not .* \(did you mean 'captionz'\?\)"):
        load_counterfactual_dataset(plain_dataset().rename_column("caption", "captionz"), caption_column="captions")
    with_both = plain_dataset().add_column("text", ["a", "b"])
    with pytest.raises(CorpusError, match=r"cannot use column 'text' as 'caption': the corpus already has a 'caption'"):
        load_counterfactual_dataset(with_both, caption_column="text")


def test_benchmark_keys_say_what_was_expected(tmp_path):
    # SugarCrepe-like records: the error names the keys the row has and how to map them.
    write_pictures(tmp_path / "c", [0])
    write_jsonl(str(tmp_path / "c" / "s.jsonl"), [{"filename": "0.png", "caption": "a", "negative_caption": "b"}])
    with pytest.raises(CorpusError) as info:
        load_counterfactual_dataset(tmp_path / "c" / "s.jsonl")
    message = str(info.value)
    assert message.startswith("row 0: no 'image' field (the row has ['caption', 'filename', 'negative_caption'])")
    assert "image_column=" in message and "negative_caption' (did you mean 'negative_captions'?)" in message
    with pytest.warns(CorpusWarning, match=r"'negative_caption' in 1 row \(did you mean 'negative_captions'\?\)"):
        loaded = load_counterfactual_dataset(tmp_path / "c" / "s.jsonl", image_column="filename")
    assert loaded["caption"] == ["a"] and loaded["negative_captions"] == [[]]


# ---------------------------------------------------------------- missing sources


@pytest.mark.parametrize("name", ["corpus.jsonl", "corpus.parquet", "data/corpus.json", "./corpus", "a/b/c"])
def test_missing_local_path_says_no_such_file(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"^no such file(?: or folder)?: " + repr(name).replace(".", r"\.")):
        load_counterfactual_dataset(name)


def test_unknown_hub_id_offline_is_one_line(monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConnectionError) as info:
        load_counterfactual_dataset("someone/no-such-corpus")
    message = str(info.value)
    assert message.startswith("cannot load corpus 'someone/no-such-corpus': it is no local file or folder, and the "
                              "Hugging Face Hub cannot be reached")
    assert "\n" not in message and info.value.__suppress_context__
