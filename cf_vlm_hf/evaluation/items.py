"""What a benchmark loader emits: image references and one item type per task family.

Every loader of `cf_vlm_hf.evaluation.tasks` turns its benchmark's files into a list of ONE of these item types;
the task's metric only sees the scores the model gives the item's (image, text) pairs.

* :class:`ChoiceItem` — one image, several candidate captions, one of them right (SugarCrepe, ARO, VL-CheckList);
* :class:`WinogroundItem` — two images and two captions, image k goes with caption k (Winoground);
* :class:`MultipleChoiceItem` — an image and a lettered question (ConMe);
* :class:`QuestionItem` — an image and a yes/no question with its label (POPE);
* :class:`PairwiseItem` — an image, its captions, negative captions, negative images and complete counterfactual
  pairs (the bring-your-own ``pairwise`` format and our corpus schema);
* :class:`RetrievalSet` / :class:`ClassificationSet` — a whole image-caption or image-class set (retrieval,
  zero-shot classification).

Images are :class:`ImageRef` s: a stable ``key`` plus a way to load the picture (a file, optionally cropped, an
in-memory image, or a loader function). The key identifies the image across models, so embeddings and processed
pixels are computed once per key (`cf_vlm_hf.evaluation.images`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

# Where a loaded image carries its ImageRef key (PIL keeps ``info`` with the object): the pixel cache reads it.
KEY_INFO = "cf_vlm_eval_key"


@dataclass(frozen=True)
class ImageRef:
    """An image an item refers to.

    Attributes:
        key: stable identity of the image (a path with its crop box, or a task-given id).
        path: the file to read, or None.
        box: (left, top, right, bottom) crop applied after reading (ARO's relation boxes), or None.
        image: an in-memory PIL image, or None.
        loader: a function returning a PIL image (lazy in-memory sources, e.g. a Hub dataset row), or None.
    """

    key: str
    path: str | None = None
    box: tuple[float, float, float, float] | None = None
    image: Any = field(default=None, compare=False, repr=False)
    loader: Callable[[], Any] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_file(cls, path: str, box: tuple[float, float, float, float] | None = None) -> ImageRef:
        path = os.path.abspath(path)
        return cls(key=path if box is None else f"{path}#box={','.join(f'{v:g}' for v in box)}", path=path, box=box)

    @classmethod
    def from_image(cls, key: str, image) -> ImageRef:
        return cls(key=key, image=image)

    def load(self) -> Image.Image:
        """The RGB PIL image (cropped to ``box``), tagged with ``key`` in its ``info``.

        A file that is already RGB and not cropped is read but not decoded: PIL decodes it when its pixels are first
        used, so an image whose processed pixels are cached is never decoded (`cf_vlm_hf.evaluation.images`).
        """
        if self.image is not None:
            image = self.image
        elif self.loader is not None:
            image = self.loader()
        elif self.path is not None:
            if not os.path.isfile(self.path):
                raise FileNotFoundError(f"image file not found: {self.path}")
            with open(self.path, "rb") as f:
                image = Image.open(io.BytesIO(f.read()))
        else:
            raise ValueError(f"image {self.key!r} has neither a path, an image nor a loader")
        if not isinstance(image, Image.Image):
            raise ValueError(f"image {self.key!r}: expected a PIL image, got {type(image).__name__}")
        if self.box is not None:
            image = image.crop(tuple(self.box))
        image = image if image.mode == "RGB" else image.convert("RGB")
        if image is self.image:  # never tag the caller's own object
            image = image.copy()
        image.info[KEY_INFO] = self.key
        return image


@dataclass(frozen=True)
class ChoiceItem:
    """One image and candidate captions; ``texts[answer]`` describes it. Correct when it scores highest."""

    id: str
    image: ImageRef
    texts: tuple[str, ...]
    answer: int
    group: str = ""


@dataclass(frozen=True)
class WinogroundItem:
    """Two images and two captions: caption k describes image k."""

    id: str
    images: tuple[ImageRef, ImageRef]
    captions: tuple[str, str]
    tags: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class MultipleChoiceItem:
    """A lettered multiple-choice question about an image (ConMe).

    ``question`` is the full question text shown to a generative model (options included); ``options`` are the
    option texts alone (what a dual encoder compares with the image), ``letters`` their labels, ``answer`` the
    index of the right one.
    """

    id: str
    image: ImageRef
    question: str
    options: tuple[str, ...]
    letters: tuple[str, ...]
    answer: int
    group: str = ""


@dataclass(frozen=True)
class QuestionItem:
    """A yes/no question about an image with its ground truth (POPE); ``label`` True means "yes"."""

    id: str
    image: ImageRef
    question: str
    label: bool
    group: str = ""


@dataclass(frozen=True)
class PairwiseItem:
    """An image with what should and should not match it.

    Attributes:
        captions: captions of the image (each must beat every negative caption and keep its image above every
            negative image).
        negative_captions: captions that do not describe the image.
        negative_images: images the captions do not describe (minimal edits, other photographs).
        counterfactual_pairs: complete counterfactual pairs (image', caption'), each scored as a Winoground group
            with (image, captions[0]).
        group: a label for breakdowns (an edit type, a source), optional.
    """

    id: str
    image: ImageRef
    captions: tuple[str, ...]
    negative_captions: tuple[str, ...] = ()
    negative_images: tuple[ImageRef, ...] = ()
    counterfactual_pairs: tuple[tuple[ImageRef, str], ...] = ()
    group: str = ""


@dataclass(frozen=True)
class RetrievalSet:
    """Images and captions; ``caption_image[c]`` is the index of the image caption c describes."""

    name: str
    images: tuple[ImageRef, ...]
    captions: tuple[str, ...]
    caption_image: tuple[int, ...]


@dataclass(frozen=True)
class ClassificationSet:
    """Images with class labels, class names and the prompt templates (``{}`` is the class name)."""

    name: str
    images: tuple[ImageRef, ...]
    labels: tuple[int, ...]
    classnames: tuple[str, ...]
    templates: tuple[str, ...]
