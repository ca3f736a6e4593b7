"""Evaluate RAG pipelines and ensembles from a YAML config on SQuAD dev: EM / F1 / wall time.

    python -m nyx.benchmarks.rag_eval --config benchmarks/configs/ensemble/squad.yaml --limit 100 \\
        --out reports/rag_eval

The config is an :mod:`nyx.ensemble.config` document with two extra keys: ``dataset`` (a name for
:func:`nyx.benchmarks.datasets.load_dataset`, default ``squad-dev``) and ``evaluate`` (the names
of the components to score, in order). The data set's passages are handed to the config as
the resource ``corpus``. Every generator and retriever call goes through the on-disk cache
named by ``cache``, so an interrupted run resumes where it stopped and ensembles re-use their
members' work (an ensemble's wall time then covers only the aggregation). Systems are run
question by question, so a run stopped early has scored all of them on the same questions;
results are rewritten after each question into the ``--out`` folder (as for ``nyx-bench``):
``<config>.json`` (summary), ``<config>.md`` (table, at the end) and ``<config>.answers.jsonl``
(every answer). An ``--out`` ending in ``.json`` names the summary file itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from nyx.answer_metrics import answer_contains, exact_match, token_f1
from nyx.benchmarks.datasets import load_dataset
from nyx.benchmarks.datasets.sources import DATA_DIR_ENV
from nyx.ensemble.cache import DiskCache
from nyx.ensemble.config import ConfigBuilder, load_config
from nyx.ensemble.passages import Corpus

logger = logging.getLogger("nyx.benchmarks.rag_eval")

__all__ = ["evaluate_systems", "format_table", "main", "run_config", "score_answer"]


METRICS = ("exact_match", "f1", "contains", "gold_passage")


def score_answer(answer: Any, golds: list[str], gold_docs: dict[str, int]) -> dict[str, float]:
    return {"exact_match": exact_match(answer.text, golds),
            "f1": token_f1(answer.text, golds),
            "contains": answer_contains(answer.text, golds),
            "gold_passage": float(any(d.id in gold_docs for d in answer.documents))}


def evaluate_systems(systems: dict[str, Any], questions: dict[str, str],
                     answers: dict[str, list[str]], qrels: dict[str, dict[str, int]],
                     on_question: Callable[[dict[str, Any]], None] | None = None,
                     answers_file: Path | None = None,
                     progress: bool = False) -> dict[str, Any]:
    """Run every system on every question, question by question.

    Question-major order keeps the systems comparable at any moment: a run stopped early has
    scored every system on the same first questions. ``on_question`` gets the summary so far
    after each question. A system that raises is recorded as failed and skipped from then on.
    ``progress`` shows a bar over the questions with each system's running EM.
    """
    totals = {name: dict.fromkeys(METRICS, 0.0) for name in systems}
    seconds = dict.fromkeys(systems, 0.0)
    failed: dict[str, str] = {}
    summary: dict[str, Any] = {}
    handle = answers_file.open("a", encoding="utf-8") if answers_file else None
    bar = tqdm(total=len(questions), desc="questions", unit="q", disable=not progress)
    try:
        for n, (qid, question) in enumerate(questions.items(), 1):
            for name, system in systems.items():
                if name in failed:
                    continue
                start = time.perf_counter()
                try:
                    answer = system.run(question)
                except Exception as error:  # one broken system must not stop the others
                    logger.exception("%s failed on %s; skipping it from now on", name, qid)
                    failed[name] = f"{type(error).__name__}: {error}"
                    continue
                seconds[name] += time.perf_counter() - start
                scores = score_answer(answer, answers[qid], qrels.get(qid, {}))
                for key, value in scores.items():
                    totals[name][key] += value
                if handle is not None:
                    handle.write(json.dumps({
                        "system": name, "id": qid, "question": question,
                        "prediction": answer.text, "raw": answer.raw_text,
                        "gold": answers[qid], **scores, "mean_entropy": answer.mean_entropy,
                        "confidence": answer.confidence}) + "\n")
                    handle.flush()
            summary = {name: ({"error": failed[name]} if name in failed else {
                **{k: v / n for k, v in totals[name].items()}, "num_questions": n,
                "wall_s": seconds[name], "s_per_question": seconds[name] / n})
                for name in systems}
            if on_question is not None:
                on_question(summary)
            bar.update(1)
            bar.set_postfix_str(", ".join(f"{k} EM {v['exact_match']:.2f}"
                                          for k, v in summary.items() if "error" not in v))
            if n % 5 == 0:
                logger.info("%d/%d questions: %s", n, len(questions), ", ".join(
                    f"{k} EM {v['exact_match']:.2f}" for k, v in summary.items()
                    if "error" not in v))
    finally:
        bar.close()
        if handle is not None:
            handle.close()
    return summary


def summary_path(out: Path, config_path: str) -> Path:
    """``--out`` as a folder (``DIR/<config stem>.json``) unless it names a ``.json`` file."""
    return out if out.suffix == ".json" else out / f"{Path(config_path).stem}.json"


def run_config(config_path: str, limit: int, out: Path, systems: list[str] | None = None,
               cache: str | None = None, progress: bool = False) -> dict[str, Any]:
    """Evaluate the config's systems; ``out`` is the summary file (see :func:`summary_path`)."""
    config = load_config(config_path)
    dataset = load_dataset(config.get("dataset", "squad-dev"), limit=limit)
    corpus = Corpus({doc_id: dict(doc) for doc_id, doc in dataset.corpus.items()}, name="corpus")
    names = systems or list(config.get("evaluate", []))
    if not names:
        raise SystemExit(f"{config_path} lists nothing under `evaluate:` and no --systems given")
    disk_cache = DiskCache(cache or config.get("cache") or out.with_suffix(".cache.sqlite"))
    builder = ConfigBuilder(config.get("components"), {"corpus": corpus}, disk_cache)
    questions = {qid: q["text"] for qid, q in dataset.queries.items()}
    report: dict[str, Any] = {"config": str(config_path), "dataset": dataset.name,
                              "questions": len(questions), "cache": str(disk_cache.path),
                              "systems": {}}
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(summary: dict[str, Any]) -> None:
        report["systems"] = summary
        report["cache_hits"], report["cache_misses"] = disk_cache.hits, disk_cache.misses
        out.write_text(json.dumps(report, indent=2))

    logger.info("evaluating %s on %d questions", names, len(questions))
    evaluate_systems({name: builder.get(name) for name in names}, questions, dataset.answers,
                     dataset.qrels, save, out.with_name(out.stem + ".answers.jsonl"), progress)
    return report


def format_table(report: dict[str, Any]) -> str:
    lines = ["| system | questions | EM | F1 | contains | gold passage | wall s | s/question |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in report["systems"].items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error']} | | | | | | |")
            continue
        lines.append(f"| {name} | {r['num_questions']} | {100 * r['exact_match']:.1f} | "
                     f"{100 * r['f1']:.1f} | "
                     f"{100 * r['contains']:.1f} | {100 * r['gold_passage']:.1f} | "
                     f"{r['wall_s']:.0f} | {r['s_per_question']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="benchmarks/configs/ensemble/squad.yaml")
    parser.add_argument("--limit", type=int, default=100, help="number of SQuAD questions")
    parser.add_argument("--out", type=Path, default=Path("reports/rag_eval"),
                        help="folder for <config>.json, .md and .answers.jsonl (default "
                             "reports/rag_eval); a path ending in .json names the summary")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--systems", default=None,
                        help="comma-separated component names (default: the config's evaluate)")
    parser.add_argument("--cache", default=None, help="cache file (default: the config's)")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="folder holding the real data files, laid out like ../shared/data "
                             "(default: $NYX_DATA_DIR, then the cache, then the files' sources)")
    args = parser.parse_args(argv)
    if args.data_dir:
        os.environ[DATA_DIR_ENV] = os.path.abspath(args.data_dir)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = summary_path(args.out, args.config)
    report = run_config(args.config, args.limit, out,
                        args.systems.split(",") if args.systems else None, args.cache,
                        progress=not args.no_progress)
    table = format_table(report)
    out.with_suffix(".md").write_text(table + "\n")
    logger.info("results in %s\n%s", out, table)


if __name__ == "__main__":
    main()
