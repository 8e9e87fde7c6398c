"""`build_counterfactual_corpus`: a user's image-caption data -> a counterfactual corpus folder (and the Hub).

    from cf_vlm_hf.generation import GenerationSettings, build_counterfactual_corpus

    settings = GenerationSettings(text_editor="rules", num_counterfactuals=2, num_edits=2,
                                  edit_strategies=["img2img", "inpaint"], mask_model="CIDAS/clipseg-rd64-refined")
    build_counterfactual_corpus("coco/annotations/captions_val2017.json", "coco-cf", settings,
                                image_root="coco/val2017")

This is what ``cf-vlm generate --input ... --output ...`` runs: open the input (`sources.open_source`), load what
the settings ask for (`factory.make_generator`) and build (`builder.build_corpus`), then optionally upload.
"""

from __future__ import annotations

import os

from .builder import BuildResult, build_corpus
from .settings import GenerationSettings
from .sources import Columns, open_source

# What the card lists under "models".
_MODEL_FIELDS = {
    "caption editor": "text_editor", "image model": "image_model", "InstructPix2Pix model": "instruct_model",
    "inpainting model": "inpaint_model", "mask model": "mask_model", "quality filter": "filter_model",
}


def build_counterfactual_corpus(source, output_dir: str | os.PathLike, settings: GenerationSettings | None = None,
                                *, generator=None, command: str | None = None, revision: str | None = None,
                                token: str | None = None) -> BuildResult:
    """Build (or resume) the corpus of ``source`` in ``output_dir``; returns this process's `BuildResult`.

    Args:
        source: a dataset id, file, folder, ``datasets`` dataset or list of dicts (`sources.open_source`).
        output_dir: where ``data/*.parquet``, ``generation/`` and ``README.md`` go.
        settings: the build's settings (default `GenerationSettings()`).
        generator: a ready `CounterfactualGenerator` (default: made from ``settings``); its parts must match
            ``settings``, which the card and the resume check use.
        command: the command line, shown on the card.
        revision, token: for a Hub dataset input (and ``token`` for the upload).
    """
    settings = settings or GenerationSettings()
    output_dir = os.fspath(output_dir)
    if settings.push_to_hub:  # before hours of generation: an unreachable Hub or no login is one line now
        from ..hub import check_hub_access

        check_hub_access(token, then=f"build without --push-to-hub and push the folder later with `cf-vlm push "
                         f"{output_dir} --repo-id {settings.hub_repo_id}`")
    columns = Columns(settings.image_column, settings.caption_column, settings.id_column, settings.mask_column)
    rows = open_source(source, split=settings.split, columns=columns, image_root=settings.image_root,
                       revision=revision, token=token)
    if generator is None:
        from .builder import process_state
        from .factory import make_generator

        device = settings.device or str(process_state(settings.device).device)
        generator = make_generator(settings, device)
    record = settings.record()
    models = {label: getattr(settings, name) for label, name in _MODEL_FIELDS.items()}
    if not settings.needs_images:
        models["image model"] = None
    result = build_corpus(
        rows, generator, output_dir, record, split=settings.split, batch_size=settings.batch_size,
        rows_per_shard=settings.rows_per_shard, max_rows=settings.max_rows, on_error=settings.on_error,
        overwrite=settings.overwrite, progress=settings.progress, device=settings.device,
        card={"settings": record, "models": models, "command": command},
    )
    if settings.push_to_hub and result.summary is not None:
        push_corpus(output_dir, settings.hub_repo_id, private=settings.hub_private, token=token)
    return result


def push_corpus(output_dir: str, repo_id: str, private: bool | None = None, token: str | None = None) -> str:
    """Upload a built corpus folder (shards, card, reports) as a dataset repository; returns its URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(folder_path=output_dir, repo_id=repo_id, repo_type="dataset",
                      allow_patterns=["README.md", "data/*.parquet", "generation/*.json", "generation/*.jsonl"],
                      commit_message="Upload counterfactual corpus (cf-vlm generate)")
    return str(url)
