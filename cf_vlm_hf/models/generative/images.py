"""Each distinct image of a processor call goes through the image processor once.

A generative batch holds the anchor image in several sequences (the anchor, its cross pairs, its caption sequence
for yes-probability); `OnceEachImage` wraps the image processor for one call so each distinct image object is
processed once and its outputs repeated per sequence. The model forward still encodes it once per sequence.
"""

from __future__ import annotations

import numpy as np
import torch


class OnceEachImage:
    """Wraps an image processor so that each distinct image (by identity) of one call is processed once.

    The outputs are repeated back to one entry per input image, in order, so the processor's own placeholder
    expansion and the model see exactly what an undeduplicated call would give. ``count`` accumulates the number
    of images actually processed.
    """

    def __init__(self, inner):
        self.inner = inner
        self.count = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, images, *args, **kwargs):
        nested = isinstance(images, (list, tuple)) and all(isinstance(i, (list, tuple)) for i in images)
        flat = [i[0] for i in images] if nested and all(len(i) == 1 for i in images) else None
        if flat is None and isinstance(images, (list, tuple)) and not nested:
            flat = list(images)
        if flat is None:  # several images per sequence: no deduplication
            self.count += sum(len(i) for i in images) if nested else 1
            return self.inner(images, *args, **kwargs)
        position: dict[int, int] = {}
        distinct, index = [], []
        for image in flat:
            if id(image) not in position:
                position[id(image)] = len(distinct)
                distinct.append(image)
            index.append(position[id(image)])
        out = self.inner([[d] for d in distinct] if nested else distinct, *args, **kwargs)
        self.count += len(distinct)
        if len(distinct) == len(flat):
            return out
        try:
            return repeat_image_outputs(out, index, len(distinct))
        except CannotRepeat:  # an output layout we do not know: process every image after all
            self.count += len(flat)
            return self.inner(images, *args, **kwargs)


class CannotRepeat(Exception):
    """An image-processor output whose per-image layout is unknown."""


def repeat_image_outputs(out, index: list[int], num_distinct: int):
    """Image-processor outputs for ``num_distinct`` images -> outputs for the images ``index`` points at."""
    data = dict(out)
    repeated = {}
    grid = data.get("image_grid_thw")
    for key, value in data.items():
        if grid is not None and key == "pixel_values":
            # Qwen-style: the patches of all images are concatenated along dim 0; image i has prod(grid[i]) of them.
            sizes = [int(np.prod(np.asarray(g))) for g in grid]
            parts = list(torch.split(torch.as_tensor(value), sizes)) if sizes else []
            repeated[key] = _cat([parts[i] for i in index], value)
        elif isinstance(value, (torch.Tensor, np.ndarray)) and value.shape[:1] == (num_distinct,):
            repeated[key] = value[torch.as_tensor(index)] if isinstance(value, torch.Tensor) else value[index]
        elif isinstance(value, (list, tuple)) and len(value) == num_distinct:
            repeated[key] = [value[i] for i in index]
        else:
            raise CannotRepeat(key)
    return type(out)(repeated) if hasattr(out, "convert_to_tensors") else repeated


def _cat(parts, like):
    if isinstance(like, np.ndarray):
        return np.concatenate([p.numpy() for p in parts])
    return torch.cat(parts)
