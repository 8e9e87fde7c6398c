"""Processed pixels shared across models: one image-processor pass per (processor configuration, image).

Comparing a base model, a baseline and a CF-VLM fine-tune means three models with the same processor reading the
same images. :class:`PixelCache` keeps the image processor's outputs per (hash of the processor's configuration,
image key, call arguments); :class:`CachedImageProcessor` wraps a processor's ``image_processor`` so that every
call — ours for dual encoders, the processor's own inside `GenerativeCollator` — looks there first and processes
only the images it has not seen. Images are recognised by the key their :class:`~cf_vlm_hf.evaluation.items.ImageRef`
put in ``image.info`` (images without one are processed as usual).

The cache stops growing at ``max_bytes`` (it keeps what it has: a scan larger than the cache still reuses its
first part, where an LRU would reuse nothing). Outputs whose per-image layout is unknown are never cached.

Decoding and preprocessing happen once per image per run, in parallel: `ImageRef.load` opens a file without
decoding it (PIL decodes on first use of the pixels, so an image whose pixels are cached is never decoded), and the
images a call has not seen are split over ``workers`` threads (PIL's decoding and resizing release the GIL), each
thread running the image processor on its share. A call may pass `ImageRef` s instead of images: then images found in
the cache are not even opened, and crops (ARO's boxes) are cut in the worker threads too.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from .items import KEY_INFO, ImageRef

DEFAULT_MAX_BYTES = 2 * 1024**3
DEFAULT_WORKERS = min(8, os.cpu_count() or 1)


def processor_fingerprint(image_processor) -> str:
    """A hash of an image processor's class and configuration: equal for processors that process alike."""
    try:
        config = image_processor.to_dict()
    except Exception:  # not a standard image processor: its repr is the best identity we have
        config = repr(image_processor)
    text = json.dumps([type(image_processor).__name__, config], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class PixelCache:
    """Image-processor outputs per (processor fingerprint, image key, call arguments), up to ``max_bytes``.

    ``hits`` and ``misses`` count images served from the cache and images processed; ``workers`` is how many threads
    decode and preprocess the images a call has not seen (1: in the calling thread).
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, workers: int | None = None):
        self.max_bytes = max_bytes
        self.workers = max(1, workers or DEFAULT_WORKERS)
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._store: dict[tuple, dict] = {}
        self._pool: ThreadPoolExecutor | None = None

    def map(self, function, chunks: list) -> list:
        """``[function(chunk) for chunk in chunks]``, over the cache's worker threads."""
        if self.workers == 1 or len(chunks) < 2:
            return [function(chunk) for chunk in chunks]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="cf-vlm-pixels")
        return list(self._pool.map(function, chunks))

    def get(self, key: tuple) -> dict | None:
        return self._store.get(key)

    def put(self, key: tuple, value: dict) -> None:
        size = sum(v.numel() * v.element_size() for v in value.values() if isinstance(v, torch.Tensor))
        if key not in self._store and self.bytes + size <= self.max_bytes:
            self._store[key] = value
            self.bytes += size

    def __len__(self) -> int:
        return len(self._store)


class CannotSplit(Exception):
    """An image-processor output whose per-image layout is unknown."""


def split_per_image(out, count: int) -> list[dict]:
    """Image-processor outputs for ``count`` images -> one dict of outputs per image."""
    data = dict(out)
    grid = data.get("image_grid_thw")
    parts: list[dict] = [{} for _ in range(count)]
    for name, value in data.items():
        if grid is not None and name == "pixel_values":
            # Qwen-style: every image's patches concatenated along dim 0; image i has prod(grid[i]) of them.
            sizes = [int(np.prod(np.asarray(g))) for g in grid]
            pieces = torch.split(torch.as_tensor(value), sizes)
        elif isinstance(value, torch.Tensor) and value.shape[:1] == (count,):
            pieces = value.split(1)
        else:
            raise CannotSplit(name)
        if len(pieces) != count:
            raise CannotSplit(name)
        for part, piece in zip(parts, pieces):
            part[name] = piece.clone()
    return parts


def merge_images(parts: list[dict]) -> dict:
    """Per-image outputs -> the outputs of one call for all of them (concatenated along dim 0)."""
    names = list(parts[0])
    if any(list(p) != names for p in parts):
        raise CannotSplit("outputs differ between images")
    merged = {}
    for name in names:
        values = [p[name] for p in parts]
        if any(v.shape[1:] != values[0].shape[1:] for v in values):
            raise CannotSplit(name)  # e.g. a different number of crops per image: padding would differ
        merged[name] = torch.cat(values)
    return merged


class CachedImageProcessor:
    """Wraps an image processor so that processed images come from (and go to) a :class:`PixelCache`.

    Everything but the call is delegated to the wrapped processor (``inner``), so a model's processor keeps
    reading its attributes (patch size, merge size, ...) through the wrapper.
    """

    def __init__(self, inner, cache: PixelCache):
        self.inner = inner
        self.cache = cache
        self.fingerprint = processor_fingerprint(inner)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, images, *args, **kwargs):
        flat, nested = _flat_images(images)
        if args or flat is None or kwargs.get("return_tensors") != "pt":
            return self.inner(_loaded(images), *args, **kwargs)
        keys = [image.key if isinstance(image, ImageRef) else image.info.get(KEY_INFO) for image in flat]
        if any(key is None for key in keys):
            return self.inner(_loaded(images), *args, **kwargs)
        call = json.dumps(kwargs, sort_keys=True, default=repr)
        cache_keys = [(self.fingerprint, key, call) for key in keys]
        first: dict[tuple, int] = {}
        for i, k in enumerate(cache_keys):
            first.setdefault(k, i)
        found = {k: self.cache.get(k) for k in first}
        missing = [i for k, i in first.items() if found[k] is None]
        if missing:
            try:
                parts = self._process([flat[i] for i in missing], nested, kwargs)
            except CannotSplit:
                return self.inner(_loaded(images), *args, **kwargs)
            for i, part in zip(missing, parts):
                found[cache_keys[i]] = part
                self.cache.put(cache_keys[i], part)
        self.cache.misses += len(missing)
        self.cache.hits += len(flat) - len(missing)
        try:
            merged = merge_images([found[k] for k in cache_keys])
        except CannotSplit:
            return self.inner(_loaded(images), *args, **kwargs)
        from transformers import BatchFeature

        return BatchFeature(data=merged)

    def _process(self, todo: list, nested: bool, kwargs: dict) -> list[dict]:
        """Per-image outputs for ``todo`` (images or ImageRefs), its shares decoded and processed in parallel."""
        shares = min(self.cache.workers, len(todo))
        bounds = np.linspace(0, len(todo), shares + 1).round().astype(int)
        chunks = [todo[a:b] for a, b in itertools.pairwise(bounds) if b > a]

        def run(chunk):
            chunk = [item.load() if isinstance(item, ImageRef) else item for item in chunk]
            return split_per_image(self.inner([[im] for im in chunk] if nested else chunk, **kwargs), len(chunk))

        return [part for parts in self.cache.map(run, chunks) for part in parts]


def _flat_images(images):
    """(flat list of PIL images or ImageRefs, whether they came as one-image lists) or (None, False) for other
    layouts."""
    if not isinstance(images, (list, tuple)) or not images:
        return None, False
    if all(isinstance(i, (list, tuple)) for i in images):
        if all(len(i) == 1 for i in images):
            flat, _ = _flat_images([i[0] for i in images])
            return flat, flat is not None
        return None, False
    if all(hasattr(i, "info") or isinstance(i, ImageRef) for i in images):
        return list(images), False
    return None, False


def _loaded(images):
    """``images`` with every ImageRef loaded (the same nesting)."""
    if isinstance(images, ImageRef):
        return images.load()
    if isinstance(images, (list, tuple)):
        return type(images)(_loaded(i) for i in images)
    return images
