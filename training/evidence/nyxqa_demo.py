"""Evidence: the NyxQA pipeline with the real offline generator on a small mixed corpus.

    python -m nyx.training.evidence.nyxqa_demo [--squad PATH/dev-v1.1.json] [--chunks 12]

The corpus folder holds SQuAD-dev paragraphs as ``.txt`` files, markdown pages that embed
OpenClipart drawings with their titles as alt text (interleaved chunks), and a few bare clip-art
PNGs (image chunks). SmolLM2-135M-Instruct writes the questions; nyx-lite mines negatives.
Every stage's jsonl is left in ``--out`` for inspection; ``summary.json`` counts what each
stage kept and why it rejected the rest.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from pathlib import Path
from typing import Any

from nyx.training.config import TrainConfig
from nyx.training.evidence.common import evidence_parser, find_squad, start, write_results
from nyx.training.evidence.openclipart_data import find_pairs

logger = logging.getLogger(__name__)


def build_corpus(folder: Path, squad: Path, paragraphs: int, pages: int, images: int,
                 seed: int = 0) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    data = json.loads(squad.read_text())["data"]
    contexts = [p["context"] for a in data for p in a["paragraphs"]]
    for i, text in enumerate(rng.sample(contexts, paragraphs)):
        (folder / f"squad-{i:02d}.txt").write_text(text)
    clipart = rng.sample(find_pairs(categories=["animals", "food", "transportation"]),
                         pages + images)
    art = folder / "art"
    art.mkdir(exist_ok=True)
    for i, pair in enumerate(clipart[:pages]):
        name = f"page-{i:02d}.png"
        shutil.copy(pair.png, art / name)
        description = pair.meta.description or ", ".join(pair.meta.keywords[:4])
        (folder / f"page-{i:02d}.md").write_text(
            f"# {pair.meta.title}\n\nThis drawing from the {pair.category} collection shows "
            f"{pair.meta.title.lower()}. {description}.\n\n![{pair.meta.title}](art/{name})\n")
    for i, pair in enumerate(clipart[pages:]):
        shutil.copy(pair.png, folder / f"image-{i:02d}.png")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = evidence_parser(__doc__, "nyxqa_demo")
    parser.add_argument("--squad", type=Path, default=None)
    parser.add_argument("--chunks", type=int, default=12)
    args = parser.parse_args(argv)
    start(args)
    squad = find_squad(args.squad)
    corpus = args.out / "corpus"
    if not corpus.is_dir():
        build_corpus(corpus, squad, paragraphs=30, pages=6, images=6)
    config = TrainConfig.from_dict({
        "stage": "nyxqa", "output_dir": str(args.out), "seed": 0,
        "nyxqa": {"corpus": str(corpus), "num_samples": args.chunks,
                  "modality_mix": {"text": 0.5, "interleaved": 0.3, "image": 0.2},
                  "questions_per_chunk": 2, "max_new_tokens": 80, "distractors": 3,
                  "dev_fraction": 0.2, "miner_options": {"ocr": False}}})
    from nyx.training.runs import run_nyxqa

    started = time.perf_counter()
    summary = run_nyxqa(config)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    out = args.out / "nyxqa"
    summary["examples"] = [
        {k: line[k] for k in ("query", "answers", "options", "chunk_id", "negative_ids")}
        for name in ("train", "dev") for line in map(json.loads, (out / f"{name}.jsonl").open())
    ][:8]
    write_results(args.results, summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "examples"}, indent=2))
    return summary


if __name__ == "__main__":
    main()
