"""The applications behind `cf-vlm`: one module per subcommand, each with ``make_parser()`` and ``main(argv)``.

The library never imports this package; these modules import the library.
"""

# name -> (one-line help, module)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("fine-tune a model with the CF-VLM objectives from a YAML recipe and flags", "train"),
    "generate": ("generate a counterfactual corpus (parquet shards + dataset card)", "generate"),
    "eval": ("evaluate checkpoints side by side on benchmarks (Winoground, SugarCrepe, ARO, ...) or a corpus", "eval"),
    "push": ("push a saved checkpoint or corpus (with its card) to the Hub", "push"),
    "demo": ("run the shapes-world demo", "demo"),
}
