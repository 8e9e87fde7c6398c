"""Small copies of the other benchmarks' folder layouts, with a score table that gives known answers.

Each ``write_<task>(root)`` writes the benchmark's files (real photographs, hand-written captions) and returns a
score table for `FixedScorer` that realises the design its docstring states; the tests hold the expected numbers.
"""

from __future__ import annotations

import csv
import os

from cf_vlm_hf.evaluation.items import ImageRef

from .benchmarks import FixedScorer, photo, save_photo, write_json, write_jsonl

RIGHT, WRONG, TIE = "right", "wrong", "tie"


def _choice(scores: dict, image: str, right: str, wrongs, outcome: str) -> None:
    """Scores for one image: the right text 1.0; every wrong text 0.0 (right), 2.0 (wrong) or 1.0 (tie)."""
    scores[(image, right)] = 1.0
    for text in wrongs:
        scores[(image, text)] = {RIGHT: 0.0, WRONG: 2.0, TIE: 1.0}[outcome]


VG_RELATION_DESIGN = [("on", 26, 2), ("behind", 25, 0), ("next to", 25, 25), ("holding", 3, 2)]  # (name, n, wrong)
VG_ATTRIBUTION_DESIGN = [(("red", "blue"), 25, 5), (("big", "small"), 3, 3)]
ORDER_DESIGN = [RIGHT, WRONG, TIE, RIGHT]


def write_aro(root: str) -> dict:
    """VG-Relation (79 items, 4 relations), VG-Attribution (28 items, 2 pairs), COCO-Order (4 cases: right, wrong,
    tie, right). Boxes differ per item, so each item is its own image."""
    path = save_photo("astronaut", os.path.join(root, "images", "vg", "2376832.jpg"), size=128)
    scores: dict = {}
    x = 0
    for filename, design in (("visual_genome_relation.json", VG_RELATION_DESIGN),
                             ("visual_genome_attribution.json", VG_ATTRIBUTION_DESIGN)):
        entries = []
        for group, count, wrong in design:
            for i in range(count):
                x += 1
                box = dict(bbox_x=x % 60, bbox_y=x // 60, bbox_w=40, bbox_h=30)
                if filename.endswith("relation.json"):
                    true, false = f"the woman is {group} the flag", f"the flag is {group} the woman"
                    entry = {"relation_name": group}
                else:
                    true, false = f"the {group[0]} helmet and the {group[1]} flag", \
                        f"the {group[1]} helmet and the {group[0]} flag"
                    entry = {"attributes": list(group)}
                entry.update(image_path="vg/2376832.jpg", true_caption=true, false_caption=false, **box)
                entries.append(entry)
                ref = ImageRef.from_file(path, (box["bbox_x"], box["bbox_y"], box["bbox_x"] + 40, box["bbox_y"] + 30))
                _choice(scores, FixedScorer.name(ref), true, [false], WRONG if i < wrong else RIGHT)
        write_json(os.path.join(root, filename), entries)
    cases = []
    for i, (name, outcome) in enumerate(zip(("coffee", "chelsea", "rocket", "flower"), ORDER_DESIGN)):
        save_photo(name, os.path.join(root, "coco", "val2014", f"COCO_val2014_{i:012d}.jpg"))
        words = f"a picture number {i} of a {name} on a table".split()
        options = [" ".join(words), " ".join(reversed(words)), " ".join(words[1:] + words[:1]),
                   " ".join(words[2:] + words[:2]), " ".join(sorted(words))]
        cases.append({"image": f"val2014/COCO_val2014_{i:012d}.jpg", "caption_options": options})
        _choice(scores, f"COCO_val2014_{i:012d}", options[0], options[1:], outcome)
    write_json(os.path.join(root, "coco_order.json"), cases)
    return scores


def write_vl_checklist(root: str) -> dict:
    """Object/size/large.json (3 items: right, wrong, right), Attribute/color.json (4: right, tie, wrong, right),
    Relation/action.json (2: right, right), and Object/location/center.json of 5 items (all right) for the cut."""
    design = {"Object/size/large.json": ["coffee", "horse", "clock"], "Attribute/color.json": ["flower", "chelsea",
              "coffee", "astronaut"], "Relation/action.json": ["camera", "rocket"],
              "Object/location/center.json": ["coins", "china", "retina", "hubble_deep_field", "camera"]}
    outcomes = {"Object/size/large.json": [RIGHT, WRONG, RIGHT], "Attribute/color.json": [RIGHT, TIE, WRONG, RIGHT],
                "Relation/action.json": [RIGHT, RIGHT], "Object/location/center.json": [RIGHT] * 5}
    scores: dict = {}
    for relative, names in design.items():
        entries = []
        for i, name in enumerate(names):
            image = f"VG_100K/{relative.split('/')[0].lower()}_{i}_{name}.jpg"
            save_photo(name, os.path.join(root, "images", image))
            positive, negative = f"a {name} photo number {i}", f"a {name} drawing number {i}"
            entries.append([image, {"POS": [positive, "unused second positive"], "NEG": [negative]}])
            _choice(scores, os.path.splitext(os.path.basename(image))[0], positive, [negative],
                    outcomes[relative][i])
        write_json(os.path.join(root, "data", relative), entries)
    return scores


# VL-CheckList in its authors' layout: (annotation file under data/, image root under <root>, image paths in the file, outcomes).
VL_CHECKLIST_AUTHORS = [
    ("Object/Size/vg_size/vg_obj_large.json", "vg", ["VG_100K/2372476.jpg", "VG_100K/2372477.jpg"], [1, 1]),
    ("Object/Size/vg_size/vg_subj_large.json", "vg", ["VG_100K_2/11.jpg", "VG_100K_2/12.jpg"], [1, 0]),
    ("Object/Size/swig_size/swig_agent/swig_agent_large.json", "swig", ["calling_164.jpg", "dialing_8.jpg"], [0, 0]),
    ("Object/Size/hake_size/hake_obj_large.json", "hake", ["openimages/0030feaa83a02c0d.jpg"], [1]),
    ("Attribute/vg/color.json", "vg", ["VG_100K/2376832.jpg", "VG_100K/2376833.jpg"], [1, 0]),
    ("Attribute/vaw/color.json", "vg", ["VG_100K_2/2411140.jpg"], [1]),
    ("Relation/vg/spatial.json", "vg", ["VG_100K/1.jpg", "VG_100K/2.jpg", "VG_100K/3.jpg"], [1, 1, 0]),
]
VL_CHECKLIST_PHOTOS = ["coffee", "chelsea", "rocket", "horse", "flower", "camera", "coins", "china", "astronaut"]


def write_vl_checklist_authors(root: str, image_roots=None) -> dict:
    """The authors' files in their layout; images under <root>/<image root> (or ``image_roots[file]``). Returns the
    score table (outcome 1: right, 0: wrong)."""
    scores, n = {}, 0
    for relative, folder, images, outcomes in VL_CHECKLIST_AUTHORS:
        entries = []
        for image, outcome in zip(images, outcomes):
            name = VL_CHECKLIST_PHOTOS[n % len(VL_CHECKLIST_PHOTOS)]
            n += 1
            target = (image_roots or {}).get(relative, folder)
            save_photo(name, os.path.join(root, target, image))
            positive, negative = f"a {name} photo number {n}", f"a {name} drawing number {n}"
            entries.append([image, {"POS": [positive], "NEG": [negative]}])
            stem = os.path.splitext(os.path.basename(image))[0]
            scores[(stem, positive)], scores[(stem, negative)] = 1.0, 0.0 if outcome else 2.0
        write_json(os.path.join(root, "data", relative), entries)
    return scores


def write_conme(root: str) -> tuple[dict, dict]:
    """replace-att.csv (questions with options, 3 rows) and replace-obj_HUMAN_FILTER.csv (text_options, 2 rows).

    Returns (dual-encoder score table, generative answer table): dual right, wrong, right | right, tie; generative
    right, right, wrong | right, right.
    """
    scores, answers = {}, {}
    rows_a = [("coffee", "a red cup", "a blue cup", "A"), ("flower", "a pink flower", "an orange flower", "B"),
              ("horse", "a black horse", "a white horse", "(A)")]
    dual_a, gen_a = [RIGHT, WRONG, RIGHT], [RIGHT, RIGHT, WRONG]
    with open(os.path.join(root, "replace-att.csv"), "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "question", "answer"])
        for (name, a, b, answer), dual, gen in zip(rows_a, dual_a, gen_a):
            save_photo(name, os.path.join(root, "images", f"{name}.jpg"))
            question = f"Which caption fits the image?\nA. {a}\nB. {b}"
            writer.writerow([f"{name}.jpg", question, answer])
            right, wrong = (a, b) if "A" in answer else (b, a)
            _choice(scores, name, right, [wrong], dual)
            letter = "A" if "A" in answer else "B"
            other = "B" if letter == "A" else "A"
            prompt = f"{question}\nAnswer with the option's letter from the given choices directly."
            answers[(name, prompt)] = {letter: -0.1 if gen == RIGHT else -2.0, other: -1.0}
    rows_b = [("chelsea", "a cat", "a dog", "A", RIGHT, RIGHT), ("rocket", "a rocket", "a car", "a rocket", TIE, RIGHT)]
    with open(os.path.join(root, "replace-obj_HUMAN_FILTER.csv"), "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "question", "image", "text_options", "answer"])
        for i, (name, a, b, answer, dual, gen) in enumerate(rows_b):
            save_photo(name, os.path.join(root, "images", f"{name}.jpg"))
            writer.writerow([f"q{i}", "What does the image show?", f"{name}.jpg", str([f"A. {a}", f"B. {b}"]), answer])
            _choice(scores, name, a, [b], dual)
            prompt = (f"What does the image show?\nA. {a}\nB. {b}\n"
                      "Answer with the option's letter from the given choices directly.")
            answers[(name, prompt)] = {"A": -0.1 if gen == RIGHT else -2.0, "B": -1.0}
    return scores, answers


POPE_DESIGN = {"random": ([1, 1, 0, 0], [1, 0, 1, 0]), "popular": ([1, 1, 1, 0, 0], [1, 1, 0, 0, 0]),
               "adversarial": ([1, 0, 0, 0], [1, 1, 1, 0])}  # split -> (labels, predictions), 1 = yes
POPE_TEXTS = {1: ["Yes, there is.", "Yes", "yes it is"], 0: ["No.", "There is not one.", "no, sorry"]}


def write_pope(root: str) -> tuple[dict, dict]:
    """coco_pope_{random,popular,adversarial}.json (JSON lines) and val2014/: POPE_DESIGN's labels and answers.

    Returns (answer table {(image, prompt): {"Yes": lp, "No": lp}}, generated texts {(image, prompt): text}).
    """
    answers, generated = {}, {}
    names = ["coffee", "chelsea", "rocket", "horse", "flower"]
    qid = 0
    for split, (labels, predictions) in POPE_DESIGN.items():
        records = []
        for i, (label, predicted) in enumerate(zip(labels, predictions)):
            qid += 1
            name = names[i]
            image = f"COCO_val2014_{_photo_number(name):012d}.jpg"
            save_photo(name, os.path.join(root, "val2014", image))
            question = f"Is there a thing number {qid} in the image?"
            records.append({"question_id": qid, "image": image, "text": question, "label": "yes" if label else "no"})
            prompt = f"{question} Answer the question using a single word or phrase."
            key = (os.path.splitext(image)[0], prompt)
            answers[key] = {"Yes": -0.2, "No": -1.5} if predicted else {"Yes": -1.5, "No": -0.2}
            generated[key] = POPE_TEXTS[predicted][qid % 3]
        write_jsonl(os.path.join(root, f"coco_pope_{split}.json"), records)
    return answers, generated


def _photo_number(name: str) -> int:
    return ["coffee", "chelsea", "rocket", "horse", "flower"].index(name) + 1


ZERO_SHOT_CLASSES = ("cat", "coffee", "coins", "flower", "horse", "rocket", "space")
ZERO_SHOT_IMAGES = {"cat": ["chelsea"], "coffee": ["coffee"], "coins": ["coins"], "flower": ["flower"],
                    "horse": ["horse"], "rocket": ["rocket", "china"], "space": ["hubble_deep_field"]}


def write_zero_shot(root: str, templates=("a photo of a {}.", "a picture of the {}.")) -> dict:
    """7 class folders, 8 images. Scores: each image prefers its own class (rank 1) except china (labelled rocket),
    which ranks rocket 6th, and hubble, which ties space with horse (a tie counts against)."""
    scores = {}
    for label, names in ZERO_SHOT_IMAGES.items():
        for name in names:
            save_photo(name, os.path.join(root, label, f"{name}.png"))
            for rank, cls in enumerate(ZERO_SHOT_CLASSES):
                value = 1.0 if cls == label else 0.1 * rank
                if name == "china":
                    value = {"rocket": 0.05}.get(cls, 0.1 * rank)  # 5 classes score higher: 6th of 7
                if name == "hubble_deep_field" and cls == "horse":
                    value = 1.0
                for template in templates:
                    scores[(name, template.format(cls))] = value
    with open(os.path.join(root, "templates.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(templates) + "\n")
    return scores


def write_retrieval(root: str) -> dict:
    """Karpathy-style dataset_coco.json: 3 test images x 2 captions (+ 1 train image, ignored), and the score table
    (rows: images; columns: the six captions in order): image->text hits at 1 for astronaut and coffee, chelsea's
    best caption ranks 3rd; text->image hits at 1 for 3 of the 6 captions."""
    names = {"astronaut": ["a woman in a space suit", "an astronaut in orange"],
             "coffee": ["a cup of coffee", "coffee on a saucer"], "chelsea": ["a cat's face", "a tabby cat"]}
    images = []
    for name, captions in names.items():
        save_photo(name, os.path.join(root, "val2014", f"{name}.jpg"))
        images.append({"filepath": "val2014", "filename": f"{name}.jpg", "split": "test",
                       "sentences": [{"raw": c, "tokens": c.split()} for c in captions]})
    images.append({"filepath": "val2014", "filename": "camera.jpg", "split": "train",
                   "sentences": [{"raw": "a photographer"}]})
    write_json(os.path.join(root, "dataset_coco.json"), {"images": images, "dataset": "coco"})
    s = {}
    table = {"astronaut": [0.9, 0.8, 0.1, 0.2, 0.0, 0.1], "coffee": [0.5, 0.9, 0.2, 0.95, 0.6, 0.1],
             "chelsea": [0.1, 0.0, 0.9, 0.8, 0.5, 0.4]}
    captions = [c for cs in names.values() for c in cs]
    for name, row in table.items():
        for caption, value in zip(captions, row):
            s[(name, caption)] = value
    return s


def write_pairwise(root: str) -> dict:
    """pairwise.jsonl, 3 entries. With the scores returned: text comparisons 2/3 (the cup loses to "a red plate"),
    image comparisons 2/2, the horse's counterfactual pair passes text and fails image (group 0/1), items 1/3
    (the flower), group "color" 0/1 and "object" 1/1."""
    for name in ("coffee", "flower", "chelsea", "horse", "rocket"):
        save_photo(name, os.path.join(root, "photos", f"{name}.jpg"))
    records = [
        {"id": "cup", "image": "photos/coffee.jpg", "caption": "a red cup",
         "negative_captions": ["a blue cup", "a red plate"], "group": "color"},
        {"id": "flower", "image": "photos/flower.jpg", "captions": ["an orange flower", "a dahlia"],
         "negative_images": ["photos/chelsea.jpg"], "group": "object"},
        {"id": "horse", "image": "photos/horse.jpg", "caption": "a horse", "negative_captions": ["a camel"],
         "cf_images": ["photos/rocket.jpg"], "cf_captions": ["a rocket"]},
    ]
    write_jsonl(os.path.join(root, "pairwise.jsonl"), records)
    return {("coffee", "a red cup"): 0.9, ("coffee", "a blue cup"): 0.1, ("coffee", "a red plate"): 0.95,
            ("flower", "an orange flower"): 0.8, ("flower", "a dahlia"): 0.6,
            ("chelsea", "an orange flower"): 0.2, ("chelsea", "a dahlia"): 0.5,
            ("horse", "a horse"): 0.9, ("horse", "a camel"): 0.2, ("horse", "a rocket"): 0.85,
            ("rocket", "a rocket"): 0.8, ("rocket", "a horse"): 0.1}


__all__ = ["photo", "write_aro", "write_conme", "write_pairwise", "write_pope", "write_retrieval", "write_vl_checklist",
           "write_vl_checklist_authors", "write_zero_shot"]
