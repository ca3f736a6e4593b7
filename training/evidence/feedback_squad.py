"""Evidence: feedback labels from SmolLM2 on a SQuAD v1.1 dev slice, against SQuAD's positives.

    python -m nyx.training.evidence.feedback_squad [--squad PATH/dev-v1.1.json] [-n 30] [-k 5]

The corpus is every SQuAD-dev paragraph; ``-n`` questions (seeded sample) are the queries and
their own paragraph is the original positive. nyx-lite (dense) retrieves the top ``k``, and
SmolLM2-135M-Instruct answers once per retrieved paragraph; a paragraph whose answer reaches
token-F1 0.5 against a gold answer is a positive, the rest are hard negatives. Reported: how
often the gold paragraph is retrieved and judged positive, how many extra positives appear,
and how many of those contain a gold answer string (plausibly true positives SQuAD does not
label). SQuAD-dev JSON: ``$NYX_DATA_DIR/squad/dev-v1.1.json`` or the data set cache
(``load_dataset("squad-dev")`` puts it there); this script reads the file, not the benchmarks code.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nyx.training.config import TrainConfig
from nyx.training.evidence.common import evidence_parser, find_squad, start, write_results
from nyx.training.feedback.labeling import LabelStats, relabel
from nyx.training.jsonl import write_jsonl

logger = logging.getLogger(__name__)


def squad_slice(path: Path, n: int, seed: int) -> tuple[list[dict], list[dict]]:
    """(corpus lines, query lines): all paragraphs; ``n`` sampled questions with answers."""
    data = json.loads(path.read_text())["data"]
    corpus, questions = [], []
    for a, article in enumerate(data):
        for p, paragraph in enumerate(article["paragraphs"]):
            pid = f"a{a}p{p}"
            corpus.append({"id": pid, "text": paragraph["context"]})
            for qa in paragraph["qas"]:
                questions.append({"id": qa["id"], "query": qa["question"],
                                  "answers": sorted({x["text"] for x in qa["answers"]}),
                                  "positive_id": pid})
    return corpus, random.Random(seed).sample(questions, n)


def extra_positive_support(labelled: list[dict], corpus: dict[str, str]) -> dict[str, int]:
    """Extra positives whose paragraph contains a gold answer string, and those that do not."""
    from nyx.answer_metrics import normalize_answer

    with_answer = without = 0
    for line in labelled:
        for doc in line["retrieved"]:
            if doc["positive"] and not doc["is_gold"]:
                text = f" {normalize_answer(corpus[doc['id']])} "
                if any(f" {normalize_answer(a)} " in text for a in line["answers"]):
                    with_answer += 1
                else:
                    without += 1
    return {"extra_positives_containing_a_gold_answer": with_answer,
            "extra_positives_without_a_gold_answer": without}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = evidence_parser(__doc__, "feedback_squad")
    parser.add_argument("--squad", type=Path, default=None)
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args(argv)
    start(args)
    squad = find_squad(args.squad)
    corpus, queries = squad_slice(squad, args.n, seed=0)
    write_jsonl(args.out / "corpus.jsonl", corpus)
    write_jsonl(args.out / "queries.jsonl", queries)

    config = TrainConfig.from_dict({
        "stage": "feedback", "output_dir": str(args.out), "seed": 0,
        "feedback": {"queries": str(args.out / "queries.jsonl"),
                     "corpus": str(args.out / "corpus.jsonl"), "encoder": "nyx-lite",
                     "encoder_options": {"ocr": False}, "k": args.k, "max_new_tokens": 12,
                     "metric": "f1", "threshold": 0.5, "train": False}})
    from nyx.training.runs import run_feedback

    started = time.perf_counter()
    summary = run_feedback(config)
    seconds = time.perf_counter() - started
    labelled = [json.loads(x) for x in (args.out / "feedback" / "labelled.jsonl").open()]
    texts = {c["id"]: c["text"] for c in corpus}
    strict = [relabel(line, "em", 1.0) for line in labelled]
    results = {"squad": str(squad), "questions": len(queries), "corpus_paragraphs": len(corpus),
               "k": args.k, "metric": "token F1 >= 0.5", "seconds_this_run": round(seconds, 1),
               "labels": summary["labels"], "training_pairs": summary["pairs"],
               "labels_if_exact_match": asdict(LabelStats.of(strict)),
               "empty_answers": sum(not d["answer"] for r in labelled for d in r["retrieved"]),
               **extra_positive_support(labelled, texts),
               "gold_retrieved_but_judged_negative": sum(
                   r["gold_retrieved"] and not r["gold_judged_positive"] for r in labelled)}
    write_results(args.results, results)
    print_table(results)
    return results


def print_table(results: dict[str, Any]) -> None:
    labels = results["labels"]
    n = results["questions"]
    print(f"\nFeedback labels, {n} SQuAD-dev questions, top-{results['k']} of "
          f"{results['corpus_paragraphs']} paragraphs (nyx-lite), SmolLM2 reader\n")
    rows = [
        ("gold paragraph retrieved in top-k", f"{labels['gold_retrieved']:.2f}"),
        ("gold paragraph judged positive", f"{labels['gold_judged_positive']:.2f}"),
        ("  ... when retrieved", f"{labels['gold_positive_when_retrieved']:.2f}"),
        ("gold retrieved but judged negative", str(results["gold_retrieved_but_judged_negative"])),
        ("queries with >= 1 positive", f"{labels['queries_with_a_positive']:.2f}"),
        ("positives per query", f"{labels['positives_per_query']:.2f}"),
        ("extra (non-gold) positives per query", f"{labels['extra_positives_per_query']:.2f}"),
        ("queries with extra positives", f"{labels['queries_with_extra_positives']:.2f}"),
        ("extra positives containing a gold answer",
         str(results["extra_positives_containing_a_gold_answer"])),
        ("extra positives without a gold answer",
         str(results["extra_positives_without_a_gold_answer"])),
        ("training pairs written", str(results["training_pairs"])),
        ("empty generator answers", str(results["empty_answers"])),
        ("gold judged positive, EM instead of F1",
         f"{results['labels_if_exact_match']['gold_judged_positive']:.2f}"),
        ("extra positives per query, EM instead of F1",
         f"{results['labels_if_exact_match']['extra_positives_per_query']:.2f}"),
    ]
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
