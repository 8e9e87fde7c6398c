"""Counterfactual corpora from a user's own image-caption data: caption editors, diffusers images, the builder.

    from cf_vlm_hf.generation import GenerationSettings, build_counterfactual_corpus
    build_counterfactual_corpus("my-photos", "my-corpus", GenerationSettings(num_edits=2))  # + metadata.jsonl

- `captions/`: `RulesEditor` (one rule per edit type, a built-in lexicon) and `LLMEditor` (a chat model);
- `images/`: `TextToImage`, `Img2ImgEdit`, `InpaintEdit`, `InstructPix2PixEdit` over `DiffusionPipelines`
  (edit pipelines share the text-to-image weights), text-prompted masks, the `ImageTextFilter`;
- `sources.py` (streamed input), `counterfactuals.py` (rows -> corpus rows), `builder.py` (resumable,
  multi-process, atomic parquet shards), `report.py` (the dataset card), `settings.py`, `factory.py`.

Names load lazily: importing this package imports neither diffusers nor a model.
"""

from importlib import import_module

_EXPORTS = {
    "CaptionEdit": "captions",
    "EditResult": "captions",
    "EDIT_TYPES": "captions",
    "LLMEditor": "captions",
    "Lexicon": "captions",
    "RulesEditor": "captions",
    "DiffusionPipelines": "images",
    "DiffusionSettings": "images",
    "ImageJob": "images",
    "ImageTextFilter": "images",
    "Img2ImgEdit": "images",
    "InpaintEdit": "images",
    "InstructPix2PixEdit": "images",
    "TextToImage": "images",
    "load_segmenter": "images",
    "BuildResult": "builder",
    "build_corpus": "builder",
    "CounterfactualGenerator": "counterfactuals",
    "GenerationSettings": "settings",
    "build_counterfactual_corpus": "from_captions",
    "push_corpus": "from_captions",
    "make_generator": "factory",
    "open_source": "sources",
    "row_seed": "seeding",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f"cf_vlm_hf.generation.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'cf_vlm_hf.generation' has no attribute {name!r}")
