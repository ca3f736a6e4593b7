"""How well nyx-lite reads text in images, with and without OCR respacing.

    python -m nyx.benchmarks.ocr_text [--n 200] [--seed 0] [--exclude-seed SEED]

SQuAD-dev questions are rendered as black-on-white images (PIL's default font, 30 px, wrapped at
900 px), read by PP-OCRv4 (``OCRReader``) and compared with the rendered text: sentences read
exactly, share of words recovered, words that were not there. Then each image becomes a document
of a nyx-lite ``Retriever`` and its own question, as text, is the query: recall@1/@5 of the
image, hybrid (dense + BM25 over the OCR text) and BM25 alone. Every number is given for the
recogniser's raw text and for the respaced text (``ocr_respace``, the default).
"""

from __future__ import annotations

import argparse
import logging
import random
import re
import time
from collections import Counter
from typing import Any

from PIL import Image, ImageDraw, ImageFont

logger = logging.getLogger("nyx.benchmarks.ocr_text")


def render(text: str, width: int = 900, font_size: int = 30) -> Image.Image:
    font = ImageFont.load_default(size=font_size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if probe.textlength(trial, font=font) > width - 40 and line:
            lines.append(line)
            line = word
        else:
            line = trial
    lines.append(line)
    step = int(font_size * 1.4)
    image = Image.new("RGB", (width, 40 + step * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for i, row in enumerate(lines):
        draw.text((20, 20 + i * step), row, fill="black", font=font)
    return image


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def reading_scores(truths: list[str], reads: list[str]) -> dict[str, float]:
    exact = recovered = spurious = total = 0
    for truth, read in zip(truths, reads):
        want, got = Counter(words(truth)), Counter(words(read))
        exact += want == got
        recovered += sum((want & got).values())
        spurious += sum((got - want).values())
        total += sum(want.values())
    return {"exact_sentences": exact / len(truths), "word_recall": recovered / total,
            "spurious_words_per_sentence": spurious / len(truths)}


def retrieval_scores(images: list[Image.Image], questions: list[str],
                     respace: bool) -> dict[str, float]:
    from nyx import Item, Retriever, load_encoder

    encoder = load_encoder("nyx-lite", ocr_respace=respace)
    out: dict[str, float] = {}
    with Retriever(encoder=encoder) as retriever:
        start = time.perf_counter()
        retriever.add([Item([image], id=f"img{i}") for i, image in enumerate(images)])
        out["index_s"] = round(time.perf_counter() - start, 1)
        for mode in ("hybrid", "lexical"):
            ranks = []
            for i, question in enumerate(questions):
                ids = [h.id for h in retriever.search(question, k=5, mode=mode)]
                ranks.append(ids.index(f"img{i}") + 1 if f"img{i}" in ids else None)
            out[f"{mode}_recall@1"] = sum(r == 1 for r in ranks) / len(ranks)
            out[f"{mode}_recall@5"] = sum(r is not None for r in ranks) / len(ranks)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="questions (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exclude-seed", type=int, default=None, metavar="SEED",
                        help="draw only questions outside the sample of SEED (same --n): "
                             "--seed 1 --exclude-seed 0 checks the respacing rules on questions "
                             "they were not written from")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    from nyx.benchmarks.datasets import load_dataset
    from nyx.encoders.ocr import OCRReader
    from nyx.encoders.respace import respace

    dataset = load_dataset("squad-dev")
    questions = [q["text"] for q in dataset.queries.values()]
    if args.exclude_seed is not None:
        seen = set(random.Random(args.exclude_seed).sample(questions, args.n))
        questions = [q for q in questions if q not in seen]
    questions = random.Random(args.seed).sample(questions, args.n)
    images = [render(q) for q in questions]
    reader = OCRReader(respace=False)
    start = time.perf_counter()
    raw = [reader.read(image) for image in images]
    logger.info("OCR of %d images: %.1f s", len(images), time.perf_counter() - start)
    # The same reads without the text-presence gate (the OCR of nyx-lite before the gate).
    ungated = OCRReader(respace=False, gate_side=None)
    start = time.perf_counter()
    full = [ungated.read(image) for image in images]
    logger.info("OCR of %d images without the gate: %.1f s", len(images),
                time.perf_counter() - start)
    logger.info("gate: %d of %d reads identical to the ungated OCR",
                sum(a == b for a, b in zip(raw, full)), len(raw))
    results: dict[str, dict[str, Any]] = {
        "raw, no gate": reading_scores(questions, full),
        "raw": reading_scores(questions, raw),
        "respaced": reading_scores(questions, [respace(t) for t in raw])}
    for name, flag in (("raw", False), ("respaced", True)):
        results[name].update(retrieval_scores(images, questions, flag))
    results["raw, no gate"].update({k: float("nan") for k in results["raw"]
                                    if k not in results["raw, no gate"]})
    keys = list(results["raw"])
    excluded = "" if args.exclude_seed is None else f", none from seed {args.exclude_seed}'s sample"
    print(f"{args.n} SQuAD-dev questions rendered and read back (seed {args.seed}{excluded})\n")
    print("| OCR text | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for name, row in results.items():
        print(f"| {name} | " + " | ".join(f"{row[k]:.3f}" if isinstance(row[k], float) and
                                          row[k] < 10 else f"{row[k]}" for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
