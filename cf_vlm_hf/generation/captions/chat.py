"""`ChatModel`: batched replies from a `transformers` causal LM through its chat template.

Conversations of a batch are rendered with ``tokenizer.apply_chat_template(..., add_generation_prompt=True)``,
left-padded (decoder-only models continue from the last token, so padding must come first) and answered by one
``model.generate`` call; only the new tokens are decoded. Greedy decoding by default, so replies are deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class ChatModel:
    """``conversations -> replies`` over a chat model and its tokenizer.

    Args:
        model: a ``transformers`` causal LM (``AutoModelForCausalLM``).
        tokenizer: its tokenizer, with a chat template.
        max_new_tokens: longest reply, in tokens.
        batch_size: conversations per ``generate`` call.
        generate_kwargs: more ``generate`` arguments (``do_sample=True, temperature=0.7``, ...).
    """

    def __init__(self, model, tokenizer, max_new_tokens: int = 192, batch_size: int = 8, **generate_kwargs):
        if not getattr(tokenizer, "chat_template", None):
            name = getattr(model, "name_or_path", type(model).__name__)
            raise ValueError(f"the tokenizer of {name!r} has no chat template: use an instruction-tuned chat model "
                             "(e.g. Qwen/Qwen2.5-7B-Instruct)")
        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError("batch_size and max_new_tokens must be >= 1")
        self.model, self.tokenizer = model.eval(), tokenizer
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.generate_kwargs = {"do_sample": False, **generate_kwargs}

    @classmethod
    def from_pretrained(cls, model_name_or_path: str, device: str | None = None, dtype: str = "auto",
                        revision: str | None = None, trust_remote_code: bool = False, **kwargs) -> ChatModel:
        """Load a chat model and its tokenizer (safetensors weights; remote code only when allowed)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ...models.loading import check_reference

        check_reference(model_name_or_path, "chat model")
        torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
        model = AutoModelForCausalLM.from_pretrained(model_name_or_path, dtype=torch_dtype, revision=revision,
                                                     trust_remote_code=trust_remote_code, use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, revision=revision,
                                                  trust_remote_code=trust_remote_code)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return cls(model.to(device), tokenizer, **kwargs)

    @torch.no_grad()
    def __call__(self, conversations: Sequence[Sequence[dict]]) -> list[str]:
        replies: list[str] = []
        device = next(self.model.parameters()).device
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"
        try:
            for start in range(0, len(conversations), self.batch_size):
                chunk = [list(c) for c in conversations[start : start + self.batch_size]]
                inputs = self.tokenizer.apply_chat_template(chunk, add_generation_prompt=True, padding=True,
                                                            return_tensors="pt", return_dict=True)
                inputs = {k: v.to(device) for k, v in inputs.items()}
                out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens,
                                          pad_token_id=self.tokenizer.pad_token_id, **self.generate_kwargs)
                new = out[:, inputs["input_ids"].shape[1] :]
                replies += self.tokenizer.batch_decode(new, skip_special_tokens=True)
        finally:
            self.tokenizer.padding_side = side
        return replies
