"""Encoding speed of nyx-lite beside raw sentence-transformers on the same MiniLM model.

    python -m benchmarks.encoder_speed [--texts 2000] [--images 64] [--repeats 3]

Texts are real sentences (the demo corpus and the prose of this repository's docs, 5-60 words,
cycled to the requested count). Both paths run in the same process, interleaved, best of N.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np


def real_sentences(n: int) -> list[str]:
    root = Path(__file__).resolve().parents[1]
    text = " ".join(p.read_text(errors="replace") for p in sorted(root.rglob("*.md"))
                    if ".venv" not in p.parts)
    text += " ".join(p.read_text() for p in (root / "nyx" / "data").rglob("*.txt"))
    # Prose only: no table rows, code fences or indented code; sentences of 5-60 words.
    text = " ".join(line for line in text.splitlines()
                    if line.strip() and not line.lstrip().startswith(("|", "```", "    ", "#")))
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text)
                 if len(s.strip()) > 20 and 5 <= len(s.split()) <= 60]
    return [sentences[i % len(sentences)] + ("" if i < len(sentences) else f" ({i})")
            for i in range(n)]


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from skimage import data

    from nyx import load_encoder
    from nyx.encoders.towers import load_text_tower

    texts = real_sentences(args.texts)
    lite = load_encoder("nyx-lite")
    raw = load_text_tower("cpu")  # the same files, loaded as plain sentence-transformers

    def run_raw():
        return raw.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)

    def run_nyx():
        return lite.encode_documents(texts, batch_size=args.batch_size)

    run_raw(), run_nyx()  # warm-up
    raw_s = nyx_s = float("inf")
    for _ in range(args.repeats):  # interleave so that drift affects both equally
        raw_s = min(raw_s, best_of(run_raw, 1))
        nyx_s = min(nyx_s, best_of(run_nyx, 1))
    same = np.abs(run_raw() - run_nyx()).max()

    photos = ["coffee", "chelsea", "rocket", "astronaut", "camera", "cat"]
    from PIL import Image

    base = [Image.fromarray(getattr(data, n)()).convert("RGB") for n in photos]
    # Distinct images (flipped/rotated variants) so that the content cache does not help.
    images = [base[i % len(base)].rotate(i * 3, expand=True) for i in range(args.images)]
    lite.encode_documents(images[:2])  # load the image tower and ConSE table
    timings = {}
    for label, enc in [("nyx-lite images (ConSE + OCR)", lite),
                       ("nyx-lite images (ConSE, no OCR)", load_encoder("nyx-lite", ocr=False))]:
        enc.encode_documents(images[:1])
        enc._cache.clear()
        timings[label] = best_of(lambda e=enc: (e._cache.clear(),
                                                e.encode_documents(images, batch_size=32)), 1)

    print(f"{args.texts} texts, batch {args.batch_size}, best of {args.repeats}, "
          f"max |difference| {same:.2e}")
    print("| what | items/s |")
    print("|---|---:|")
    print(f"| raw sentence-transformers, all-MiniLM-L6-v2 | {args.texts / raw_s:,.0f} |")
    print(f"| nyx-lite `encode_documents` (text) | {args.texts / nyx_s:,.0f} |")
    for label, seconds in timings.items():
        print(f"| {label} | {args.images / seconds:,.1f} |")
    print(f"\nnyx-lite text overhead vs raw: {100 * (nyx_s / raw_s - 1):+.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
