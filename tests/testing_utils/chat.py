"""A tiny chat language model (Qwen2 architecture) with a local ChatML tokenizer and chat template.

Random weights: greedy replies are deterministic byte-level noise, which is what the LLM editor's end-to-end test
needs (it must parse, reject and report them). ``ScriptedChatModel`` replays canned replies instead, for the
parsing and retry tests.
"""

from __future__ import annotations

import torch

CHATML_TEMPLATE = (
    "{% for m in messages %}"
    "{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def chat_tokenizer():
    """A byte-level BPE ``Qwen2Tokenizer`` (256 byte tokens, 5 merges, ChatML specials) with a chat template."""
    from transformers import Qwen2Tokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {symbol: i for i, symbol in enumerate(bytes_to_unicode().values())}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    for special in ("<|endoftext|>", "<|im_start|>", "<|im_end|>"):
        vocab[special] = len(vocab)
    return Qwen2Tokenizer(
        vocab=vocab, merges=merges, unk_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"], chat_template=CHATML_TEMPLATE,
        model_max_length=8192,
    )


def tiny_chat_model(seed: int = 0):
    """(model, tokenizer): a 2-layer Qwen2ForCausalLM (about 36k parameters), greedy by default, in eval mode."""
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tokenizer = chat_tokenizer()
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=8192, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,  # tied + greedy repeats one token
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).eval()
    model.generation_config = GenerationConfig(do_sample=False, max_new_tokens=16, eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    return model, tokenizer


class ScriptedChat:
    """A stand-in for a chat model's ``generate``: returns canned replies in order and records every conversation.

    ``replies`` is a list of strings, or a function ``(conversation) -> str``.
    """

    def __init__(self, replies):
        self.replies = replies
        self.conversations: list[list[dict]] = []

    def __call__(self, conversations: list[list[dict]]) -> list[str]:
        out = []
        for conversation in conversations:
            self.conversations.append([dict(m) for m in conversation])
            if callable(self.replies):
                out.append(self.replies(conversation))
            else:
                out.append(self.replies.pop(0) if self.replies else "")
        return out
