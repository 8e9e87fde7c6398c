"""Image paths in a corpus: where relative ones are taken from, and the root none may leave.

A corpus names image files by path: strings in an annotation file, ``{"path": ...}`` dicts, the ``path`` field of
``datasets`` Image structs whose ``bytes`` are empty. A corpus someone sends you must not make the loader (or
:func:`~cf_vlm_hf.data.save_counterfactual_dataset`, which embeds the files it names) read ``../../etc/passwd`` or
``/home/you/.ssh/id_rsa``. So every such path is joined to the source's base folder, normalised *lexically*
(``a/../b`` becomes ``b``; symlinks are not resolved) and refused unless it lies under the corpus root; the
normalised path is then the one that is read. A symlink the user put under the root (``ln -s /data/coco/images
photos``) is therefore followed, while ``..`` components and absolute paths cannot climb out. Each source's base
and root are listed in docs/corpus.md ("Sources and their roots").

URLs (``hf://...``, ``https://...``, ``zip://...::hf://...``) are remote reads: they pass only under a URL root
(a Hub dataset's own repository) or with ``allow_outside_root``.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from .errors import CorpusError

_IMAGE_COLUMNS = ("image", "cf_images", "edit_images")

OUTSIDE_HINT = "pass allow_outside_root=True (cf-vlm train: --allow_outside_root) if this is intended"


def is_url(path: str) -> bool:
    """Whether ``path`` is a URL or an fsspec chain (``zip://a.png::hf://datasets/...``), not a local path."""
    return "://" in path or "::" in path


@dataclass(frozen=True)
class PathPolicy:
    """How one corpus's image paths are resolved and confined.

    Attributes:
        base: the folder relative paths are joined to; ``None``: the working directory (where ``datasets``
            itself opens a relative path).
        roots: absolute folders, or URL prefixes, that every path must lie under; empty: no confinement.
        label: how messages name the root, e.g. ``"the annotation folder"``.
        allow_outside_root: accept any path (the user trusts this corpus).
    """

    base: str | None = None
    roots: tuple[str, ...] = ()
    label: str = "the corpus root"
    allow_outside_root: bool = False

    @property
    def confines(self) -> bool:
        return bool(self.roots) and not self.allow_outside_root

    def resolve(self, path: str | os.PathLike, where: str) -> str:
        """Return ``path`` joined to the base and normalised; raise :class:`CorpusError` (``path_outside_root``)
        naming ``where`` when it lies outside every root."""
        path = os.fspath(path)
        if is_url(path):
            if self.confines and not any(_url_under(path, root) for root in self.roots if is_url(root)):
                self._refuse(path, where, "a URL")
            return path
        full = os.path.normpath(os.path.join(self.base or os.getcwd(), path))  # an absolute path replaces base
        if self.confines and not any(_under(full, root) for root in self.roots if not is_url(root)):
            self._refuse(path, where, "an absolute path" if os.path.isabs(path) else "a path with '..'")
        return full

    def _refuse(self, path: str, where: str, kind: str) -> None:
        local = [root for root in self.roots if not is_url(root)] or list(self.roots)
        shown = repr(local[0]) if len(local) == 1 else "(" + ", ".join(repr(r) for r in local) + ")"
        raise CorpusError(
            f"{where}: image path {path!r} lies outside {self.label} {shown} ({kind}); {OUTSIDE_HINT}",
            "path_outside_root",
        )

    def needs_rewrite(self, original: str, resolved: str) -> bool:
        """Whether a stored path must be replaced by its resolved form so that the file checked is the file read.

        A relative path read against a base that is not the working directory, and any path with ``..`` or
        other non-normal parts (``a/../b`` may leave the root through a symlink ``a``), must be; a plain relative
        path under the working directory need not be.
        """
        if original == resolved or is_url(original):
            return False
        plain = os.path.normpath(original) == original and ".." not in original.split(os.sep)
        return not (self.base is None and not os.path.isabs(original) and plain)


def _under(path: str, root: str) -> bool:
    root = os.path.normpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _url_under(url: str, prefix: str) -> bool:
    outer = url.split("::")[-1]  # fsspec chains read the last (outermost) location
    return outer == prefix or outer.startswith(prefix.rstrip("/@") + "/") or outer.startswith(prefix + "@")


def local_root(folder: str | os.PathLike) -> str:
    """A folder as a root: absolute and normalised, symlinks kept (lexical, like the paths checked against it)."""
    return os.path.normpath(os.path.abspath(os.fspath(folder)))


def image_path(value: Any) -> str | None:
    """The file path an image reference would be read from (a path string, or a path-only dict), else None.

    An Image dict whose ``bytes`` are present is read from its bytes: its ``path`` is only a name.
    """
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, Mapping) and value.get("bytes") is None and isinstance(value.get("path"), str):
        return value["path"] or None
    return None


def resolve_reference(value: Any, policy: PathPolicy, where: str) -> Any:
    """Return the image reference with its path resolved by ``policy`` (other references unchanged)."""
    path = image_path(value)
    if path is None:
        return value
    resolved = policy.resolve(path, where)
    if isinstance(value, Mapping):
        return {"bytes": None, "path": resolved}
    return resolved


def resolve_image_path(
    path: str | os.PathLike, root: str | os.PathLike, where: str, allow_outside_root: bool = False
) -> str:
    """Return ``path`` (relative paths taken from ``root``) absolute and normalised; refuse it outside ``root``.

    The one-root case of :class:`PathPolicy`, kept for callers of the earlier API.
    """
    folder = local_root(root)
    policy = PathPolicy(folder, (folder,), "the annotation folder", allow_outside_root)
    return policy.resolve(path, where)


_RECORDED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def record_policy(dataset: Any, policy: PathPolicy) -> None:
    """Remember the path policy a corpus was loaded with (for :func:`recorded_policy`; lost on transforms)."""
    try:
        _RECORDED[dataset] = policy
    except TypeError:  # not weak-referenceable
        pass


def recorded_policy(dataset: Any) -> PathPolicy | None:
    """The policy :func:`~cf_vlm_hf.data.load_counterfactual_dataset` loaded exactly this object with, else None."""
    try:
        return _RECORDED.get(dataset)
    except TypeError:
        return None


def _resolved_or_kept(value: Any, policy: PathPolicy) -> Any:
    path = image_path(value)
    if path is None or not isinstance(value, Mapping):
        return value
    try:
        return {"bytes": None, "path": policy.resolve(path, "")}
    except CorpusError:  # refused: its row is rejected (or saving stops) before the file is read
        return value


def resolve_table_paths(table: pa.Table, policy: PathPolicy) -> pa.Table:
    """An Arrow table of corpus rows with each path-backed image's path replaced by its resolved form."""
    for name in _IMAGE_COLUMNS:
        if name in table.column_names:
            column = table.column(name)
            values = column.to_pylist()
            if name == "image":
                values = [_resolved_or_kept(v, policy) for v in values]
            else:
                values = [None if vs is None else [_resolved_or_kept(v, policy) for v in vs] for vs in values]
            table = table.set_column(table.column_names.index(name), name, pa.array(values, type=column.type))
    return table
