"""House rules of `cf_vlm_hf.generation`: it reaches models and data only through their public names, loads no
model or diffusers on import, and its public names resolve."""

import subprocess
import sys

from test_package import GRAPH
from testing_utils import REPO

import cf_vlm_hf.generation as generation

# What generation/ may import from the rest of the package.
ALLOWED = {"cf_vlm_hf.data", "cf_vlm_hf.models", "cf_vlm_hf.models.dual_encoder", "cf_vlm_hf.models.generative",
           "cf_vlm_hf.models.loading", "cf_vlm_hf.hub"}


def test_generation_reaches_models_and_data_only_through_public_names():
    for name, imports in GRAPH.items():
        if name.startswith("cf_vlm_hf.generation"):
            outside = {dep for dep in imports if not dep.startswith("cf_vlm_hf.generation")}
            assert outside <= ALLOWED, (name, sorted(outside - ALLOWED))


def test_importing_generation_loads_neither_diffusers_nor_transformers_models():
    code = ("import sys, cf_vlm_hf.generation as g; g.GenerationSettings; g.RulesEditor; "
            "print(sorted(m for m in ('diffusers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves():
    for name in generation.__all__:
        assert getattr(generation, name) is not None, name


def test_every_edit_type_the_editors_make_is_known_to_the_corpus_checks():
    from cf_vlm_hf.data import KNOWN_EDIT_TYPES
    from cf_vlm_hf.generation.captions import EDIT_TYPES, RULES

    assert set(EDIT_TYPES) <= KNOWN_EDIT_TYPES and set(RULES) <= KNOWN_EDIT_TYPES
