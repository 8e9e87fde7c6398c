"""The notebooks: outputs stripped in git, a parameters cell, and each runs end to end with tiny local models.

CI injects small parameters after each notebook's ``parameters`` cell (the papermill convention) and executes it
with nbclient in this interpreter's kernel; Colab users run the real models the notebooks name.
"""

import json
import os

import nbformat
import pytest
from testing_utils import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_and_has_parameters_and_a_colab_badge(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs not stripped"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "INSTALL = True" in tagged[0].source
    badge = f"colab.research.google.com/github/cf-vlm-hf/cf-vlm-hf/blob/main/notebooks/{path.name}"
    assert badge in nb.cells[0].source


def test_the_four_notebooks_exist():
    assert {p.stem for p in NOTEBOOKS} >= {"quickstart", "evaluate_checkpoints", "lora_generative_vlm",
                                           "build_corpus"}


def execute(path, parameters, workdir):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in parameters.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, injected)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from testing_utils import tiny_clip, tiny_llava

    root = tmp_path_factory.mktemp("models")
    for name, build in (("clip", tiny_clip), ("clip-other", tiny_clip), ("llava", tiny_llava)):
        model, processor = build(seed=1 if name == "clip-other" else 0)
        model.save_pretrained(root / name)
        processor.save_pretrained(root / name)
    return root


def outputs_text(nb) -> str:
    return "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)


def test_quickstart_runs(tmp_path, tiny_models):
    nb = execute(REPO / "notebooks" / "quickstart.ipynb", dict(
        INSTALL=False, MODEL_ID=str(tiny_models / "clip"), NUM_TRAIN=16, NUM_EVAL=8, IMAGE_SIZE=32, MAX_STEPS=2,
        BATCH_SIZE=4, LEARNING_RATE=1e-3, OUTPUT_DIR="out"), tmp_path)
    table = (tmp_path / "out" / "eval" / "results.md").read_text()
    assert "base" in table and "cf-vlm" in table
    assert "fine-tuned with **CF-VLM**" in (tmp_path / "out" / "README.md").read_text()
    assert "16 rows" in outputs_text(nb)


def test_evaluate_checkpoints_runs(tmp_path, tiny_models):
    execute(REPO / "notebooks" / "evaluate_checkpoints.ipynb", dict(
        INSTALL=False, MODELS=[str(tiny_models / "clip"), str(tiny_models / "clip-other")], TASKS=["shapes-world"],
        SHAPES_WORLD_ANCHORS=6, IMAGE_SIZE=32, OUTPUT_DIR="eval"), tmp_path)
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert [m["label"] for m in results["models"]] == ["clip", "clip-other"]


def test_lora_generative_vlm_runs(tmp_path, tiny_models):
    nb = execute(REPO / "notebooks" / "lora_generative_vlm.ipynb", dict(
        INSTALL=False, MODEL_ID=str(tiny_models / "llava"), NUM_TRAIN=4, NUM_EVAL=4, IMAGE_SIZE=32, MAX_STEPS=2,
        BATCH_SIZE=2, LORA_TARGETS=["q_proj", "v_proj"], OUTPUT_DIR="lora"), tmp_path)
    assert os.path.isfile(tmp_path / "lora" / "adapter_config.json")
    assert "eval_fcd_accuracy:" in outputs_text(nb)
    assert "cf-vlm lora" in (tmp_path / "lora" / "eval" / "results.md").read_text()


def test_build_corpus_runs(tmp_path):
    from testing_utils.diffusion import save_tiny_sdxl

    pipeline = save_tiny_sdxl(tmp_path / "tiny-sdxl")
    nb = execute(REPO / "notebooks" / "build_corpus.ipynb", dict(
        INSTALL=False, IMAGE_MODEL=pipeline, MASK_MODEL=None, EDIT_STRATEGIES=["img2img"], STEPS=3, RESOLUTION=64,
        OUTPUT_DIR="corpus"), tmp_path)
    from cf_vlm_hf import load_counterfactual_dataset

    corpus = load_counterfactual_dataset(str(tmp_path / "corpus"))
    assert len(corpus) == 6 and sum(len(row["edit_images"]) for row in corpus) > 0
    assert "->" in outputs_text(nb)
    assert "## How this corpus was generated" in (tmp_path / "corpus" / "README.md").read_text()
