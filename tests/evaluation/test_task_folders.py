"""Where a task finds its files: ``--data-dir`` naming the task's own folder, VL-CheckList in its authors' image
layout (with or without their corpus yaml files) and the authors' radar aggregation, and the ``NAME=PATH`` form with
``--skip-missing-images``."""

import os

import pytest
from testing_utils.benchmark_layouts import write_pope, write_vl_checklist, write_vl_checklist_authors
from testing_utils.benchmarks import FixedScorer, write_sugarcrepe

from cf_vlm_hf.cli import main
from cf_vlm_hf.evaluation import get_task

approx = pytest.approx


def test_data_dir_may_name_the_task_folder_itself(tmp_path):
    write_sugarcrepe(str(tmp_path / "bench" / "sugarcrepe"))
    write_pope(str(tmp_path / "bench" / "pope"))
    write_vl_checklist(str(tmp_path / "bench" / "vl-checklist"))
    for name in ("sugarcrepe", "pope", "vl-checklist"):
        folder = tmp_path / "bench" / name
        inside = get_task(name).load(str(folder))  # --data-dir bench/<task> --task <task>
        above = get_task(name).load(str(tmp_path / "bench"))  # --data-dir bench
        assert inside.source == above.source == str(folder)
        assert inside.item_count == above.item_count > 0
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"sugarcrepe: no data folder at .*empty/sugarcrepe\. Expected"):
        get_task("sugarcrepe").load(str(tmp_path / "empty"))


def check_authors_numbers(result):
    from cf_vlm_hf.evaluation.tasks.vl_checklist import RADAR

    m = result.metrics
    assert m["object/Size/vg_size/vg_obj_large/accuracy"] == 1
    assert m["object/Size/swig_size/swig_agent/swig_agent_large/accuracy"] == 0
    assert m["object"] == approx((1 + 0.5 + 0 + 1) / 4)
    # radar: mean over sources of the mean over the source's files
    assert m["radar/large"] == approx(((1 + 0.5) / 2 + 0 + 1) / 3)
    assert m["radar/color"] == approx((0.5 + 1) / 2) and m["radar/spatial"] == approx(2 / 3)
    assert not any(key.startswith("radar/") and key[6:] not in RADAR for key in m)


def test_vl_checklist_reads_the_authors_image_layout(tmp_path):
    """Images under vg/, swig/, hake/ as the authors' DATASETS.md puts them, no yaml files: found by source."""
    root = str(tmp_path / "vl-checklist")
    scores = write_vl_checklist_authors(root)
    task = get_task("vl-checklist", root)
    data = task.load()
    assert data.item_count == 13 and not data.exclusions
    check_authors_numbers(task.evaluate(FixedScorer(scores), data))


def test_vl_checklist_follows_the_authors_corpus_yaml(tmp_path):
    """With corpus/v1/**/*.yaml present, each file's images come from its IMG_ROOT (here a folder no rule guesses)."""
    root = str(tmp_path / "vl-checklist")
    moved = {"Relation/vg/spatial.json": "elsewhere/vg_copy"}
    scores = write_vl_checklist_authors(root, image_roots=moved)
    yaml_file = os.path.join(root, "corpus", "v1", "Relation", "spatial", "vg.yaml")
    os.makedirs(os.path.dirname(yaml_file))
    with open(yaml_file, "w", encoding="utf-8") as f:
        f.write('ANNO_PATH: "data/Relation/vg/spatial.json"\nIMG_ROOT: "elsewhere/vg_copy/"\nTYPE: "TUPLE_JSON"\n')
    task = get_task("vl-checklist", root)
    data = task.load()
    assert data.item_count == 13 and any("corpus yaml" in note for note in data.notes)
    check_authors_numbers(task.evaluate(FixedScorer(scores), data))
    os.remove(yaml_file)
    with pytest.raises(FileNotFoundError, match=r"spatial\.json, entry 0, field 'image': image file not found: "
                                                r"'VG_100K/1\.jpg'"):
        get_task("vl-checklist", root).load()


def test_vl_checklist_cuts_each_file_after_leaving_out_missing_images(tmp_path):
    """The authors keep the first MAX_NUM/2 items *with an image*: a missing image does not use up a place."""
    root = str(tmp_path / "vl-checklist")
    write_vl_checklist_authors(root)
    os.remove(os.path.join(root, "vg", "VG_100K", "1.jpg"))
    data = get_task("vl-checklist", root, missing_images="skip", max_items_per_file=2).load()
    spatial = data.subsets["relation/vg/spatial"]
    assert [item.id for item in spatial] == ["relation/vg/spatial/1", "relation/vg/spatial/2"]
    assert data.exclusions == {"image file not found": 1}


def test_path_form_with_skip_missing_images_reads_that_path(tmp_path, capsys):
    """`--task vl-checklist=PATH --skip-missing-images`: PATH is read; when no image at all is there, the error names
    PATH and the image roots, not a --data-dir folder."""
    root = tmp_path / "vlc"
    write_vl_checklist(str(root))
    for dirpath, _, filenames in os.walk(root / "images"):
        for filename in filenames:
            os.remove(os.path.join(dirpath, filename))
    status = main(["eval", "--model", str(tmp_path / "no-model"), "--task", f"vl-checklist={root}",
                   "--skip-missing-images", "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2
    assert f"vl-checklist: all 14 entries of the annotation files in {root} were left out" in err
    assert "--data-dir" not in err
    data = get_task("vl-checklist", str(root), missing_images="skip")
    with pytest.raises(FileNotFoundError, match="none of their images is on disk"):
        data.load()
