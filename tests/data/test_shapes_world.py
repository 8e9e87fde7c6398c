"""Shapes world: edits change exactly what they say (pixels and words), rows are well formed, held-out pairs
stay held out, generation is deterministic, and the Dataset has the corpus schema."""

from __future__ import annotations

import difflib
import io
import re

import numpy as np
import pytest
from datasets import load_from_disk

from cf_vlm_hf.data.rows import check_row
from cf_vlm_hf.data.schema import counterfactual_features
from cf_vlm_hf.data.shapes_world import (
    COLORS,
    DEFAULT_HELDOUT,
    EDIT_TYPES,
    SHAPES,
    ShapesWorldSpec,
    apply_edit,
    caption,
    generate_rows,
    plan_row,
    render,
    shapes_world_dataset,
    shapes_world_splits,
)
from cf_vlm_hf.data.shapes_world.edits import _fits
from cf_vlm_hf.data.shapes_world.layout import COLOR_JITTER
from cf_vlm_hf.data.shapes_world.render import hard_edges, object_box, object_rgb, render_background

_COLOR = "(?:red|green|blue|yellow|purple|orange)"
_ONE = rf"a (?:small|large) {_COLOR} (?:circle|square|triangle)"
SINGLE = re.compile(rf"^{_ONE}$")
RELATION = re.compile(rf"^{_ONE} (?:to the left of|to the right of|above|below) {_ONE}$")
COUNT = re.compile(rf"^(?:two|three) {_COLOR} (?:circles|squares|triangles)$")


def grammatical(text: str) -> bool:
    return any(p.match(text) for p in (SINGLE, RELATION, COUNT))


@pytest.fixture(scope="module")
def anchors():
    return [plan_row(i, seed=3).anchor for i in range(60)]


def edited_pairs(anchors, edit_type, limit=6):
    """(anchor, edited scene, edited caption) for the first anchors the edit applies to."""
    out = []
    for i, anchor in enumerate(anchors):
        result = apply_edit(edit_type, anchor, np.random.default_rng(i))
        if result is not None:
            out.append((anchor, *result))
        if len(out) == limit:
            break
    assert out, f"no anchor admits a {edit_type} edit"
    return out


def changed_region(anchor, edited, dilate=1):
    """Mask of the (dilated) boxes of every object that is not identical in both scenes."""
    mask = np.zeros((anchor.canvas, anchor.canvas), bool)
    changed = [o for o in anchor.objects if o not in edited.objects] + \
              [o for o in edited.objects if o not in anchor.objects]
    for obj in changed:
        x0, y0, x1, y1 = object_box(obj, anchor.canvas)
        mask[max(0, y0 - dilate):y1 + dilate, max(0, x0 - dilate):x1 + dilate] = True
    return mask


def word_changes(before: str, after: str):
    """The non-equal opcodes of a word-level diff: (tag, old words, new words)."""
    a, b = before.split(), after.split()
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    return [(tag, a[i1:i2], b[j1:j2]) for tag, i1, i2, j1, j2 in ops if tag != "equal"]


# --- minimal edits: pixels ---------------------------------------------------------------------------------

@pytest.mark.parametrize("edit_type", EDIT_TYPES)
def test_edit_changes_pixels_only_around_edited_objects(anchors, edit_type):
    for anchor, edited, _ in edited_pairs(anchors, edit_type):
        assert (edited.background, edited.noise_seed, edited.canvas) == \
               (anchor.background, anchor.noise_seed, anchor.canvas)
        before, after = np.asarray(render(anchor)), np.asarray(render(edited))
        region = changed_region(anchor, edited)
        assert region.any() and not region.all()
        assert np.array_equal(before[~region], after[~region]), "pixels outside the edited objects changed"
        assert not np.array_equal(before[region], after[region]), "the edit changed no pixel"


def color_centroid(pixels: np.ndarray, rgb, tolerance=30):
    near = np.all(np.abs(pixels.astype(int) - np.asarray(rgb)) <= tolerance, axis=-1)
    ys, xs = np.nonzero(near)
    return xs.mean() + 0.5, ys.mean() + 0.5  # pixel centres


def test_relation_edit_swaps_places_in_scene_and_pixels(anchors):
    checked = 0
    for anchor, edited, _ in edited_pairs(anchors, "relation", limit=20):
        a, b = anchor.objects
        assert edited.objects[0].center == b.center and edited.objects[1].center == a.center
        if a.color == b.color:
            continue
        before, after = np.asarray(render(anchor)), np.asarray(render(edited))
        for obj, other in ((a, b), (b, a)):
            rgb = COLORS[obj.color]
            assert np.allclose(color_centroid(before, rgb), obj.center, atol=1.5)
            assert np.allclose(color_centroid(after, rgb), other.center, atol=1.5)
        checked += 1
    assert checked


def test_existence_edit_leaves_background_where_the_object_was(anchors):
    for anchor, edited, text in edited_pairs(anchors, "existence"):
        (removed,) = [o for o in anchor.objects if o not in edited.objects]
        background = np.asarray(render_background(anchor))
        after = np.asarray(render(edited))
        x0, y0, x1, y1 = object_box(removed, anchor.canvas)
        assert np.array_equal(after[y0:y1, x0:x1], background[y0:y1, x0:x1])
        assert edited.kind == "single" and SINGLE.match(text)


def test_count_edit_changes_the_number_of_objects(anchors):
    for anchor, edited, text in edited_pairs(anchors, "count"):
        assert {len(anchor.objects), len(edited.objects)} == {2, 3}
        assert {o.combo for o in edited.objects} == {anchor.objects[0].combo}
        assert set(anchor.objects) <= set(edited.objects) or set(edited.objects) <= set(anchor.objects)


# --- minimal edits: words ----------------------------------------------------------------------------------

SWAPS = {"color": set(COLORS), "shape": set(SHAPES) | {s + "s" for s in SHAPES}, "size": {"small", "large"},
         "relation": {"left", "right", "above", "below"}, "count": {"two", "three"}}


@pytest.mark.parametrize("edit_type", EDIT_TYPES)
def test_edited_caption_differs_in_exactly_the_edited_words(anchors, edit_type):
    for anchor, edited, text in edited_pairs(anchors, edit_type):
        original = caption(anchor)
        assert text == caption(edited) and text != original and grammatical(text)
        changes = word_changes(original, text)
        if edit_type in SWAPS:
            assert len(changes) == 1, changes
            tag, old, new = changes[0]
            assert tag == "replace" and len(old) == len(new) == 1 and {old[0], new[0]} <= SWAPS[edit_type]
        elif edit_type == "binding":
            a, b = anchor.objects
            assert changes == [("replace", [a.color], [b.color]), ("replace", [b.color], [a.color])]
        else:  # existence: words are only removed, leaving one object's caption
            assert changes and all(tag == "delete" for tag, _, _ in changes)
            assert SINGLE.match(text) and (original.startswith(text + " ") or original.endswith(" " + text))


def test_edits_make_the_original_caption_false(anchors):
    """A minimal edit may never re-create the anchor caption, nor leave the scene unchanged."""
    for edit_type in EDIT_TYPES:
        for anchor, edited, text in edited_pairs(anchors, edit_type, limit=20):
            assert text != caption(anchor) and edited != anchor
            if edit_type == "binding":
                assert anchor.objects[0].color != anchor.objects[1].color


# --- rows --------------------------------------------------------------------------------------------------

def relation_holds(scene) -> bool:
    (ax, ay), (bx, by) = scene.objects[0].center, scene.objects[1].center
    return {"to the left of": ax < bx, "to the right of": ax > bx, "above": ay < by, "below": ay > by}[scene.relation]


@pytest.mark.parametrize("split", ["train", "test", "heldout"])
def test_rows_are_well_formed(split):
    plans = [plan_row(i, split=split, seed=5) for i in range(40)]
    rows = list(generate_rows(8, split=split, seed=5))
    for row in rows:
        checked = check_row(row)
        assert checked["image"].size == (64, 64) and checked["image"].mode == "RGB"
        assert len(row["cf_images"]) == len(row["cf_captions"]) == 2
        assert len(row["edit_images"]) == len(row["edit_types"]) == len(row["edit_captions"]) >= 1
    for plan in plans:
        assert len(set(plan.edit_types)) == len(plan.edit_types) <= 4
        assert len(set(plan.cf_captions)) == len(plan.cf_captions)
        texts = [plan.caption, *plan.cf_captions, *plan.edit_captions]
        assert all(grammatical(t) for t in texts), texts
        assert plan.caption not in plan.cf_captions + plan.edit_captions
        for scene, text in zip(plan.scenes(), texts):
            assert caption(scene) == text and _fits(scene)
            if scene.kind == "relation":
                assert relation_holds(scene)
        for cf in plan.cf_scenes:  # complete counterfactuals are new scenes, not edits of the anchor's layout
            assert cf.noise_seed != plan.anchor.noise_seed
    kinds = [p.anchor.kind for p in plans]
    assert {"single", "relation", "count"} <= set(kinds) and kinds.count("relation") >= 10


def test_num_edits_and_edit_types_are_respected():
    spec = ShapesWorldSpec(num_counterfactuals=1, num_edits=2, edit_types=["color", "relation"])
    plans = [plan_row(i, spec=spec) for i in range(20)]
    for plan in plans:
        assert len(plan.cf_captions) == 1 and 1 <= len(plan.edit_types) <= 2
        assert set(plan.edit_types) <= {"color", "relation"}
    with pytest.raises(ValueError):
        plan_row(0, spec=ShapesWorldSpec(edit_types=["colour"]))


# --- held-out combinations ---------------------------------------------------------------------------------

def test_heldout_combinations_never_in_train_or_test_and_always_in_heldout_anchors():
    heldout = set(DEFAULT_HELDOUT)
    seen = set()
    for split in ("train", "test"):
        for i in range(80):
            plan = plan_row(i, split=split)
            for scene in plan.scenes():
                assert not scene.combos & heldout, (split, i, caption(scene))
                seen |= scene.combos
    assert {c for c, _ in seen} == set(COLORS) and {s for _, s in seen} == set(SHAPES)
    for i in range(80):
        assert plan_row(i, split="heldout").anchor.combos & heldout


# --- determinism ----------------------------------------------------------------------------------------------

def png_bytes(rows):
    out = []
    for row in rows:
        for image in [row["image"], *row["cf_images"], *row["edit_images"]]:
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            out.append(buffer.getvalue())
    return out


def test_same_seed_same_bytes_different_seed_different():
    first = png_bytes(generate_rows(4, seed=11))
    assert first == png_bytes(generate_rows(4, seed=11))
    assert first != png_bytes(generate_rows(4, seed=12))
    # Rows depend only on (seed, split, index): a slice generated alone matches.
    assert png_bytes(generate_rows(2, seed=11, start=2)) == first[len(png_bytes(generate_rows(2, seed=11))):]


def test_splits_use_different_streams():
    train = {plan_row(i, split="train").anchor for i in range(30)}
    test = {plan_row(i, split="test").anchor for i in range(30)}
    assert not train & test


# --- colours ------------------------------------------------------------------------------------------------

def test_rendered_object_colour_matches_vocabulary(anchors):
    names = list(COLORS)
    palette = np.asarray([COLORS[n] for n in names], float)
    checked = set()
    for scene in anchors:
        pixels = np.asarray(render(scene)).astype(float)
        ys, xs = np.mgrid[0:scene.canvas, 0:scene.canvas] + 0.5
        for obj in scene.objects:
            inner = np.hypot(xs - obj.center[0], ys - obj.center[1]) < 0.4 * obj.radius
            dominant = np.median(pixels[inner], axis=0)
            assert np.abs(dominant - COLORS[obj.color]).max() <= COLOR_JITTER, (obj, dominant)
            assert names[int(np.argmin(np.abs(palette - dominant).sum(axis=1)))] == obj.color
            checked.add(obj.color)
    assert checked == set(COLORS)


def test_background_is_light_and_render_is_pure(anchors):
    for scene in anchors[:10]:
        empty = np.asarray(render_background(scene))
        assert 200 < empty.mean() < 252 and empty.std() < 10
        assert np.array_equal(np.asarray(render(scene)), np.asarray(render(scene)))


def test_look_varies_across_scenes(anchors):
    """Noise strength, edge style, orientation and radius all vary, so no single look is a cue."""
    stds = [np.asarray(render_background(s)).astype(float).std() for s in anchors]
    assert min(stds) < 2.5 and max(stds) > 5
    hard = [hard_edges(s) for s in anchors]
    assert 0.1 < np.mean(hard) < 0.4
    rotations = [o.rotation for s in anchors for o in s.objects if o.shape != "circle"]
    assert max(rotations) - min(rotations) > 270
    small = [o.radius / s.canvas for s in anchors for o in s.objects if o.size == "small"]
    large = [o.radius / s.canvas for s in anchors for o in s.objects if o.size == "large"]
    assert max(small) < min(large) and max(small) - min(small) > 0.03 and max(large) - min(large) > 0.04


def test_hard_edged_objects_have_no_blended_pixels(anchors):
    scene = next(s for s in anchors if hard_edges(s) and s.kind == "single")
    pixels = np.asarray(render(scene)).astype(int)
    background = np.asarray(render_background(scene)).astype(int)
    x0, y0, x1, y1 = object_box(scene.objects[0], scene.canvas)
    box, back = pixels[y0:y1, x0:x1].reshape(-1, 3), background[y0:y1, x0:x1].reshape(-1, 3)
    fill = np.rint(object_rgb(scene.objects[0])).astype(int)
    is_back, is_fill = (box == back).all(axis=1), (box == fill).all(axis=1)
    assert (is_back | is_fill).all() and is_fill.sum() > 10
    smooth = next(s for s in anchors if not hard_edges(s) and s.kind == "single")
    pixels = np.asarray(render(smooth)).astype(int)
    x0, y0, x1, y1 = object_box(smooth.objects[0], smooth.canvas)
    fill = np.rint(object_rgb(smooth.objects[0])).astype(int)
    blended = ~(pixels[y0:y1, x0:x1] == fill).all(axis=2) & ~(
        pixels[y0:y1, x0:x1] == np.asarray(render_background(smooth)).astype(int)[y0:y1, x0:x1]).all(axis=2)
    assert blended.sum() > 5


# --- datasets ------------------------------------------------------------------------------------------------

def test_dataset_schema_and_save_load_round_trip(tmp_path):
    ds = shapes_world_dataset(5, seed=2, cache_dir=str(tmp_path / "cache"))
    assert ds.features == counterfactual_features() and len(ds) == 5
    ds.save_to_disk(str(tmp_path / "saved"))
    loaded = load_from_disk(str(tmp_path / "saved"))
    assert loaded.features == counterfactual_features()
    for row, expected in zip(loaded, generate_rows(5, seed=2)):
        assert row["caption"] == expected["caption"] and row["id"] == expected["id"]
        assert row["edit_types"] == expected["edit_types"] and row["cf_captions"] == expected["cf_captions"]
        images = [row["image"], *row["cf_images"], *row["edit_images"]]
        wanted = [expected["image"], *expected["cf_images"], *expected["edit_images"]]
        assert len(images) == len(wanted)
        for got, want in zip(images, wanted):
            assert np.array_equal(np.asarray(got.convert("RGB")), np.asarray(want))


def test_splits_dataset_dict(tmp_path):
    splits = shapes_world_splits(4, 3, seed=1, num_heldout=2, spec=ShapesWorldSpec(num_counterfactuals=1, num_edits=2),
                                 cache_dir=str(tmp_path))
    assert {k: len(v) for k, v in splits.items()} == {"train": 4, "test": 3, "heldout": 2}
    assert all(v.features == counterfactual_features() for v in splits.values())
    assert not set(splits["train"]["caption"]) & set(splits["heldout"]["caption"])


def test_parallel_generation_gives_the_same_rows(tmp_path):
    one = shapes_world_dataset(5, seed=4, spec=ShapesWorldSpec(num_edits=2), cache_dir=str(tmp_path / "a"))
    two = shapes_world_dataset(5, seed=4, spec=ShapesWorldSpec(num_edits=2), num_proc=2,
                               cache_dir=str(tmp_path / "b"))
    assert one["id"] == two["id"] and one["edit_captions"] == two["edit_captions"]
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(one["image"], two["image"]))


@pytest.mark.parametrize("size", [32, 96])
def test_other_canvas_sizes(size):
    for i in range(15):
        plan = plan_row(i, seed=8, spec=ShapesWorldSpec(image_size=size))
        assert len(plan.cf_scenes) == 2 and plan.edit_types
        for scene in plan.scenes():
            assert scene.canvas == size and _fits(scene) and render(scene).size == (size, size)


def test_empty_dataset_has_the_schema():
    assert shapes_world_dataset(0).features == counterfactual_features()


def test_generate_save_load_round_trip_through_parquet_shards(tmp_path):
    from cf_vlm_hf.data import load_counterfactual_dataset, save_counterfactual_dataset

    generated = shapes_world_dataset(6, "train", seed=3, spec=ShapesWorldSpec(num_counterfactuals=2, num_edits=4))
    shards = save_counterfactual_dataset(generated, tmp_path / "corpus", max_shard_size=20_000)
    assert len(shards) > 1
    loaded = load_counterfactual_dataset(str(tmp_path / "corpus"))
    assert len(loaded) == 6
    for a, b in zip(generated, loaded):
        assert (a["id"], a["caption"], a["cf_captions"]) == (b["id"], b["caption"], b["cf_captions"])
        assert a["edit_types"] == b["edit_types"] and a["edit_captions"] == b["edit_captions"]
        for image_a, image_b in zip([a["image"], *a["cf_images"], *a["edit_images"]],
                                    [b["image"], *b["cf_images"], *b["edit_images"]]):
            assert np.array_equal(np.asarray(image_a), np.asarray(image_b))
