"""`cf-vlm push DIR --repo-id NAME`: push a saved checkpoint (card included) or a saved corpus to the Hub."""

from __future__ import annotations

import argparse

PROG = "cf-vlm push"


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Push a folder written by CounterfactualTrainer.save_model (a checkpoint and its model card) or "
        "by save_counterfactual_dataset / cf-vlm generate (a corpus and its dataset card) to the Hugging Face Hub.",
    )
    parser.add_argument("folder", help="the saved checkpoint or corpus folder")
    parser.add_argument("--repo-id", "--repo_id", required=True, help="target repository, e.g. me/clip-cf-vlm")
    parser.add_argument("--repo-type", "--repo_type", choices=("model", "dataset"), default=None,
                        help="default: model for a checkpoint, dataset for a corpus")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--token", default=None, help="a Hub token with write access (default: your login)")
    parser.add_argument("--revision", default=None, help="branch to push to")
    parser.add_argument("--commit-message", "--commit_message", default=None)
    parser.add_argument("--endpoint", default=None, help="Hub endpoint (default: $HF_ENDPOINT or huggingface.co)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`cf-vlm push`: ``argv`` are the arguments after the subcommand."""
    from ..hub import push_folder

    args = make_parser().parse_args(argv)
    url = push_folder(args.folder, args.repo_id, repo_type=args.repo_type, private=args.private or None,
                      token=args.token, revision=args.revision, commit_message=args.commit_message,
                      endpoint=args.endpoint)
    print(f"pushed {args.folder} to {url}")
    return 0
