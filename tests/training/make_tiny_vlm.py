"""Write a tiny random Qwen2-VL (model + processor) and a few training pairs to a folder, for
running ``nyx-train`` end to end on CPU:

    python -m tests.training.make_tiny_vlm /tmp/tiny-vlm
    python -m nyx.training.cli training/configs/tiny-vlm-cpu.yaml \\
        --set model.name=/tmp/tiny-vlm/model --set data.train=/tmp/tiny-vlm/pairs.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.helpers import skimage_photo
from tests.nyx.test_vlm import tiny_model, tiny_processor

PAIRS = [
    ("the quick brown fox", "a fox jumps over the lazy dog", "coffee in a cup"),
    ("lazy dog", "the dog sleeps all day", "an astronaut in space"),
    ("astronaut", {"text": "an astronaut floats in space", "images": ["astronaut.png"]},
     "the quick brown fox"),
    ("a cat", {"text": "a cat sits on a mat", "images": ["chelsea.png"]}, "the dog sleeps"),
    ("coffee", {"images": ["coffee.png"]}, "a cat sits on a mat"),
    ("a rocket launch", {"images": ["rocket.png"]}, {"images": ["coffee.png"]}),
    ("brown fox", "the fox is quick and brown", "the lazy dog"),
    ("space travel", "astronauts travel to space in rockets", "a cup of coffee"),
]


def main(folder: str) -> Path:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    processor = tiny_processor()
    tiny_model(processor).save_pretrained(out / "model")
    processor.save_pretrained(out / "model")
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        skimage_photo(name).resize((64, 64)).save(out / f"{name}.png")
    lines = [{"query": q, "positive": p, "negatives": [n]} for q, p, n in PAIRS]
    (out / "pairs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return out


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/tiny-vlm"))
