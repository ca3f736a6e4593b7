"""``nyx-bench adapt``: does ``nyx-index adapt`` teach the dense side its corpus?

For each allowed domain (SQuAD-dev, SQuADShifts Amazon and New-Wiki) an index of the domain's
passages is built with nyx-lite (the shipped hybrid), its real questions are searched (dense
and hybrid, nDCG@10 against the gold passage), the index is adapted with
:func:`nyx.training.adapt.adapt` - which sees only the passages, never a question - and the
same questions are searched again. Differences carry paired bootstrap intervals; the report
states each adaptation's wall time, steps and pairs labelled.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nyx.benchmarks.bootstrap import paired_bootstrap
from nyx.benchmarks.environment import limit_threads, machine_info
from nyx.benchmarks.fusion_domains import DOMAIN_NAMES
from nyx.benchmarks.report import Report, markdown_table

logger = logging.getLogger(__name__)

__all__ = ["AdaptSettings", "add_arguments", "run"]


@dataclass
class AdaptSettings:
    domains: tuple[str, ...] = DOMAIN_NAMES
    #: real questions per domain for the evaluation (all when fewer)
    queries: int = 1000
    #: pseudo-queries per adaptation
    adapt_queries: int = 1000
    query_kind: str = "sentence"
    epochs: int = 1
    #: BERT layers (from the top) that get adapters (AdaptConfig.layers's default)
    layers: int = 3
    #: candidates labelled per pseudo-query (AdaptConfig.candidates)
    candidates: int = 5
    seed: int = 1
    threads: int = 2
    resamples: int = 2000
    out: str = "reports/adapt"


def _ndcg(ranked: list[list[str]], gold: list[str]) -> np.ndarray:
    return np.array([1 / np.log2(r[:10].index(g) + 2) if g in r[:10] else 0.0
                     for r, g in zip(ranked, gold)])


def _evaluate(index: Path, texts: list[str], gold: list[str]) -> dict[str, np.ndarray]:
    from nyx import Retriever

    r = Retriever.load(index)
    try:
        return {mode: _ndcg([[h.id for h in hits]
                             for hits in r.search(texts, k=10, mode=mode, rerank=False)], gold)
                for mode in ("dense", "hybrid")}
    finally:
        r.close()


def _domain(name: str, encoder: Any, settings: AdaptSettings, work: Path) -> dict[str, Any]:
    from nyx.benchmarks.rerank import build_domain_retriever
    from nyx.training.adapt import AdaptConfig, adapt

    retriever, dataset = build_domain_retriever(name, encoder)
    passages = retriever.count()
    index = work / name
    shutil.rmtree(index, ignore_errors=True)
    retriever.save(index)
    retriever.close()
    qids = list(dataset.queries)
    rng = np.random.default_rng(settings.seed)
    qids = [qids[i] for i in sorted(rng.choice(len(qids), min(settings.queries, len(qids)),
                                               replace=False))]
    texts = [dataset.queries[q]["text"] for q in qids]
    gold = [next(d for d, g in dataset.qrels[q].items() if g > 0) for q in qids]
    before = _evaluate(index, texts, gold)
    start = time.perf_counter()
    report = adapt(index, AdaptConfig(queries=settings.adapt_queries,
                                      query_kind=settings.query_kind, epochs=settings.epochs,
                                      layers=settings.layers, candidates=settings.candidates),
                   show_progress=True)
    wall = time.perf_counter() - start
    after = _evaluate(index, texts, gold)
    row: dict[str, Any] = {"domain": name, "passages": passages, "questions": len(texts),
                           "adapt_min": round(wall / 60, 1), "steps": report.steps,
                           "pairs": report.pairs_labelled,
                           "weight": f"{report.dense_weight_before:g} -> "
                                     f"{report.dense_weight_after:g}"}
    for mode in ("dense", "hybrid"):
        lo, hi = paired_bootstrap(after[mode], before[mode], resamples=settings.resamples)
        row[f"{mode}_before"] = float(before[mode].mean())
        row[f"{mode}_after"] = float(after[mode].mean())
        row[f"{mode}_gain"] = (f"{after[mode].mean() - before[mode].mean():+.3f} "
                               f"[{lo:+.3f}, {hi:+.3f}]")
    row["seconds"] = report.seconds
    shutil.rmtree(index, ignore_errors=True)
    return row


def study(settings: AdaptSettings) -> Report:
    from nyx.benchmarks.peers import nyx_lite

    encoder = nyx_lite()
    work = Path(settings.out) / "indexes"
    rows = [_domain(name, encoder, settings, work) for name in settings.domains]
    report = Report("adapt", "Adapting the text encoder to each corpus (nyx-index adapt)")
    report.add(f"nDCG@10 on each domain's real questions (never seen by the adaptation), "
               f"{settings.adapt_queries} {settings.query_kind} pseudo-queries, "
               f"{settings.epochs} epoch(s), adapters on the top {settings.layers} layers, "
               f"{settings.candidates} candidates per query",
               markdown_table(rows, ["domain", "passages", "questions", "dense_before",
                                     "dense_after", "dense_gain", "hybrid_before",
                                     "hybrid_after", "hybrid_gain", "weight", "adapt_min",
                                     "steps", "pairs"],
                              ["domain", "passages", "questions", "dense before",
                               "dense after", "dense gain [95%]", "hybrid before",
                               "hybrid after", "hybrid gain [95%]", "dense weight",
                               "adapt wall (min)", "steps", "pairs labelled"]))
    report.data = {"settings": asdict(settings), "domains": rows,
                   "machine": machine_info(settings.threads)}
    report.write(Path(settings.out))
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domains", default=",".join(AdaptSettings.domains))
    parser.add_argument("--queries", type=int, default=AdaptSettings.queries,
                        help="real questions per domain for the evaluation")
    parser.add_argument("--adapt-queries", type=int, default=AdaptSettings.adapt_queries,
                        help="pseudo-queries per adaptation")
    parser.add_argument("--kind", default=AdaptSettings.query_kind,
                        choices=["sentence", "span"], help="pseudo-query kind")
    parser.add_argument("--epochs", type=int, default=AdaptSettings.epochs)
    parser.add_argument("--layers", type=int, default=AdaptSettings.layers,
                        help="top BERT layers that get adapters (the rest need no backward pass)")
    parser.add_argument("--candidates", type=int, default=AdaptSettings.candidates,
                        help="candidates the cross-encoder labels per pseudo-query")
    parser.add_argument("--threads", type=int, default=AdaptSettings.threads)
    parser.add_argument("--out", default=AdaptSettings.out)


def run(args: argparse.Namespace) -> int:
    settings = AdaptSettings(domains=tuple(args.domains.split(",")), queries=args.queries,
                             adapt_queries=args.adapt_queries, query_kind=args.kind,
                             epochs=args.epochs, layers=args.layers,
                             candidates=args.candidates, threads=args.threads, out=args.out)
    limit_threads(settings.threads)
    print(study(settings).markdown())
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
