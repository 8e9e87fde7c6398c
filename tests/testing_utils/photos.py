"""Real photographs with hand-written captions: scikit-image's and scikit-learn's sample images, offline.

`write_photo_folder` writes them as an ImageFolder (PNG files and a ``metadata.jsonl`` with ``file_name``,
``caption`` and ``id``), the layout a user's own photo folder has. Two captions give the rules editor nothing to
change ("a photo of ..."), so a build reports them as uneditable.
"""

from __future__ import annotations

import json
import os

import numpy as np
from PIL import Image

CAPTIONS = {
    "astronaut": "a woman in a white suit next to a red flag",
    "camera": "a man holding a black camera",
    "chelsea": "an orange cat sitting on a table",
    "coffee": "a white cup of coffee on a brown table",
    "rocket": "a tall white rocket next to a tower",
    "clock": "a clock on a wall",
    "cat": "a cat lying on a rug",
    "horse": "a black horse on a white background",
    "hubble_deep_field": "a photo of the night sky",
    "immunohistochemistry": "a photo of tissue under a microscope lens",
    "china": "a temple in front of a green tree",
    "flower": "a pink flower with a yellow center",
    "coins": "a photo of coins",
}
UNEDITABLE = ("hubble_deep_field", "coins")


def photo(name: str) -> Image.Image:
    """The sample photograph ``name`` as an RGB PIL image."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return Image.fromarray(load_sample_image(f"{name}.jpg"))
    from skimage import data

    array = getattr(data, name)()
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    return Image.fromarray(array).convert("RGB")


def write_photo_folder(folder, names=None, longest_side: int = 64) -> dict[str, str]:
    """Write the photos (scaled to ``longest_side``) and ``metadata.jsonl`` into ``folder``; returns id -> caption."""
    os.makedirs(folder, exist_ok=True)
    names = list(names or CAPTIONS)
    with open(os.path.join(folder, "metadata.jsonl"), "w", encoding="utf-8") as f:
        for name in names:
            image = photo(name)
            scale = longest_side / max(image.size)
            image = image.resize((max(8, round(image.width * scale)), max(8, round(image.height * scale))))
            image.save(os.path.join(folder, f"{name}.png"))
            f.write(json.dumps({"file_name": f"{name}.png", "caption": CAPTIONS[name], "id": name}) + "\n")
    return {name: CAPTIONS[name] for name in names}
