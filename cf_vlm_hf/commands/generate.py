"""`cf-vlm generate`: write a counterfactual corpus as parquet shards with a dataset card.

    cf-vlm generate --input DATASET --output DIR [--image-model MODEL] [--text-editor rules|llm:MODEL] ...
    cf-vlm generate captions --input DATASET --output DIR ...          (the same, with the source named)
    cf-vlm generate shapes-world --output-dir DIR [...]                (the embedded procedural corpus)

The first form builds from a user's own image-caption data (`cf_vlm_hf.generation`); run it under
``accelerate launch -m cf_vlm_hf.cli generate ...`` to split the rows across processes. Every flag takes both
spellings (``--num-edits`` and ``--num_edits``).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from collections.abc import Callable

PROG = "cf-vlm generate"


def _both(name: str) -> list[str]:
    """``--a-b`` and ``--a_b`` for a flag name (one string when they are the same)."""
    dashed, underscored = "--" + name.replace("_", "-"), "--" + name.replace("-", "_")
    return [dashed] if dashed == underscored else [dashed, underscored]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default unless its help already says it, or there is none to show."""

    def _get_help_string(self, action):
        if "default" in (action.help or "") or action.default in (None, False, argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


# ---- shapes-world ----------------------------------------------------------------------------------------------

def _add_shapes_world_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(*_both("num_train"), type=int, default=1000, help="anchors in the 'train' split")
    parser.add_argument(*_both("num_test"), type=int, default=200, help="anchors in the in-distribution 'test' split")
    parser.add_argument(
        *_both("num_heldout"), type=int, default=None,
        help="anchors in the 'heldout' split (colour-shape combinations never seen in training); default --num-test",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the corpus (each split derives its own)")
    parser.add_argument(*_both("image_size"), type=int, default=64, help="canvas size in pixels")
    parser.add_argument(*_both("num_counterfactuals"), type=int, default=2,
                        help="complete counterfactual pairs per anchor")
    parser.add_argument(*_both("num_edits"), type=int, default=4, help="minimal edits per anchor")
    parser.add_argument(
        *_both("edit_types"), nargs="+", default=None,
        help="edit types to draw from (default: all of cf_vlm_hf.data.shapes_world.EDIT_TYPES)",
    )
    parser.add_argument(*_both("num_proc"), type=int, default=None, help="processes rendering each split")


def _build_shapes_world(args: argparse.Namespace):
    from ..data.shapes_world import ShapesWorldSpec, shapes_world_splits

    for name in ("num_train", "num_test", "num_heldout"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise ValueError(f"shapes-world: --{name.replace('_', '-')} must be >= 0, got {value}")
    spec = ShapesWorldSpec(
        image_size=args.image_size,
        num_counterfactuals=args.num_counterfactuals,
        num_edits=args.num_edits,
        edit_types=args.edit_types,
    )
    return shapes_world_splits(
        args.num_train, args.num_test, seed=args.seed, num_heldout=args.num_heldout, spec=spec, num_proc=args.num_proc
    )


def _main_shapes_world(args: argparse.Namespace) -> int:
    from datasets import DatasetDict

    from ..data import save_counterfactual_dataset

    if args.push_to_hub:
        from ..hub import check_hub_access

        check_hub_access(then=f"generate without --push-to-hub and push later with `cf-vlm push {args.output_dir} "
                         f"--repo-id {args.hub_repo_id}`")
    splits = _build_shapes_world(args)
    kept = DatasetDict({name: part for name, part in splits.items() if len(part) > 0})
    if not kept:
        raise ValueError(f"{args.source}: every split is empty; nothing to write")
    shards = save_counterfactual_dataset(
        kept, args.output_dir, max_shard_size=args.max_shard_size, source=f"{PROG} {args.source}",
        pretty_name=args.source, license="apache-2.0",  # made by this project's generator
        generation={name: value for name, value in vars(args).items()
                    if name not in ("source", "output_dir", "push_to_hub", "hub_repo_id", "hub_private")},
    )
    sizes = ", ".join(f"{name}: {len(part)}" for name, part in kept.items())
    print(f"wrote {len(shards)} shard(s) to {args.output_dir} ({sizes})")
    if args.push_to_hub:
        from ..generation import push_corpus

        print(f"pushed to {push_corpus(args.output_dir, args.hub_repo_id, private=args.hub_private)}")
    return 0


# ---- captions: a user's own image-caption data ---------------------------------------------------------------

# GenerationSettings field -> help. The flag of a field is its name in both spellings; its type and default are
# the field's.
CAPTION_FLAGS = {
    "split": "split of a dataset input",
    "image_column": "input column holding the image (a path, bytes or an Image feature)",
    "caption_column": "input column holding the caption (a list of captions: the first is used)",
    "id_column": "input column holding the row id (rows without one are named by their position)",
    "mask_column": "input column holding an inpainting mask per row (white = may be repainted)",
    "image_root": "folder that relative image paths start from (default: the input file's folder)",
    "max_rows": "build from the first MAX_ROWS input rows only",
    "on_error": "bad input row: 'raise' stops, naming it; 'skip' leaves it out and lists it on the card",
    "text_editor": "caption editor: 'rules' (built-in lexicon) or 'llm:MODEL' (a transformers chat model)",
    "edit_types": "edit types to make (default: all the editor knows)",
    "num_counterfactuals": "K: complete counterfactual pairs per row (text-to-image)",
    "num_edits": "M: minimal edits of the anchor image per row",
    "num_negative_captions": "extra caption-only rewrites per row, written to negative_captions",
    "llm_max_new_tokens": "LLM editor: longest reply in tokens",
    "llm_batch_size": "LLM editor: captions per generate call",
    "llm_max_retries": "LLM editor: how often rejected rewrites are asked for again",
    "llm_max_changed_words": "LLM editor: a rewrite changing more words changes more than one element",
    "llm_temperature": "LLM editor: sampling temperature (0: greedy, deterministic)",
    "image_model": "text-to-image diffusers pipeline (Hub id or folder); edit pipelines share its weights",
    "edit_strategies": "minimal-edit strategies: img2img, inpaint, instruct-pix2pix",
    "instruct_model": "InstructPix2Pix checkpoint whose UNet the instruct-pix2pix strategy uses",
    "inpaint_model": "dedicated inpainting checkpoint whose UNet inpainting uses (default: the base UNet)",
    "mask_model": "CLIPSeg or Grounding DINO checkpoint segmenting the phrase an edit changes (inpaint)",
    "mask_threshold": "threshold of the mask model (default: 0.4 CLIPSeg, 0.3 Grounding DINO)",
    "mask_dilation": "pixels a segmented mask grows by",
    "num_inference_steps": "denoising steps",
    "guidance_scale": "classifier-free guidance scale",
    "negative_prompt": "what images must not show",
    "resolution": "side of the working size in pixels (default: the pipeline's, 1024 for SDXL)",
    "img2img_strength": "img2img strength (low: close to the anchor)",
    "inpaint_strength": "inpainting strength inside the mask",
    "image_guidance_scale": "InstructPix2Pix image guidance (higher: closer to the anchor)",
    "variant": "weights variant to load (e.g. fp16)",
    "dtype": "pipeline dtype: auto (float16 on GPU), float32, float16, bfloat16",
    "device": "device (default: this process's GPU, else CPU)",
    "filter_model": "quality filter checkpoint: keep an image only if it scores its own caption above the anchor's",
    "filter_margin": "quality filter margin",
    "filter_score": "quality filter score of a generative VLM: caption-likelihood or yes-probability",
    "seed": "seed of the build (each row's seed derives from it and the row id)",
    "batch_size": "rows per pipeline call",
    "rows_per_shard": "rows per parquet shard (also the most rows a process holds)",
    "overwrite": "delete what an earlier build wrote to --output and start over",
    "push_to_hub": "upload the corpus as a dataset repository at the end",
    "hub_repo_id": "dataset repository for --push-to-hub (NAMESPACE/NAME)",
    "hub_private": "make the dataset repository private",
}
_CHOICES = {"on_error": ("raise", "skip"), "edit_strategies": ("img2img", "inpaint", "instruct-pix2pix"),
            "dtype": ("auto", "float32", "float16", "bfloat16"),
            "filter_score": ("caption-likelihood", "yes-probability")}
_METAVARS = {"edit_strategies": "STRATEGY", "edit_types": "TYPE"}
_ALIASES = {"edit_strategies": ["edit_strategy"], "hub_repo_id": ["hub_dataset_id", "hub_model_id"]}


def _field_type(default, annotation: str) -> Callable | None:
    for name, kind in (("int", int), ("float", float), ("str", str)):
        if annotation.startswith(name) or f"[{name}]" in annotation:
            return kind
    return type(default) if default is not None else str


def _add_caption_arguments(parser: argparse.ArgumentParser) -> None:
    from ..generation.settings import GenerationSettings

    parser.add_argument("--input", required=True, metavar="DATASET",
                        help="image-caption data: a Hub dataset id, a JSONL/JSON/CSV file, a COCO captions file, "
                             "an image folder (metadata.jsonl, or .txt caption files), a saved dataset")
    parser.add_argument("--output", *_both("output_dir"), dest="output", required=True, metavar="DIR",
                        help="folder to write data/*.parquet, generation/ and README.md into")
    parser.add_argument(*_both("dataset_revision"), default=None, help="revision of a Hub dataset input")
    parser.add_argument(*_both("no_progress"), action="store_true", help="no progress bar")
    defaults = {f.name: f for f in dataclasses.fields(GenerationSettings)}
    for name, help_text in CAPTION_FLAGS.items():
        field = defaults[name]
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        flags = _both(name) + [f for alias in _ALIASES.get(name, []) for f in _both(alias)]
        if isinstance(default, bool) or name == "hub_private":
            parser.add_argument(*flags, dest=name, action="store_true", default=default, help=help_text)
            continue
        many = str(field.type).startswith("list")
        parser.add_argument(*flags, dest=name, default=default, help=help_text, choices=_CHOICES.get(name),
                            nargs="+" if many else None, type=_field_type(default, str(field.type)),
                            metavar=_METAVARS.get(name, None if name in _CHOICES else name.upper()))


def _main_captions(args: argparse.Namespace, argv: list[str]) -> int:
    from ..generation import GenerationSettings, build_counterfactual_corpus

    values = {name: getattr(args, name) for name in CAPTION_FLAGS}
    settings = GenerationSettings(**values, progress=not args.no_progress)
    command = "cf-vlm generate " + shlex.join(argv)
    result = build_counterfactual_corpus(args.input, args.output, settings, command=command,
                                         revision=args.dataset_revision)
    if result.summary is not None:
        summary = result.summary
        print(f"wrote {result.num_rows} rows in {result.num_shards} shard(s) to {args.output}: "
              f"{summary.counts['uneditable']} uneditable (kept with K=M=0), {summary.counts['dropped']} image(s) "
              f"dropped by the quality filter, {summary.counts['rejected_rows']} input row(s) rejected; "
              f"{result.rows_generated} rows generated here at {result.rows_per_second:.2f} rows/s")
    return 0


# ---- the parser -------------------------------------------------------------------------------------------------

SOURCES = {
    "captions": "a user's own image-caption data: caption edits, diffusers counterfactuals and minimal edits",
    "shapes-world": "the embedded procedural corpus (coloured shapes; exact counterfactuals and minimal edits)",
}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Generate a counterfactual corpus and save it as parquet shards with a dataset card "
        "(loadable with load_counterfactual_dataset or datasets.load_dataset, publishable as is). Without a SOURCE, "
        "the flags are those of 'captions': cf-vlm generate --input DATASET --output DIR ...",
    )
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    captions = sources.add_parser("captions", help=SOURCES["captions"], description=SOURCES["captions"],
                                  formatter_class=_HelpFormatter)
    _add_caption_arguments(captions)
    world = sources.add_parser("shapes-world", help=SOURCES["shapes-world"], description=SOURCES["shapes-world"],
                               formatter_class=_HelpFormatter)
    world.add_argument(*_both("output_dir"), dest="output_dir", required=True,
                       help="folder to write data/*.parquet and README.md into")
    world.add_argument(*_both("max_shard_size"), dest="max_shard_size", default="500MB",
                       help="largest parquet shard (e.g. 500MB, 2GB)")
    world.add_argument(*_both("push_to_hub"), dest="push_to_hub", action="store_true",
                       help="upload the corpus as a dataset repository")
    world.add_argument(*_both("hub_repo_id"), *_both("hub_dataset_id"), dest="hub_repo_id", default=None,
                       help="dataset repository for --push-to-hub (NAMESPACE/NAME)")
    world.add_argument(*_both("hub_private"), dest="hub_private", action="store_true", default=None,
                       help="make the dataset repository private")
    _add_shapes_world_arguments(world)
    return parser


def main(argv: list[str] | None = None) -> int:
    """`cf-vlm generate`: ``argv`` are the arguments after the subcommand."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("--") and argv[0] not in ("--help",):  # flags only: the captions source
        argv = ["captions", *argv]
    args = make_parser().parse_args(argv)
    if args.source == "shapes-world":
        if args.push_to_hub and not args.hub_repo_id:
            raise ValueError("--push-to-hub needs --hub-repo-id NAMESPACE/NAME")
        return _main_shapes_world(args)
    return _main_captions(args, argv[1:])
