"""CounterfactualTrainer on tiny generative VLMs: the objectives train (with and without LoRA), PEFT behaves."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from testing_utils import GENERATIVE_MODELS, SCRIPTS, make_rows, tiny_clip, tiny_llava

from cf_vlm_hf import CounterfactualConfig, CounterfactualTrainer

pytestmark = pytest.mark.usefixtures("one_thread")

LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj)"


def lora_config():
    from peft import LoraConfig

    return LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=LORA_TARGETS)


def config(tmp_path, **overrides):
    values = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=8,
        per_device_eval_batch_size=32,
        learning_rate=1e-3,
        max_steps=40,
        logging_steps=20,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
    )
    values.update(overrides)
    return CounterfactualConfig(**values)


@pytest.fixture(scope="module")
def corpus():
    # Colour edits: a tiny random vision tower sees colour within a few dozen steps.
    return {"train": make_rows(64, seed=1, num_edits=1), "eval": make_rows(32, seed=2, num_edits=1)}


TRAINING_CASES = [("llava", False), ("llava", True), ("qwen2_vl", False), ("qwen2_vl", True),
                  ("qwen2_5_vl", False), ("paligemma", False), ("idefics3", False)]


@pytest.mark.parametrize(("family", "lora"), TRAINING_CASES,
                         ids=[f"{family}-{'lora' if lora else 'full'}" for family, lora in TRAINING_CASES])
def test_training_lowers_fcd_loss_and_raises_fcd_accuracy(tmp_path, corpus, family, lora):
    model, processor = GENERATIVE_MODELS[family](seed=0)
    args = config(tmp_path, learning_rate=5e-3 if lora else 1e-3)
    trainer = CounterfactualTrainer(
        model=model, args=args, train_dataset=corpus["train"], eval_dataset=corpus["eval"],
        processing_class=processor, peft_config=lora_config() if lora else None,
    )
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    start = trainer.evaluate()
    trainer.train()
    end = trainer.evaluate()
    assert end["eval_fcd_loss"] < 0.85 * start["eval_fcd_loss"], (start, end)
    assert end["eval_fcd_accuracy"] > start["eval_fcd_accuracy"], (start, end)
    assert end["eval_align_loss"] < start["eval_align_loss"], (start, end)
    logs = [log for log in trainer.state.log_history if "loss" in log]
    assert len(logs) == 2
    for log in logs:
        total = log["align_loss"] + log["csd_loss"] + log["fcd_loss"]
        assert log["loss"] == pytest.approx(total, rel=1e-4)
    changed = {name for name, p in trainer.model.named_parameters() if not torch.equal(p, before[name])}
    if lora:
        assert changed and all("lora_" in name for name in changed), sorted(changed)[:5]
        assert {name for name, p in trainer.model.named_parameters() if p.requires_grad} == {
            name for name in before if "lora_" in name
        }
    else:
        assert len(changed) > 0.9 * len(before)


def scores_of(model, batch):
    from cf_vlm_hf.models.generative import GenerativeScorer

    with torch.no_grad():
        scores = GenerativeScorer().score(model, batch)
    return torch.cat([scores.anchor, scores.edit.flatten()])


def test_disable_adapter_reproduces_base_scores(tmp_path, corpus):
    model, processor = tiny_llava(seed=0)
    trainer = CounterfactualTrainer(
        model=model, args=config(tmp_path, max_steps=10, learning_rate=5e-3), train_dataset=corpus["train"],
        processing_class=processor, peft_config=lora_config(),
    )
    batch = trainer.data_collator(corpus["eval"][:4])
    base = scores_of(trainer.model.get_base_model(), batch)  # LoRA B = 0 at init: the adapter is a no-op
    trainer.train()
    trainer.model.eval()
    tuned = scores_of(trainer.model, batch)
    with trainer.model.disable_adapter():
        disabled = scores_of(trainer.model, batch)
    assert torch.allclose(disabled, base, atol=1e-6), (disabled, base)
    assert (tuned - base).abs().max() > 1e-2


def test_peft_errors(tmp_path):
    from peft import get_peft_model

    model, processor = tiny_llava()
    with pytest.raises(TypeError, match="peft_config must be a peft.PeftConfig .* got dict"):
        CounterfactualTrainer(model=model, args=config(tmp_path), processing_class=processor, peft_config={"r": 8})
    peft_model = get_peft_model(model, lora_config())
    with pytest.raises(ValueError, match="already a PeftModel and a peft_config was passed"):
        CounterfactualTrainer(model=peft_model, args=config(tmp_path), processing_class=processor,
                              peft_config=lora_config())


def lora_gradients(tmp_path, corpus, gradient_checkpointing):
    model, processor = tiny_llava(seed=0)
    args = config(tmp_path, gradient_checkpointing=gradient_checkpointing)
    trainer = CounterfactualTrainer(model=model, args=args, processing_class=processor, peft_config=lora_config())
    assert trainer.model.get_base_model().is_activation_checkpointing is gradient_checkpointing
    trainer.model.train()
    batch = trainer.data_collator(corpus["train"][:4])
    trainer.compute_loss(trainer.model, batch).backward()
    return {name: p.grad.clone() for name, p in trainer.model.named_parameters() if p.grad is not None}


def test_gradient_checkpointing_gives_the_same_adapter_gradients(tmp_path, corpus):
    plain = lora_gradients(tmp_path, corpus, False)
    checkpointed = lora_gradients(tmp_path, corpus, True)
    assert plain.keys() == checkpointed.keys() and all("lora_" in name for name in plain)
    nonzero = [name for name in plain if plain[name].abs().sum() > 0]
    assert len(nonzero) == 8  # every lora_B of q/k/v/o in 2 layers (lora_A's gradient is 0 while B = 0)
    for name in plain:
        assert torch.allclose(plain[name], checkpointed[name], atol=1e-6, rtol=1e-4), name


def test_saving_writes_the_adapter_and_a_merged_model_loads_without_this_package(tmp_path, corpus):
    model, processor = tiny_llava(seed=0)
    trainer = CounterfactualTrainer(
        model=model, args=config(tmp_path, max_steps=5, learning_rate=5e-3), train_dataset=corpus["train"],
        processing_class=processor, peft_config=lora_config(),
    )
    trainer.train()
    trainer.save_model(str(tmp_path / "adapter"))
    saved = set(os.listdir(tmp_path / "adapter"))
    assert {"adapter_config.json", "adapter_model.safetensors"} <= saved and "model.safetensors" not in saved

    merged = trainer.model.merge_and_unload().eval()
    merged.save_pretrained(tmp_path / "merged")
    processor.save_pretrained(tmp_path / "merged")
    inputs = dict(processor(text=["USER: <image>\na red circle"], images=[corpus["eval"][0]["image"]],
                            return_tensors="pt"))
    with torch.no_grad():
        expected = merged(**inputs).logits
    torch.save({"inputs": inputs, "logits": expected}, tmp_path / "check.pt")
    script = textwrap.dedent(f"""
        import sys, torch
        from transformers import AutoModelForImageTextToText, AutoProcessor
        model = AutoModelForImageTextToText.from_pretrained({str(tmp_path / "merged")!r}).eval()
        AutoProcessor.from_pretrained({str(tmp_path / "merged")!r})
        check = torch.load({str(tmp_path / "check.pt")!r})
        with torch.no_grad():
            logits = model(**check["inputs"]).logits
        assert torch.allclose(logits, check["logits"], atol=1e-5), (logits - check["logits"]).abs().max()
        assert type(model).__name__ == "LlavaForConditionalGeneration"
        assert not any(name.startswith("cf_vlm_hf") for name in sys.modules), "imported cf_vlm_hf"
        assert not any("lora" in name for name, _ in model.named_parameters())
        print("loaded")
    """)
    env = {**os.environ, "PYTHONPATH": "", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0 and "loaded" in done.stdout, done.stderr[-3000:]


def test_chunked_forwards_give_the_same_loss(tmp_path, corpus):
    model, processor = tiny_llava(seed=0)
    losses = []
    for chunk in (None, 5):
        args = config(tmp_path, generative_score="yes-probability", scenario_pairing="cross",
                      max_sequences_per_forward=chunk)
        trainer = CounterfactualTrainer(model=model, args=args, processing_class=processor)
        batch = trainer.data_collator(corpus["train"][:4])
        assert len(batch["chunks"]) == (1 if chunk is None else 8)  # 4 + 8 + 4 + 16 + 4 = 36 sequences
        with torch.no_grad():
            losses.append(trainer.compute_loss(model, batch).item())
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)


def test_scorer_and_collator_follow_the_model(tmp_path):
    from cf_vlm_hf.models.dual_encoder import CounterfactualCollator, DualEncoderScorer
    from cf_vlm_hf.models.generative import GenerativeCollator, GenerativeScorer

    model, processor = tiny_llava()
    trainer = CounterfactualTrainer(model=model, args=config(tmp_path), processing_class=processor)
    assert isinstance(trainer.scorer, GenerativeScorer) and isinstance(trainer.data_collator, GenerativeCollator)
    assert trainer.data_collator.max_length == 256
    clip, clip_processor = tiny_clip()
    trainer = CounterfactualTrainer(model=clip, args=config(tmp_path), processing_class=clip_processor)
    assert isinstance(trainer.scorer, DualEncoderScorer) and isinstance(trainer.data_collator, CounterfactualCollator)
    with pytest.raises(ValueError, match="objective 'negclip' needs a dual encoder"):
        CounterfactualTrainer(model=model, args=config(tmp_path, objective="negclip"), processing_class=processor)


def test_clip_objective_trains_only_the_caption_nll(tmp_path, corpus):
    model, processor = tiny_llava()
    trainer = CounterfactualTrainer(model=model, args=config(tmp_path, objective="clip"), processing_class=processor)
    batch = trainer.data_collator(corpus["train"][:4])
    assert sum(chunk["input_ids"].shape[0] for chunk in batch["chunks"]) == 4
    model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch)
        chunk = {k: v for k, v in batch["chunks"][0].items()}
        reference = model(**chunk).loss  # transformers' own token-mean caption NLL over the same labels
    assert loss.item() == pytest.approx(reference.item(), abs=1e-5)


def test_two_processes_with_chunked_forwards_match_one_process(tmp_path):
    # DDP with several forwards per step (chunks) and one backward: the synchronised gradient is the global one.
    SCRIPT = SCRIPTS / "one_step.py"

    def run(name, processes):
        out = tmp_path / f"{name}.json"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "CF_MODEL": "llava"}
        flags = ["--max_sequences_per_forward", "5", "--learning_rate", "0.001"]
        if processes == 1:
            command = [sys.executable, str(SCRIPT), str(out), *flags]
        else:
            command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                       str(SCRIPT), str(out), "--per_device_train_batch_size", "4", *flags]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-4000:]
        return json.loads(out.read_text())

    single, ddp = run("single", 1), run("ddp", 2)
    assert ddp["world_size"] == 2
    for name in ("align_loss", "csd_loss", "fcd_loss", "loss"):
        assert ddp[name] == pytest.approx(single[name], abs=1e-5), name
    assert ddp["grad_norm"] == pytest.approx(single["grad_norm"], rel=1e-4)


def test_generative_config_validation_and_collator_follows_the_objective(tmp_path, corpus):
    with pytest.raises(ValueError, match="generative_score must be one of"):
        config(tmp_path, generative_score="clip-score")
    with pytest.raises(ValueError, match="yes_question must contain '{caption}'"):
        config(tmp_path, yes_question="Is this right?")
    with pytest.raises(ValueError, match="max_sequences_per_forward must be >= 1 or None, got 0"):
        config(tmp_path, max_sequences_per_forward=0)
    model, processor = tiny_llava()
    with pytest.raises(ValueError, match="align_counterfactuals needs a dual encoder"):
        CounterfactualTrainer(model=model, args=config(tmp_path, align_counterfactuals=True),
                              processing_class=processor)
    rows = corpus["train"][:4]  # 2 counterfactual pairs and 1 edit each
    expected = {  # sequences per batch of 4 anchors
        (): 4 + 8 + 4,
        (("fcd_weight", 0.0),): 4 + 8,
        (("csd_weight", 0.0),): 4 + 4,
        (("scenario_pairing", "cross"),): 4 + 8 + 4 + 16,
        (("scenario_pairing", "symmetric"),): 4 + 8 + 4 + 16,
        (("generative_score", "yes-probability"),): 4 + 8 + 4 + 4,
        (("generative_score", "yes-probability"), ("align_weight", 0.0)): 4 + 8 + 4,
        (("objective", "clip"),): 4,
    }
    for overrides, count in expected.items():
        trainer = CounterfactualTrainer(model=model, args=config(tmp_path, **dict(overrides)),
                                        processing_class=processor)
        batch = trainer.data_collator(rows)
        assert sum(chunk["input_ids"].shape[0] for chunk in batch["chunks"]) == count, overrides
