"""Image paths stay under the corpus root (lexically; symlinks put under it are followed), when loading and saving."""

import json
import os

import datasets
import numpy as np
import pytest
from datasets import Dataset
from PIL import Image

from cf_vlm_hf.data import (
    CorpusError,
    CorpusWarning,
    PathPolicy,
    load_counterfactual_dataset,
    save_counterfactual_dataset,
)
from cf_vlm_hf.data.sources import hub_policy


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    datasets.disable_progress_bars()


def picture(seed):
    return Image.fromarray(np.full((4, 5, 3), seed, np.uint8))


def put(path, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    picture(seed).save(path)


def pixels(image):
    return np.asarray(image.convert("RGB"))


@pytest.fixture
def layout(tmp_path):
    """``corpus/`` (the root, with ``own.png`` = 1), ``secret/`` beside it (``s.png`` = 9), ``store/`` (real photos)."""
    put(tmp_path / "corpus" / "own.png", 1)
    put(tmp_path / "secret" / "s.png", 9)
    put(tmp_path / "store" / "p.png", 5)
    put(tmp_path / "store" / "other.png", 6)
    return tmp_path


def jsonl(root, image, **extra):
    path = root / "corpus" / "a.jsonl"
    path.write_text(json.dumps({"id": "r0", "image": image, "caption": "x", **extra}) + "\n")
    return path


OUTSIDE = "lies outside the annotation folder"


@pytest.mark.parametrize("reference, kind", [("../secret/s.png", "a path with '..'"),
                                             ("sub/../../secret/s.png", "a path with '..'"),
                                             ("ABS", "an absolute path"),
                                             ({"path": "../secret/s.png"}, "a path with '..'"),
                                             ({"path": "ABS"}, "an absolute path"),
                                             ("hf://datasets/x/y/s.png", "a URL"),
                                             ("https://example.com/s.png", "a URL")])
def test_escapes_from_an_annotation_file_are_refused_naming_row_and_field(layout, reference, kind):
    absolute = str(layout / "secret" / "s.png")
    reference = ({"path": absolute} if reference == {"path": "ABS"} else absolute) if "ABS" in str(reference) \
        else reference
    root = str(layout / "corpus")
    for field, extra in (("image", {}), ("edit_images[0]", {"edit_types": ["color"]})):
        if field == "image":
            path = jsonl(layout, reference)
        else:
            path = jsonl(layout, "own.png", edit_images=[reference], **extra)
        with pytest.raises(CorpusError) as info:
            load_counterfactual_dataset(path)
        assert info.value.reason == "path_outside_root"
        shown = reference["path"] if isinstance(reference, dict) else reference
        assert str(info.value) == (f"row 0 (id 'r0'), field '{field}': image path {shown!r} {OUTSIDE} {root!r} "
                                   f"({kind}); pass allow_outside_root=True (cf-vlm train: --allow_outside_root) if "
                                   "this is intended")
    if not str(shown).startswith(("hf:", "https:")):
        loaded = load_counterfactual_dataset(jsonl(layout, reference), allow_outside_root=True)
        np.testing.assert_array_equal(pixels(loaded[0]["image"]), pixels(picture(9)))


def test_escapes_are_skipped_and_listed_in_skip_mode(layout):
    path = layout / "corpus" / "a.jsonl"
    path.write_text(json.dumps({"id": "ok", "image": "own.png", "caption": "x"}) + "\n"
                    + json.dumps({"id": "out", "image": "../secret/s.png", "caption": "y"}) + "\n")
    rejected = layout / "rej.jsonl"
    with pytest.warns(CorpusWarning, match=r"2 rows: 1 kept, 1 rejected \(path_outside_root: 1\)"):
        clean = load_counterfactual_dataset(path, on_error="skip", rejected_path=rejected)
    assert clean["id"] == ["ok"]
    assert json.loads(rejected.read_text())["id"] == "out"


def test_a_symlinked_photo_folder_under_the_root_is_followed(layout):
    os.symlink(layout / "store", layout / "corpus" / "photos")  # ln -s /data/coco/images photos
    loaded = load_counterfactual_dataset(jsonl(layout, "photos/p.png", cf_images=["photos/other.png"],
                                               cf_captions=["y"]))
    np.testing.assert_array_equal(pixels(loaded[0]["image"]), pixels(picture(5)))
    np.testing.assert_array_equal(pixels(loaded[0]["cf_images"][0]), pixels(picture(6)))
    # ".." after the symlink is taken lexically: photos/../own.png is corpus/own.png, not store/../own.png.
    put(layout / "own.png", 3)
    loaded = load_counterfactual_dataset(jsonl(layout, "photos/../own.png"))
    np.testing.assert_array_equal(pixels(loaded[0]["image"]), pixels(picture(1)))
    with pytest.raises(CorpusError, match=r"image path 'photos/../../secret/s.png' lies outside"):
        load_counterfactual_dataset(jsonl(layout, "photos/../../secret/s.png"))
    save_counterfactual_dataset(load_counterfactual_dataset(jsonl(layout, "photos/p.png")), layout / "out")
    np.testing.assert_array_equal(pixels(load_counterfactual_dataset(layout / "out")[0]["image"]), pixels(picture(5)))


def test_a_root_given_by_the_user_replaces_the_default(layout):
    path = jsonl(layout, "../store/p.png")
    loaded = load_counterfactual_dataset(path, root=layout)
    np.testing.assert_array_equal(pixels(loaded[0]["image"]), pixels(picture(5)))
    with pytest.raises(CorpusError, match=r"lies outside the root '.*store'"):
        load_counterfactual_dataset(jsonl(layout, "own.png"), root=layout / "store")


def struct_corpus(paths):
    rows = [{"image": {"bytes": None, "path": p}, "caption": f"c{i}", "id": f"s{i}"} for i, p in enumerate(paths)]
    return Dataset.from_list(rows).cast_column("image", datasets.Image())


@pytest.mark.parametrize("kind", ["parquet", "save_to_disk", "shards"])
def test_image_structs_in_datasets_corpora_are_confined_to_their_folder(layout, kind, monkeypatch):
    root = layout / "corpus" / {"parquet": "pq", "save_to_disk": "disk", "shards": "shards"}[kind]
    put(root / "own.png", 1)
    secret = str(layout / "secret" / "s.png")
    target = root / {"parquet": "c.parquet", "save_to_disk": "", "shards": "data/train-00000-of-00001.parquet"}[kind]
    source = {"parquet": target, "save_to_disk": root, "shards": root}[kind]
    label = {"parquet": "the parquet file's folder", "save_to_disk": "the dataset folder",
             "shards": "the corpus folder"}[kind]

    def write(paths):
        if kind == "save_to_disk":  # path-only structs as someone could send them (save_to_disk embeds Images)
            rows = [{"image": {"bytes": None, "path": p}, "caption": "c", "id": f"s{i}"} for i, p in enumerate(paths)]
            Dataset.from_list(rows).save_to_disk(str(root))
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            monkeypatch.chdir(root)  # to_parquet stats relative paths from the working directory
            struct_corpus(paths).to_parquet(str(target))  # to_parquet keeps the paths
            monkeypatch.chdir(layout / "secret")

    write([str(root / "own.png"), secret])
    with pytest.raises(CorpusError) as info:
        load_counterfactual_dataset(source)
    assert str(info.value).startswith(f"row 1 (id 's1'), field 'image': image path {secret!r} lies outside {label} "
                                      f"{str(root)!r} (an absolute path)")
    os.makedirs(root / "sub", exist_ok=True)
    write(["own.png", "sub/../own.png"])  # relative paths are taken from the corpus folder, not the working directory
    loaded = load_counterfactual_dataset(source)
    np.testing.assert_array_equal(pixels(loaded[1]["image"]), pixels(picture(1)))
    assert loaded.with_format("arrow")["image"].to_pylist()[1] == {"bytes": None, "path": str(root / "own.png")}


def test_saving_never_embeds_a_file_outside_the_root(layout, monkeypatch):
    monkeypatch.chdir(layout / "corpus")
    secret = str(layout / "secret" / "s.png")
    corpus = struct_corpus([str(layout / "corpus" / "own.png"), secret])
    with pytest.raises(CorpusError) as info:
        save_counterfactual_dataset(corpus, layout / "out")
    assert str(info.value).startswith(f"row 1 (id 's1'), field 'image': image path {secret!r} lies outside the "
                                      f"working directory {str(layout / 'corpus')!r}")
    assert not os.path.exists(layout / "out" / "data") or os.listdir(layout / "out" / "data") == []
    save_counterfactual_dataset(corpus, layout / "out", root=layout)
    np.testing.assert_array_equal(pixels(load_counterfactual_dataset(layout / "out")[1]["image"]), pixels(picture(9)))
    # A failed save leaves the earlier shards in place.
    with pytest.raises(CorpusError):
        save_counterfactual_dataset(corpus, layout / "out")
    assert load_counterfactual_dataset(layout / "out")["id"] == ["s0", "s1"]
    save_counterfactual_dataset(corpus, layout / "out2", allow_outside_root=True)
    assert len(load_counterfactual_dataset(layout / "out2")) == 2


def test_saving_uses_the_root_a_corpus_was_loaded_with(layout, monkeypatch):
    monkeypatch.chdir(layout / "secret")  # not the corpus root
    loaded = load_counterfactual_dataset(jsonl(layout, "own.png"))
    save_counterfactual_dataset(loaded, layout / "out")
    outside = load_counterfactual_dataset(jsonl(layout, "../store/p.png"), allow_outside_root=True)
    with pytest.raises(CorpusError, match=r"image path '.*store/p.png' lies outside the annotation folder"):
        save_counterfactual_dataset(outside, layout / "out")


def test_in_memory_corpora_are_not_confined_unless_a_root_is_given(layout):
    corpus = struct_corpus([str(layout / "secret" / "s.png")])
    assert len(load_counterfactual_dataset(corpus)) == 1
    with pytest.raises(CorpusError, match=r"lies outside the root"):
        load_counterfactual_dataset(corpus, root=layout / "corpus")


def test_hub_policy_accepts_its_repository_and_caches_only(tmp_path):
    policy = hub_policy("me/corpus", str(tmp_path / "cache"), None, False)
    assert policy.resolve("hf://datasets/me/corpus@main/data/a.png", "w") == "hf://datasets/me/corpus@main/data/a.png"
    assert policy.resolve("zip://a.png::hf://datasets/me/corpus/images.zip", "w").startswith("zip://")
    assert policy.resolve(str(tmp_path / "cache" / "downloads" / "x.png"), "w").endswith("x.png")
    for bad in ("hf://datasets/me/corpus-evil/a.png", "https://example.com/a.png", "/etc/hostname", "a.png"):
        with pytest.raises(CorpusError, match="path_outside_root|lies outside the Hub dataset 'me/corpus'"):
            policy.resolve(bad, "w")
    assert PathPolicy(None, (str(tmp_path),), allow_outside_root=True).resolve("/etc/hostname", "w") == "/etc/hostname"
