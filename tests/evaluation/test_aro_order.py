"""ARO's Order cases: normalisation and the four perturbations (with a stand-in part-of-speech tagger), seeded."""

import json

import numpy as np
from testing_utils.benchmark_layouts import write_aro
from testing_utils.benchmarks import write_json

from cf_vlm_hf.evaluation import get_task
from cf_vlm_hf.evaluation.tasks import aro, aro_order

TAGS = {"a": "DT", "red": "JJ", "cup": "NN", "on": "IN", "wooden": "JJ", "table": "NN", "near": "IN", "the": "DT",
        "window": "NN", ".": "."}


def tagger(text):
    tokens = aro_order.word_tokens(text)
    return tokens, [TAGS.get(t.lower(), "NN") for t in tokens]


def test_normalisation_lowercases_strips_marks_and_cuts():
    assert aro_order.normalise_caption('A Red "Cup" (on) a table!  #1; ~done: ok.') == "a red cup on a table 1 done ok"
    assert aro_order.normalise_caption("one two three four", max_words=2) == "one two"


def test_perturbations_move_only_what_they_should():
    caption = "A red cup on a wooden table near the window."
    tokens, tags = tagger(caption)
    rng = np.random.default_rng(0)
    options = aro_order.order_options(caption, tagger, rng)
    assert options[0] == "a red cup on a wooden table near the window"
    assert all(sorted(o.split()) == sorted(options[0].split()) for o in options)  # same words, other orders
    nouns = aro_order.shuffle_nouns_and_adjectives(tokens, tags, np.random.default_rng(3)).split()
    assert [w for w, t in zip(nouns, tags) if t not in ("NN", "JJ")] == [w for w, t in zip(tokens, tags)
                                                                          if t not in ("NN", "JJ")]
    assert sorted(w for w, t in zip(nouns, tags) if t == "NN") == ["cup", "table", "window"]
    others = aro_order.shuffle_all_but_nouns_and_adjectives(tokens, tags, np.random.default_rng(3)).split()
    assert [w for w, t in zip(others, tags) if t in ("NN", "JJ")] == ["red", "cup", "wooden", "table", "window"]
    within = aro_order.shuffle_within_trigrams(tokens, np.random.default_rng(1)).split()
    assert [sorted(within[i:i + 3]) for i in range(0, 12, 3)] == [sorted(g) for g in aro_order.trigrams(tokens)]
    across = aro_order.shuffle_trigrams(tokens, np.random.default_rng(4))
    groups = [" ".join(g) for g in aro_order.trigrams(tokens)]  # whole trigrams, in another order
    assert across == " ".join(groups[j] for j in np.random.default_rng(4).permutation(len(groups)))
    assert across != " ".join(groups)


def test_cases_are_seeded():
    records = [{"image": "a.jpg", "caption": ["A red cup on a wooden table near the window.", "A cup on a table."]}]
    first = aro_order.build_order_cases(records, tagger, seed=1)
    assert len(first) == 2 and first == aro_order.build_order_cases(records, tagger, seed=1)
    assert first != aro_order.build_order_cases(records, tagger, seed=2)


def test_order_cases_built_from_the_karpathy_file(tmp_path, monkeypatch):
    write_aro(str(tmp_path))
    (tmp_path / "coco_order.json").unlink()
    write_json(str(tmp_path / "coco" / "coco_karpathy_test.json"),
               [{"image": "val2014/COCO_val2014_000000000000.jpg", "caption": ["A red cup on a wooden table.",
                                                                                "A cup near the window."]}])
    monkeypatch.setattr(aro, "spacy_tagger", lambda: tagger)
    data = get_task("aro", str(tmp_path), order_seed=7).load()
    items = data.subsets["coco_order"]
    assert [item.texts[0] for item in items] == ["a red cup on a wooden table", "a cup near the window"]
    assert all(len(item.texts) == 5 and item.answer == 0 for item in items)
    assert any("seed 7" in note for note in data.notes)
    assert json.loads((tmp_path / "coco" / "coco_karpathy_test.json").read_text())[0]["caption"][0].startswith("A red")
