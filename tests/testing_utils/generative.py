"""Tiny generative VLMs (image-text-to-text) built from configs, with processors built locally.

Every builder returns ``(model, processor)``: random weights, a word-level tokenizer trained on nothing, a small
image processor and a chat template in the family's own format. Nothing is downloaded.
"""

from __future__ import annotations

import torch

from .corpus import WORDS

# Words of the prompts (chat templates, the yes/no question) on top of the caption vocabulary.
PROMPT_WORDS = (
    "USER ASSISTANT User Assistant user assistant system Describe image Does this show Answer yes or no Yes No "
    ": . ? \" \n caption en"
).split(" ")
TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)

LLAVA_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}USER: "
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
    " {% else %}ASSISTANT: {% for c in m['content'] %}{{ c['text'] }}{% endfor %}[EOS]{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
QWEN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
IDEFICS3_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | capitalize }}:"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{% else %} {{ c['text'] }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


def make_tokenizer(special_tokens=(), bos=True, pair=False):
    """A word-level tokenizer over the caption and prompt words, plus ``special_tokens`` (never split)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    base = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys([*base, *WORDS, *PROMPT_WORDS]))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    # Words, and each punctuation mark or newline on its own; spaces are dropped.
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(r"[ \t]+"), behavior="removed"),
         pre_tokenizers.Split(Regex(r"\w+|[^\w\s]|\n"), behavior="isolated")]
    )
    single = "[BOS] $A" if bos else "$A"
    kwargs = dict(single=single, special_tokens=[("[BOS]", vocab["[BOS]"])])
    if pair:
        kwargs["pair"] = f"{single} $B:1"
    backend.post_processor = processors.TemplateProcessing(**kwargs)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        bos_token="[BOS]",
        eos_token="[EOS]",
        model_max_length=256,
    )
    if special_tokens:
        tokenizer.add_special_tokens({"additional_special_tokens": list(special_tokens)})
    return tokenizer


def _vision(**overrides):
    values = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    values.update(overrides)
    return values


def tiny_llava(seed=0):
    from transformers import AutoModelForImageTextToText, CLIPImageProcessor, LlavaConfig, LlavaProcessor

    torch.manual_seed(seed)
    tokenizer = make_tokenizer(["<image>"])
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, chat_template=LLAVA_TEMPLATE,
    )
    config = LlavaConfig(
        text_config=dict(model_type="llama", vocab_size=len(tokenizer), max_position_embeddings=256,
                         pad_token_id=0, bos_token_id=2, eos_token_id=3, **TEXT),
        vision_config=dict(model_type="clip_vision_model", image_size=32, patch_size=8, **_vision()),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    return AutoModelForImageTextToText.from_config(config).eval(), processor


def _qwen_processor(processor_cls, image_processor_cls):
    class NoVideoProcessor(processor_cls):
        """The family's processor without its video processor (which needs torchvision)."""

        @classmethod
        def get_attributes(cls):
            return [a for a in super().get_attributes() if a != "video_processor"]

    tokenizer = make_tokenizer(["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
                                "<|video_pad|>"], bos=False)
    image_processor = image_processor_cls(
        patch_size=8, merge_size=2, temporal_patch_size=2, min_pixels=32 * 32, max_pixels=32 * 32,
    )
    return NoVideoProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=QWEN_TEMPLATE)


def _qwen_text(tokenizer):
    return dict(vocab_size=len(tokenizer), max_position_embeddings=256, rope_parameters=dict(
        rope_type="default", rope_theta=10000.0, mrope_section=[2, 3, 3]), pad_token_id=0, bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"), **TEXT)


def tiny_qwen2_vl(seed=0):
    from transformers import AutoModelForImageTextToText, Qwen2VLConfig, Qwen2VLImageProcessor, Qwen2VLProcessor

    torch.manual_seed(seed)
    processor = _qwen_processor(Qwen2VLProcessor, Qwen2VLImageProcessor)
    tok = processor.tokenizer
    config = Qwen2VLConfig(
        text_config=_qwen_text(tok),
        vision_config=dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, patch_size=8,
                           spatial_merge_size=2, temporal_patch_size=2, in_channels=3),
        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
    )
    return AutoModelForImageTextToText.from_config(config).eval(), processor


def tiny_qwen2_5_vl(seed=0):
    from transformers import AutoModelForImageTextToText, Qwen2_5_VLConfig, Qwen2_5_VLProcessor, Qwen2VLImageProcessor

    torch.manual_seed(seed)
    processor = _qwen_processor(Qwen2_5_VLProcessor, Qwen2VLImageProcessor)
    tok = processor.tokenizer
    config = Qwen2_5_VLConfig(
        text_config=_qwen_text(tok),
        vision_config=dict(depth=2, hidden_size=32, out_hidden_size=64, intermediate_size=64, num_heads=2,
                           patch_size=8, spatial_merge_size=2, temporal_patch_size=2, window_size=16,
                           fullatt_block_indexes=[1], in_channels=3),
        image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
    )
    return AutoModelForImageTextToText.from_config(config).eval(), processor


def tiny_paligemma(seed=0):
    from transformers import AutoModelForImageTextToText, PaliGemmaConfig, PaliGemmaProcessor, SiglipImageProcessor

    torch.manual_seed(seed)
    tokenizer = make_tokenizer(bos=False, pair=True)
    image_processor = SiglipImageProcessor(size={"height": 32, "width": 32})
    image_processor.image_seq_length = 16
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)
    text = dict(TEXT, num_key_value_heads=1, head_dim=16)
    config = PaliGemmaConfig(
        text_config=dict(model_type="gemma", vocab_size=len(processor.tokenizer), max_position_embeddings=2048,
                         pad_token_id=0, bos_token_id=2, eos_token_id=3, **text),
        vision_config=dict(model_type="siglip_vision_model", image_size=32, patch_size=8, vision_use_head=False,
                           **_vision()),
        image_token_id=processor.image_token_id,
        projection_dim=64,
    )
    return AutoModelForImageTextToText.from_config(config).eval(), processor


def tiny_idefics3(seed=0):
    from transformers import AutoModelForImageTextToText, Idefics3Config, Idefics3ImageProcessor, Idefics3Processor

    torch.manual_seed(seed)
    tokenizer = make_tokenizer(
        ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]
        + [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    )
    image_processor = Idefics3ImageProcessor(
        do_image_splitting=False, size={"longest_edge": 32}, max_image_size={"longest_edge": 32},
    )
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=4,
                                  chat_template=IDEFICS3_TEMPLATE)
    config = Idefics3Config(
        text_config=dict(model_type="llama", vocab_size=len(tokenizer), max_position_embeddings=256,
                         pad_token_id=0, bos_token_id=2, eos_token_id=3, **TEXT),
        vision_config=dict(image_size=32, patch_size=8, **_vision()),
        scale_factor=2,
        image_token_id=processor.image_token_id,
    )
    return AutoModelForImageTextToText.from_config(config).eval(), processor


GENERATIVE_MODELS = {
    "llava": tiny_llava,
    "qwen2_vl": tiny_qwen2_vl,
    "qwen2_5_vl": tiny_qwen2_5_vl,
    "paligemma": tiny_paligemma,
    "idefics3": tiny_idefics3,
}
