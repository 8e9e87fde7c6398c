"""End to end on tiny models: a dual encoder, a generative VLM and its LoRA adapter side by side through `cf-vlm eval`;
scores equal a straightforward per-pair computation; shared pixels change nothing; benchmarks during training."""

import json

import pytest
import torch
from testing_utils import make_rows, tiny_llava
from testing_utils.benchmark_layouts import write_pope
from testing_utils.benchmarks import fixture_clip, write_sugarcrepe, write_winoground

from cf_vlm_hf.cli import main
from cf_vlm_hf.evaluation import BenchmarkSuite, evaluate_checkpoints, evaluate_model, get_task
from cf_vlm_hf.evaluation.images import PixelCache
from cf_vlm_hf.evaluation.scoring import DualEncoderPairScorer, GenerativePairScorer
from cf_vlm_hf.evaluation.tasks import counterfactual_suite
from cf_vlm_hf.models.generative import GenerativeCollator, GenerativeScorer
from cf_vlm_hf.models.loading import load_model_and_processor


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("benchmarks")
    write_sugarcrepe(str(root / "sugarcrepe"))
    write_winoground(str(root / "winoground"))
    write_pope(str(root / "pope"))
    return root


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tiny CLIP, a tiny LLaVA and a LoRA adapter on it (non-zero B: the adapter changes the scores)."""
    from peft import LoraConfig, get_peft_model

    root = tmp_path_factory.mktemp("checkpoints")
    clip, clip_processor = fixture_clip(seed=0)
    clip.save_pretrained(root / "clip")
    clip_processor.save_pretrained(root / "clip")
    llava, processor = tiny_llava(seed=0)
    llava.save_pretrained(root / "llava")
    processor.save_pretrained(root / "llava")
    base, _ = load_model_and_processor(str(root / "llava"))  # so the adapter records its base folder
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5, generator=torch.Generator().manual_seed(1))
    peft_model.save_pretrained(root / "adapter")
    return {name: str(root / name) for name in ("clip", "llava", "adapter")}, peft_model.eval(), processor


def reference_generative_scores(model, processor, pairs):
    """S of each (PIL image, caption) pair, one pair per collator call (no batching, no cache)."""
    out = []
    for image, caption in pairs:
        batch = GenerativeCollator(processor)([{"image": image, "caption": caption}])
        with torch.no_grad():
            out.append(GenerativeScorer().score(model, batch).anchor.item())
    return torch.tensor(out)


def test_cli_compares_both_families_and_an_adapter(data_dir, checkpoints, tmp_path, capsys, one_thread):
    paths, peft_model, processor = checkpoints
    out = tmp_path / "out"
    status = main(["eval", "--model", paths["clip"], paths["llava"], "--model_name_or_path", paths["adapter"],
                   "--task", "sugarcrepe,winoground", "--tasks", "pope", "--data_dir", str(data_dir),
                   "--output-dir", str(out), "--no-progress", "--batch_size", "8"])
    assert status == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert [m["label"] for m in results["models"]] == ["clip", "llava", "adapter"]
    assert [m["family"] for m in results["models"]] == ["dual-encoder", "generative", "generative"]
    assert results["models"][2]["adapter"]["base_model"] == paths["llava"]
    assert len(results["models"][0]["local_files"]["sha256"]) == 64
    pope = results["tasks"]["pope"]
    assert "dual encoder gives no answer" in pope["skipped"]["clip"] and pope["results"]["clip"] == {}
    assert 0 <= pope["results"]["adapter"]["random/f1"] <= 1
    sugar = results["tasks"]["sugarcrepe"]["provenance"]
    assert sugar["item_count"] == 21 and sugar["official_item_count"] == 7511 and len(sugar["annotation_files"]) == 7
    assert "| clip | llava (Δ) | adapter (Δ) |" in printed and "3 (official 692)" in printed and "n/a" in printed
    assert (out / "results.md").read_text() in printed
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The adapter's Winoground scores are those of the PEFT model, pair by pair.
    task = get_task("winoground", str(data_dir / "winoground"))
    items = task.load().subsets["test"]
    pairs = [(item.images[j].load(), item.captions[i]) for item in items for i in (0, 1) for j in (0, 1)]
    reference = reference_generative_scores(peft_model, processor, pairs).reshape(len(items), 2, 2)
    from cf_vlm_hf.evaluation.metrics import winoground_scores

    wins = winoground_scores(reference.double())
    adapter = results["tasks"]["winoground"]["results"]["adapter"]
    assert [adapter[k] for k in ("text", "image", "group")] == [float(wins[k].double().mean()) for k in
                                                                 ("text", "image", "group")]


def test_generative_pair_scores_equal_one_sequence_at_a_time(data_dir, checkpoints, one_thread):
    _, peft_model, processor = checkpoints
    merged = peft_model
    data = get_task("sugarcrepe", str(data_dir / "sugarcrepe")).load()
    items = data.subsets["swap_att"] + data.subsets["add_obj"]
    pairs = [(item.image, text) for item in items for text in item.texts]
    scorer = GenerativePairScorer(merged, processor, batch_size=4, pixel_cache=PixelCache(), progress=False)
    batched = scorer.score_pairs(pairs)
    reference = reference_generative_scores(merged, processor, [(ref.load(), text) for ref, text in pairs])
    torch.testing.assert_close(batched, reference.float(), atol=1e-5, rtol=0)
    answers = scorer.answer_scores([(items[0].image, "Is there a cup in the image?")], ["Yes", "No"])
    assert answers.shape == (1, 2) and bool((answers < 0).all())


def naive_dual_scores(model, processor, pairs):
    out = []
    for ref, text in pairs:
        with torch.no_grad():
            inputs = processor(text=[text], images=[ref.load()], return_tensors="pt", padding=True)
            output = model(**inputs)
        out.append(torch.nn.functional.cosine_similarity(output.image_embeds, output.text_embeds).item())
    return torch.tensor(out)


def test_dual_encoder_scores_equal_one_forward_per_pair_and_shared_pixels_change_nothing(data_dir, one_thread):
    model, processor = fixture_clip(seed=3)
    other, _ = fixture_clip(seed=4)
    data = get_task("sugarcrepe", str(data_dir / "sugarcrepe")).load()
    items = [item for subset in data.subsets.values() for item in subset]
    pairs = [(item.image, text) for item in items for text in item.texts]
    torch.testing.assert_close(DualEncoderPairScorer(model, processor, batch_size=5, progress=False).score_pairs(pairs),
                               naive_dual_scores(model, processor, pairs), atol=2e-6, rtol=0)
    cache = PixelCache()
    first = evaluate_model(model, processor, "sugarcrepe", str(data_dir), pixel_cache=cache, progress=False)
    distinct = len({item.image.key for item in items})
    assert (cache.misses, cache.hits, len(cache)) == (distinct, 0, distinct)
    second = evaluate_model(other, processor, "sugarcrepe", str(data_dir), pixel_cache=cache, progress=False)
    assert (cache.misses, cache.hits) == (distinct, distinct)  # the second model reused every processed image
    uncached = evaluate_model(other, processor, "sugarcrepe", str(data_dir), progress=False)
    assert second["sugarcrepe"].metrics == uncached["sugarcrepe"].metrics
    assert first["sugarcrepe"].metrics != second["sugarcrepe"].metrics  # two different models


def test_the_corpus_suite_keeps_its_numbers_and_has_a_generic_twin(tmp_path, one_thread):
    from testing_utils import tiny_clip

    from cf_vlm_hf.evaluation import evaluate_counterfactual_split

    model, processor = tiny_clip(seed=2)
    rows = make_rows(6, seed=3)
    direct = evaluate_counterfactual_split(model, processor, rows, batch_size=64, progress=False)
    generic = counterfactual_suite(DualEncoderPairScorer(model, processor, batch_size=3, progress=False), rows,
                                   winoground_types=("binding", "relation"))
    assert generic.keys() == direct.keys()
    for name, value in direct.items():
        assert generic[name] == pytest.approx(value), name
    model.save_pretrained(tmp_path / "clip")
    processor.save_pretrained(tmp_path / "clip")
    report = evaluate_checkpoints(str(tmp_path / "clip"), [get_task("shapes-world", num_anchors=4, image_size=32)],
                                  progress=False)
    from cf_vlm_hf.data.shapes_world import ShapesWorldSpec, shapes_world_dataset

    rows = shapes_world_dataset(4, "heldout", 0, ShapesWorldSpec(image_size=32))
    expected = evaluate_counterfactual_split(model, processor, rows, batch_size=64, progress=False)
    got = report.results["shapes-world"]["clip"]
    assert {k.split("/", 1)[1]: v for k, v in got.items() if k.startswith("heldout/")} == expected


def test_a_generative_model_runs_the_corpus_suite(tmp_path, capsys, one_thread):
    from cf_vlm_hf.data import counterfactual_features, save_counterfactual_dataset

    model, processor = tiny_llava(seed=0)
    model.save_pretrained(tmp_path / "llava")
    processor.save_pretrained(tmp_path / "llava")
    from datasets import Dataset

    save_counterfactual_dataset(Dataset.from_list(make_rows(3, seed=1), features=counterfactual_features()),
                                tmp_path / "corpus", source="unit-test")
    output = tmp_path / "legacy.json"
    assert main(["eval", "--model", str(tmp_path / "llava"), "--dataset", str(tmp_path / "corpus"), "--output",
                 str(output), "--no-progress"]) == 0
    written = json.loads(output.read_text())
    assert written["model"] == str(tmp_path / "llava")
    scores = next(iter(written["results"].values()))
    assert scores["count/color"] == 3 and 0 <= scores["mean_image_side"] <= 1 and 0 <= scores["recall@1"] <= 1


def test_cli_user_errors_are_one_line(tmp_path, capsys):
    assert main(["eval", "--model", str(tmp_path), "--task", "winogrand"]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'winogrand'; known tasks: winoground" in err and "Traceback" not in err
    assert main(["eval", "--model", "x", "--task", "sugarcrepe", "--task-option", "nonsense"]) == 2
    assert "expected TASK.KEY=VALUE" in capsys.readouterr().err
    assert main(["eval", "--model", "x", "--list-tasks"]) == 0
    assert "vl-checklist" in capsys.readouterr().out


def test_benchmarks_are_logged_at_each_evaluation_during_training(data_dir, tmp_path, one_thread):
    from cf_vlm_hf import CounterfactualConfig, CounterfactualTrainer

    model, processor = fixture_clip(seed=5)
    suite = BenchmarkSuite("sugarcrepe", data_dir=str(data_dir))
    args = CounterfactualConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, max_steps=2,
                                eval_strategy="steps", eval_steps=1, logging_steps=1, save_strategy="no",
                                report_to="none", use_cpu=True, disable_tqdm=True, learning_rate=1e-3)
    trainer = CounterfactualTrainer(model=model, args=args, train_dataset=make_rows(8, seed=1),
                                    processing_class=processor, benchmarks=suite)
    trainer.train()
    logged = [log for log in trainer.state.log_history if "eval_sugarcrepe/overall/micro" in log]
    assert [log["step"] for log in logged] == [1, 2]
    final = suite(trainer.model, processor)
    assert logged[-1]["eval_sugarcrepe/overall/micro"] == final["eval_sugarcrepe/overall/micro"]
    assert set(final) >= {"eval_sugarcrepe/add_att/accuracy", "eval_sugarcrepe/swap/macro"}
    assert trainer.args.eval_strategy == "steps"

    # With eval datasets too (a dict: Trainer evaluates each), the benchmarks run once per evaluation.
    trainer = CounterfactualTrainer(model=model, args=args, train_dataset=make_rows(8, seed=1),
                                    eval_dataset={"a": make_rows(4, seed=2), "b": make_rows(4, seed=3)},
                                    processing_class=processor, benchmarks=suite)
    metrics = trainer.evaluate()
    assert {"eval_a_loss", "eval_b_loss", "eval_sugarcrepe/overall/micro"} <= set(metrics)
    assert sum("eval_sugarcrepe/overall/micro" in log for log in trainer.state.log_history) == 1


def test_shared_pixels_for_a_processor_with_per_image_patch_grids(data_dir, one_thread):
    """Qwen2-VL concatenates every image's patches (image_grid_thw): the cache splits and merges them per image."""
    from testing_utils import tiny_qwen2_vl

    first, processor = tiny_qwen2_vl(seed=0)
    second, _ = tiny_qwen2_vl(seed=1)
    data = get_task("sugarcrepe", str(data_dir / "sugarcrepe")).load()
    items = data.subsets["add_att"] + data.subsets["swap_obj"]
    pairs = [(item.image, text) for item in items for text in item.texts]
    cache = PixelCache()
    GenerativePairScorer(first, processor, batch_size=4, pixel_cache=cache, progress=False).score_pairs(pairs)
    cached = GenerativePairScorer(second, processor, batch_size=4, pixel_cache=cache, progress=False).score_pairs(pairs)
    plain = GenerativePairScorer(second, processor, batch_size=4, progress=False).score_pairs(pairs)
    distinct = len({item.image.key for item in items})
    assert len(cache) == distinct and cache.hits > 0
    torch.testing.assert_close(cached, plain, atol=1e-6, rtol=0)


def test_pairwise_on_a_corpus_scores_its_edits_and_counterfactual_pairs(tmp_path, one_thread):
    """A saved corpus read as `pairwise`: its minimal edits are negative images (pooled, the suite's image side) and
    its complete counterfactual pairs Winoground groups (checked against one forward per pair)."""
    from datasets import Dataset
    from testing_utils import tiny_clip

    from cf_vlm_hf.data import counterfactual_features, save_counterfactual_dataset
    from cf_vlm_hf.evaluation import evaluate_counterfactual_split
    from cf_vlm_hf.evaluation.items import ImageRef

    model, processor = tiny_clip(seed=6)
    rows = make_rows(5, seed=7)
    save_counterfactual_dataset(Dataset.from_list(rows, features=counterfactual_features()), tmp_path / "corpus",
                                source="unit-test")
    task = get_task("pairwise", str(tmp_path / "corpus"))
    result = task.evaluate(DualEncoderPairScorer(model, processor, progress=False), task.load())
    suite = evaluate_counterfactual_split(model, processor, rows, progress=False)
    kinds = [k.split("/", 1)[1] for k in suite if k.startswith("count/")]
    counts = {k: suite[f"count/{k}"] for k in kinds}
    pooled = sum(suite[f"image_side/{k}"] * n for k, n in counts.items()) / sum(counts.values())
    assert result.metrics["image"] == pytest.approx(pooled) and result.metrics["image/count"] == 10

    def s(image, text):
        return naive_dual_scores(model, processor, [(ImageRef.from_image("x", image), text)])[0].item()

    groups = []
    for row in rows:
        for image, text in zip(row["cf_images"], row["cf_captions"]):
            t_ok = s(row["image"], row["caption"]) > s(row["image"], text) and s(image, text) > s(image, row["caption"])
            i_ok = s(row["image"], row["caption"]) > s(image, row["caption"]) and s(image, text) > s(row["image"], text)
            groups.append((t_ok, i_ok))
    assert result.metrics["counterfactual/text"] == pytest.approx(sum(t for t, _ in groups) / len(groups))
    assert result.metrics["counterfactual/image"] == pytest.approx(sum(i for _, i in groups) / len(groups))
    assert result.metrics["counterfactual/group/count"] == 10


def test_task_options_from_the_command_line():
    from cf_vlm_hf.commands.eval import parse_task_options

    assert parse_task_options(["pope.answer_mode=generate", "vl_checklist.max_items_per_file=null",
                               "zero-shot.templates=['a {}.', 'the {}.']"]) == {
        "pope": {"answer_mode": "generate"}, "vl-checklist": {"max_items_per_file": None},
        "zero-shot": {"templates": ["a {}.", "the {}."]}}
    with pytest.raises(ValueError, match="unknown task 'popes'"):
        parse_task_options(["popes.answer_mode=generate"])
