"""Where a corpus comes from: telling sources apart, opening each, and the root its image paths must stay under.

| source | read by | relative paths from | root |
|---|---|---|---|
| ``.jsonl``/``.json`` file (our schema or the authors') | :mod:`.annotations` | the file's folder | that folder |
| folder of annotation files (``train.jsonl``, ``test.jsonl``, ...) | :mod:`.annotations` | the folder | the folder |
| ImageFolder (``metadata.jsonl`` at the top, or per split folder) | :mod:`.annotations` | its folder | the top folder |
| ``Dataset.save_to_disk`` folder | ``datasets.load_from_disk`` | the folder | the folder |
| ``.parquet`` file | ``datasets`` (parquet) | the file's folder | that folder |
| other local folder (parquet shards, a Hub layout) | ``datasets.load_dataset`` | the folder | the folder |
| Hub dataset id | ``datasets.load_dataset`` | (refused) | its repository and the download caches |
| in-memory ``Dataset``/``DatasetDict``/``IterableDataset`` | as is | the working directory | none |

``root=`` replaces the root of any source; ``allow_outside_root=True`` lifts it.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import datasets
from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict, load_dataset, load_from_disk

from .annotations import ANNOTATION_SUFFIXES, load_annotation_file
from .columns import rename_to_schema
from .errors import CorpusError
from .paths import PathPolicy, local_root

IN_MEMORY = (Dataset, DatasetDict, IterableDataset, IterableDatasetDict)
FILE_SUFFIXES = (*ANNOTATION_SUFFIXES, ".parquet")
_SHARD_SUFFIXES = (".parquet", ".arrow", ".csv", ".tsv", ".txt")


def _roots(folder: str) -> tuple[str, ...]:
    lexical, real = local_root(folder), os.path.realpath(folder)
    return (lexical,) if lexical == real else (lexical, real)


def local_policy(folder: str, label: str, root, allow_outside_root: bool, base: str | None = None) -> PathPolicy:
    """The policy of a local source: paths from ``base`` (default ``folder``), confined to ``root`` or ``folder``."""
    if root is not None:
        return PathPolicy(local_root(base or folder), _roots(os.fspath(root)), "the root", allow_outside_root)
    return PathPolicy(local_root(base or folder), _roots(folder), label, allow_outside_root)


def hub_policy(repo_id: str, cache_dir: str | None, root, allow_outside_root: bool) -> PathPolicy:
    """A Hub dataset's paths must be files ``datasets`` downloaded (its caches) or URLs of its own repository."""
    if root is not None:
        return PathPolicy(None, _roots(os.fspath(root)), "the root", allow_outside_root)
    from huggingface_hub import constants

    roots: list[str] = []
    for cache in (cache_dir or datasets.config.HF_DATASETS_CACHE, constants.HF_HUB_CACHE):
        roots += _roots(os.fspath(cache))
    roots += [f"hf://datasets/{repo_id}", f"{constants.ENDPOINT.rstrip('/')}/datasets/{repo_id}"]
    return PathPolicy(None, tuple(roots), f"the Hub dataset {repo_id!r} and the download caches", allow_outside_root)


def in_memory_policy(root, allow_outside_root: bool) -> PathPolicy:
    roots = _roots(os.fspath(root)) if root is not None else ()
    return PathPolicy(None, roots, "the root", allow_outside_root)


def annotation_splits(folder: str) -> dict[str, tuple[str, bool, str]] | None:
    """``{split: (file, image_folder, base)}`` for a folder read by :mod:`.annotations`, or None for ``datasets``.

    An ImageFolder (``metadata.jsonl`` at the top, or in split sub-folders) wins; otherwise a folder whose top
    level holds ``SPLIT.jsonl``/``SPLIT.json`` files and no data shards has one split per file.
    """
    top = os.path.join(folder, "metadata.jsonl")
    if os.path.isfile(top):
        return {"train": (top, True, folder)}
    names = sorted(os.listdir(folder))
    nested = {n: os.path.join(folder, n, "metadata.jsonl") for n in names if os.path.isdir(os.path.join(folder, n))}
    nested = {n: (p, True, os.path.dirname(p)) for n, p in nested.items() if os.path.isfile(p)}
    if nested:
        return nested
    data = os.path.join(folder, "data")  # the Hub layout: data/SPLIT-*.parquet
    shards = os.listdir(data) if os.path.isdir(data) else []
    if any(n.endswith(_SHARD_SUFFIXES) for n in names + shards):
        return None
    files = {os.path.splitext(n)[0]: os.path.join(folder, n) for n in names if n.endswith(ANNOTATION_SUFFIXES)}
    files = {split: path for split, path in files.items() if os.path.isfile(path)}
    return {split: (path, False, folder) for split, path in files.items()} or None


def looks_local(source: str) -> bool:
    """Whether a string that is no existing file or folder was meant as a local path (not a Hub id)."""
    if source.endswith((*FILE_SUFFIXES, ".arrow")) or source.startswith(("/", "./", "../", "~", ".\\")):
        return True
    parts = source.replace("\\", "/").split("/")
    return len(parts) > 2 or (len(parts) == 2 and os.path.isdir(parts[0]))


def _pick(splits: dict, split: str | None, source: str, kind):
    if split is not None:
        if split not in splits:
            raise ValueError(f"{source!r} has split(s) {sorted(splits)}, not {split!r}")
        return splits[split]
    return next(iter(splits.values())) if len(splits) == 1 else kind(splits)


def open_source(
    source: Any,
    split: str | None,
    streaming: bool,
    image_column: str | None,
    caption_column: str | None,
    root: str | os.PathLike | None,
    allow_outside_root: bool,
    kwargs: dict,
) -> tuple[Any, PathPolicy]:
    """Return ``(raw corpus, path policy)``: columns renamed to the schema's, rows not yet validated."""
    if isinstance(source, IN_MEMORY):
        if kwargs:
            raise ValueError(f"keyword arguments {sorted(kwargs)} are for datasets.load_dataset, not an in-memory "
                             "corpus")
        raw = source
        if split is not None and isinstance(raw, (DatasetDict, IterableDatasetDict)):
            raw = _pick(dict(raw), split, "the corpus", type(raw))
        if streaming and isinstance(raw, Dataset):
            raw = raw.to_iterable_dataset()
        elif streaming and isinstance(raw, DatasetDict):
            raw = IterableDatasetDict({name: part.to_iterable_dataset() for name, part in raw.items()})
        return _rename(raw, image_column, caption_column), in_memory_policy(root, allow_outside_root)

    path = os.fspath(source)
    cache_dir = kwargs.get("cache_dir")
    if os.path.isfile(path):
        folder = os.path.dirname(os.path.abspath(path))
        if path.endswith(ANNOTATION_SUFFIXES):
            if split not in (None, "train"):
                raise ValueError(
                    f"an annotation file holds one split ('train'); got split={split!r} (put TRAIN.jsonl and "
                    "test.jsonl in one folder and load the folder to get one split per file)"
                )
            policy = local_policy(folder, "the annotation folder", root, allow_outside_root)
            raw = load_annotation_file(path, policy, streaming, image_column, caption_column, cache_dir=cache_dir)
            return raw, policy
        if path.endswith(".parquet"):
            policy = local_policy(folder, "the parquet file's folder", root, allow_outside_root)
            raw = _read(path, "parquet", data_files=path, split=split, streaming=streaming, **kwargs)
            return _rename(raw, image_column, caption_column), policy
        raise ValueError(f"cannot load a corpus from {path!r}: expected .parquet, .json or .jsonl")

    if os.path.isdir(path):
        return _open_folder(path, split, streaming, image_column, caption_column, root, allow_outside_root, kwargs)
    if looks_local(path):
        kind = "file" if path.endswith((*FILE_SUFFIXES, ".arrow")) else "file or folder"
        raise FileNotFoundError(f"no such {kind}: {path!r} (resolved as {os.path.abspath(path)!r})")
    policy = hub_policy(path, cache_dir, root, allow_outside_root)
    return _rename(_load_hub(path, split, streaming, kwargs), image_column, caption_column), policy


def _open_folder(path, split, streaming, image_column, caption_column, root, allow_outside_root, kwargs):
    if any(os.path.isfile(os.path.join(path, n)) for n in ("dataset_dict.json", "state.json")):
        policy = local_policy(path, "the dataset folder", root, allow_outside_root)
        loaded = load_from_disk(path)
        if split is not None:
            if isinstance(loaded, DatasetDict):
                loaded = _pick(dict(loaded), split, path, DatasetDict)
            elif str(loaded.split or "train") != split:
                raise ValueError(f"{path!r} holds a single split {str(loaded.split or 'train')!r}, not {split!r}")
        if streaming:
            if isinstance(loaded, DatasetDict):
                loaded = IterableDatasetDict({name: part.to_iterable_dataset() for name, part in loaded.items()})
            else:
                loaded = loaded.to_iterable_dataset()
        return _rename(loaded, image_column, caption_column), policy

    files = annotation_splits(path)
    if files is not None:
        label = "the corpus folder"
        parts, policy = {}, local_policy(path, label, root, allow_outside_root)
        for name, (file, image_folder, base) in files.items():
            if split is not None and name != split:
                continue
            part_policy = local_policy(path, label, root, allow_outside_root, base=base)
            parts[name] = load_annotation_file(
                file, part_policy, streaming, image_column, caption_column, image_folder, kwargs.get("cache_dir")
            )
        if split is not None and not parts:
            raise ValueError(f"{path!r} has split(s) {sorted(files)}, not {split!r}")
        kind = IterableDatasetDict if streaming else DatasetDict
        return _pick(parts, None, path, kind), policy

    # A local folder of parquet shards (or another layout datasets reads): the same code path as the Hub.
    policy = local_policy(path, "the corpus folder", root, allow_outside_root)
    if not streaming:
        kwargs = dict(kwargs, cache_dir=local_folder_cache(path, kwargs.get("cache_dir")))
    raw = _read(path, path, split=split, streaming=streaming, **kwargs)
    return _rename(raw, image_column, caption_column), policy


def _load_hub(repo_id: str, split, streaming, kwargs):
    """``datasets.load_dataset`` on a Hub id, its failures to find or reach it as one clear line."""
    from datasets.exceptions import DatasetNotFoundError

    try:
        return _read(repo_id, repo_id, split=split, streaming=streaming, **kwargs)
    except DatasetNotFoundError as err:
        raise FileNotFoundError(
            f"no local file or folder {repo_id!r}, and no Hub dataset of that name ({err})"
        ) from None
    except ConnectionError as err:
        raise ConnectionError(
            f"cannot load corpus {repo_id!r}: it is no local file or folder, and the Hugging Face Hub cannot be "
            f"reached ({err}); check the name, the network, or HF_HUB_OFFLINE"
        ) from None


def _read(source: str, *args, **kwargs):
    """``datasets.load_dataset``, a failure to read the data (a broken shard) named as the corpus's."""
    from datasets.exceptions import DatasetGenerationError

    try:
        return load_dataset(*args, **kwargs)
    except DatasetGenerationError as err:
        cause = err.__cause__ or err.__context__ or err
        raise CorpusError(f"cannot read the corpus {source!r}: {type(cause).__name__}: {cause}", "unreadable") from err


def _rename(raw, image_column, caption_column):
    if image_column is None and caption_column is None:
        return raw
    if isinstance(raw, (DatasetDict, IterableDatasetDict)):
        return type(raw)({k: rename_to_schema(v, image_column, caption_column) for k, v in raw.items()})
    return rename_to_schema(raw, image_column, caption_column)


def local_folder_cache(folder: str, cache_dir: str | None) -> str:
    """A `datasets` cache directory of its own for a local folder, keyed by its absolute path and its files.

    ``datasets`` keys the cache of a local folder by its name and data files, not by where it is: two folders
    with the same name (``a/corpus`` and ``b/corpus``) would share one cached copy, and the second would load the
    first's rows. Keying by path, size and modification time of every file gives each folder (and each rewrite
    of it) its own cache.
    """
    parts = [os.path.abspath(folder)]
    for top, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            stat = os.stat(os.path.join(top, name))
            parts.append(f"{os.path.relpath(os.path.join(top, name), folder)}|{stat.st_size}|{stat.st_mtime_ns}")
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return os.path.join(cache_dir or datasets.config.HF_DATASETS_CACHE, "cf_vlm_hf_local", key)
