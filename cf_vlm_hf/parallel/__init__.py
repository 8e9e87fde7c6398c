"""Data parallelism and DeepSpeed: gathering across ranks (`distributed`), ZeRO compatibility (`zero`).

Nothing in `cf_vlm_hf.losses` talks to other processes; everything that does lives here.
"""
