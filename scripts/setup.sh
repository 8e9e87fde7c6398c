#!/usr/bin/env bash
# Create .venv (if missing) and install cf-vlm-hf with its development extras, torch pinned by constraints.txt.
# GPU users: drop the constraints file (pip install -e ".[dev]") to get the torch build for their CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[dev]"
# LAION's clip-benchmark for the SugarCrepe cross-check (tests/evaluation/test_sugarcrepe_crosscheck.py), without its
# dependencies: they would replace torch and bring torchvision, which does not work here (the check stubs it).
.venv/bin/python -m pip install --quiet --no-deps clip-benchmark==1.6.2
.venv/bin/python -c "import torch, transformers, cf_vlm_hf; print(f'cf-vlm-hf {cf_vlm_hf.__version__}: torch {torch.__version__}, transformers {transformers.__version__}')"
