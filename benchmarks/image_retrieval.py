"""nyx-lite on image data sets: Fashion-MNIST (zero-shot and text->image) and easy-VQA.

Images enter nyx-lite's text space through ConSE (EfficientNet-Lite0 ImageNet probabilities
-> weighted class-name vectors); OCR is off unless ``--ocr`` (the report says which). Image
vectors are cached on disk per 1,000 images, keyed by encoder version and image path, so an
interrupted run resumes.

Fashion-MNIST: zero-shot top-1 accuracy (each image against the 10 class prompts), text->image
nDCG@10 / P@100 per class prompt, a per-class table with the most-confused class, and the
ImageNet class each Fashion class most often lands nearest to (why it fails). easy-VQA:
text->image nDCG@10 / R@10 / P@10 for "a <colour> <shape>" queries, and how often the top 10
have the right colour and the right shape. A seeded random ranking is the floor.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from nyx.benchmarks.environment import Stopwatch, machine_info
from nyx.benchmarks.latency import summarize_latencies
from nyx.benchmarks.report import Report, bar_chart, markdown_table
from nyx.benchmarks.vector_cache import cached_vectors
from nyx.metrics import evaluate_run, per_query_metrics

logger = logging.getLogger(__name__)

__all__ = ["image_vectors", "run_images"]

SHARD = 1000
KS: tuple[int, ...] = (1, 5, 10, 100)


def image_vectors(encoder: Any, paths: list[str], batch_size: int = 32) -> np.ndarray:
    """nyx-lite document vectors of image files, cached per shard of 1,000 images."""
    from tqdm.auto import tqdm

    from nyx import Item

    shards = []
    for start in tqdm(range(0, len(paths), SHARD), desc="image shards", unit="shard"):
        chunk = paths[start:start + SHARD]
        shards.append(cached_vectors(
            "images", encoder.version, chunk,
            lambda chunk=chunk: encoder.encode_documents(
                [Item([Path(p)]) for p in chunk], batch_size=batch_size, show_progress=True)))
    return np.concatenate(shards) if shards else np.zeros((0, encoder.dim), np.float32)


def _dense_system(encoder: Any, doc_ids: list[str], paths: list[str], vectors: np.ndarray,
                  queries: dict[str, str], k: int) -> dict[str, Any]:
    """Rankings and latencies from ``Retriever.search(mode="dense")`` over cached vectors."""
    from nyx import Item
    from nyx.benchmarks.latency import LatencyRecorder
    from nyx.retriever import Retriever

    retriever = Retriever(encoder=encoder, index="faiss", lexical=False)
    retriever.add([Item([Path(p)], id=d) for d, p in zip(doc_ids, paths)], vectors=vectors,
                  batch_size=256)
    recorder = LatencyRecorder()
    run = {}
    for qid, text in queries.items():
        with recorder.measure():
            run[qid] = [r.id for r in retriever.search(text, k=k, mode="dense")]
    retriever.close()
    return {"run": run, "latency": summarize_latencies(recorder.durations_s).to_dict()}


def _random_run(doc_ids: list[str], queries: dict[str, str], k: int) -> dict[str, list[str]]:
    rng = np.random.default_rng(0)
    return {qid: [doc_ids[i] for i in rng.permutation(len(doc_ids))[:k]] for qid in queries}


def _precision_at(run: dict[str, list[str]], qrels: dict[str, dict[str, int]],
                  k: int) -> dict[str, float]:
    return {qid: sum(1 for d in ranked[:k] if qrels[qid].get(d, 0) > 0) / k
            for qid, ranked in run.items()}


def _system_rows(runs: dict[str, dict[str, list[str]]], qrels: dict[str, dict[str, int]],
                 p_k: int) -> dict[str, dict[str, Any]]:
    rows = {}
    for name, run in runs.items():
        scores = evaluate_run(run, qrels, KS)
        precision = _precision_at(run, qrels, p_k)
        rows[name] = {"system": name, **scores,
                      f"p@{p_k}": float(np.mean(list(precision.values())))}
    return rows


def _fashion_analysis(encoder: Any, dataset: Any, vectors: np.ndarray, query_vectors: np.ndarray,
                      run: dict[str, list[str]]) -> dict[str, Any]:
    from nyx.encoders.conse import imagenet_class_names

    classes = list(dataset.metadata["classes"])
    labels = np.array([classes.index(dataset.metadata["labels"][d]) for d in dataset.corpus])
    predicted = (vectors @ query_vectors.T).argmax(axis=1)
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    nearest = (vectors @ encoder.conse.class_vectors.T).argmax(axis=1)
    names = imagenet_class_names()
    precision = _precision_at(run, dataset.qrels, 100)
    rows = []
    for c, name in enumerate(classes):
        total = int(confusion[c].sum())
        off = confusion[c].copy()
        off[c] = -1
        worst = int(off.argmax())
        seen = Counter(nearest[labels == c].tolist()).most_common(2)
        rows.append({
            "class": name, "images": total,
            "accuracy": confusion[c, c] / total if total else float("nan"),
            "p@100": precision.get(f"class-{c}"),
            "confused_with": f"{classes[worst]} ({confusion[c, worst] / max(total, 1):.0%})",
            "predicted_as_this": int(confusion[:, c].sum()),
            "nearest_imagenet": "; ".join(f"{names[j].split(',')[0]} ({n / max(total, 1):.0%})"
                                          for j, n in seen),
        })
    return {"accuracy": float((predicted == labels).mean()), "per_class": rows,
            "confusion": confusion.tolist(), "classes": classes}


def _easy_vqa_analysis(dataset: Any, run: dict[str, list[str]]) -> list[dict[str, Any]]:
    attributes = dataset.metadata["attributes"]
    per_query = per_query_metrics(run, dataset.qrels, (10,))
    rows = []
    for qid, ranked in run.items():
        color, shape = qid.split("-")
        top = [attributes[d] for d in ranked[:10]]
        rows.append({"query": dataset.queries[qid]["text"], "relevant": len(dataset.qrels[qid]),
                     "ndcg@10": per_query[qid]["ndcg@10"],
                     "right_colour@10": sum(a["color"] == color for a in top) / 10,
                     "right_shape@10": sum(a["shape"] == shape for a in top) / 10})
    return rows


def run_images(settings: Any) -> Report:
    from nyx.benchmarks.datasets import load_dataset
    from nyx.benchmarks.peers import nyx_lite

    clock = Stopwatch()
    with clock.phase("load"):
        dataset = load_dataset(settings.dataset, limit=settings.limit)
        encoder = nyx_lite(ocr=settings.ocr)
    doc_ids = list(dataset.corpus)
    paths = [str(dataset.corpus[d]["image"]) for d in doc_ids]
    queries = {q: dataset.queries[q]["text"] for q in dataset.queries}
    with clock.phase("encode-images"):
        vectors = image_vectors(encoder, paths)
    with clock.phase("search"):
        dense = _dense_system(encoder, doc_ids, paths, vectors, queries, settings.k)
    runs = {"nyx-lite dense": dense["run"], "random": _random_run(doc_ids, queries, settings.k)}
    p_k = 100 if settings.dataset == "fashion-mnist" else 10
    rows = _system_rows(runs, dataset.qrels, p_k)
    rows["nyx-lite dense"].update(p50_ms=dense["latency"]["p50_ms"],
                                  p99_ms=dense["latency"]["p99_ms"])
    report = Report("retrieval", f"nyx-lite on {settings.dataset}")
    report.add("Setup", f"{len(doc_ids):,} images, {len(queries)} text queries; encoder "
               f"`{encoder.version}` (OCR {'on' if settings.ocr else 'off'}); image encoding "
               f"{clock.seconds['encode-images']:.0f} s (0 when cached).")
    report.add("Text -> image retrieval", markdown_table(
        list(rows.values()), ["system", "ndcg@10", "recall@10", "recall@100", f"p@{p_k}", "map",
                              "p50_ms", "p99_ms"],
        ["system", "nDCG@10", "R@10", "R@100", f"P@{p_k}", "MAP", "p50 ms", "p99 ms"],
        digits={"p50_ms": 2, "p99_ms": 2}))
    data: dict[str, Any] = {}
    if settings.dataset == "fashion-mnist":
        query_vectors = encoder.encode_queries(list(queries.values()))
        analysis = _fashion_analysis(encoder, dataset, vectors, query_vectors, dense["run"])
        data["zero_shot"] = analysis
        report.add("Zero-shot classification", (
            f"Top-1 accuracy over {len(doc_ids):,} images vs the 10 prompts "
            f"\"{dataset.metadata['prompt']}\": **{analysis['accuracy']:.3f}** (chance 0.100)."
            "\n\n" + markdown_table(analysis["per_class"], [
                "class", "images", "accuracy", "p@100", "confused_with", "predicted_as_this",
                "nearest_imagenet"], ["class", "images", "zero-shot acc", "P@100",
                                      "most confused with", "images predicted as it",
                                      "nearest ImageNet class (share)"])))
    else:
        per_query = _easy_vqa_analysis(dataset, dense["run"])
        data["per_query"] = per_query
        colours = Counter(a["color"] for a in dataset.metadata["attributes"].values())
        shapes = Counter(a["shape"] for a in dataset.metadata["attributes"].values())
        base = {"colour": np.mean([colours[q.split("-")[0]] for q in queries]) / len(doc_ids),
                "shape": np.mean([shapes[q.split("-")[1]] for q in queries]) / len(doc_ids)}
        mean = {k: np.mean([r[f"right_{k}@10"] for r in per_query]) for k in base}
        data["attribute_rates"] = {"nyx_top10": mean, "chance": base}
        report.add("Colour and shape in the top 10", (
            f"Right colour: {mean['colour']:.3f} (chance {base['colour']:.3f}); right shape: "
            f"{mean['shape']:.3f} (chance {base['shape']:.3f}), averaged over the queries."))
        report.add("Per query (nyx-lite dense)", markdown_table(
            per_query, ["query", "relevant", "ndcg@10", "right_colour@10", "right_shape@10"],
            ["query", "relevant images", "nDCG@10", "right colour in top 10",
             "right shape in top 10"]))
    report.add("Wall time", markdown_table([{"phase": k, "seconds": v} for k, v in
                                            clock.to_dict().items()], ["phase", "seconds"]))
    out = Path(settings.out)
    names = list(rows)
    report.plots.append(bar_chart(out / "retrieval-quality.png", names,
                                  {m: [rows[n][m] for n in names]
                                   for m in ("ndcg@10", "recall@5", f"p@{p_k}")},
                                  f"{settings.dataset}: text -> image, nyx-lite vs random"))
    report.data = {"settings": asdict(settings), "dataset": dataset.summary(),
                   "encoder": encoder.version, "systems": rows, "latency": dense["latency"],
                   "machine": machine_info(settings.threads), "wall_s": clock.to_dict(), **data}
    report.write(out)
    return report
