"""A user's mistake on the command line is one line `cf-vlm CMD: error: ...` and exit status 2, never a traceback."""

import pytest
from testing_utils import make_rows, tiny_clip

from cf_vlm_hf.cli import main


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-errors")
    model, processor = tiny_clip()
    model.save_pretrained(root / "clip")
    processor.save_pretrained(root / "clip")
    (root / "empty").mkdir()
    with open(root / "bad.jsonl", "w") as f:
        f.write('{"image": "missing.png", "caption": "a red square"}\n')
    return root


def cases(root):
    missing = str(root / "does-not-exist")
    clip = str(root / "clip")
    train = ["train", "--model_name_or_path", clip, "--output_dir", str(root / "out"), "--max_steps", "1",
             "--report_to", "none", "--use_cpu", "True"]
    return [
        (["train", "--model_name_or_path", missing, "--dataset", "shapes-world", "--output_dir", str(root / "o")],
         "is neither a local folder (it does not exist) nor a Hub id"),
        (train + ["--dataset", "shapes-world", "--bogus_flag", "1"], "bogus_flag"),
        (train + ["--dataset", "shapes-world", "--per_device_train_batch_size", "0"],
         "per_device_train_batch_size must be >= 1, got 0"),
        (train + ["--dataset", str(root / "bad.jsonl")], "image file not found"),
        (train + ["--dataset", missing + ".jsonl"], "does-not-exist.jsonl"),
        (["generate", "shapes-world", "--output-dir", str(root / "g"), "--num-train", "-1"], "must be >= 0, got -1"),
        (["generate", "--input", missing, "--output", str(root / "g2")], "does-not-exist"),
        (["eval", "--model", missing, "--dataset", "shapes-world"], "is neither a local folder"),
        (["eval", "--model", clip, "--task", "no-such-task"], "unknown task 'no-such-task'; known tasks: winoground"),
        (["push", missing, "--repo-id", "me/x"], "no such folder"),
        (["push", str(root / "empty"), "--repo-id", "me/x"], "holds neither a checkpoint"),
        (["demo", "--bogus"], "bogus"),
        (["demo", "--steps", "0"], "--max_steps must be >= 1, got 0"),
    ]


def test_every_mistake_is_one_line_and_status_2(folders, capsys):
    for argv, message in cases(folders):
        status = main(argv)
        err = capsys.readouterr().err
        assert status == 2, (argv, status, err[-1500:])
        assert "Traceback" not in err, (argv, err[-1500:])
        assert message in err, (argv, err[-1500:])
        lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("[", "usage:", " "))]
        assert any(line.startswith(f"cf-vlm {argv[0]}: error:") or "error:" in line for line in lines), (argv, err)


def test_debug_shows_the_traceback(folders):
    with pytest.raises(FileNotFoundError):
        main(["push", str(folders / "does-not-exist"), "--repo-id", "me/x", "--debug"])


def test_a_bad_corpus_row_under_train_names_the_row(folders, capsys):
    rows = make_rows(2)
    assert rows  # the fixture's corpus file names a missing image: the error names row 0 and the field
    status = main(["train", "--model_name_or_path", str(folders / "clip"), "--dataset", str(folders / "bad.jsonl"),
                   "--output_dir", str(folders / "o3"), "--max_steps", "1", "--use_cpu", "True"])
    err = capsys.readouterr().err
    assert status == 2 and "row 0" in err and "field 'image'" in err and "Traceback" not in err
