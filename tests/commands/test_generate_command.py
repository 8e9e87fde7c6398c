"""`cf-vlm generate`: the from-your-data build as the issue writes it, both flag spellings, shapes-world unchanged,
one-line errors, and --push-to-hub."""

import json

import pytest
from testing_utils.diffusion import save_tiny_sdxl
from testing_utils.photos import write_photo_folder

from cf_vlm_hf.cli import main
from cf_vlm_hf.commands.generate import make_parser
from cf_vlm_hf.data import load_counterfactual_dataset

NAMES = ["chelsea", "coffee", "coins"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    save_tiny_sdxl(root / "sdxl")
    write_photo_folder(root / "photos", NAMES)
    return root


def test_the_command_line_of_the_issue_builds_a_corpus(setup, capsys, one_thread):
    out = setup / "corpus"
    status = main(["generate", "--input", str(setup / "photos"), "--output", str(out), "--image-model",
                   str(setup / "sdxl"), "--text-editor", "rules", "--num-counterfactuals", "1", "--num-edits", "1",
                   "--edit-strategy", "img2img", "--num_inference_steps", "2", "--img2img_strength", "0.5",
                   "--resolution", "64", "--no-progress", "--device", "cpu"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "wrote 3 rows in 1 shard(s)" in printed and "1 uneditable (kept with K=M=0)" in printed
    corpus = load_counterfactual_dataset(str(out))
    assert [len(row["cf_images"]) for row in corpus] == [1, 1, 0]
    assert [len(row["edit_images"]) for row in corpus] == [1, 1, 0]
    card = (out / "README.md").read_text()
    assert "cf-vlm generate --input" in card and "--num-counterfactuals 1" in card  # the command, as run


def test_every_flag_has_both_spellings():
    parser = make_parser()
    dashed = parser.parse_args(["captions", "--input", "x", "--output-dir", "o", "--num-counterfactuals", "3",
                                "--edit-strategy", "img2img", "inpaint", "--mask-model", "m", "--rows-per-shard", "8",
                                "--push-to-hub", "--hub-repo-id", "me/c"])
    underscored = parser.parse_args(["captions", "--input", "x", "--output_dir", "o", "--num_counterfactuals", "3",
                                     "--edit_strategy", "img2img", "inpaint", "--mask_model", "m", "--rows_per_shard",
                                     "8", "--push_to_hub", "--hub_repo_id", "me/c"])
    assert vars(dashed) == vars(underscored)
    assert dashed.edit_strategies == ["img2img", "inpaint"] and dashed.num_counterfactuals == 3
    for source in ("captions", "shapes-world"):
        for action in parser._subparsers._group_actions[0].choices[source]._actions:
            long = {s for s in action.option_strings if s.startswith("--")}
            both = {"--" + s[2:].replace("_", "-") for s in long} | {"--" + s[2:].replace("-", "_") for s in long}
            assert both == long, (source, sorted(long))


def test_shapes_world_keeps_working_with_both_spellings(tmp_path, capsys):
    out = tmp_path / "sw"
    assert main(["generate", "shapes-world", "--output_dir", str(out), "--num_train", "4", "--num-test", "2",
                 "--num_heldout", "1", "--image_size", "32", "--num_counterfactuals", "1", "--num-edits", "1"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert {name: len(part) for name, part in load_counterfactual_dataset(str(out)).items()} == \
        {"train": 4, "test": 2, "heldout": 1}


@pytest.mark.parametrize("flags,message", [
    (["--input", "{root}/nowhere.jsonl"], "input '{root}/nowhere.jsonl' does not exist"),
    (["--input", "{root}/photos", "--edit-strategy", "inpaint"], "the inpaint strategy needs masks"),
    (["--input", "{root}/photos", "--text-editor", "gpt"], "text_editor must be 'rules' or 'llm:MODEL'"),
    (["--input", "{root}/photos", "--image-model", "{root}/no-model"], "image model '{root}/no-model' is neither"),
    (["--input", "{root}/photos", "--image-model", "{root}/sdxl", "--num-inference-steps", "2"],
     "--img2img-strength=0.4 with 2 inference steps leaves no denoising step"),
])
def test_user_mistakes_are_one_line_errors(setup, tmp_path, capsys, flags, message):
    flags = [f.format(root=setup) for f in flags]
    status = main(["generate", *flags, "--output", str(tmp_path / "out"), "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2
    assert f"cf-vlm generate: error: {message.format(root=setup)}" in err
    assert "Traceback" not in err


def test_caption_only_negatives_and_push_to_hub(setup, tmp_path, capsys, monkeypatch):
    from huggingface_hub import constants
    from testing_utils.fake_hub import FakeHub

    out = tmp_path / "negatives"
    with FakeHub(lifetime=120) as hub:  # a stand-in for the Hub on 127.0.0.1
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", "hf_fake")
        status = main(["generate", "captions", "--input", str(setup / "photos"), "--output", str(out),
                       "--num-counterfactuals", "0", "--num-edits", "0", "--num-negative-captions", "2",
                       "--no-progress", "--push-to-hub", "--hub-repo-id", "me/negatives", "--hub-private"])
        assert status == 0, capsys.readouterr().err
        files = hub.files("me/negatives", "dataset")
        assert hub.repos[("dataset", "me/negatives")]["private"]
    corpus = load_counterfactual_dataset(str(out))
    assert [len(row["negative_captions"]) for row in corpus] == [2, 2, 0]  # no images: no pipeline was loaded
    assert corpus[0]["cf_images"] == [] and corpus[0]["edit_images"] == []
    assert "README.md" in files and any(name.startswith("data/") and name.endswith(".parquet") for name in files)
    assert files["README.md"] == (out / "README.md").read_bytes()
    summary = json.loads((out / "generation" / "summary.json").read_text())
    assert summary["images"] == [] and summary["uneditable_rows"] == 1


def test_help_lists_both_sources(capsys):
    assert main(["generate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "captions" in text and "shapes-world" in text and "--input DATASET --output DIR" in text


def test_push_to_hub_offline_fails_before_anything_is_generated(setup, tmp_path, capsys):
    out = tmp_path / "never"
    status = main(["generate", "captions", "--input", str(setup / "photos"), "--output", str(out),
                   "--num-counterfactuals", "0", "--num-edits", "0", "--num-negative-captions", "1",
                   "--no-progress", "--push-to-hub", "--hub-repo-id", "me/x"])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("cf-vlm generate: error: cannot push to the Hub: HF_HUB_OFFLINE is set")
    assert "Traceback" not in err and not out.exists()
