"""What every pair scorer offers the tasks: S of (image, text) pairs, score matrices, answers to questions.

A task only ever calls these methods, so a test can drive every task with a scorer of fixed scores (subclass
:class:`PairScorer` and implement ``score_pairs``). A method a family cannot serve raises :class:`NotApplicable`;
the task is then skipped for that model, with the reason in the results.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..items import ImageRef


class NotApplicable(Exception):
    """A task that does not apply to a model (POPE for a dual encoder); the message is the reason."""


class PairScorer:
    """Scores of (image, text) pairs; subclasses implement :meth:`score_pairs`.

    Attributes:
        family: "dual-encoder", "generative" or anything else for custom scorers.
        score_kind: what S is ("cosine", "caption-likelihood", "yes-probability", ...), for the provenance.
    """

    family = "custom"
    score_kind = "custom"

    def score_pairs(self, pairs: Sequence[tuple[ImageRef, str]]) -> torch.Tensor:
        """(N,) S(image, text) of N pairs."""
        raise NotImplementedError

    def score_matrix(self, images: Sequence[ImageRef], texts: Sequence[str]) -> torch.Tensor:
        """(num_images, num_texts) S of every image with every text."""
        pairs = [(image, text) for image in images for text in texts]
        return self.score_pairs(pairs).reshape(len(images), len(texts))

    def template_scores(self, images: Sequence[ImageRef], class_templates: Sequence[Sequence[str]]) -> torch.Tensor:
        """(num_images, num_classes) score of each image for each class, given each class's prompts.

        Default: the mean over a class's prompts of S(image, prompt). Dual encoders override it with the usual
        prompt ensemble (the mean of the normalised prompt embeddings, normalised again).
        """
        texts = [t for templates in class_templates for t in templates]
        matrix = self.score_matrix(images, texts)
        columns, start = [], 0
        for templates in class_templates:
            columns.append(matrix[:, start : start + len(templates)].mean(dim=1))
            start += len(templates)
        return torch.stack(columns, dim=1)

    def answer_scores(self, questions: Sequence[tuple[ImageRef, str]], answers: Sequence[str]) -> torch.Tensor:
        """(N, A) log-probability of each answer's first token after each (image, question) prompt."""
        raise NotApplicable(f"a {self.family} model does not answer questions (it is not a generative VLM)")

    def generate_answers(self, questions: Sequence[tuple[ImageRef, str]], max_new_tokens: int = 16) -> list[str]:
        """Greedy answers to (image, question) prompts."""
        raise NotApplicable(f"a {self.family} model does not generate text (it is not a generative VLM)")

    def describe(self) -> dict:
        """What the scores are, for the results' provenance."""
        return {"family": self.family, "score": self.score_kind}
