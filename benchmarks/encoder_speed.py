"""Encoding speed of nyx-lite beside raw sentence-transformers on the same MiniLM model.

    python -m nyx.benchmarks.encoder_speed [--texts 2000] [--images 64] [--repeats 3]

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


def _sign(text: str, image_module, draw_module, font_module):
    """A sentence rendered black on white, as a sign or a scanned line would show it."""
    image = image_module.new("RGB", (640, 120), "white")
    draw = draw_module.Draw(image)
    font = font_module.load_default(size=22)
    words, lines = text.split(), [""]
    for word in words:
        if draw.textlength(f"{lines[-1]} {word}", font=font) > 600:
            lines.append("")
        lines[-1] = f"{lines[-1]} {word}".strip()
    draw.multiline_text((16, 12), "\n".join(lines[:3]), fill="black", font=font)
    return image


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
    parser.add_argument("--image-repeats", type=int, default=2)
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
    from PIL import Image, ImageDraw, ImageFont

    base = [Image.fromarray(getattr(data, n)()).convert("RGB") for n in photos]
    # Distinct images (flipped/rotated variants) so that the content cache does not help.
    images = [base[i % len(base)].rotate(i * 3, expand=True) for i in range(args.images)]
    signs = [_sign(texts[i], Image, ImageDraw, ImageFont) for i in range(args.images // 2)]
    lite.encode_documents(images[:2])  # load the image tower and ConSE table
    # "before": ConSE and OCR on every image (nyx-lite until the bridge and the OCR gate).
    encoders = {"before: ConSE, full OCR": load_encoder("nyx-lite", bridge="conse", ocr_gate=0),
                "after: bridge, gated OCR": lite,
                "before: ConSE, no OCR": load_encoder("nyx-lite", bridge="conse", ocr=False),
                "after: bridge, no OCR": load_encoder("nyx-lite", ocr=False)}
    timings: dict[str, dict[str, float]] = {label: {} for label in encoders}
    for _ in range(args.image_repeats):  # interleaved, best of N
        for label, enc in encoders.items():
            enc.encode_documents(images[:1] + signs[:1])
            for kind, batch in (("photos", images), ("text images", signs)):
                enc._cache.clear()
                seconds = best_of(lambda e=enc, b=batch: e.encode_documents(b, batch_size=32), 1)
                timings[label][kind] = min(timings[label].get(kind, float("inf")),
                                           seconds / len(batch))

    print(f"{args.texts} texts, batch {args.batch_size}, best of {args.repeats}, "
          f"max |difference| {same:.2e}")
    print("| what | items/s |")
    print("|---|---:|")
    print(f"| raw sentence-transformers, all-MiniLM-L6-v2 | {args.texts / raw_s:,.0f} |")
    print(f"| nyx-lite `encode_documents` (text) | {args.texts / nyx_s:,.0f} |")
    print(f"\nimages: {len(images)} photos (no text), {len(signs)} rendered sentences; best of "
          f"{args.image_repeats}, interleaved")
    print("| nyx-lite images | photos/s | text images/s |")
    print("|---|---:|---:|")
    for label, per in timings.items():
        print(f"| {label} | {1 / per['photos']:,.1f} | {1 / per['text images']:,.1f} |")
    print(f"\nnyx-lite text overhead vs raw: {100 * (nyx_s / raw_s - 1):+.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
