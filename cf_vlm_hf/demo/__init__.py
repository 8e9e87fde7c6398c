"""`cf-vlm demo`: the main job on the embedded shapes-world corpus (see `cf_vlm_hf.demo.run`)."""


def main(argv=None) -> int:
    """Entry point of `cf-vlm demo`; ``argv`` are the arguments after the subcommand."""
    from .run import main as run_main

    return run_main(argv)
