"""The CF-VLM model card: written with every save, valid Hub metadata, the trainer's own numbers."""

import filecmp

import pytest
import yaml
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import eval_results_to_model_index, model_index_to_eval_results
from testing_utils import REPO, make_rows, tiny_clip

from cf_vlm_hf import CounterfactualConfig, CounterfactualTrainer
from cf_vlm_hf.hub import update_card_results
from cf_vlm_hf.hub.model_card import TEMPLATE


def test_the_packaged_template_is_the_repository_one():
    assert filecmp.cmp(REPO / "model_card_template.md", TEMPLATE, shallow=False)


def metadata(path):
    text = path.read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("card")
    model, processor = tiny_clip(seed=0)
    args = CounterfactualConfig(output_dir=str(tmp / "out"), per_device_train_batch_size=4, max_steps=2,
                                save_steps=2, logging_steps=1, report_to="none", use_cpu=True, disable_tqdm=True,
                                preset="recommended", max_edits=1, csd_weight=0.5)
    trainer = CounterfactualTrainer(model=model, args=args, train_dataset=make_rows(8), eval_dataset=make_rows(4),
                                    processing_class=processor, corpus_name="me/shapes-cf")
    trainer.train()
    metrics = trainer.evaluate()
    trainer.save_model()
    return tmp, trainer, metrics


def test_the_card_records_objective_corpus_and_the_trainers_evaluation(trained):
    tmp, trainer, metrics = trained
    path = tmp / "out" / "README.md"
    meta = metadata(path)
    assert {"cf-vlm", "counterfactual"} <= set(meta["tags"])
    assert meta["pipeline_tag"] == "zero-shot-image-classification"
    assert meta["datasets"] == ["me/shapes-cf"] and meta["library_name"] == "transformers"
    card = ModelCard.load(path)  # parses the model-index, or raises
    name, results = model_index_to_eval_results(meta["model-index"])
    assert name == "out" and eval_results_to_model_index(name, results) == meta["model-index"]
    got = {r.metric_type: r.metric_value for r in results}
    for key in ("eval_csd_accuracy", "eval_fcd_accuracy", "eval_loss", "eval_align_loss"):
        assert got[key] == pytest.approx(metrics[key], abs=1e-6), key
    assert "eval_runtime" not in got
    text = card.text
    assert "| L_csd form | `cross` (preset `recommended`) |" in text
    assert "| weights (align, csd, fcd) | 1.0, 0.5, 1.0 |" in text
    assert "| K, M per anchor (caps) | all, 1 |" in text
    assert "- **Rows**: 8; complete counterfactual pairs: 16; negative captions: 0; minimal edits: 16" in text
    assert "| color | 8 |" in text and "| shape | 8 |" in text
    assert "AutoModel.from_pretrained('out')" in text and "arXiv:2506.17267" in text
    assert "| learning_rate | 5e-05 |" in text


def test_every_checkpoint_carries_a_card(trained):
    tmp, _, _ = trained
    assert "cf-vlm" in metadata(tmp / "out" / "checkpoint-2" / "README.md")["tags"]


def test_results_added_later_join_the_model_index(trained):
    tmp, _, metrics = trained
    card = update_card_results(tmp / "out", {"winoground/group": 0.125, "eval_csd_accuracy": 0.5}, "winoground")
    meta = metadata(tmp / "out" / "README.md")
    _, results = model_index_to_eval_results(meta["model-index"])
    by = {(r.dataset_name, r.metric_type): r.metric_value for r in results}
    assert by[("winoground", "winoground/group")] == 0.125 and by[("winoground", "eval_csd_accuracy")] == 0.5
    assert by[("me/shapes-cf (evaluation split)", "eval_csd_accuracy")] == pytest.approx(metrics["eval_csd_accuracy"])
    assert "| winoground/group | winoground | 0.1250 |" in card.text


def test_a_custom_template_and_a_lora_card(tmp_path, one_thread):
    from peft import LoraConfig
    from testing_utils import tiny_llava

    template = tmp_path / "my_template.md"
    template.write_text("---\n{{ card_data }}\n---\n# {{ model_name }} by me\n\nAdapter: {{ adapter }}\n")
    model, processor = tiny_llava(seed=0)
    args = CounterfactualConfig(output_dir=str(tmp_path / "lora"), per_device_train_batch_size=2, max_steps=1,
                                report_to="none", use_cpu=True, disable_tqdm=True, save_strategy="no",
                                model_card_template=str(template), max_edits=1, max_counterfactuals=1)
    trainer = CounterfactualTrainer(model=model, args=args, train_dataset=make_rows(2), processing_class=processor,
                                    peft_config=LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    trainer.train()
    trainer.save_model()
    path = tmp_path / "lora" / "README.md"
    meta = metadata(path)
    assert meta["library_name"] == "peft" and {"lora", "peft"} <= set(meta["tags"])
    assert meta["pipeline_tag"] == "image-text-to-text"
    body = path.read_text()
    assert "# lora by me" in body and "Adapter: LORA r=4, alpha=8 on ['q_proj', 'v_proj']" in body


def test_cf_vlm_eval_update_card_adds_its_results(trained):
    from cf_vlm_hf.cli import main

    tmp, _, _ = trained
    folder = tmp / "out"
    assert main(["eval", "--model", str(folder), "--dataset", "shapes-world", "--num-anchors", "6", "--image-size",
                 "32", "--no-progress", "--update-card", "--output-dir", str(tmp / "eval")]) == 0
    report = __import__("json").loads((tmp / "eval" / "results.json").read_text())
    meta = metadata(folder / "README.md")
    _, results = model_index_to_eval_results(meta["model-index"])
    recorded = {(r.dataset_name, r.metric_type): r.metric_value for r in results}
    task = report["tasks"]["shapes-world"]
    expected = task["results"][report["models"][0]["label"]]
    added = {metric: value for (dataset, metric), value in recorded.items() if dataset == "shapes-world"}
    assert set(added) == set(task["headline"])  # e.g. heldout/mean_image_side
    for metric, value in added.items():
        assert value == pytest.approx(expected[metric], abs=1e-6), metric
