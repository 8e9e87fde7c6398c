"""`cf_vlm_hf.models.loading`: one loader for both families, full checkpoints and LoRA adapter folders."""

import json

import pytest
import torch
from testing_utils import make_rows, tiny_clip, tiny_llava

from cf_vlm_hf.models import is_dual_encoder, is_generative_vlm
from cf_vlm_hf.models.generative import GenerativeCollator, GenerativeScorer
from cf_vlm_hf.models.loading import is_adapter_folder, load_model_and_processor


def test_each_family_loads_with_its_auto_class(tmp_path, one_thread):
    for name, build in (("clip", tiny_clip), ("llava", tiny_llava)):
        model, processor = build(seed=0)
        model.save_pretrained(tmp_path / name)
        processor.save_pretrained(tmp_path / name)
    clip, _ = load_model_and_processor(str(tmp_path / "clip"))
    llava, processor = load_model_and_processor(str(tmp_path / "llava"))
    assert is_dual_encoder(clip) and type(clip).__name__ == "CLIPModel"
    assert is_generative_vlm(llava) and type(llava).__name__ == "LlavaForConditionalGeneration"
    assert processor.chat_template


@pytest.fixture
def adapter(tmp_path):
    """A LLaVA base folder and a LoRA adapter folder on it whose B matrices are not zero (the adapter matters)."""
    from peft import LoraConfig, get_peft_model

    model, processor = tiny_llava(seed=0)
    model.save_pretrained(tmp_path / "base")
    processor.save_pretrained(tmp_path / "base")
    base, _ = load_model_and_processor(str(tmp_path / "base"))
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5, generator=torch.Generator().manual_seed(1))
    peft_model.save_pretrained(tmp_path / "adapter")
    processor.save_pretrained(tmp_path / "adapter")
    return tmp_path, peft_model.eval()


def scores(model, processor, rows):
    with torch.no_grad():
        return GenerativeScorer().score(model.eval(), GenerativeCollator(processor)(rows)).anchor


def test_an_adapter_folder_loads_on_its_recorded_base(adapter, one_thread):
    root, reference = adapter
    assert is_adapter_folder(str(root / "adapter")) and not is_adapter_folder(str(root / "base"))
    rows = make_rows(2, seed=4)
    peft_model, processor = load_model_and_processor(str(root / "adapter"), adapter="frozen")
    merged, _ = load_model_and_processor(str(root / "adapter"), adapter="merged")
    expected = scores(reference, processor, rows)
    assert type(peft_model).__name__ == "PeftModel" and type(merged).__name__ == "LlavaForConditionalGeneration"
    torch.testing.assert_close(scores(peft_model, processor, rows), expected)
    torch.testing.assert_close(scores(merged, processor, rows), expected, atol=1e-5, rtol=1e-5)
    base, _ = load_model_and_processor(str(root / "base"))
    assert not torch.allclose(scores(base, processor, rows), expected)  # the adapter changes the scores
    trainable, _ = load_model_and_processor(str(root / "adapter"))
    assert any(p.requires_grad for n, p in trainable.named_parameters() if "lora_" in n)


def test_an_adapter_without_a_recorded_base_needs_one(adapter, one_thread):
    root, _ = adapter
    config_path = root / "adapter" / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = None
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="names no base model: pass its base model"):
        load_model_and_processor(str(root / "adapter"))
    model, _ = load_model_and_processor(str(root / "adapter"), base_model=str(root / "base"), adapter="merged")
    assert is_generative_vlm(model)
