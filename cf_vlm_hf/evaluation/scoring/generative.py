"""Pair scores and answers of a generative VLM, through the training collator and scorer.

* S(I, T): one sequence per pair, built by `GenerativeCollator` and scored by `GenerativeScorer.sequence_scores`
  exactly as in training — "caption-likelihood" (mean log-probability of the caption's tokens after the image and
  ``caption_prompt``) or "yes-probability" (log P of the first token of ``yes_answer`` after ``yes_question``).
* Answers (POPE, ConMe): for a prompt (image, question) and candidate answers ("Yes"/"No", "A"/"B"), the
  log-probability of each answer's first token as the model's first answer token — the same sequences with the
  question as the user turn and the answer as the target. The answer with the highest one is the model's answer.
* Generation (POPE's text protocol): greedy decoding after the model's own chat-template prompt.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from ...models import GENERATIVE, core_model, generative_max_length
from ...models.generative import (
    DEFAULT_CAPTION_PROMPT,
    DEFAULT_YES_ANSWER,
    DEFAULT_YES_QUESTION,
    GenerativeCollator,
    GenerativeScorer,
    PromptFormat,
)
from ..images import CachedImageProcessor, PixelCache
from ..items import ImageRef
from .base import NotApplicable, PairScorer

DEFAULT_MAX_MATRIX_PAIRS = 200_000


class GenerativePairScorer(PairScorer):
    """S(I, T) and answers of an image-text-to-text model (LLaVA, Qwen2-VL, PaliGemma, Idefics3, ...).

    Args:
        model, processor: the checkpoint and its processor (with a chat template, or PaliGemma's ``suffix``).
        batch_size: sequences per forward.
        score, caption_prompt, yes_question, yes_answer: how S is computed (`GenerativeCollator`'s arguments).
        pixel_cache: processed pixels shared with other models of the same image processor.
        progress: show progress bars.
        max_matrix_pairs: refuse (:class:`NotApplicable`) a full score matrix (retrieval, zero-shot) of more
            sequences than this; each pair is a forward here, unlike a dual encoder's dot product.

    Example::

        >>> scorer = GenerativePairScorer(model, processor, score="caption-likelihood")
        >>> scorer.score_pairs([(ImageRef.from_file("cat.jpg"), "a cat"), (ImageRef.from_file("cat.jpg"), "a dog")])
        tensor([-2.61, -3.05])  # mean caption-token log-probabilities
        >>> scorer.answer_scores([(ImageRef.from_file("cat.jpg"), "Is there a cat in the image?")], ["Yes", "No"])
        tensor([[-0.22, -1.61]])
    """

    family = GENERATIVE

    def __init__(self, model, processor, batch_size: int = 16, score: str = "caption-likelihood",
                 caption_prompt: str = DEFAULT_CAPTION_PROMPT, yes_question: str = DEFAULT_YES_QUESTION,
                 yes_answer: str = DEFAULT_YES_ANSWER, pixel_cache: PixelCache | None = None, progress: bool = True,
                 max_matrix_pairs: int = DEFAULT_MAX_MATRIX_PAIRS):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.processor = model, processor
        self.batch_size, self.progress, self.max_matrix_pairs = batch_size, progress, max_matrix_pairs
        self.score_kind = score
        self.prompt_settings = dict(caption_prompt=caption_prompt, yes_question=yes_question, yes_answer=yes_answer)
        self.max_length = generative_max_length(model, processor)
        self.pixel_cache = pixel_cache
        self.device = next(core_model(model).parameters()).device
        self.collator = self._collator(score, **self.prompt_settings)
        self._pairs: dict[tuple[str, str], float] = {}

    def _collator(self, score: str, **prompts) -> GenerativeCollator:
        return GenerativeCollator(self.processor, score=score, counterfactual_pairs=False, edits=False,
                                  alignment=False, max_length=self.max_length, **prompts)

    @contextlib.contextmanager
    def _cached_pixels(self):
        """Route the processor's image processing through the pixel cache for the duration of a call."""
        if self.pixel_cache is None:
            yield
            return
        inner = self.processor.image_processor
        self.processor.image_processor = CachedImageProcessor(inner, self.pixel_cache)
        try:
            yield
        finally:
            self.processor.image_processor = inner

    def _sequence_scores(self, collator: GenerativeCollator, prompts: Sequence[tuple[ImageRef, str]],
                         description: str) -> torch.Tensor:
        """(N,) scores of the sequences (image, text) through ``collator`` and `GenerativeScorer`."""
        scorer = GenerativeScorer(score=collator.score, global_token_mean=False)
        out = []
        steps = range(0, len(prompts), self.batch_size)
        bar = tqdm(steps, desc=description, disable=not self.progress or len(steps) < 2, leave=False)
        for start in bar:
            chunk = prompts[start : start + self.batch_size]
            images = {ref.key: ref.load() for ref, _ in chunk}  # one object per image: processed once per call
            rows = [{"image": images[ref.key], "caption": text} for ref, text in chunk]
            with self._cached_pixels():
                batch = collator(rows)
            batch["chunks"] = [{k: v.to(self.device) for k, v in c.items()} for c in batch["chunks"]]
            with torch.no_grad():
                scores, _, _ = scorer.sequence_scores(self.model, batch)
            out.append(scores[: len(chunk)].float().cpu())
        return torch.cat(out) if out else torch.empty(0)

    def score_pairs(self, pairs: Sequence[tuple[ImageRef, str]]) -> torch.Tensor:
        todo = list({(ref.key, t): (ref, t) for ref, t in pairs if (ref.key, t) not in self._pairs}.values())
        if todo:
            scores = self._sequence_scores(self.collator, todo, "scoring pairs")
            self._pairs.update(zip(((ref.key, text) for ref, text in todo), scores.tolist()))
        return torch.tensor([self._pairs[(ref.key, text)] for ref, text in pairs], dtype=torch.float32)

    def score_matrix(self, images: Sequence[ImageRef], texts: Sequence[str]) -> torch.Tensor:
        count = len(images) * len(texts)
        if count > self.max_matrix_pairs:
            raise NotApplicable(
                f"{len(images)} images x {len(texts)} texts = {count:,} sequences for a generative VLM (one forward "
                f"each), above max_matrix_pairs={self.max_matrix_pairs:,}; raise it or use a smaller set"
            )
        return super().score_matrix(images, texts)

    def answer_scores(self, questions: Sequence[tuple[ImageRef, str]], answers: Sequence[str]) -> torch.Tensor:
        """(N, A): log P(first token of answer a | image, question) for each question and answer."""
        columns = []
        for answer in answers:
            collator = self._collator("yes-probability", caption_prompt=self.prompt_settings["caption_prompt"],
                                      yes_question="{caption}", yes_answer=answer)
            columns.append(self._sequence_scores(collator, list(questions), f"answer {answer!r}"))
        return torch.stack(columns, dim=1) if columns else torch.empty(len(questions), 0)

    def generate_answers(self, questions: Sequence[tuple[ImageRef, str]], max_new_tokens: int = 16) -> list[str]:
        """Greedy answers (special tokens removed) after the chat-template prompt [image, question]."""
        prompts = PromptFormat(self.processor)
        tokenizer = prompts.tokenizer
        answers: list[str] = []
        steps = range(0, len(questions), self.batch_size)
        bar = tqdm(steps, desc="generating", disable=not self.progress or len(steps) < 2, leave=False)
        for start in bar:
            chunk = questions[start : start + self.batch_size]
            texts = [q if prompts.use_suffix else prompts.render(q) for _, q in chunk]
            with self._cached_pixels():
                inputs = self.processor(text=texts, images=[ref.load() for ref, _ in chunk], return_tensors="pt",
                                        padding=True, padding_side="left")
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            with torch.no_grad():
                generated = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
            new = generated[:, inputs["input_ids"].shape[1] :]
            answers.extend(t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True))
        return answers

    def describe(self) -> dict:
        described = {"family": self.family, "score": self.score_kind}
        if self.score_kind == "caption-likelihood":
            described["caption_prompt"] = self.prompt_settings["caption_prompt"]
        else:
            described.update(yes_question=self.prompt_settings["yes_question"],
                             yes_answer=self.prompt_settings["yes_answer"])
        return described
