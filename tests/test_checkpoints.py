"""Checkpoints are plain Hugging Face folders, and training resumes from them."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from testing_utils import TINY_MODELS, make_rows

from cf_vlm_hf import CounterfactualConfig, CounterfactualTrainer


def train(tmp_path, family="clip", max_steps=4, resume=None, **overrides):
    model, processor = TINY_MODELS[family](seed=0)
    args = CounterfactualConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        max_steps=max_steps,
        save_steps=2,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        **overrides,
    )
    trainer = CounterfactualTrainer(model=model, args=args, train_dataset=make_rows(16), processing_class=processor)
    trainer.train(resume_from_checkpoint=resume)
    return trainer


LOAD_WITHOUT_PACKAGE = textwrap.dedent(
    """
    import json, sys
    import torch
    from PIL import Image
    from transformers import AutoModel, AutoProcessor

    folder = sys.argv[1]
    model = AutoModel.from_pretrained(folder).eval()
    processor = AutoProcessor.from_pretrained(folder)
    assert not any(name.startswith("cf_vlm_hf") for name in sys.modules), "cf_vlm_hf was imported"
    image = Image.new("RGB", (32, 32), (220, 40, 40))
    inputs = processor(text=["a red square"], images=[image], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model(**inputs)
    print(json.dumps({"model": type(model).__name__, "processor": type(processor).__name__,
                      "image": out.image_embeds[0].tolist(), "text": out.text_embeds[0].tolist()}))
    """
)


@pytest.mark.parametrize("family", sorted(TINY_MODELS))
def test_saved_model_loads_without_the_package(tmp_path, family):
    trainer = train(tmp_path / "run", family, max_steps=2, save_strategy="no")
    folder = tmp_path / "final"
    trainer.save_model(str(folder))
    assert (folder / "model.safetensors").exists()
    result = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_PACKAGE, str(folder)], capture_output=True, text=True, timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["model"] == type(trainer.model).__name__
    from PIL import Image

    model = trainer.model.eval()
    image = Image.new("RGB", (32, 32), (220, 40, 40))
    inputs = trainer.processing_class(text=["a red square"], images=[image], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model(**inputs)
    assert torch.allclose(torch.tensor(loaded["image"]), out.image_embeds[0], atol=1e-5)
    assert torch.allclose(torch.tensor(loaded["text"]), out.text_embeds[0], atol=1e-5)


def test_resume_from_checkpoint_continues_the_same_run(tmp_path):
    straight = train(tmp_path / "straight", max_steps=4)
    resumed = train(tmp_path / "resumed", max_steps=4, resume=str(tmp_path / "straight" / "checkpoint-2"))
    losses = {log["step"]: log["loss"] for log in straight.state.log_history if "loss" in log}
    resumed_losses = {log["step"]: log["loss"] for log in resumed.state.log_history if "loss" in log}
    assert sorted(resumed_losses) == [1, 2, 3, 4]  # steps 1-2 come back from the checkpoint state
    for step in (3, 4):
        assert resumed_losses[step] == pytest.approx(losses[step], rel=1e-5)
    for (name, a), (_, b) in zip(straight.model.named_parameters(), resumed.model.named_parameters()):
        assert torch.allclose(a, b, atol=1e-6), name
