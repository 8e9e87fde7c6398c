"""Pushing a saved checkpoint (with its card) or a saved corpus (with its dataset card) to the Hub."""

from __future__ import annotations

import logging
import os

from .access import check_hub_access

logger = logging.getLogger(__name__)

# Never pushed by `push_folder`: unfinished or intermediate state, and the pickled training arguments (nothing
# should have to unpickle a file from the Hub).
IGNORED = ["checkpoint-*", "*.incomplete", "*.tmp", "_*", "training_args.bin", ".cache/*"]


def folder_kind(folder: str) -> str:
    """"model" for a checkpoint folder (``config.json`` or ``adapter_config.json``), "dataset" for a corpus saved by
    `save_counterfactual_dataset` (``data/*.parquet``); a ValueError naming the folder otherwise."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no such folder: {folder!r}")
    if any(os.path.isfile(os.path.join(folder, name)) for name in ("config.json", "adapter_config.json")):
        return "model"
    data = os.path.join(folder, "data")
    if os.path.isdir(data) and any(name.endswith(".parquet") for name in os.listdir(data)):
        return "dataset"
    if any(os.path.isfile(os.path.join(folder, name)) for name in ("dataset_dict.json", "state.json")):
        raise ValueError(f"{folder!r} was written by save_to_disk, which the Hub cannot load: save it with "
                         "save_counterfactual_dataset (parquet shards and a card) and push that folder")
    raise ValueError(f"{folder!r} holds neither a checkpoint (config.json / adapter_config.json) nor a corpus "
                     "(data/*.parquet)")


def push_folder(folder: str, repo_id: str, *, repo_type: str | None = None, private: bool | None = None,
                token: str | None = None, revision: str | None = None, commit_message: str | None = None,
                endpoint: str | None = None) -> str:
    """Create ``repo_id`` if needed and upload ``folder`` to it; return the URL of the commit.

    The kind of repo (model or dataset) follows from the folder (`folder_kind`) unless ``repo_type`` says. The
    Hub is checked first (`check_hub_access`), so an unreachable Hub or a missing login is one clear error.
    """
    from huggingface_hub import HfApi

    kind = repo_type or folder_kind(folder)
    if not os.path.isfile(os.path.join(folder, "README.md")):
        logger.warning("%s has no README.md: the repo will have no card", folder)
    check_hub_access(token, endpoint)
    api = HfApi(endpoint=endpoint, token=token)
    repo = api.create_repo(repo_id, repo_type=kind, private=private, exist_ok=True)
    commit = api.upload_folder(
        folder_path=folder, repo_id=repo.repo_id, repo_type=kind, revision=revision,
        commit_message=commit_message or f"Upload {os.path.basename(os.path.abspath(folder))} with cf-vlm push",
        ignore_patterns=IGNORED,
    )
    return str(getattr(commit, "commit_url", commit))
