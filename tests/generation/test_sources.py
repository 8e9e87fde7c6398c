"""The builder's input: every supported layout yields the same rows, lazily, with clear errors for bad rows."""

import json

import pytest
from datasets import Dataset, Features, Image, Value
from PIL import Image as PILImage

from cf_vlm_hf.data import CorpusError
from cf_vlm_hf.generation.sources import Columns, SourceRow, open_source

CAPTIONS = {"red.png": "a red square", "blue.png": "a blue square", "green.png": "a green square"}


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, color in (("red.png", "red"), ("blue.png", "blue"), ("green.png", "green")):
        PILImage.new("RGB", (8, 6), color).save(folder / name)
    return folder


def rows_of(source, **kwargs):
    out = []
    for index, row in open_source(source, **kwargs).iter_rows():
        assert not isinstance(row, Exception), row
        out.append((row.id, row.caption, row.anchor().getpixel((0, 0))))
    return out


EXPECTED = [("red", "a red square", (255, 0, 0)), ("blue", "a blue square", (0, 0, 255)),
            ("green", "a green square", (0, 128, 0))]


def test_jsonl_csv_json_and_imagefolder_give_the_same_rows(photos):
    records = [{"id": name[:-4], "file_name": name, "caption": caption} for name, caption in CAPTIONS.items()]
    (photos / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    (photos / "rows.json").write_text(json.dumps(records))
    (photos / "rows.csv").write_text("id,file_name,caption\n" + "".join(
        f"{r['id']},{r['file_name']},{r['caption']}\n" for r in records))
    for name in ("rows.jsonl", "rows.json", "rows.csv"):
        assert rows_of(str(photos / name), columns=Columns(image="file_name")) == EXPECTED, name
    (photos / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    assert rows_of(str(photos)) == EXPECTED  # ImageFolder: file_name is the image column
    assert len(open_source(str(photos / "rows.jsonl"), columns=Columns(image="file_name"))) == 3
    assert rows_of(str(photos / "rows.jsonl")) == EXPECTED  # no "image" column: ImageFolder's "file_name" is used


def test_images_with_caption_files_and_coco(photos, tmp_path):
    for name, caption in CAPTIONS.items():
        (photos / name.replace(".png", ".txt")).write_text(caption + "\n")
    assert [r[1] for r in rows_of(str(photos))] == ["a blue square", "a green square", "a red square"]  # by path
    coco = {"images": [{"id": 7, "file_name": "red.png"}, {"id": 3, "file_name": "blue.png"},
                       {"id": 9, "file_name": "green.png"}],
            "annotations": [{"id": 2, "image_id": 7, "caption": "a second caption"},
                            {"id": 1, "image_id": 7, "caption": "a red square"},
                            {"id": 5, "image_id": 3, "caption": "a blue square"}]}
    (tmp_path / "captions.json").write_text(json.dumps(coco))
    got = rows_of(str(tmp_path / "captions.json"), image_root=str(photos))
    assert got == [("3", "a blue square", (0, 0, 255)), ("7", "a red square", (255, 0, 0))]  # no caption: no row


def test_datasets_inputs_with_mapped_columns_stay_undecoded(photos, tmp_path):
    features = Features({"picture": Image(), "text": Value("string"), "key": Value("string")})
    ds = Dataset.from_dict({"picture": [str(photos / n) for n in CAPTIONS], "text": list(CAPTIONS.values()),
                            "key": ["red", "blue", "green"]}, features=features)
    columns = Columns(image="picture", caption="text", id="key")
    source = open_source(ds, columns=columns)
    first = next(row for _, row in source.iter_rows())
    assert isinstance(first.image, dict) and set(first.image) == {"bytes", "path"}  # not decoded while streaming
    assert rows_of(ds, columns=columns) == EXPECTED
    ds.save_to_disk(str(tmp_path / "saved"))
    assert rows_of(str(tmp_path / "saved"), columns=columns) == EXPECTED
    ds.to_parquet(str(tmp_path / "pq" / "train.parquet"))
    assert rows_of(str(tmp_path / "pq"), columns=columns) == EXPECTED  # streamed through datasets
    assert rows_of(ds.to_iterable_dataset(), columns=columns) == EXPECTED
    with pytest.raises(ValueError, match=r"has no column 'image' .* name the right one with --image-column"):
        open_source(ds, columns=Columns(caption="text"))


def test_rows_not_wanted_are_not_parsed(photos):
    (photos / "rows.jsonl").write_text('{"file_name": "red.png", "caption": "a"}\nnot json\n'
                                       '{"file_name": "blue.png", "caption": "b"}\n')
    source = open_source(str(photos / "rows.jsonl"), columns=Columns(image="file_name"))
    assert [(i, None if r is None else r.caption) for i, r in source.iter_rows(lambda i: i != 1)] == \
        [(0, "a"), (1, None), (2, "b")]
    rows = dict(source.iter_rows())
    assert isinstance(rows[1], CorpusError) and "rows.jsonl, row 1: not valid JSON" in str(rows[1])


@pytest.mark.parametrize("record,message", [
    ({"caption": "a"}, r"row 0 \(id '0'\): no column 'image' \(it has \['caption'\]\); name the right one with "
                       r"--image-column"),
    ({"image": "red.png"}, "no column 'caption'"),
    ({"image": "red.png", "caption": "  "}, r"field 'caption': expected a non-empty caption string"),
    ({"image": "red.png", "caption": 3}, "expected a non-empty caption string, got 3"),
    ({"image": "missing.png", "caption": "a"}, "image file not found"),
    ({"image": "https://example.com/x.jpg", "caption": "a"}, "the image is a URL .* download the images first"),
    ({"image": "red.png", "caption": "a", "negative_captions": "b"}, "'negative_captions': expected a list"),
])
def test_bad_rows_are_errors_naming_the_row_and_field(photos, record, message):
    source = open_source([record], image_root=str(photos))
    (_, error), = source.iter_rows()
    assert isinstance(error, CorpusError)
    assert __import__("re").search(message, str(error)), str(error)


def test_caption_lists_masks_and_negatives(photos):
    source = open_source([{"image": "red.png", "caption": ["", "first usable"], "mask": "blue.png",
                           "negative_captions": ["a blue square"]}], image_root=str(photos),
                         columns=Columns(mask="mask"))
    (_, row), = source.iter_rows()
    assert isinstance(row, SourceRow) and row.caption == "first usable" and row.id == "0"
    assert row.negative_captions == ["a blue square"]
    assert row.mask_image().size == (8, 6) and row.mask_image().mode == "L"


def test_missing_paths_are_not_taken_for_hub_ids(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_source(str(tmp_path / "nope.jsonl"))
    with pytest.raises(ValueError, match="holds neither a metadata.jsonl"):
        open_source(str(tmp_path))
