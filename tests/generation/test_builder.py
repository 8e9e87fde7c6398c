"""The builder on real photographs: rules editor + tiny pipelines -> a corpus that loads, is reported on its card,
rebuilds to the same bytes, resumes shard by shard, and trains `CounterfactualTrainer`."""

import dataclasses
import json
import os

import pytest
import torch
from testing_utils import tiny_clip
from testing_utils.diffusion import save_tiny_sdxl
from testing_utils.photos import UNEDITABLE, write_photo_folder
from testing_utils.segmentation import tiny_clipseg

from cf_vlm_hf import CounterfactualConfig, CounterfactualTrainer, load_counterfactual_dataset
from cf_vlm_hf.data import CorpusError
from cf_vlm_hf.generation import GenerationSettings, build_counterfactual_corpus, make_generator
from cf_vlm_hf.generation.captions import RULES, RulesEditor


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    save_tiny_sdxl(folder / "sdxl", instruct_folder=folder / "ip2p")
    model, processor = tiny_clipseg()
    model.save_pretrained(folder / "clipseg")
    processor.save_pretrained(folder / "clipseg")
    return folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    return folder, write_photo_folder(folder)


@pytest.fixture(scope="module")
def settings(models):
    return GenerationSettings(
        image_model=str(models / "sdxl"), instruct_model=str(models / "ip2p"), mask_model=str(models / "clipseg"),
        edit_strategies=["img2img", "inpaint", "instruct-pix2pix"], num_counterfactuals=1, num_edits=2,
        num_negative_captions=1, num_inference_steps=2, img2img_strength=0.5, resolution=64, mask_dilation=1,
        batch_size=2, rows_per_shard=4, device="cpu", progress=False,
    )


@pytest.fixture(scope="module")
def generator(settings):
    torch.set_num_threads(1)
    return make_generator(settings, device="cpu")


@pytest.fixture(scope="module")
def built(tmp_path_factory, photos, settings, generator):
    out = tmp_path_factory.mktemp("corpus")
    result = build_counterfactual_corpus(str(photos[0]), out, settings, generator=generator, command="cf-vlm test")
    return out, result


def shard_bytes(folder):
    data = os.path.join(folder, "data")
    return {name: open(os.path.join(data, name), "rb").read() for name in sorted(os.listdir(data))}


def test_the_corpus_loads_in_the_schema_with_what_was_asked(built, photos):
    out, result = built
    captions = photos[1]
    assert (result.num_rows, result.num_shards, result.rows_generated) == (13, 4, 13)
    corpus = load_counterfactual_dataset(str(out))
    assert len(corpus) == 13 and [row["id"] for row in corpus] == list(captions)
    assert {"image", "caption", "cf_images", "cf_captions", "edit_images", "edit_types", "edit_captions", "id",
            "negative_captions"} <= set(corpus.column_names)
    for row in corpus:
        assert row["caption"] == captions[row["id"]]
        if row["id"] in UNEDITABLE:
            assert row["cf_images"] == [] and row["edit_images"] == [] and row["negative_captions"] == []
            continue
        made = min(3, sum(map(len, RulesEditor().candidates(row["caption"]).values())))  # max(K, M) + 1 asked
        assert (len(row["cf_images"]), len(row["edit_images"]), len(row["negative_captions"])) == \
            (min(made, 1), min(made, 2), made - min(made, 2))
        every_rewrite = {e.caption: e.edit_type for rule in RULES.values() for e in rule(row["caption"])}
        assert row["cf_captions"][0] in every_rewrite
        for edit_type, caption, image in zip(row["edit_types"], row["edit_captions"], row["edit_images"]):
            assert every_rewrite[caption] == edit_type  # what the edited image now shows, and its type
            assert image.size == row["image"].size  # an edit lines up with its anchor
        for negative in row["negative_captions"]:
            assert negative in every_rewrite and negative not in row["cf_captions"] + row["edit_captions"]


def test_the_card_reports_models_counts_and_every_uneditable_row(built, settings):
    out, result = built
    card = (out / "README.md").read_text()
    for text in (f"- image model: `{settings.image_model}`", f"- mask model: `{settings.mask_model}`",
                 "edit strategies: img2img, inpaint, instruct-pix2pix", "build seed 0", "```bash\ncf-vlm test\n```",
                 "### Rows left uneditable (kept with K = M = 0): 2", "| coins | a photo of coins | no rule applies",
                 "### Images dropped by the quality filter: 0", "configs:", "path: data/train-*"):
        assert text in card, text
    uneditable = [json.loads(line) for line in (out / "generation" / "uneditable.jsonl").read_text().splitlines()]
    assert sorted(u["id"] for u in uneditable) == sorted(UNEDITABLE)
    summary = json.loads((out / "generation" / "summary.json").read_text())
    made = {(i["kind"], i["strategy"]): 0 for i in summary["images"]}
    for image in summary["images"]:
        made[(image["kind"], image["strategy"])] += image["count"]
    assert sum(n for (kind, _), n in made.items() if kind == "counterfactual") == 11
    assert sum(n for (kind, _), n in made.items() if kind == "edit") == 21  # one caption allows only one edit
    assert {s for k, s in made if k == "edit"} <= {"img2img", "inpaint", "instruct-pix2pix"}
    assert result.summary.rows == 13 and summary["uneditable_rows"] == 2 and summary["rows_with_fewer_edits"] == 1


def test_rebuilding_gives_the_same_bytes_and_a_resume_redoes_only_missing_shards(built, photos, settings, generator,
                                                                                tmp_path):
    out, _ = built
    again = tmp_path / "again"
    build_counterfactual_corpus(str(photos[0]), again, settings, generator=generator, command="cf-vlm test")
    assert shard_bytes(again) == shard_bytes(out)
    # A build killed before shard 2 was written: the restart writes shard 2 only, byte for byte the same.
    os.remove(again / "data" / "train-00002.parquet")
    kept = {n: os.stat(again / "data" / n).st_mtime_ns for n in os.listdir(again / "data")}
    result = build_counterfactual_corpus(str(photos[0]), again, settings, generator=generator, command="cf-vlm test")
    assert result.rows_generated == 4
    assert shard_bytes(again) == shard_bytes(out)
    assert all(os.stat(again / "data" / n).st_mtime_ns == t for n, t in kept.items())
    assert (again / "README.md").read_text() == (out / "README.md").read_text()


def test_a_resume_with_other_settings_is_refused(built, photos, settings, generator, tmp_path):
    out = tmp_path / "other"
    build_counterfactual_corpus(str(photos[0]), out, dataclasses.replace(settings, max_rows=2), generator=generator)
    changed = dataclasses.replace(settings, max_rows=2, seed=5)
    with pytest.raises(ValueError, match=r"holds a build made with other settings \(seed: 0 -> 5\).*--overwrite"):
        build_counterfactual_corpus(str(photos[0]), out, changed, generator=generator)
    overwritten = dataclasses.replace(changed, overwrite=True)
    result = build_counterfactual_corpus(str(photos[0]), out, overwritten, generator=generator)
    assert result.num_rows == 2 and len(load_counterfactual_dataset(str(out))) == 2


def test_bad_rows_stop_the_build_or_are_skipped_and_listed(photos, settings, generator, tmp_path):
    folder, captions = photos
    bad = tmp_path / "bad.jsonl"
    lines = [{"file_name": f"{folder}/chelsea.png", "caption": captions["chelsea"], "id": "ok"},
             {"file_name": f"{folder}/missing.png", "caption": "a red car", "id": "gone"},
             {"file_name": f"{folder}/metadata.jsonl", "caption": "a red car", "id": "text"}]
    bad.write_text("\n".join(json.dumps(line) for line in lines))
    quick = dataclasses.replace(settings, image_column="file_name", num_edits=0, num_counterfactuals=1)
    with pytest.raises(CorpusError, match=r"bad.jsonl, row 1 \(id 'gone'\), field 'file_name': image file not found"):
        build_counterfactual_corpus(str(bad), tmp_path / "raise", quick, generator=generator)
    skipping = dataclasses.replace(quick, on_error="skip")
    result = build_counterfactual_corpus(str(bad), tmp_path / "skip", skipping, generator=generator)
    assert [row["id"] for row in load_counterfactual_dataset(str(tmp_path / "skip"))] == ["ok"]
    rejected = [json.loads(line) for line in (tmp_path / "skip" / "generation" / "rejected_rows.jsonl").open()]
    assert [(r["index"], r["reason"]) for r in rejected] == [(1, "missing_image"), (2, "undecodable_image")]
    assert "### Input rows rejected: 2" in (tmp_path / "skip" / "README.md").read_text()
    assert result.summary.counts["rejected_rows"] == 2 and len(result.summary.rejected_rows) == 2


class RejectEdits:
    """A stand-in quality filter that drops every minimal edit and keeps every counterfactual."""

    def __init__(self, edit_captions):
        self.edit_captions = edit_captions

    def __call__(self, images, own, anchors):
        from cf_vlm_hf.generation.images import FilterVerdict

        return [FilterVerdict(caption not in self.edit_captions, 0.0, 1.0) for caption in own]


def test_dropped_images_become_negative_captions_and_are_listed(built, photos, settings, generator, tmp_path):
    out, _ = built
    reference = load_counterfactual_dataset(str(out))
    counterfactuals = {c for row in reference for c in row["cf_captions"]}
    edits = {c for row in reference for c in row["edit_captions"]} - counterfactuals
    generator.quality_filter = RejectEdits(edits)
    try:
        build_counterfactual_corpus(str(photos[0]), tmp_path / "filtered", dataclasses.replace(settings, max_rows=4),
                                    generator=generator)
    finally:
        generator.quality_filter = None
    corpus = load_counterfactual_dataset(str(tmp_path / "filtered"))
    for row, before in zip(corpus, reference):
        kept = [c for c in before["edit_captions"] if c not in edits]
        assert row["edit_captions"] == kept and row["cf_captions"] == before["cf_captions"]
        dropped = [c for c in before["edit_captions"] if c in edits]
        assert set(dropped) <= set(row["negative_captions"])
    listed = [json.loads(line) for line in (tmp_path / "filtered" / "generation" / "dropped.jsonl").open()]
    assert listed and {d["kind"] for d in listed} == {"edit"}
    card = (tmp_path / "filtered" / "README.md").read_text()
    assert f"### Images dropped by the quality filter: {len(listed)}" in card


def test_counterfactual_trainer_trains_on_the_corpus(built, tmp_path, one_thread):
    out, _ = built
    model, processor = tiny_clip(seed=0)
    # The tiny CLIP's word-level vocabulary lacks most of the photos' words: "on" and "under" are both [UNK], so
    # some rewrites tokenize like their anchor. The trainer would refuse them (tested in tests/test_safeguards.py);
    # here they only warn.
    args = CounterfactualConfig(output_dir=str(tmp_path / "run"), per_device_train_batch_size=4, max_steps=3,
                                learning_rate=1e-3, logging_steps=1, save_strategy="no", report_to="none",
                                use_cpu=True, disable_tqdm=True, seed=0, on_truncated_duplicate="warn")
    trainer = CounterfactualTrainer(model=model, args=args, train_dataset=load_counterfactual_dataset(str(out)),
                                    processing_class=processor)
    before = [p.detach().clone() for p in model.parameters()]
    trainer.train()
    logs = [log for log in trainer.state.log_history if "loss" in log]
    assert len(logs) == 3 and all(torch.isfinite(torch.tensor(log["loss"])) for log in logs)
    assert any(log["csd_loss"] > 0 for log in logs) and any(log["fcd_loss"] > 0 for log in logs)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def _peak_memory_of_a_build(tmp_path, num_rows):
    import tracemalloc

    from PIL import Image

    tmp_path.mkdir()
    Image.new("RGB", (8, 8), "red").save(tmp_path / "red.png")
    with open(tmp_path / "rows.jsonl", "w") as f:
        for i in range(num_rows):
            f.write(json.dumps({"image": "red.png", "caption": f"a red square number {i}", "id": f"r{i}"}) + "\n")
    settings = GenerationSettings(num_counterfactuals=0, num_edits=0, rows_per_shard=50, progress=False)
    tracemalloc.start()
    try:
        result = build_counterfactual_corpus(str(tmp_path / "rows.jsonl"), tmp_path / "out", settings)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.num_rows == num_rows and result.num_shards == num_rows // 50
    return peak


def test_memory_stays_bounded_whatever_the_input_size(tmp_path):
    _peak_memory_of_a_build(tmp_path / "warm-up", 50)  # imports and caches happen here, outside the comparison
    small = _peak_memory_of_a_build(tmp_path / "small", 200)
    large = _peak_memory_of_a_build(tmp_path / "large", 2000)  # 10x the rows, about the same peak
    assert large < 1.3 * small + 256 * 1024, (small, large)


@pytest.mark.parametrize("margin,kept", [(-1e9, True), (1e9, False)])
def test_the_quality_filter_from_a_checkpoint_keeps_or_drops_and_reports(models, photos, tmp_path, margin, kept):
    clip, processor = tiny_clip(seed=0)
    clip.save_pretrained(tmp_path / "clip")
    processor.save_pretrained(tmp_path / "clip")
    settings = GenerationSettings(image_model=str(models / "sdxl"), num_counterfactuals=1, num_edits=1,
                                  num_inference_steps=2, img2img_strength=0.5, resolution=64, max_rows=2,
                                  filter_model=str(tmp_path / "clip"), filter_margin=margin, device="cpu",
                                  progress=False)
    result = build_counterfactual_corpus(str(photos[0]), tmp_path / "out", settings)
    corpus = load_counterfactual_dataset(str(tmp_path / "out"))
    assert [len(r["cf_images"]) + len(r["edit_images"]) for r in corpus] == ([2, 2] if kept else [0, 0])
    assert result.summary.counts["dropped"] == (0 if kept else 4)
    if not kept:  # every dropped image's caption is still a caption-only negative of its row
        assert all(len(r["negative_captions"]) >= 1 for r in corpus)
        card = (tmp_path / "out" / "README.md").read_text()
        assert "### Images dropped by the quality filter: 4" in card and f"- quality filter: `{tmp_path / 'clip'}`" \
            in card
