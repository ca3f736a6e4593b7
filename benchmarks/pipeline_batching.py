"""``nyx-bench pipeline-batching``: questions/s of an RQ system, one question at a time vs
stage by stage in batches.

The system is built from an RQ config (default RQ1's ``sequential``: SmolLM2-135M in bfloat16,
BM25 + cross-encoder, 2 passages, 8 new tokens) over the same seeded SQuAD-dev sample the RQ
draws. It answers every question twice through :func:`~nyx.benchmarks.rq.systems.run_system`,
with ``batch_size=1`` (``System.run`` per question, as before batching) and with
``--batch-size`` (one retrieval call, then one generation call, per batch), each time with
fresh components and no call cache. The two runs' generated texts, answers and documents
are checked to be identical; their log-probabilities differ by float32 rounding (a padded batch
sums in another order than a batch of one), which the report states.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from nyx.benchmarks.environment import limit_threads, machine_info
from nyx.benchmarks.report import Report, markdown_table

logger = logging.getLogger(__name__)

__all__ = ["add_arguments", "measure", "run"]


def _decided(answer: Any) -> tuple[str, str, list[str]]:
    """What greedy decoding and ranking decide: the texts and the documents' ids."""
    return answer.text, answer.raw_text, [d.id for d in answer.documents]


def _run(rq: str, task_name: str, system: str, retriever: str | None, questions: int,
         batch_size: int) -> Any:
    """``system`` of ``rq``'s task, freshly built (no cache), over ``questions`` questions."""
    from nyx.benchmarks.rq.config import load_rq_config, rq_types
    from nyx.benchmarks.rq.data import load_task_data
    from nyx.benchmarks.rq.systems import run_system
    from nyx.ensemble.config import ConfigBuilder

    config = load_rq_config(rq)
    task = next((t for t in config.tasks if t.name == task_name), None)
    if task is None:
        raise SystemExit(f"nyx-bench pipeline-batching: {rq} has no task {task_name!r}; "
                         f"tasks: {', '.join(t.name for t in config.tasks)}")
    components = config.resolved_components(task)
    if retriever is not None:
        components["retriever"] = retriever
    data = load_task_data(task.name, task.dataset, questions, config.seed)
    builder = ConfigBuilder(components, {"corpus": data.corpus}, None, types=rq_types())
    built = builder.get(system)
    built.run(next(iter(data.questions.values())))  # load the models before the clock starts
    return run_system(built, data, progress=True, batch_size=batch_size), data


def measure(rq: str, task: str, system: str, retriever: str | None, questions: int,
            batch_size: int, threads: int, out: str) -> Report:
    limit_threads(threads)
    one, data = _run(rq, task, system, retriever, questions, 1)
    many, _ = _run(rq, task, system, retriever, questions, batch_size)
    pairs = [(one.answers[q], many.answers[q]) for q in data.questions]
    same = sum(_decided(a) == _decided(b) for a, b in pairs)
    drift = max((abs(x - y) for a, b in pairs
                 for x, y in zip(a.token_logprobs, b.token_logprobs)), default=0.0)
    rows = [{"how": "one question at a time (batch_size=1)", "wall_s": one.wall_s,
             "questions_per_s": data.size / one.wall_s, "f1": one.mean("f1")},
            {"how": f"stage by stage, batch_size={batch_size}", "wall_s": many.wall_s,
             "questions_per_s": data.size / many.wall_s, "f1": many.mean("f1")}]
    speedup = one.wall_s / many.wall_s
    report = Report("pipeline-batching",
                    f"{rq}/{task} {system}: questions/s, one at a time vs batched")
    report.add("Questions per second", markdown_table(
        rows, ["how", "wall_s", "questions_per_s", "f1"],
        ["how", "seconds", "questions/s", "F1"],
        digits={"wall_s": 1, "questions_per_s": 3, "f1": 3}) +
        f"\n\n{data.size} {data.dataset} questions (the RQ's seeded sample), "
        f"{same} of {data.size} answers identical (generated text, answer, documents), "
        f"log-probabilities within {drift:.1e} (float32 rounding of padded batches), "
        f"speed-up {speedup:.2f}x, {threads} threads.")
    report.data = {"rows": rows, "identical": same, "logprob_drift": drift,
                   "questions": data.size, "rq": rq,
                   "task": task, "system": system, "retriever": retriever,
                   "batch_size": batch_size, "speedup": speedup,
                   "machine": machine_info(threads)}
    report.write(Path(out))
    if same != data.size:
        logger.warning("%d of %d answers differ between the batched and the unbatched run",
                       data.size - same, data.size)
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rq", default="RQ1", help="RQ config the system comes from")
    parser.add_argument("--task", default="squad", help="task of that RQ (its data set)")
    parser.add_argument("--system", default="sequential", help="component name of the system")
    parser.add_argument("--retriever", default=None,
                        help="component the pipelines read as 'retriever' (default: the RQ's)")
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="reports/pipeline-batching")


def run(args: argparse.Namespace) -> int:
    report = measure(args.rq, args.task, args.system, args.retriever, args.questions,
                     args.batch_size, args.threads, args.out)
    print(report.markdown())
    return 0 if report.data["identical"] == report.data["questions"] else 1
