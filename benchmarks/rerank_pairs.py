"""``nyx-bench rerank-pairs``: (question, first-stage candidates) of a domain as jsonl.

The distillation data of the reranker student (``nyx.training.rerank_distill``) and the fixed
evaluation sets of ``nyx-bench rerank``: for each domain the shipped hybrid's top ``depth``
passages of each question. The ``eval`` split is the benchmark's sample (``--queries`` questions,
seed 1, as :mod:`nyx.benchmarks.rerank` draws it); the ``train`` split draws ``--train``
further questions (seed 2) from the rest, so a domain's evaluation questions are never trained on.
Gold passages are recorded for evaluation only; distillation uses the teacher's scores alone.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from nyx.benchmarks.environment import limit_threads

logger = logging.getLogger(__name__)

__all__ = ["add_arguments", "run", "write_pairs"]


def write_pairs(name: str, out: Path, queries: int, train: int, depth: int) -> None:
    """Write ``{out}/{name}-{split}.jsonl`` with ``{qid, query, gold, ids, passages}`` rows."""
    from nyx.benchmarks.peers import nyx_lite
    from nyx.benchmarks.rerank import build_domain_retriever

    retriever, dataset = build_domain_retriever(name, nyx_lite())
    qids = list(dataset.queries)
    picked = np.random.default_rng(1).choice(len(qids), min(queries, len(qids)), replace=False)
    splits = {"eval": sorted(int(i) for i in picked)}
    if train:
        rest = np.setdiff1d(np.arange(len(qids)), picked)
        chosen = np.random.default_rng(2).choice(len(rest), min(train, len(rest)), replace=False)
        splits["train"] = sorted(int(rest[i]) for i in chosen)
    for split, rows in splits.items():
        ids = [qids[i] for i in rows]
        texts = [dataset.queries[q]["text"] for q in ids]
        hits = retriever.search(texts, k=depth, rerank=False)
        path = out / f"{name}-{split}.jsonl"
        with path.open("w") as f:
            for qid, text, found in zip(ids, texts, hits):
                gold = next(d for d, g in dataset.qrels[qid].items() if g > 0)
                f.write(json.dumps({"qid": qid, "query": text, "gold": gold,
                                    "ids": [h.id for h in found],
                                    "passages": [h.text for h in found]}) + "\n")
        logger.info("wrote %d questions to %s", len(ids), path)
    retriever.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domains", default="squad-dev,squad-shifts-amazon,squad-shifts-new-wiki")
    parser.add_argument("--queries", type=int, default=200, help="evaluation questions")
    parser.add_argument("--train", default="0,600,600",
                        help="training questions per domain (0: none; never for squad-dev)")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="reports/rerank-pairs")


def run(args: argparse.Namespace) -> int:
    limit_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    domains = args.domains.split(",")
    trains = [int(x) for x in args.train.split(",")]
    for name, train in zip(domains, trains, strict=True):
        write_pairs(name, out, args.queries, train, args.depth)
    return 0
