"""Pushing: one clear line before training when the Hub is out of reach; `cf-vlm push` and `push_to_hub` against a
stand-in Hub on 127.0.0.1 (no network) upload what they should."""

import hashlib
import os
import socket
import subprocess
import sys
import time

import pytest
from testing_utils import make_rows, tiny_clip
from testing_utils.fake_hub import FakeHub

from cf_vlm_hf import CounterfactualConfig, CounterfactualTrainer
from cf_vlm_hf.hub import HubUnavailableError


@pytest.fixture
def online(monkeypatch, tmp_path):
    """huggingface_hub as if online (tests set HF_HUB_OFFLINE=1), with no stored login."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return constants


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens there once closed


def digest(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            out[os.path.relpath(path, folder)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


def test_an_unreachable_hub_fails_before_training_and_leaves_checkpoints_alone(tmp_path, online, monkeypatch):
    monkeypatch.setattr(online, "ENDPOINT", closed_port_url())
    model, processor = tiny_clip()
    out = tmp_path / "out"
    args = dict(output_dir=str(out), per_device_train_batch_size=4, max_steps=1, save_steps=1, report_to="none",
                use_cpu=True, disable_tqdm=True)
    CounterfactualTrainer(model=model, args=CounterfactualConfig(**args), train_dataset=make_rows(4),
                          processing_class=processor).train()
    before = digest(out)
    started = time.perf_counter()
    with pytest.raises(HubUnavailableError, match=r"cannot push to the Hub: http://127.0.0.1:\d+ cannot be reached "
                                                  r"\(ConnectError.*push the saved folder later with `cf-vlm push"):
        CounterfactualTrainer(model=model, args=CounterfactualConfig(**args, push_to_hub=True, hub_token="hf_fake",
                                                                     hub_model_id="me/tiny"),
                              train_dataset=make_rows(4), processing_class=processor)
    assert time.perf_counter() - started < 15
    assert digest(out) == before


def test_no_login_is_one_clear_line(online):
    from cf_vlm_hf.hub import check_hub_access

    with pytest.raises(HubUnavailableError, match=r"not logged in \(run `hf auth login`, or set HF_TOKEN"):
        check_hub_access()


def test_a_bad_token_is_named(online):
    from cf_vlm_hf.hub import check_hub_access

    with FakeHub(token="hf_good", lifetime=30) as hub:
        with pytest.raises(HubUnavailableError, match=r"token was refused \(HTTP 401"):
            check_hub_access("hf_bad", endpoint=hub.url)
        assert check_hub_access("hf_good", endpoint=hub.url) == "tester"


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "cf_vlm_hf.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def test_cf_vlm_push_uploads_a_checkpoint_with_its_card(tmp_path, online):
    model, processor = tiny_clip()
    trainer = CounterfactualTrainer(model=model, args=CounterfactualConfig(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, max_steps=1, save_steps=1, report_to="none",
        use_cpu=True, disable_tqdm=True), train_dataset=make_rows(4), processing_class=processor)
    trainer.train()
    trainer.save_model()
    with FakeHub(lifetime=120) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_TOKEN": "hf_fake",
               "HF_HOME": str(tmp_path / "hf_home")}
        done = run_cli("push", str(tmp_path / "out"), "--repo-id", "me/tiny-cf", env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        files = hub.files("me/tiny-cf")
    assert {"README.md", "config.json", "model.safetensors"} <= set(files)
    assert not any(name.startswith("checkpoint-") or name == "training_args.bin" for name in files)
    assert b"cf-vlm" in files["README.md"]
    assert files["model.safetensors"] == (tmp_path / "out" / "model.safetensors").read_bytes()


def test_cf_vlm_push_uploads_a_corpus_to_a_dataset_repo(tmp_path, online):
    from cf_vlm_hf.data import save_counterfactual_dataset
    from cf_vlm_hf.data.shapes_world import ShapesWorldSpec, shapes_world_dataset

    save_counterfactual_dataset(shapes_world_dataset(4, spec=ShapesWorldSpec(image_size=32)), tmp_path / "corpus")
    with FakeHub(lifetime=120) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_TOKEN": "hf_fake",
               "HF_HOME": str(tmp_path / "hf_home")}
        done = run_cli("push", str(tmp_path / "corpus"), "--repo_id", "me/corpus", env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        files = hub.files("me/corpus", "dataset")
    assert "README.md" in files and any(name.startswith("data/train-") for name in files)
    unreachable = run_cli("push", str(tmp_path / "corpus"), "--repo-id", "me/corpus", env={
        **os.environ, "HF_ENDPOINT": closed_port_url(), "HF_HUB_OFFLINE": "0", "HF_TOKEN": "hf_fake"})
    assert unreachable.returncode == 2 and "Traceback" not in unreachable.stderr
    assert unreachable.stderr.startswith("cf-vlm push: error: cannot push to the Hub:")


def test_trainer_push_to_hub_uploads_the_cf_vlm_card(tmp_path, online, monkeypatch):
    import transformers.utils.hub as hf_hub
    from huggingface_hub import HfApi

    with FakeHub(lifetime=120) as hub:
        monkeypatch.setattr(online, "ENDPOINT", hub.url)
        monkeypatch.setattr(hf_hub, "_hf_api", HfApi(endpoint=hub.url, library_name="transformers"))
        model, processor = tiny_clip()
        args = CounterfactualConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, max_steps=1,
                                    save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True,
                                    push_to_hub=True, hub_model_id="me/pushed", hub_token="hf_fake",
                                    hub_strategy="end")
        trainer = CounterfactualTrainer(model=model, args=args, train_dataset=make_rows(4), processing_class=processor)
        trainer.train()
        trainer.push_to_hub()
        files = hub.files("me/pushed")
    readme = files["README.md"].decode()
    assert "fine-tuned with **CF-VLM**" in readme and "generated_from_trainer" not in readme
    assert "model.safetensors" in files
