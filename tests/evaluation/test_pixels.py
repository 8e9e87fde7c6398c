"""Each image is decoded and preprocessed once per run, across tasks and models, in worker threads; results.json says
how many items each task scored per second."""

import json

import pytest
import torch
from PIL import ImageFile
from testing_utils.benchmarks import fixture_clip, write_sugarcrepe, write_winoground

from cf_vlm_hf.evaluation import evaluate_checkpoints, get_task
from cf_vlm_hf.evaluation.images import CachedImageProcessor, PixelCache
from cf_vlm_hf.evaluation.items import ImageRef


@pytest.fixture
def decodes(monkeypatch):
    """The images PIL decodes, counted (a lazily opened image decodes on its first ``load`` with tiles left)."""
    counted = []
    original = ImageFile.ImageFile.load

    def load(self):
        if self.tile:
            counted.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return counted


def test_one_decode_and_one_preprocessing_per_image_across_tasks_and_models(tmp_path, decodes, one_thread):
    write_sugarcrepe(str(tmp_path / "data" / "sugarcrepe"))
    write_winoground(str(tmp_path / "data" / "winoground"))
    models = []
    for seed in (0, 1):
        model, processor = fixture_clip(seed=seed)
        model.save_pretrained(tmp_path / f"clip{seed}")
        processor.save_pretrained(tmp_path / f"clip{seed}")
        models.append(str(tmp_path / f"clip{seed}"))
    tasks = [get_task("sugarcrepe"), get_task("winoground")]
    unique = len({item.image.key for items in tasks[0].load(str(tmp_path / "data")).subsets.values() for item in items})
    unique += 2 * 4  # Winoground: 4 examples, 2 images each
    decodes.clear()
    report = evaluate_checkpoints(models, tasks, data_dir=str(tmp_path / "data"), output_dir=str(tmp_path / "out"),
                                  progress=False, batch_size=4)
    assert len(decodes) == unique  # two models, two tasks: every image decoded once
    assert report.models[0]["pixel_cache"] == {"images_reused": 0, "images_processed": unique}
    assert report.models[1]["pixel_cache"] == {"images_reused": unique, "images_processed": 0}
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    rates = results["items_per_second"]
    for label, per_task in report.timings.items():
        assert rates[label]["sugarcrepe"] == pytest.approx(21 / per_task["sugarcrepe"], rel=1e-2)
        assert rates[label]["all"] == pytest.approx((21 + 4) / sum(per_task.values()), rel=1e-2)
    uncached = evaluate_checkpoints(models[1], tasks, data_dir=str(tmp_path / "data"), progress=False,
                                    pixel_cache_bytes=0, batch_size=4)
    label = report.labels[1]
    assert uncached.results["sugarcrepe"][uncached.labels[0]] == report.results["sugarcrepe"][label]
    assert uncached.results["winoground"][uncached.labels[0]] == report.results["winoground"][label]


def test_image_refs_are_cut_and_processed_in_worker_threads_and_never_opened_when_cached(tmp_path):
    """Crops (ARO's boxes) given as ImageRefs: processed over 3 threads, equal to processing each loaded crop alone;
    a second call takes them from the cache without opening the file (it is gone)."""
    from testing_utils.benchmarks import save_photo

    path = save_photo("astronaut", str(tmp_path / "photo.jpg"), size=96)
    refs = [ImageRef.from_file(path, (i, 2 * i, 40 + i, 30 + 2 * i)) for i in range(7)]
    _, processor = fixture_clip()
    expected = torch.cat([processor.image_processor(images=[ref.load()], return_tensors="pt")["pixel_values"]
                          for ref in refs])
    cache = PixelCache(workers=3)
    cached = CachedImageProcessor(processor.image_processor, cache)
    torch.testing.assert_close(cached(refs, return_tensors="pt")["pixel_values"], expected, rtol=0, atol=0)
    assert (cache.misses, cache.hits) == (7, 0)
    (tmp_path / "photo.jpg").unlink()
    again = cached(refs[::-1], return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(again, expected.flip(0), rtol=0, atol=0)
    assert (cache.misses, cache.hits) == (7, 7)
