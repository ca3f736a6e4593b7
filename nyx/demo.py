"""The main job on the embedded default: embed the bundled corpus and answer a few queries.

Run with ``python -m nyx.demo`` (or ``make demo``). Needs no network.
"""

from __future__ import annotations

import argparse
import time
from importlib import resources
from pathlib import Path

import numpy as np

from nyx import Item, load_encoder

QUERIES: list[tuple[str, object]] = [
    ("text -> image", "a cup of coffee"),
    ("text -> image", "a space launch"),
    ("text -> image (OCR)", "when does the library open?"),
    ("text -> text", "how long do cats sleep?"),
]


def demo_corpus() -> Path:
    return Path(str(resources.files("nyx") / "data" / "demo_corpus"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="nyx-lite")
    args = parser.parse_args(argv)
    root = demo_corpus()
    start = time.perf_counter()
    encoder = load_encoder(args.model)
    files = sorted(p for p in root.rglob("*") if p.suffix in {".jpg", ".png", ".txt"})
    items = [Item.of(p) if p.suffix != ".txt" else Item.of(p.read_text()) for p in files]
    docs = encoder.encode_documents(items, show_progress=True)
    print(f"{encoder.name} ({encoder.version}), {len(files)} documents embedded in "
          f"{time.perf_counter() - start:.1f} s\n")
    queries = [q for _, q in QUERIES] + [Item.of(root / "photos" / "chelsea-the-cat.jpg")]
    labels = [k for k, _ in QUERIES] + ["image -> text"]
    scores = encoder.encode_queries(queries) @ docs.T
    for label, query, row in zip(labels, queries, scores):
        shown = query if isinstance(query, str) else "[photo of a cat]"
        print(f"{label}: {shown!r}")
        for j in np.argsort(-row)[:3]:
            print(f"   {row[j]:.3f}  {files[j].relative_to(root)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
