"""Each task's loader + metric on a hand-made fixture (real photographs, written captions) with a scorer of fixed
scores: the exact numbers the designs imply."""

import pytest
from testing_utils.benchmark_layouts import (
    write_aro,
    write_conme,
    write_pairwise,
    write_pope,
    write_retrieval,
    write_vl_checklist,
    write_zero_shot,
)
from testing_utils.benchmarks import SUGARCREPE, WINOGROUND, FixedScorer, coco_name, write_sugarcrepe, write_winoground

from cf_vlm_hf.evaluation import get_task
from cf_vlm_hf.evaluation.scoring import NotApplicable

approx = pytest.approx


def run(name, root, scorer, **options):
    task = get_task(name, str(root), **options)
    data = task.load()
    return task, data, task.evaluate(scorer, data)


# SugarCrepe: per subset, which items (by position) the scorer gets wrong or ties.
SUGAR_DESIGN = {"add_att": {1: "wrong"}, "add_obj": {}, "replace_att": {0: "tie"},
                "replace_obj": {1: "wrong", 2: "wrong"}, "replace_rel": {},
                "swap_att": {0: "wrong", 1: "wrong", 2: "wrong"}, "swap_obj": {2: "tie"}}


def sugarcrepe_scores():
    table = {}
    for subset, items in SUGARCREPE.items():
        for i, (photo, positive, negative) in enumerate(items):
            image = coco_name(photo)[:-4]
            table[(image, positive)] = 1.0
            table[(image, negative)] = {"wrong": 2.0, "tie": 1.0}.get(SUGAR_DESIGN[subset].get(i), 0.0)
    return table


def test_sugarcrepe_accuracy_per_subset_and_group(tmp_path):
    write_sugarcrepe(str(tmp_path))
    task, data, result = run("sugarcrepe", tmp_path, FixedScorer(sugarcrepe_scores()))
    m = result.metrics
    expected = {"add_att": 2 / 3, "add_obj": 1, "replace_att": 2 / 3, "replace_obj": 1 / 3, "replace_rel": 1,
                "swap_att": 0, "swap_obj": 2 / 3}
    assert {s: m[f"{s}/accuracy"] for s in expected} == approx(expected)
    assert m["add/macro"] == approx(5 / 6) and m["replace/macro"] == approx(2 / 3) and m["swap/macro"] == approx(1 / 3)
    assert m["overall/micro"] == approx(13 / 21) and m["overall/macro"] == approx(sum(expected.values()) / 7)
    provenance = task.provenance(data)
    assert provenance["item_count"] == 21 and provenance["official_item_count"] == 7511
    assert provenance["differs_from_official"]["add_att"] == {"ours": 3, "official": 692}
    hashes = provenance["annotation_files"].values()
    assert len(hashes) == 7 and all(len(h) == 64 for h in hashes)
    # The argmax rule (clip-benchmark's): the two ties count as right.
    _, _, first = run("sugarcrepe", tmp_path, FixedScorer(sugarcrepe_scores()), ties="first")
    assert first.metrics["replace_att/accuracy"] == 1 and first.metrics["overall/micro"] == approx(15 / 21)


def test_sugarcrepe_with_missing_subsets_says_so(tmp_path):
    write_sugarcrepe(str(tmp_path), subsets=("add_att", "swap_obj"))
    task, data, result = run("sugarcrepe", tmp_path, FixedScorer(sugarcrepe_scores()))
    assert set(data.subsets) == {"add_att", "swap_obj"} and "replace/macro" not in result.metrics
    assert result.metrics["overall/micro"] == approx(4 / 6)
    assert any("replace_rel.json not found" in note for note in data.notes)
    assert task.provenance(data)["differs_from_official"]["replace_rel"] == {"ours": 0, "official": 1406}


def winoground_scores():
    """ex0 all right; ex1 text right, image wrong; ex2 image right, text wrong; ex3 all ties (all wrong)."""
    design = [{"c0i0": .9, "c0i1": .1, "c1i0": .2, "c1i1": .8}, {"c0i0": .5, "c1i0": .4, "c1i1": .9, "c0i1": .6},
              {"c0i0": .5, "c0i1": .4, "c1i1": .9, "c1i0": .6}, {"c0i0": .5, "c0i1": .5, "c1i0": .5, "c1i1": .5}]
    table = {}
    for n, ((_, _, c0, c1, _), s) in enumerate(zip(WINOGROUND, design)):
        for i, caption in enumerate((c0, c1)):
            for j in (0, 1):
                table[(f"ex_{n}_img_{j}", caption)] = s[f"c{i}i{j}"]
    return table


def test_winoground_text_image_group_scores(tmp_path):
    write_winoground(str(tmp_path))
    task, data, result = run("winoground", tmp_path, FixedScorer(winoground_scores()))
    m = result.metrics
    assert (m["text"], m["image"], m["group"], m["count"]) == (0.5, 0.5, 0.25, 4)
    assert (m["collapsed_tag=Object/text"], m["collapsed_tag=Object/image"], m["collapsed_tag=Object/group"]) == \
        (0.5, 0.5, 0.5)
    assert (m["collapsed_tag=Relation/text"], m["collapsed_tag=Relation/group"]) == (0.5, 0.0)
    assert task.provenance(data)["differs_from_official"] == {"test": {"ours": 4, "official": 400}}


def test_winoground_from_parquet_files(tmp_path):
    """The Hub dataset's own layout (parquet under data/): same fields, same scores as the release layout."""
    from datasets import Dataset, Features, Image, Value
    from testing_utils.benchmarks import photo

    rows = {"id": [], "image_0": [], "image_1": [], "caption_0": [], "caption_1": [], "collapsed_tag": []}
    for n, (p0, p1, c0, c1, tag) in enumerate(WINOGROUND):
        for key, value in (("id", n), ("image_0", photo(p0)), ("image_1", photo(p1)), ("caption_0", c0),
                           ("caption_1", c1), ("collapsed_tag", tag)):
            rows[key].append(value)
    features = Features({"id": Value("int32"), "image_0": Image(), "image_1": Image(), "caption_0": Value("string"),
                         "caption_1": Value("string"), "collapsed_tag": Value("string")})
    (tmp_path / "data").mkdir()
    Dataset.from_dict(rows, features=features).to_parquet(str(tmp_path / "data" / "test-00000-of-00001.parquet"))
    task = get_task("winoground", str(tmp_path))
    data = task.load()
    keys = {item.images[j].key: f"ex_{n}_img_{j}" for n, item in enumerate(data.subsets["test"]) for j in (0, 1)}
    table = {(key, c): v for (name, c), v in winoground_scores().items()
             for key, named in keys.items() if named == name}
    result = task.evaluate(FixedScorer(table), data)
    assert (result.metrics["text"], result.metrics["image"], result.metrics["group"]) == (0.5, 0.5, 0.25)
    assert data.subsets["test"][0].images[0].load().size == photo("coffee").size


def test_aro_macro_accuracy_with_the_authors_exclusions(tmp_path):
    task, data, result = run("aro", tmp_path, FixedScorer(write_aro(str(tmp_path))))
    m = result.metrics
    assert m["vg_relation/count"] == 79 and m["vg_attribution/count"] == 28 and m["coco_order/count"] == 4
    assert m["vg_relation/macro"] == approx((24 / 26 + 1) / 2)  # 'next to' is symmetric, 'holding' has < 25 items
    assert m["vg_relation/macro_notebook"] == approx((24 / 26 + 1 + 1 / 3) / 3)
    assert m["vg_relation/micro"] == approx(50 / 79) and m["vg_relation/relations_kept"] == 2
    assert m["vg_attribution/macro"] == approx(0.8) and m["vg_attribution/micro"] == approx(20 / 28)
    assert m["coco_order/precision@1"] == 0.5  # right, wrong, tie, right: a tie is wrong
    _, _, first = run("aro", tmp_path, FixedScorer(write_aro(str(tmp_path))), ties="first")
    assert first.metrics["coco_order/precision@1"] == 0.75
    assert first.metrics["vg_relation/macro"] == m["vg_relation/macro"]
    assert any("flickr30k" in note for note in data.notes)
    crop = data.subsets["vg_relation"][0].image.load()
    assert crop.size == (40, 30)  # the relation's box, cropped


def test_vl_checklist_splits_and_the_first_items_cut(tmp_path):
    scores = write_vl_checklist(str(tmp_path))
    task, data, result = run("vl-checklist", tmp_path, FixedScorer(scores))
    m = result.metrics
    assert m["object/size/large/accuracy"] == approx(2 / 3) and m["object/location/center/accuracy"] == 1
    assert m["attribute/color/accuracy"] == 0.5 and m["relation/action/accuracy"] == 1  # a tie is wrong
    assert m["object"] == approx(5 / 6) and m["mean"] == approx((5 / 6 + 0.5 + 1) / 3)
    _, cut, cut_result = run("vl-checklist", tmp_path, FixedScorer(scores), max_items_per_file=4)
    assert cut_result.metrics["object/location/center/count"] == 4
    assert cut.exclusions == {"beyond the first 4 items of a file": 1}


def test_conme_both_protocols(tmp_path):
    dual_scores, answers = write_conme(str(tmp_path))
    task, data, dual = run("conme", tmp_path, FixedScorer(dual_scores))
    assert dual.metrics["replace-att/accuracy"] == approx(2 / 3)
    assert dual.metrics["replace-obj_HUMAN_FILTER/accuracy"] == 0.5 and dual.metrics["mean"] == approx(7 / 12)
    _, _, generative = run("conme", tmp_path, FixedScorer(family="generative", answers=answers))
    assert generative.metrics["replace-att/accuracy"] == approx(2 / 3)
    assert generative.metrics["replace-obj_HUMAN_FILTER/accuracy"] == 1 and generative.metrics["mean"] == approx(5 / 6)
    item = data.subsets["replace-obj_HUMAN_FILTER"][1]
    assert item.options == ("a rocket", "a car") and item.answer == 0  # the answer given as the option's text


def test_pope_metrics_per_split_for_both_answer_modes(tmp_path):
    answers, generated = write_pope(str(tmp_path))
    for options in ({}, {"answer_mode": "generate"}):
        scorer = FixedScorer(family="generative", answers=answers, generated=generated)
        _, _, result = run("pope", tmp_path, scorer, **options)
        m = result.metrics
        assert [m[f"random/{k}"] for k in ("accuracy", "precision", "recall", "f1", "yes_ratio")] == [0.5] * 5
        assert (m["popular/accuracy"], m["popular/precision"], m["popular/recall"]) == approx((0.8, 1.0, 2 / 3))
        assert (m["popular/f1"], m["popular/yes_ratio"]) == approx((0.8, 0.4))
        assert (m["adversarial/precision"], m["adversarial/recall"], m["adversarial/f1"]) == approx((1 / 3, 1, 0.5))
        assert (m["adversarial/tp"], m["adversarial/fp"], m["adversarial/tn"], m["adversarial/fn"]) == (1, 2, 1, 0)
        assert m["mean/f1"] == approx(0.6)


def test_pope_is_not_applicable_to_a_dual_encoder(tmp_path):
    write_pope(str(tmp_path))
    _, _, result = run("pope", tmp_path, FixedScorer())
    assert result.metrics == {} and "dual encoder gives no answer" in result.skipped
    with pytest.raises(NotApplicable):
        FixedScorer().answer_scores([], ["Yes"])


def test_zero_shot_top1_top5_per_class(tmp_path):
    _, data, result = run("zero-shot", tmp_path, FixedScorer(write_zero_shot(str(tmp_path))))
    m = result.metrics
    name = tmp_path.name
    assert (m[f"{name}/top1"], m[f"{name}/top5"], m[f"{name}/count"]) == (0.75, 0.875, 8)
    assert m[f"{name}/mean_per_class_recall"] == approx(5.5 / 7)
    assert data.subsets[name][0].templates == ("a photo of a {}.", "a picture of the {}.")


def test_retrieval_recall_both_ways(tmp_path):
    task, data, result = run("retrieval", tmp_path, FixedScorer(write_retrieval(str(tmp_path))))
    m = result.metrics
    assert [m[f"dataset_coco/image_to_text/R@{k}"] for k in (1, 5, 10)] == approx([2 / 3, 1, 1])
    assert [m[f"dataset_coco/text_to_image/R@{k}"] for k in (1, 5, 10)] == approx([0.5, 1, 1])
    assert (m["dataset_coco/images"], m["dataset_coco/captions"]) == (3, 6)  # the train image is left out
    provenance = task.provenance(data)
    assert provenance["differs_from_official"]["dataset_coco"]["official"] == {"images": 5000, "captions": 25010}


def test_pairwise_comparisons_and_counterfactual_groups(tmp_path):
    _, _, result = run("pairwise", tmp_path, FixedScorer(write_pairwise(str(tmp_path))))
    m = result.metrics
    assert (m["text"], m["text/count"], m["image"], m["image/count"]) == (approx(2 / 3), 3, 1.0, 2)
    assert (m["counterfactual/text"], m["counterfactual/image"], m["counterfactual/group"]) == (1.0, 0.0, 0.0)
    assert m["item"] == approx(1 / 3) and m["group=color/item"] == 0 and m["group=object/item"] == 1
