"""The text of a generative VLM's sequences: which prompt and which target score an (image, caption) pair.

* ``"caption-likelihood"``: prompt = user turn [image, ``caption_prompt``], target = the caption;
* ``"yes-probability"`` (VQAScore): prompt = user turn [image, ``yes_question`` with the caption], target =
  ``yes_answer`` (the scorer reads only its first token).

Prompts are rendered with the processor's own chat template (or, for PaliGemma's prefix-LM format, passed as
``text=`` with the target as ``suffix=``), so the model sees the format it was trained on.
"""

from __future__ import annotations

import inspect

GENERATIVE_SCORES = ("caption-likelihood", "yes-probability")
DEFAULT_CAPTION_PROMPT = "Describe the image."
DEFAULT_YES_QUESTION = 'Does this image show "{caption}"? Answer yes or no.'
DEFAULT_YES_ANSWER = "Yes"
_SENTINEL = "\u2063CFVLMTARGET\u2063"
_PREFIX_CACHE_SIZE = 4096


def accepts_suffix(processor) -> bool:
    """Whether the processor encodes an answer through ``suffix=`` (PaliGemma's prefix-LM format)."""
    return "suffix" in inspect.signature(type(processor).__call__).parameters


class PromptFormat:
    """Prompts and targets of one model's processor, and the target's token ids after its prompt.

    Args:
        processor: the model's processor; it needs a chat template, or a ``suffix`` argument (PaliGemma).
        score: one of :data:`GENERATIVE_SCORES`.
        caption_prompt: user text of the caption-likelihood prompt.
        yes_question: user text of the yes-probability prompt; ``{caption}`` is replaced by the caption.
        yes_answer: the target of the yes-probability sequences.
    """

    def __init__(
        self,
        processor,
        score: str = "caption-likelihood",
        caption_prompt: str = DEFAULT_CAPTION_PROMPT,
        yes_question: str = DEFAULT_YES_QUESTION,
        yes_answer: str = DEFAULT_YES_ANSWER,
    ):
        if score not in GENERATIVE_SCORES:
            raise ValueError(f"score must be one of {GENERATIVE_SCORES}, got {score!r}")
        if "{caption}" not in yes_question:
            raise ValueError(f"yes_question must contain '{{caption}}', got {yes_question!r}")
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.score = score
        self.caption_prompt, self.yes_question, self.yes_answer = caption_prompt, yes_question, yes_answer
        self.use_suffix = accepts_suffix(processor)
        if not self.use_suffix and getattr(processor, "chat_template", None) is None:
            raise ValueError(
                f"{type(processor).__name__} has no chat template (and no `suffix` argument): set "
                "`processor.chat_template` so prompts are built in the model's own format"
            )
        self._prefix_ids: dict[str, list[int]] = {}

    def prompt_and_target(self, caption: str, as_caption: bool = False) -> tuple[str, str]:
        """(user text, target) of one sequence; ``as_caption`` forces the caption-likelihood form."""
        if as_caption or self.score == "caption-likelihood":
            return self.caption_prompt, caption
        return self.yes_question.replace("{caption}", caption), self.yes_answer

    def render(self, user_text: str) -> str:
        """The chat-template text that precedes an assistant answer to [image, ``user_text``]."""
        messages = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": user_text}]},
            {"role": "assistant", "content": [{"type": "text", "text": _SENTINEL}]},
        ]
        text = self.processor.apply_chat_template(messages, tokenize=False)
        if text.count(_SENTINEL) != 1:
            raise ValueError("the chat template must render the assistant message's text exactly once")
        return text[: text.index(_SENTINEL)]

    def target_ids(self, prefix: str, target: str) -> list[int]:
        """Token ids of ``target`` after ``prefix``; checks that tokenizing them together keeps the prefix intact."""
        if prefix not in self._prefix_ids:  # the same few prompts recur in every batch
            if len(self._prefix_ids) >= _PREFIX_CACHE_SIZE:  # yes-probability prompts hold the caption: stay bounded
                self._prefix_ids.clear()
            self._prefix_ids[prefix] = self.tokenizer(prefix, add_special_tokens=True)["input_ids"]
        head = self._prefix_ids[prefix]
        full = self.tokenizer(prefix + target, add_special_tokens=True)["input_ids"]
        if full[: len(head)] != head:
            raise ValueError(
                f"the tokenizer merges the end of the prompt {prefix[-20:]!r} with the target {target[:20]!r}: the "
                "target's tokens cannot be told apart from the prompt's"
            )
        return full[len(head) :]
