"""``nyx-bench fusion-domains``: choose hybrid fusion by leave-one-domain-out.

A fusion default tuned and reported on one data set tells nothing about the next. This runs
every fusion method of :mod:`nyx.hybrid` (and BM25 / dense alone) on several question ->
passage domains (:mod:`nyx.benchmarks.datasets.qa_domains` plus SQuAD-dev) and, for each domain,
tunes every method's parameters on the *other* domains (macro-averaged nDCG@10) and scores it
on the held-out one. BM25's ``k1``/``b`` are tuned the same way, so BM25 is shown at its best
setting. The configuration Nyx ships is chosen on all domains together (reported as such).

Everything below the encoder is exact numpy work on full score matrices: dense scores are the
best chunk of each document (as :class:`nyx.Retriever` scores it, MiniLM via ``nyx-lite``,
vectors cached on disk), BM25 scores come from a sparse term matrix with the shipped analyzer
(checked against :class:`indexes.LexicalIndex` on a sample), and fusion runs on each query's
candidate set (top ``C`` of each list), as ``Retriever.search`` does.
"""

from __future__ import annotations

import argparse
import itertools
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nyx.benchmarks.bootstrap import paired_bootstrap
from nyx.benchmarks.domain_data import DomainData, load_domain
from nyx.benchmarks.environment import Stopwatch, limit_threads, machine_info
from nyx.benchmarks.report import Report, markdown_table
from nyx.fusion import minmax, zscore

logger = logging.getLogger(__name__)

__all__ = ["DOMAIN_NAMES", "FusionSettings", "add_arguments", "run"]

DOMAIN_NAMES: tuple[str, ...] = ("squad-dev", "squad-shifts-amazon", "squad-shifts-new-wiki")
K1S = (0.6, 0.9, 1.2, 1.5, 2.0)
BS = (0.3, 0.5, 0.75, 0.9)
WEIGHTS = tuple(round(0.05 * i, 2) for i in range(21))
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
CANDIDATES = (50, 100)


@dataclass
class FusionSettings:
    domains: tuple[str, ...] = DOMAIN_NAMES
    queries: int = 2000
    seed: int = 0
    out: str = "reports/fusion-domains"
    threads: int = 2
    bootstrap: int = 2000


def _ranks_desc(scores: np.ndarray) -> np.ndarray:
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(scores.shape[1])[None, :], axis=1)
    return ranks


@dataclass
class Candidates:
    """Top-C of each list per query, with both scores, ranks and the relevant column."""

    dense: np.ndarray
    lexical: np.ndarray
    dense_rank: np.ndarray
    lexical_rank: np.ndarray  # large where the lexical score is 0
    valid: np.ndarray
    relevant: np.ndarray  # (Q, W) bool


def candidates(dense: np.ndarray, lexical: np.ndarray, relevant: np.ndarray,
               c: int) -> Candidates:
    never = 10**9
    d_rank = _ranks_desc(dense)
    l_rank = np.where(lexical > 0, _ranks_desc(lexical), never)
    chosen = (d_rank < c) | (l_rank < c)
    width = int(chosen.sum(axis=1).max())
    cols = np.argsort(~chosen, axis=1, kind="stable")[:, :width]
    valid = np.take_along_axis(chosen, cols, axis=1)
    take = lambda m: np.take_along_axis(m, cols, axis=1)  # noqa: E731
    return Candidates(take(dense), take(lexical), take(d_rank), take(l_rank), valid,
                      cols == relevant[:, None])


def _confidence(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """How decided a list is: (top1 - top2) / (top1 - mean of its top 10), in [0, 1]."""
    top = -np.sort(-np.where(valid, scores, -np.inf), axis=1)[:, :10]
    finite = np.isfinite(top)
    count = np.maximum(finite.sum(axis=1), 1)
    first = np.where(finite[:, 0], top[:, 0], 0.0)
    second = np.where(finite[:, 1], top[:, 1], first) if top.shape[1] > 1 else first
    spread = first - np.where(finite, top, 0.0).sum(axis=1) / count
    return np.where(spread > 1e-12, (first - second) / np.where(spread > 1e-12, spread, 1), 0.0)


def fused_scores(cand: Candidates, method: str, w: float, alpha: float = 0.0) -> np.ndarray:
    valid = cand.valid
    lexical_valid = valid & (cand.lexical_rank < 10**9)
    c = int(np.where(valid, np.minimum(cand.dense_rank, cand.lexical_rank), -1).max()) + 1
    if method == "rrf":  # standard RRF: a list a document is not in gives it nothing
        in_dense = valid & (cand.dense_rank < c)
        in_lexical = lexical_valid & (cand.lexical_rank < c)
        d = np.where(in_dense, 1.0 / (60 + cand.dense_rank + 1), 0.0)
        lx = np.where(in_lexical, 1.0 / (60 + np.minimum(cand.lexical_rank, c) + 1), 0.0)
        return np.where(valid, w * d + (1 - w) * lx, -np.inf)
    norm = zscore if method == "zscore" else minmax
    d = norm(cand.dense, valid)
    lx = norm(cand.lexical, valid)
    weight = np.full((valid.shape[0], 1), w)
    if method == "adaptive":  # each list's confidence over the documents it retrieved
        gap = (_confidence(cand.dense, valid & (cand.dense_rank < c))
               - _confidence(cand.lexical, lexical_valid & (cand.lexical_rank < c)))
        weight = np.clip(w + alpha * gap, 0.0, 1.0)[:, None]
    return np.where(valid, weight * d + (1 - weight) * lx, -np.inf)


def relevant_rank(scores: np.ndarray, cand: Candidates) -> np.ndarray:
    """1-based rank of the relevant document (inf when it is not a candidate); ties break on
    the dense score as ``nyx.hybrid`` does."""
    rel_score = np.where(cand.relevant, scores, -np.inf).max(axis=1)
    rel_dense = np.where(cand.relevant, cand.dense, -np.inf).max(axis=1)
    above = (scores > rel_score[:, None]) | ((scores == rel_score[:, None])
                                             & (cand.dense > rel_dense[:, None]))
    rank = 1.0 + (above & cand.valid).sum(axis=1)
    return np.where(np.isfinite(rel_score) & (cand.relevant & cand.valid).any(axis=1), rank,
                    np.inf)


def per_query(rank: np.ndarray) -> dict[str, np.ndarray]:
    return {"ndcg@10": np.where(rank <= 10, 1.0 / np.log2(rank + 1), 0.0),
            "recall@1": (rank <= 1).astype(float), "recall@5": (rank <= 5).astype(float),
            "recall@10": (rank <= 10).astype(float),
            "mrr@10": np.where(rank <= 10, 1.0 / rank, 0.0)}


def single_rank(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Rank of the relevant document in one full list (BM25: zero scores never returned)."""
    rel = scores[np.arange(len(relevant)), relevant]
    return 1.0 + (scores > rel[:, None]).sum(axis=1)


# -- the study ------------------------------------------------------------------------------

METHODS = ("minmax", "zscore", "rrf", "adaptive", "rescore")


def _grid(method: str) -> list[dict[str, Any]]:
    if method == "adaptive":
        return [{"w": w, "alpha": a, "c": c} for w, a, c in itertools.product(WEIGHTS, ALPHAS,
                                                                             CANDIDATES)]
    return [{"w": w, "alpha": 0.0, "c": c} for w, c in itertools.product(WEIGHTS, CANDIDATES)]


class Study:
    def __init__(self, domains: dict[str, DomainData]) -> None:
        self.domains = domains
        self._cand: dict[tuple[str, float, float, int, bool], Candidates] = {}
        self._scores: dict[tuple[Any, ...], dict[str, np.ndarray]] = {}

    def cand(self, name: str, k1: float, b: float, c: int, rescore: bool,
             legacy: bool = False) -> Candidates:
        key = (name, k1, b, c, rescore, legacy)
        if key not in self._cand:
            data = self.domains[name]
            lexical = data.lexical(k1, b, legacy)
            dense = data.dense
            if rescore:  # dense re-scores BM25's candidates only (dense alone when none)
                none = (lexical > 0).sum(axis=1) == 0
                cand = candidates(dense, lexical, data.relevant, c)
                cand.valid = cand.valid & ((cand.lexical_rank < c) | none[:, None])
            else:
                cand = candidates(dense, lexical, data.relevant, c)
            self._cand[key] = cand
        return self._cand[key]

    def metrics(self, name: str, method: str, params: dict[str, Any], k1: float,
                b: float, legacy: bool = False) -> dict[str, np.ndarray]:
        key = (name, method, tuple(sorted(params.items())), k1, b, legacy)
        if key not in self._scores:
            data = self.domains[name]
            if method == "bm25":
                lexical = data.lexical(k1, b, legacy)
                rank = single_rank(np.where(lexical > 0, lexical, -np.inf), data.relevant)
                rank = np.where(lexical[np.arange(len(rank)), data.relevant] > 0, rank, np.inf)
            elif method == "dense":
                rank = single_rank(data.dense, data.relevant)
            else:
                cand = self.cand(name, k1, b, params["c"], method == "rescore", legacy)
                kind = "minmax" if method == "rescore" else method
                rank = relevant_rank(fused_scores(cand, kind, params["w"], params["alpha"]),
                                     cand)
            self._scores[key] = per_query(rank)
        return self._scores[key]

    def mean(self, names: list[str], method: str, params: dict[str, Any], k1: float,
             b: float, metric: str = "ndcg@10") -> float:
        return float(np.mean([self.metrics(n, method, params, k1, b)[metric].mean()
                              for n in names]))

    def best_bm25(self, names: list[str]) -> tuple[float, float]:
        return max(itertools.product(K1S, BS),
                   key=lambda kb: self.mean(names, "bm25", {}, *kb))

    def best(self, names: list[str], method: str, k1: float, b: float) -> dict[str, Any]:
        return max(_grid(method), key=lambda p: self.mean(names, method, p, k1, b))


def study(settings: FusionSettings) -> Report:
    from nyx.benchmarks.peers import nyx_lite

    clock = Stopwatch()
    encoder = nyx_lite()
    with clock.phase("encode+analyse"):
        domains = {n: load_domain(n, settings.queries, settings.seed, encoder)
                   for n in settings.domains}
    s = Study(domains)
    names = list(domains)
    rows: list[dict[str, Any]] = []
    chosen: dict[str, Any] = {}
    with clock.phase("leave-one-domain-out"):
        for held in names:
            train = [n for n in names if n != held]
            k1, b = s.best_bm25(train)
            entry: dict[str, Any] = {"bm25_params": {"k1": k1, "b": b}}
            row = {"domain": held, "queries": len(domains[held].relevant)}
            old = s.metrics(held, "minmax", {"w": 0.6, "alpha": 0.0, "c": 100}, 1.5, 0.75,
                            legacy=True)
            row["old_default"] = {k: float(v.mean()) for k, v in old.items()}
            old = s.metrics(held, "bm25", {}, 1.5, 0.75, legacy=True)
            row["bm25_old"] = {k: float(v.mean()) for k, v in old.items()}
            for method in ("bm25", "dense", *METHODS):
                params = {} if method in ("bm25", "dense") else s.best(train, method, k1, b)
                if params:
                    entry[method] = params
                m = s.metrics(held, method, params, k1, b)
                row[method] = {k: float(v.mean()) for k, v in m.items()}
            chosen[held] = entry
            rows.append(row)
    with clock.phase("ship"):
        k1, b = s.best_bm25(names)
        ship = {"bm25": {"k1": k1, "b": b}}
        for method in METHODS:
            ship[method] = s.best(names, method, k1, b)
        in_sample = {n: {m: s.mean([n], m, ship[m], k1, b) for m in METHODS} for n in names}
        # The method is chosen on held-out scores (ties: the simpler, earlier in METHODS);
        # its parameters on all domains.
        held_out = {m: round(float(np.mean([r[m]["ndcg@10"] for r in rows])), 4)
                    for m in METHODS}
        best_method = max(METHODS, key=lambda m: (held_out[m], -METHODS.index(m)))
    bootstrap = {}
    for row in rows:
        held = row["domain"]
        e = chosen[held]
        k1h, bh = e["bm25_params"]["k1"], e["bm25_params"]["b"]
        single = max(("bm25", "dense"), key=lambda m: row[m]["ndcg@10"])
        a = s.metrics(held, best_method, e[best_method], k1h, bh)["ndcg@10"]
        ref = s.metrics(held, single, {}, k1h, bh)["ndcg@10"]
        low, high = paired_bootstrap(a, ref, resamples=settings.bootstrap)
        bootstrap[held] = {"vs": single,
                           "diff_ci": (float(np.mean(a) - np.mean(ref)), low, high)}
    return _report(settings, rows, chosen, ship, best_method, in_sample, bootstrap, clock,
                   encoder)


def _report(settings: FusionSettings, rows: list[dict[str, Any]], chosen: dict[str, Any],
            ship: dict[str, Any], best_method: str, in_sample: dict[str, Any],
            bootstrap: dict[str, Any], clock: Stopwatch, encoder: Any) -> Report:
    report = Report("fusion-domains", "Hybrid fusion chosen by leave-one-domain-out")
    labels = {"bm25": "BM25 (k1/b tuned LODO)", "dense": "dense (MiniLM)",
              "minmax": "minmax convex", "zscore": "z-score convex", "rrf": "RRF (standard)",
              "adaptive": "query-adaptive minmax", "rescore": "dense re-scores BM25 top-C",
              "old_default": "previous default hybrid (minmax w=0.6; BM25 unstemmed, k1=1.5, "
                             "b=0.75)",
              "bm25_old": "previous BM25 (unstemmed, k1=1.5, b=0.75)"}
    for metric in ("ndcg@10", "recall@1", "recall@10", "mrr@10"):
        table = []
        for method in ("bm25_old", "bm25", "dense", *METHODS, "old_default"):
            line = {"system": labels[method]}
            for row in rows:
                line[row["domain"]] = row[method][metric]
            line["mean"] = float(np.mean([row[method][metric] for row in rows]))
            table.append(line)
        cols = [r["domain"] for r in rows]
        report.add(f"Held-out {metric} (each domain tuned on the others)",
                   markdown_table(table, ["system", *cols, "mean"], ["system", *cols, "mean"],
                                  digits=dict.fromkeys([*cols, "mean"], 3)))
    report.add("Parameters chosen per held-out domain", "\n".join(
        f"- {held}: " + "; ".join(f"{m} {p}" for m, p in e.items()) for held, e in
        chosen.items()))
    report.add("Shipped (tuned on all domains: in-sample)", (
        f"best method {best_method}: {ship[best_method]}, BM25 {ship['bm25']}\n\n" + "\n".join(
            f"- {n}: " + ", ".join(f"{m} {v:.3f}" for m, v in d.items())
            for n, d in in_sample.items())))
    title = "Paired bootstrap: held-out best method minus the better single retriever"
    report.add(title, "\n".join(
        f"- {n}: {best_method} - {b['vs']}: nDCG@10 {b['diff_ci'][0]:+.4f} "
        f"[{b['diff_ci'][1]:+.4f}, {b['diff_ci'][2]:+.4f}]" for n, b in bootstrap.items()))
    report.add("Wall time", markdown_table([{"phase": k, "seconds": v} for k, v in
                                            clock.to_dict().items()], ["phase", "seconds"]))
    report.data = {"settings": asdict(settings), "rows": rows, "chosen": chosen, "ship": ship,
                   "best_method": best_method, "in_sample": in_sample, "bootstrap": bootstrap,
                   "encoder": encoder.version, "machine": machine_info(settings.threads),
                   "wall_s": clock.to_dict()}
    report.write(Path(settings.out))
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domains", default=",".join(DOMAIN_NAMES),
                        help="comma-separated data set names (default: all four)")
    parser.add_argument("--queries", type=int, default=2000,
                        help="questions sampled per domain (seed 0; default 2000)")
    parser.add_argument("--out", default="reports/fusion-domains", help="report folder")
    parser.add_argument("--threads", type=int, default=2)


def run(args: argparse.Namespace) -> int:
    settings = FusionSettings(domains=tuple(args.domains.split(",")), queries=args.queries,
                              out=args.out, threads=args.threads)
    limit_threads(settings.threads)
    print(study(settings).markdown())
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
