"""`cf-vlm train`'s corpus flags reach the loader: --image_column, --caption_column, --allow_outside_root."""

import json
import os

import datasets
import numpy as np
import pytest
from PIL import Image

from cf_vlm_hf.commands.train import load_split
from cf_vlm_hf.commands.train_args import parse_train_args
from cf_vlm_hf.data import CorpusError


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def data_args(*flags):
    _, data, _ = parse_train_args(["--model_name_or_path", "m", "--output_dir", "o", "--report_to", "none", *flags])
    return data


def test_flags_in_both_spellings_and_their_defaults():
    data = data_args("--dataset", "c.jsonl", "--image-column", "image_path", "--caption_column", "text",
                     "--allow-outside-root")
    assert (data.image_column, data.caption_column, data.allow_outside_root) == ("image_path", "text", True)
    data = data_args("--dataset", "c.jsonl")
    assert (data.image_column, data.caption_column, data.allow_outside_root) == (None, None, False)


def test_load_split_maps_columns_and_lets_a_path_outside_the_root_through(tmp_path):
    os.makedirs(tmp_path / "photos")
    Image.fromarray(np.full((4, 4, 3), 7, np.uint8)).save(tmp_path / "photos" / "a.png")
    os.makedirs(tmp_path / "corpus")
    record = {"image_path": "../photos/a.png", "text": "a grey square", "negative_captions": ["a red square"]}
    (tmp_path / "corpus" / "train.jsonl").write_text(json.dumps(record) + "\n")
    flags = ["--dataset", str(tmp_path / "corpus" / "train.jsonl"), "--image_column", "image_path",
             "--caption_column", "text"]
    with pytest.raises(CorpusError, match=r"row 0, field 'image': image path '../photos/a.png' lies outside the "
                                          r"annotation folder .*--allow_outside_root"):
        load_split(data_args(*flags), "train")
    train = load_split(data_args(*flags, "--allow_outside_root"), "train")
    assert train["caption"] == ["a grey square"] and train["negative_captions"] == [["a red square"]]
    assert np.asarray(train[0]["image"]).max() == 7
