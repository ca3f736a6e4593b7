"""``nyx-bench rerank-blend``: how much say the first stage keeps in a reranked score.

A cross-encoder that misjudges a collection replaces a good first-stage ranking with a worse
one. :func:`nyx.hits.blend_scores` keeps the first stage in the score:
``w * minmax(cross-encoder) + (1 - w) * minmax(first stage)`` over the reranked top ``N``.

For each domain a real :class:`nyx.Retriever` (nyx-lite, the shipped hybrid) searches a fixed
sample of questions (seed 1); the top ``N`` are scored once by the shipped cross-encoder, and
every ``w`` on a grid is scored on the same lists with the library's own ``blend_scores``.
``w`` is chosen leave-one-domain-out (the best macro nDCG@10 over the *other* domains), as the
fusion was, and reported on the held-out domain with a paired bootstrap interval against no
reranking and against the cross-encoder alone (``w = 1``). The shipped weight is the best on all
domains together (in-sample by construction; said so in the report).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nyx.benchmarks.bootstrap import paired_bootstrap
from nyx.benchmarks.environment import Stopwatch, limit_threads, machine_info
from nyx.benchmarks.fusion_domains import DOMAIN_NAMES
from nyx.benchmarks.report import Report, markdown_table

logger = logging.getLogger(__name__)

__all__ = ["BlendSettings", "add_arguments", "run"]

WEIGHTS: tuple[float, ...] = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 11))


@dataclass
class BlendSettings:
    domains: tuple[str, ...] = DOMAIN_NAMES
    queries: int = 300
    depth: int = 20
    seed: int = 1
    threads: int = 2
    resamples: int = 2000
    out: str = "reports/rerank-blend"


@dataclass
class DomainLists:
    """One domain's reranked lists: per question the top ``N`` ids, first-stage and
    cross-encoder scores, and the gold passage."""

    first: list[np.ndarray]
    cross: list[np.ndarray]
    ids: list[list[str]]
    gold: list[str]

    def ndcg(self, weight: float | None) -> np.ndarray:
        """nDCG@10 per question after blending with ``weight`` (``None``: first stage)."""
        from nyx.hits import blend_scores

        out = []
        for first, cross, ids, gold in zip(self.first, self.cross, self.ids, self.gold):
            if weight is None or len(ids) == 0:
                order = list(range(len(ids)))
            else:
                score = blend_scores(first, cross, weight)
                order = sorted(range(len(ids)), key=lambda j: (-score[j], -first[j], j))
            ranked = [ids[j] for j in order][:10]
            out.append(1 / np.log2(ranked.index(gold) + 2) if gold in ranked else 0.0)
        return np.asarray(out)


def _lists(name: str, encoder: Any, reranker: Any, settings: BlendSettings) -> DomainLists:
    from nyx.benchmarks.rerank import build_domain_retriever

    retriever, dataset = build_domain_retriever(name, encoder)
    qids = list(dataset.queries)
    rng = np.random.default_rng(settings.seed)
    qids = [qids[i] for i in sorted(rng.choice(len(qids), min(settings.queries, len(qids)),
                                               replace=False))]
    texts = [dataset.queries[q]["text"] for q in qids]
    gold = [next(d for d, g in dataset.qrels[q].items() if g > 0) for q in qids]
    first = retriever.search(texts, k=settings.depth, rerank=False)
    retriever.close()
    cross = [np.asarray(reranker.score(t, [h.text for h in hits]), np.float64)
             for t, hits in zip(texts, first)]
    return DomainLists([np.array([h.score for h in hits]) for hits in first], cross,
                       [[h.id for h in hits] for hits in first], gold)


def study(settings: BlendSettings) -> Report:
    from nyx.benchmarks.peers import nyx_lite
    from nyx.rerank import CrossEncoder

    clock = Stopwatch()
    encoder = nyx_lite()
    reranker = CrossEncoder(num_threads=settings.threads).load()
    data: dict[str, DomainLists] = {}
    for name in settings.domains:
        with clock.phase(f"{name}: first stage + cross-encoder"):
            data[name] = _lists(name, encoder, reranker, settings)
    grid = {name: {w: d.ndcg(w) for w in WEIGHTS} for name, d in data.items()}
    grid_rows = [{"weight": w, **{n: float(grid[n][w].mean()) for n in data},
                  "macro": float(np.mean([grid[n][w].mean() for n in data]))} for w in WEIGHTS]
    rows = []
    for held in data:
        others = [n for n in data if n != held] or [held]
        chosen = max(WEIGHTS, key=lambda w: (np.mean([grid[n][w].mean() for n in others]), w))
        base, alone, blend = data[held].ndcg(None), grid[held][1.0], grid[held][chosen]
        gain, vs_ce = float(blend.mean() - base.mean()), float(blend.mean() - alone.mean())
        lo, hi = paired_bootstrap(blend, base, resamples=settings.resamples)
        vs_lo, vs_hi = paired_bootstrap(blend, alone, resamples=settings.resamples)
        rows.append({"domain": held, "queries": len(base), "weight": chosen,
                     "first_stage": float(base.mean()), "cross_encoder": float(alone.mean()),
                     "blend": float(blend.mean()), "gain": f"{gain:+.3f} [{lo:+.3f}, {hi:+.3f}]",
                     "vs_ce": f"{vs_ce:+.3f} [{vs_lo:+.3f}, {vs_hi:+.3f}]"})
    shipped = max(WEIGHTS, key=lambda w: (np.mean([grid[n][w].mean() for n in data]), w))
    report = Report("rerank-blend", "Reranking blended with the first stage")
    report.add(f"Held out: weight chosen on the other domains, N={settings.depth} reranked",
               markdown_table(rows, ["domain", "queries", "weight", "first_stage",
                                     "cross_encoder", "blend", "gain", "vs_ce"],
                              ["held-out domain", "questions", "w (chosen on the others)",
                               "no rerank nDCG@10", "cross-encoder alone", "blend",
                               "blend - no rerank [95%]", "blend - cross-encoder [95%]"]))
    report.add(f"Every weight on every domain (in-sample); shipped: w = {shipped} (best macro "
               "nDCG@10 on all domains together)",
               markdown_table(grid_rows, ["weight", *data, "macro"],
                              ["w", *data, "macro"]))
    report.data = {"settings": asdict(settings), "held_out": rows, "grid": grid_rows,
                   "shipped_weight": shipped, "reranker": repr(reranker),
                   "machine": machine_info(settings.threads), "wall_s": clock.to_dict()}
    report.write(Path(settings.out))
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domains", default=",".join(BlendSettings.domains))
    parser.add_argument("--queries", type=int, default=BlendSettings.queries,
                        help="questions per domain")
    parser.add_argument("--depth", type=int, default=BlendSettings.depth,
                        help="first-stage hits reranked (N)")
    parser.add_argument("--threads", type=int, default=BlendSettings.threads)
    parser.add_argument("--out", default=BlendSettings.out)


def run(args: argparse.Namespace) -> int:
    settings = BlendSettings(domains=tuple(args.domains.split(",")), queries=args.queries,
                             depth=args.depth, threads=args.threads, out=args.out)
    limit_threads(settings.threads)
    print(study(settings).markdown())
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
