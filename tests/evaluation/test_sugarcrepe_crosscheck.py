"""Our SugarCrepe accuracy equals LAION clip-benchmark's on every subset, same checkpoint and folder
(benchmarks/crosscheck_sugarcrepe.py); where a model ties a caption with its negative, the tools' rules differ by
exactly the ties."""

import importlib.util
import sys

import numpy as np
import pytest
import torch
from testing_utils import REPO
from testing_utils.benchmarks import fixture_clip, write_sugarcrepe

from cf_vlm_hf.evaluation import PairScorer

pytest.importorskip("clip_benchmark.metrics.image_caption_selection")

SUBSETS = ("add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj")


@pytest.fixture(scope="module")
def crosscheck():
    path = REPO / "benchmarks" / "crosscheck_sugarcrepe.py"
    spec = importlib.util.spec_from_file_location("crosscheck_sugarcrepe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def right(row, key):
    return round(row[key] * row["items"])


def test_every_subset_agrees_with_clip_benchmark(tmp_path, crosscheck, one_thread):
    model, processor = fixture_clip(seed=0)
    table = crosscheck.crosscheck(model, processor, write_sugarcrepe(str(tmp_path)))
    assert tuple(table) == SUBSETS  # clip-benchmark scored every subset, not only the last
    for subset, row in table.items():
        assert row["ties"] == 0 and row["items"] == 3, subset
        assert right(row, "strict") == right(row, "clip_benchmark") == right(row, "argmax"), (subset, row)
    assert len({row["strict"] for row in table.values()}) > 1  # not a constant model
    assert "torchvision" not in sys.modules  # the stub is gone again


WORDS = ("red", "orange", "black", "white", "blue", "green", "brown", "dark", "cup", "cat", "dog", "flag", "man",
         "camera", "rocket", "tower", "flower", "saucer", "horse", "coins", "spoon", "behind", "on", "under")


class BagOfWords(torch.nn.Module):
    """A model that ties exactly by construction: an image is its mean colour, a text counts fixed words (word order
    and unknown words do not exist for it). The same function is clip-benchmark's model and our pair scorer."""

    def transform(self, image):
        pixels = np.asarray(image.convert("RGB").resize((8, 8)), dtype=np.float32) / 255
        return torch.from_numpy(pixels).permute(2, 0, 1)

    def tokenize(self, texts):
        return torch.tensor([[float(t.lower().split().count(w)) for w in WORDS] for t in texts])

    def encode_image(self, pixels):
        colour = pixels.mean(dim=(2, 3))  # (N, 3)
        return torch.cat([colour, colour[:, :1] * 0 + 1, torch.zeros(len(pixels), len(WORDS) - 4)], dim=1)

    def encode_text(self, counts):
        return counts + 0.5


class BagOfWordsScorer(PairScorer):
    def __init__(self, model):
        self.model = model

    def score_pairs(self, pairs):
        images = torch.nn.functional.normalize(
            self.model.encode_image(torch.stack([self.model.transform(ref.load()) for ref, _ in pairs])), dim=-1)
        counts = self.model.tokenize([t for _, t in pairs])
        texts = torch.nn.functional.normalize(self.model.encode_text(counts), dim=-1)
        return (images * texts).sum(dim=-1)


def test_ties_are_exactly_where_the_two_rules_differ(tmp_path, crosscheck):
    """Swapped words tie for a bag of words: SugarCrepe's rule (ours) counts those items wrong, clip-benchmark's
    argmax right; our argmax rule reproduces clip-benchmark exactly."""
    root = write_sugarcrepe(str(tmp_path))
    model = BagOfWords()
    table = crosscheck.compare(crosscheck.ours(BagOfWordsScorer(model), root),
                               crosscheck.clip_benchmark_accuracy(model, root, SUBSETS))
    assert table["swap_att"]["ties"] == 3 and table["swap_obj"]["ties"] == 3
    for subset, row in table.items():
        assert right(row, "argmax") == right(row, "clip_benchmark"), (subset, row)
        assert right(row, "strict") == right(row, "clip_benchmark") - row["ties"], (subset, row)
        assert row["agree"]
    assert table["swap_att"]["strict"] == 0 and table["swap_att"]["clip_benchmark"] == 1
