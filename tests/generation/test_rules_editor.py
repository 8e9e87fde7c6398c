"""The rules editor: for each edit type, captions and every rewrite it must offer; uneditable captions reported."""

import pytest

from cf_vlm_hf.generation.captions import RULES, CaptionEdit, RulesEditor
from cf_vlm_hf.generation.captions.words import changed_span, changed_words, indefinite_article, normalized

# edit type -> [(caption, the rewrites its rule offers, in order)]. Each table holds a caption the rule cannot edit.
TABLES = {
    "color": [
        ("A red car.", ["A blue car.", "A green car.", "A yellow car.", "A black car.", "A white car."]),
        ("an orange cat", ["a blue cat", "a purple cat", "a green cat", "a black cat"]),  # the article agrees
        ("a photo of a street", []),
    ],
    "count": [
        ("two dogs are playing", ["three dogs are playing", "one dog is playing"]),
        ("there is a dog", ["there are two dogs"]),
        ("A man with 3 kites", ["Two men with 3 kites", "A man with 4 kites", "A man with 2 kites"]),
        ("a lot of people", []),  # "lot" is no known object: never counted
    ],
    "object": [
        ("a knife", []),
        ("an apple", ["a pizza", "a sandwich", "a cake", "a banana", "a donut", "a hot dog", "a burger", "a salad",
                      "a bowl of soup", "a carrot", "a broccoli", "a cookie", "a pie"]),
    ],
    "relation": [
        ("a cat to the left of a dog", ["a cat to the right of a dog"]),
        ("a lamp above a bed", ["a lamp below a bed"]),
        ("a ball in front of the box", ["a ball behind the box"]),
        ("a sunny day", []),
    ],
    "action": [
        ("a man sitting on a bench", ["a man standing on a bench", "a man lying on a bench"]),
        ("a woman opening a door", ["a woman closing a door"]),
        ("a red car", []),
    ],
    "attribute": [
        ("an open door", ["a closed door"]),
        ("the glass is empty", ["the glass is full"]),
        ("a red car", []),
    ],
    "negation": [
        ("a man is riding a horse", ["a man is not riding a horse"]),
        ("a man is not riding a horse", ["a man is riding a horse"]),
        ("a man with an umbrella", ["a man without an umbrella"]),
        ("a dog catching a frisbee", ["a dog not catching a frisbee"]),
        ("a red car", []),
    ],
    "binding": [
        ("a red car and a blue bus", ["a blue car and a red bus"]),
        ("a small dog next to a large cat", ["a large dog next to a small cat"]),
        ("a red car and a red bus", []),  # the same colour twice: swapping changes nothing
    ],
    "size": [
        ("a small dog", ["a large dog"]),
        ("a tall tree next to a short fence", ["a short tree next to a short fence",
                                               "a tall tree next to a tall fence"]),
        ("a dog", []),
    ],
}


def test_every_edit_type_has_a_table():
    assert set(TABLES) == set(RULES)


@pytest.mark.parametrize("edit_type,caption,expected",
                         [(t, c, e) for t, rows in TABLES.items() for c, e in rows])
def test_rule_offers_exactly_the_expected_rewrites(edit_type, caption, expected):
    edits = RULES[edit_type](caption)
    got = [edit.caption for edit in edits]
    if edit_type == "object":  # one rewrite per other object of the group: compare the ones the table lists
        got = got[: len(expected)] if expected else got
    assert got == expected
    for edit in edits:
        assert edit.edit_type == edit_type and edit.source == caption
        assert edit.source[: edit.start] + edit.new + edit.source[edit.end :] == edit.caption


def test_edits_name_the_span_region_and_instruction():
    (blue, *_) = RULES["color"]("a red car next to a bus")
    assert (blue.old, blue.replacement, blue.target) == ("red", "blue", "red car")
    assert blue.edit_instruction() == "make the car blue"
    dog = next(e for e in RULES["object"]("a dog on a sofa") if e.caption == "a cat on a sofa")
    assert (dog.old, dog.replacement, dog.target) == ("dog", "cat", "dog")
    assert dog.edit_instruction() == "turn the dog into a cat"
    more = RULES["count"]("a dog on a sofa")[0]
    assert (more.caption, more.target, more.edit_instruction()) == ("two dogs on a sofa", "dog", "add another dog")
    relation = RULES["relation"]("a cat to the left of a dog")[0]
    assert relation.target is None  # no single region: inpainting falls back
    assert relation.edit_instruction() == "replace to the left of with to the right of"


def test_caption_edit_refuses_the_unchanged_caption_and_a_wrong_span():
    with pytest.raises(ValueError, match="must change the caption"):
        CaptionEdit("a red car", "A red car.", "color", 2, 5, "red")
    with pytest.raises(ValueError, match="does not turn"):
        CaptionEdit("a red car", "a blue car", "color", 0, 1, "blue")
    edit = CaptionEdit.between("a man is running", "a man is not running", "negation")
    assert (edit.start, edit.end, edit.new, edit.old, edit.replacement) == (9, 9, "not ", "", "not")


def test_span_and_changed_word_counts():
    for source, edited, old, new, changed in [
        ("a red car.", "a blue car.", "red", "blue", 1),
        ("red car and blue bus", "blue car and red bus", "red car and blue", "blue car and red", 2),
        ("a dog", "an elephant", "a dog", "an elephant", 2),
        ("two dogs", "three dogs", "two", "three", 1),
    ]:
        start, end, new_end = changed_span(source, edited)
        assert (source[start:end], edited[start:new_end]) == (old, new)
        assert changed_words(source, edited) == changed
    assert normalized("A Red, car!") == normalized("a red car")
    assert [indefinite_article(w) for w in ("apple", "hour", "unicorn", "dog", "umbrella")] == \
        ["an", "an", "a", "a", "an"]


def test_editor_draws_distinct_types_first_and_is_seeded():
    editor = RulesEditor()
    caption = "A red car parked next to a blue bus."
    first = editor.edit(caption, num_edits=4, seed=0)
    assert first.edits == editor.edit(caption, num_edits=4, seed=0).edits  # the same seed, the same edits
    assert len({e.edit_type for e in first.edits}) == 4  # four edits of four different types
    assert len({normalized(e.caption) for e in first.edits}) == 4 and normalized(caption) not in \
        {normalized(e.caption) for e in first.edits}
    others = {tuple(e.caption for e in editor.edit(caption, 4, seed).edits) for seed in range(1, 8)}
    assert len(others) > 1  # other seeds choose otherwise
    assert first.reason is None


def test_editor_reports_what_it_cannot_edit():
    editor = RulesEditor()
    result = editor.edit("a photo", num_edits=2, seed=0)
    assert result.uneditable and result.edits == []
    assert result.reason.startswith("no rule applies: no colour, number, known object")
    partial = editor.edit("an open door", num_edits=3, seed=0)
    assert [e.caption for e in partial.edits] == ["a closed door"]
    assert partial.reason == "only 1 distinct edit(s) possible (attribute)"
    assert editor.edit("   ", 1, 0).reason == "the caption is empty"


def test_editor_restricted_to_some_types():
    editor = RulesEditor(edit_types=["size"])
    result = editor.edit("a small red ball", num_edits=3, seed=5)
    assert [e.caption for e in result.edits] == ["a large red ball"]
    assert "no size word found" in RulesEditor(edit_types=["size"]).edit("a red ball", 1, 0).reason
    with pytest.raises(ValueError, match="unknown edit type"):
        RulesEditor(edit_types=["colour"])


def test_batch_uses_each_captions_own_seed():
    editor = RulesEditor()
    captions = ["a red car", "two dogs on a sofa"]
    batch = editor.edit_batch(captions, 2, [3, 4])
    assert [r.edits for r in batch] == [editor.edit(captions[0], 2, 3).edits, editor.edit(captions[1], 2, 4).edits]
    with pytest.raises(ValueError, match="2 captions but 1 seeds"):
        editor.edit_batch(captions, 2, [1])
