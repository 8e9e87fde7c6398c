"""Loaders reject malformed annotation files with errors naming the file, the entry and the field; a missing image
names its entry (or is skipped and counted on request); an unknown task lists the known ones."""

import json
import os

import pytest
from testing_utils.benchmark_layouts import write_aro, write_conme, write_pope, write_retrieval, write_vl_checklist
from testing_utils.benchmarks import write_json, write_jsonl, write_sugarcrepe, write_winoground

from cf_vlm_hf.evaluation import TASKS, get_task, parse_tasks


def load(name, root, **options):
    return get_task(name, str(root), **options).load()


def edit_json(path, change):
    with open(path, encoding="utf-8") as f:
        content = json.load(f)
    change(content)
    write_json(str(path), content)


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown task 'winogrand'; known tasks: winoground, sugarcrepe, aro"):
        get_task("winogrand")
    with pytest.raises(ValueError, match="has no option"):
        get_task("sugarcrepe", bogus=1)
    tasks = parse_tasks("winoground, sugarcrepe=/data/sc,vl_checklist")
    assert [t.name for t in tasks] == ["winoground", "sugarcrepe", "vl-checklist"] and tasks[1].path == "/data/sc"
    assert set(TASKS) >= {"winoground", "sugarcrepe", "aro", "vl-checklist", "conme", "pope", "zero-shot",
                          "retrieval", "shapes-world", "pairwise"}


def test_a_missing_folder_says_where_and_what(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"sugarcrepe: no data folder at .*sugarcrepe\. Expected: .*val2017"):
        get_task("sugarcrepe").load(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load("aro", tmp_path / "nowhere")


def test_sugarcrepe_names_the_entry_and_field(tmp_path):
    write_sugarcrepe(str(tmp_path))
    path = tmp_path / "swap_obj.json"
    edit_json(path, lambda c: c["13"].pop("negative_caption"))
    with pytest.raises(ValueError, match=r"swap_obj\.json, entry '13', field 'negative_caption': missing"):
        load("sugarcrepe", tmp_path)
    edit_json(path, lambda c: c["13"].update(negative_caption=7))
    with pytest.raises(ValueError, match=r"entry '13', field 'negative_caption': expected a string, got int"):
        load("sugarcrepe", tmp_path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"swap_obj\.json: not valid JSON"):
        load("sugarcrepe", tmp_path)


def test_a_missing_image_names_its_entry_or_is_skipped_and_counted(tmp_path):
    write_sugarcrepe(str(tmp_path))
    edit_json(tmp_path / "add_att.json", lambda c: c["3"].update(filename="000000999999.jpg"))
    with pytest.raises(FileNotFoundError, match=r"add_att\.json, entry '3', field 'filename': image file not found: "
                                                r"'000000999999\.jpg'.*--skip-missing-images"):
        load("sugarcrepe", tmp_path)
    task = get_task("sugarcrepe", str(tmp_path), missing_images="skip")
    data = task.load()
    assert len(data.subsets["add_att"]) == 2 and data.exclusions == {"image file not found": 1}
    assert task.provenance(data)["exclusions"] == {"image file not found": 1}


def test_winoground_names_the_line_and_field(tmp_path):
    write_winoground(str(tmp_path))
    path = tmp_path / "examples.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[2])
    record["caption_1"] = ""
    lines[2] = json.dumps(record)
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"examples\.jsonl, entry 2, field 'caption_1': empty"):
        load("winoground", tmp_path)
    path.write_text("\n".join(lines[:1] + ["{oops"]))
    with pytest.raises(ValueError, match=r"examples\.jsonl, line 2: not valid JSON"):
        load("winoground", tmp_path)


def test_winoground_without_data_offline_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(FileNotFoundError) as err:
        get_task("winoground").load(str(tmp_path))
    message = str(err.value)
    assert "facebook/winoground could not be read" in message and "gated" in message and "\n" not in message


def test_aro_names_the_entry_and_field(tmp_path):
    write_aro(str(tmp_path))
    path = tmp_path / "visual_genome_relation.json"
    edit_json(path, lambda c: c[5].update(bbox_w="wide"))
    with pytest.raises(ValueError, match=r"visual_genome_relation\.json, entry 5, field 'bbox_w': expected a number"):
        load("aro", tmp_path)
    edit_json(path, lambda c: c[5].update(bbox_w=0))
    with pytest.raises(ValueError, match=r"entry 5, field 'bbox_w': box of size 0 x 30"):
        load("aro", tmp_path)
    edit_json(path, lambda c: c[5].update(bbox_w=40) or c[7].pop("relation_name"))
    with pytest.raises(ValueError, match=r"entry 7, field 'relation_name': missing"):
        load("aro", tmp_path)
    edit_json(path, lambda c: c[7].update(relation_name="on"))
    edit_json(tmp_path / "visual_genome_attribution.json", lambda c: c[0].update(attributes=["red"]))
    with pytest.raises(ValueError, match=r"attribution\.json, entry 0, field 'attributes': expected 2 attributes"):
        load("aro", tmp_path)
    edit_json(tmp_path / "visual_genome_attribution.json", lambda c: c[0].update(attributes=["red", "blue"]))
    edit_json(tmp_path / "coco_order.json", lambda c: c[1].update(caption_options=["only one"]))
    with pytest.raises(ValueError, match=r"coco_order\.json, entry 1, field 'caption_options': expected the true"):
        load("aro", tmp_path)


def test_aro_order_cases_from_the_karpathy_file_need_a_tagger(tmp_path, monkeypatch):
    """Without prepared cases the Order subsets are built from BLIP's Karpathy file, which needs spaCy: a ValueError
    says how to get it (spaCy is not installed here)."""
    import builtins

    real_import = builtins.__import__

    def no_spacy(name, *args, **kwargs):
        if name == "spacy":
            raise ImportError("No module named 'spacy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_spacy)
    write_aro(str(tmp_path))
    os.remove(tmp_path / "coco_order.json")
    write_json(str(tmp_path / "coco" / "coco_karpathy_test.json"),
               [{"image": "val2014/COCO_val2014_000000000000.jpg", "caption": ["A cup of coffee."]}])
    with pytest.raises(ValueError, match="needs spaCy and its en_core_web_sm model"):
        load("aro", tmp_path)


def test_vl_checklist_names_the_entry_and_field(tmp_path):
    write_vl_checklist(str(tmp_path))
    path = tmp_path / "data" / "Attribute" / "color.json"
    edit_json(path, lambda c: c[2][1].pop("NEG"))
    with pytest.raises(ValueError, match=r"color\.json, entry 2, field 'NEG': missing"):
        load("vl-checklist", tmp_path)
    edit_json(path, lambda c: c.__setitem__(2, ["only an image path"]))
    with pytest.raises(ValueError, match=r"color\.json, entry 2: expected \[image path"):
        load("vl-checklist", tmp_path)


def test_conme_names_the_entry_and_field(tmp_path):
    write_conme(str(tmp_path))
    path = tmp_path / "replace-att.csv"
    path.write_text(path.read_text().replace(",B\n", ",C\n", 1))
    with pytest.raises(ValueError, match=r"replace-att\.csv, entry 1, field 'answer': 'C' is none of the option"):
        load("conme", tmp_path)
    path.write_text("image,question,answer\ncoffee.jpg,What is it?,A\n")
    with pytest.raises(ValueError, match=r"entry 0, field 'question': expected at least two lettered options"):
        load("conme", tmp_path)
    path.write_text("picture,question\n")
    with pytest.raises(ValueError, match=r"replace-att\.csv: missing column\(s\) \['image'\]"):
        load("conme", tmp_path)


def test_pope_names_the_question_and_field(tmp_path):
    write_pope(str(tmp_path))
    path = tmp_path / "coco_pope_popular.json"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[1]["label"] = "maybe"
    write_jsonl(str(path), records)
    with pytest.raises(ValueError, match=r"coco_pope_popular\.json, entry 6, field 'label': expected 'yes' or 'no'"):
        load("pope", tmp_path)


def test_retrieval_names_the_entry_and_field(tmp_path):
    write_retrieval(str(tmp_path))
    edit_json(tmp_path / "dataset_coco.json", lambda c: c["images"][1].update(sentences=[]))
    with pytest.raises(ValueError, match=r"dataset_coco\.json, entry 1, field 'sentences': expected a non-empty list"):
        load("retrieval", tmp_path)


def test_pairwise_names_the_entry_and_field(tmp_path):
    from testing_utils.benchmark_layouts import write_pairwise

    write_pairwise(str(tmp_path))
    path = tmp_path / "pairwise.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    write_jsonl(str(path), records[:2] + [{"id": "lonely", "image": "photos/horse.jpg", "caption": "a horse"}])
    with pytest.raises(ValueError, match=r"pairwise\.jsonl, entry 'lonely': nothing to compare the image with"):
        load("pairwise", tmp_path)
    records[2]["cf_captions"] = ["a rocket", "a second caption"]
    write_jsonl(str(path), records)
    with pytest.raises(ValueError, match=r"entry 'horse', field 'cf_captions': 2 captions for 1 cf_images"):
        load("pairwise", tmp_path)
