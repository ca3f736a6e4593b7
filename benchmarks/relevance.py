"""Calibrating an absolute relevance estimate (``SearchResult.relevance``): fitted on one domain,
reported on the others.

``python -m nyx.benchmarks.relevance`` builds the shipped hybrid ``Retriever`` (nyx-lite) over
each domain's passages and searches (top 10) a sample of its own questions and of another
domain's questions, about which the corpus holds nothing ("off-topic"). Each hit is a row: its
raw dense cosine, its BM25 share (score / :meth:`LexicalIndex.score_ceiling`), the
cross-encoder's logit, and whether it is the question's gold passage. Logistic models (dense
alone, BM25 alone, both, the cross-encoder logit) are fitted on the first domain only
(``--fit``, default squad-dev): its gold passages against what its off-topic questions find,
which is what ``min_score`` must tell apart. The other top-10 hits of a question (same article,
often half right) are left out of the fit and reported separately. Off-topic questions of
squad-dev come from New-Wiki, of New-Wiki from Amazon, of Amazon from squad-dev: Amazon's
questions and passages never reach the fit.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nyx.benchmarks.environment import Stopwatch, machine_info
from nyx.benchmarks.report import Report, markdown_table

logger = logging.getLogger(__name__)

__all__ = ["RelevanceSettings", "fit_logistic", "main", "run"]

#: each domain's off-topic questions are the next one's (the last takes the first's)
DOMAINS = ("squad-dev", "squad-shifts-new-wiki", "squad-shifts-amazon")
FEATURES = {"hybrid": ("dense", "share"), "dense": ("dense",), "lexical": ("share",),
            "rerank": ("logit",)}
CUTS = (0.1, 0.2, 0.3, 0.5, 0.7)


@dataclass
class RelevanceSettings:
    fit: str = "squad-dev"
    domains: tuple[str, ...] = DOMAINS
    queries: int = 300
    off_topic: int = 100
    seed: int = 1
    rerank: bool = True
    out: str = "reports/relevance"


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3,
                 iterations: int = 50) -> np.ndarray:
    """Weights ``[bias, w...]`` of a logistic regression by Newton's method (L2 on ``w``)."""
    design = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(design.shape[1])
    penalty = np.diag([0.0] + [l2] * x.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-design @ w))
        grad = design.T @ (p - y) + penalty @ w
        hess = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def _predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(w[0] + x @ w[1:])))


def _auc(p: np.ndarray, y: np.ndarray) -> float:
    pos, neg = p[y == 1], p[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]))) + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    return float(sum(abs(p[which == b].mean() - y[which == b].mean()) * (which == b).mean()
                     for b in range(bins) if (which == b).any()))


def _hits(retriever: Any, texts: list[str], gold: list[set[str]], reranker: Any
          ) -> list[list[dict[str, float]]]:
    """Per question, its top-10 hybrid hits as feature rows (label 1 for a gold passage)."""
    found = retriever.search(texts, k=10, mode="hybrid", rerank=False)
    out = []
    for text, hits, wanted in zip(texts, found, gold):
        ceiling = retriever.lexical.score_ceiling(text) or 1.0
        logits = reranker.score(text, [h.text for h in hits]) if reranker is not None and \
            hits else np.zeros(len(hits))
        out.append([{"dense": float(h.dense_score or 0.0),
                     "share": float(h.lexical_score or 0.0) / ceiling,
                     "logit": float(logit), "label": float(h.id in wanted)}
                    for h, logit in zip(hits, logits)])
    return out


def _estimate(models: dict[str, np.ndarray], kind: str,
              rows: list[dict[str, float]]) -> np.ndarray:
    """A model's estimates; ``shipped`` is what a hybrid search reports (nyx.relevance): the
    larger of the both-scores and the dense-alone estimates, so that a paraphrase sharing no
    word with its passage is judged by its meaning (SQuAD's questions reuse the passage's
    words, so the both-scores model alone learns that no shared word means no answer)."""
    if kind == "shipped":
        return np.maximum(_estimate(models, "hybrid", rows), _estimate(models, "dense", rows))
    return _predict(models[kind], _matrix(rows, FEATURES[kind]))


def _matrix(rows: list[dict[str, float]], names: tuple[str, ...]) -> np.ndarray:
    return np.array([[r[n] for n in names] for r in rows], dtype=np.float64).reshape(
        len(rows), len(names))


def _collect(settings: RelevanceSettings) -> dict[str, Any]:
    """Feature rows of every domain's own questions and of its off-topic questions."""
    from nyx.benchmarks.datasets import load_dataset
    from nyx.benchmarks.peers import nyx_lite
    from nyx.benchmarks.rerank import build_domain_retriever
    from nyx.rerank import CrossEncoder

    clock = Stopwatch()
    encoder = nyx_lite()
    reranker = CrossEncoder() if settings.rerank else None
    rng = np.random.default_rng(settings.seed)
    questions: dict[str, list[tuple[str, set[str]]]] = {}
    for name in settings.domains:
        data = load_dataset(name)
        qids = [q for q in data.queries if q in data.qrels]
        picked = rng.choice(len(qids), min(settings.queries, len(qids)), replace=False)
        questions[name] = [(data.queries[qids[i]]["text"],
                            {d for d, g in data.qrels[qids[i]].items() if g > 0})
                           for i in sorted(picked)]
    rows: dict[str, Any] = {"in_domain": {}, "off_topic": {}, "off_topic_from": {}}
    for i, name in enumerate(settings.domains):
        donor = settings.domains[(i + 1) % len(settings.domains)]
        with clock.phase(f"{name}: build"):
            retriever, _ = build_domain_retriever(name, encoder)
        with clock.phase(f"{name}: search"):
            own = questions[name]
            rows["in_domain"][name] = _hits(retriever, [t for t, _ in own],
                                            [g for _, g in own], reranker)
            others = [t for t, _ in questions[donor][:settings.off_topic]]
            rows["off_topic"][name] = _hits(retriever, others, [set()] * len(others),
                                            reranker)
            rows["off_topic_from"][name] = donor
        retriever.close()
    rows["wall_s"] = clock.to_dict()
    return rows


def run(settings: RelevanceSettings, rows_file: Path | None = None) -> Report:
    """Collect (or read from ``rows_file``) the feature rows, fit on ``settings.fit``: its
    gold passages against the hits of its off-topic questions (what a query about nothing
    there finds), and report every domain."""
    if rows_file is not None and rows_file.is_file():
        rows = json.loads(rows_file.read_text())
    else:
        rows = _collect(settings)
        if rows_file is not None:
            rows_file.parent.mkdir(parents=True, exist_ok=True)
            rows_file.write_text(json.dumps(rows))
    fit = settings.fit
    positives = [r for hits in rows["in_domain"][fit] for r in hits if r["label"]]
    negatives = [r for hits in rows["off_topic"][fit] for r in hits]
    fit_rows = positives + negatives
    labels = np.array([1.0] * len(positives) + [0.0] * len(negatives))
    models = {kind: fit_logistic(_matrix(fit_rows, names), labels)
              for kind, names in FEATURES.items() if kind != "rerank" or settings.rerank}
    table, cut_rows = [], []
    for name in settings.domains:
        gold = [r for hits in rows["in_domain"][name] for r in hits if r["label"]]
        near = [r for hits in rows["in_domain"][name] for r in hits if not r["label"]]
        off = [r for hits in rows["off_topic"][name] for r in hits]
        for kind in [*models, "shipped"]:
            def p(group: list[dict[str, float]], kind: str = kind) -> np.ndarray:
                return _estimate(models, kind, group)
            both = np.concatenate([p(gold), p(off)])
            y = np.array([1.0] * len(gold) + [0.0] * len(off))
            table.append({"domain": name + (" (fit)" if name == fit else ""), "model": kind,
                          "auc_off": _auc(both, y),
                          "auc_near": _auc(np.concatenate([p(gold), p(near)]),
                                           np.array([1.0] * len(gold) + [0.0] * len(near))),
                          "ece": _ece(both, y), "gold_mean": float(p(gold).mean()),
                          "off_mean": float(p(off).mean())})
        top_in = [(_estimate(models, "shipped", h[:1])[0], h[0]["label"])
                  for h in rows["in_domain"][name] if h]
        top_off = [float(_estimate(models, "shipped", h).max())
                   for h in rows["off_topic"][name] if h]
        for cut in CUTS:
            cut_rows.append({
                "domain": name, "off_topic_from": rows["off_topic_from"][name], "cut": cut,
                "gold_top_kept": float(np.mean([q >= cut for q, g in top_in if g])),
                "wrong_top_dropped": float(np.mean([q < cut for q, g in top_in if not g])),
                "off_topic_silent": float(np.mean([q < cut for q in top_off]))})
    report = Report("relevance", f"An absolute relevance estimate, fitted on {fit} and "
                                 "reported on every domain")
    report.add("Separating gold passages from what off-topic questions find (AUC, ECE), and "
               "from the other top-10 hits of their own question (AUC near); mean estimates",
               markdown_table(table, ["domain", "model", "auc_off", "auc_near", "ece",
                                      "gold_mean", "off_mean"],
                              ["domain", "model", "AUC vs off-topic", "AUC vs near misses",
                               "ECE", "mean on gold", "mean on off-topic"]))
    report.add("Cut-offs on the shipped estimate: in-domain top hits kept when gold, dropped "
               "when wrong; off-topic questions (another domain's) returning nothing",
               markdown_table(cut_rows, ["domain", "off_topic_from", "cut", "gold_top_kept",
                                         "wrong_top_dropped", "off_topic_silent"],
                              ["domain", "off-topic questions from", "cut-off",
                               "gold top-1 kept", "wrong top-1 dropped",
                               "off-topic silent"]))
    report.data = {"settings": asdict(settings),
                   "models": {k: [float(v) for v in w] for k, w in models.items()},
                   "features": FEATURES, "rows": table, "cuts": cut_rows,
                   "machine": machine_info(2), "wall_s": rows.get("wall_s")}
    report.write(Path(settings.out))
    print(report.markdown())
    print(json.dumps(report.data["models"]))
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fit", default="squad-dev")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--off-topic", type=int, default=100)
    parser.add_argument("--no-rerank", action="store_true")
    parser.add_argument("--out", default="reports/relevance")
    parser.add_argument("--rows", type=Path, help="feature rows: read if present, else "
                        "collected and written there (refits without searching again)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    run(RelevanceSettings(fit=args.fit, queries=args.queries, off_topic=args.off_topic,
                          rerank=not args.no_rerank, out=args.out), args.rows)


if __name__ == "__main__":
    main()
