"""Run one research question: each task's systems, aggregators and analyses, with provenance.

>>> from nyx.benchmarks.rq import load_rq_config, run_rq
>>> result = run_rq(load_rq_config("RQ1"), cache_path="reports/rq/cache.sqlite")

``prebuilt`` hands in objects by component name (tests share one loaded generator this way);
``embed`` turns answer texts into vectors for RQ4's map (default: nyx-lite's text tower).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nyx.benchmarks.environment import machine_info
from nyx.benchmarks.rq.analysis import Embedder, preference_stats, scaling_curve
from nyx.benchmarks.rq.config import RetrievalSpec, RQConfig, TaskSpec, rq_types
from nyx.benchmarks.rq.data import TaskData, load_task_data
from nyx.benchmarks.rq.models import model_versions
from nyx.benchmarks.rq.retrievers import ranking_scores
from nyx.benchmarks.rq.systems import (
    DEFAULT_BATCH_SIZE,
    FITTED_AGGREGATORS,
    TRANSFERRED_AGGREGATORS,
    SystemResult,
    aggregate,
    cross_fitted,
    held_out_best,
    paired_bootstrap,
    run_system,
    transferred,
)
from nyx.ensemble.cache import DiskCache
from nyx.ensemble.config import ConfigBuilder, Configurable
from nyx.ensemble.errors import GeneratorUnavailableError
from nyx.ensemble.generators.base import Generator

logger = logging.getLogger(__name__)

__all__ = ["RQResult", "TaskResult", "not_configured_message", "oracle_mean", "run_rq"]


@dataclass
class TaskResult:
    """Every number one task produced."""

    name: str
    dataset: str
    questions: int
    data: dict[str, Any]
    gold: dict[str, list[str]] = field(default_factory=dict)
    systems: dict[str, SystemResult] = field(default_factory=dict)
    #: the best single system on all questions (in-sample; shown, not used for gains)
    best_single: str = ""
    #: the best single chosen on each half of the questions, scored on the other half
    best_single_held_out: tuple[str, str] = ("", "")
    #: that held-out reference's mean scores (``{"f1": ..., "exact_match": ...}``)
    reference: dict[str, float] = field(default_factory=dict)
    gains: dict[str, dict[str, float]] = field(default_factory=dict)
    #: the oracle over the single systems: a question scores its best single system's score
    #: (right when any of them is right), the ceiling an aggregator that picks one of their
    #: answers can reach; ``{"f1": ..., "exact_match": ...}``
    oracle: dict[str, float] = field(default_factory=dict)
    retrieval: dict[str, dict[str, Any]] = field(default_factory=dict)
    scaling: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    preference: dict[str, Any] = field(default_factory=dict)
    models: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0

    def by_role(self, *roles: str) -> list[SystemResult]:
        return [r for r in self.systems.values() if r.role in roles]


@dataclass
class RQResult:
    """A research question's outcome: ``status`` is ``ran``, ``not run`` or ``failed``
    (``partial`` in the reports written while its later tasks still run)."""

    config: RQConfig
    status: str
    message: str = ""
    tasks: list[TaskResult] = field(default_factory=list)
    wall_s: float = 0.0
    environment: dict[str, Any] = field(default_factory=dict)


def not_configured_message(rq: str) -> str:
    return (f"not run: no endpoint configured; run with `nyx-bench rq {rq} --api-url "
            "http://HOST:PORT/v1 --api-model MODEL [--api-key KEY]` (or set NYX_RQ_API_URL, "
            "NYX_RQ_API_MODEL and OPENAI_API_KEY); any OpenAI-compatible server works "
            "(vLLM, llama.cpp, TGI, OpenAI)")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


_DATA: dict[tuple[str, str, int, int], TaskData] = {}


def _task_data(task: TaskSpec, seed: int) -> TaskData:
    key = (task.name, task.dataset, task.limit, seed)
    if key not in _DATA:  # RQs of one `all` run share their samples
        _DATA[key] = load_task_data(task.name, task.dataset, task.limit, seed)
    return _DATA[key]


def _generators(objects: list[Any]) -> list[Generator]:
    found: dict[int, Generator] = {}
    stack = list(objects)
    while stack:
        obj = stack.pop()
        if isinstance(obj, Generator):
            found.setdefault(id(obj), obj)
        if isinstance(obj, Configurable):
            stack.extend(obj.children())
    return sorted(found.values(), key=lambda g: g.model_id)


def _gains(task: TaskResult, seed: int) -> None:
    """Each aggregate's gain over the best single system, chosen on held-out questions, and
    the share of the gap between that reference and the oracle it closes."""
    singles = task.by_role("single")
    task.best_single = max(singles, key=lambda r: (r.mean("f1"), r.mean("exact_match"))).name
    reference = held_out_best(singles, seed)
    task.best_single_held_out = reference.chosen
    task.reference = {m: float(np.mean(reference.scores[m])) for m in ("f1", "exact_match")}
    task.oracle = {m: oracle_mean(singles, m) for m in ("f1", "exact_match")}
    gap = task.oracle["f1"] - task.reference["f1"]
    for r in task.by_role("aggregator", "combined"):
        f1, em = r.per_question("f1"), r.per_question("exact_match")
        low, high = paired_bootstrap(f1, reference.scores["f1"], seed)
        gain = float(np.mean(f1) - np.mean(reference.scores["f1"]))
        task.gains[r.name] = {"f1": gain,
                              "exact_match": float(np.mean(em)
                                                   - np.mean(reference.scores["exact_match"])),
                              "f1_ci95": [low, high],
                              # None: the reference already reaches the oracle
                              "oracle_gap_closed": gain / gap if gap > 1e-12 else None}


def oracle_mean(singles: list[SystemResult], metric: str) -> float:
    """The mean over questions of the best single system's ``metric`` on each question."""
    if not singles:
        raise ValueError("no single systems to take the oracle over")
    return float(np.mean([max(r.scores[q][metric] for r in singles) for q in singles[0].answers]))


def _rank_modules(result: TaskResult, spec: RetrievalSpec, builder: ConfigBuilder,
                  data: TaskData, progress: bool) -> None:
    """Recall@k etc. of each retriever (baselines, singles, fused) named in ``spec``."""
    for role, group in (("baseline", spec.baselines), ("single", spec.singles),
                        ("fused", spec.fused)):
        for label, component in group.items():
            scores = ranking_scores(builder.get(component), data, spec.ks, progress)
            result.retrieval[label] = {"role": role, "component": component, **scores}


def _run_task(config: RQConfig, task: TaskSpec, cache: DiskCache, progress: bool,
              prebuilt: Mapping[str, Any], embed: Embedder | None,
              batch_size: int) -> tuple[TaskResult, TaskData]:
    start = time.perf_counter()
    data = _task_data(task, config.seed)
    _seed_everything(config.seed)
    builder = ConfigBuilder(config.resolved_components(task), {"corpus": data.corpus}, cache,
                            types=rq_types())
    for name, obj in prebuilt.items():
        if hasattr(obj, "cache"):
            obj.cache = cache  # a shared object writes to this run's cache
        builder.built[name] = obj
    result = TaskResult(task.name, data.dataset, data.size, data.metadata, data.answers)
    for role, names in (("single", task.systems), ("baseline", task.baselines)):
        for name in names:
            result.systems[name] = run_system(builder.get(name), data, role, cache, progress,
                                              batch_size)
    members = [result.systems[n] for n in task.systems]
    aggregators = {name: builder.build(spec) for name, spec in task.aggregators.items()}
    for name, aggregator in aggregators.items():
        result.systems[name] = aggregate(name, aggregator, members, data, cache, progress)
    if len(members) > 1 and aggregators and len(data.questions) >= 2:
        halves = held_out_best(members, config.seed).halves
        for name, fit in FITTED_AGGREGATORS.items():
            result.systems[name] = cross_fitted(name, fit, members, data, halves)
    for name in task.combined:
        result.systems[name] = run_system(builder.get(name), data, "combined", cache, progress,
                                          batch_size)
    _gains(result, config.seed)
    if task.retrieval is not None:
        _rank_modules(result, task.retrieval, builder, data, progress)
    if task.scaling is not None:
        metric = task.scaling.metric
        for agg in task.scaling.aggregators:
            def score(combo: tuple[str, ...], agg: str = agg) -> float:
                picked = [result.systems[n] for n in combo]
                name = f"{agg}[{'+'.join(combo)}]"
                return aggregate(name, aggregators[agg], picked, data, cache).mean(metric)
            result.scaling[agg] = [p.to_dict() for p in scaling_curve(task.systems, score)]
    if task.preference is not None:
        chosen = task.preference.aggregators or list(aggregators)
        result.preference = preference_stats(task.preference, members,
                                             [result.systems[a] for a in chosen], embed)
    result.models = model_versions(_generators(list(builder.built.values())))
    result.wall_s = time.perf_counter() - start
    return result, data


def _transfer(tasks: list[tuple[TaskSpec, TaskResult, TaskData]], seed: int) -> None:
    """For each pair of tasks with the same two or more systems (one RQ on several domains):
    the fitted aggregators fitted on every question of one and scored on every question of
    the other (rows ``"learned_selector (fitted on squad)"``...), gains recomputed; the fitted
    models are kept in the task's ``data["fitted"]`` (a learned selector as its saved JSON)."""
    for spec, result, data in tasks:
        members = [result.systems[n] for n in spec.systems]
        if len(members) < 2 or not spec.aggregators:
            continue
        for other_spec, other, _ in tasks:
            if other is result or other_spec.systems != spec.systems:
                continue
            train = [other.systems[n] for n in other_spec.systems]
            for pattern, fit in TRANSFERRED_AGGREGATORS.items():
                name = pattern.format(other.name)
                result.systems[name], model = transferred(name, fit, train, members, data)
                result.data.setdefault("fitted", {})[name] = (
                    model.to_dict() if hasattr(model, "to_dict") else
                    {"tau": model.tau, "measure": model.measure})
        _gains(result, seed)


def run_rq(config: RQConfig, *, cache_path: str | os.PathLike[str],
           progress: bool = True, prebuilt: Mapping[str, Any] | None = None,
           embed: Embedder | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
           on_task: Callable[[RQResult], None] | None = None) -> RQResult:
    """Run every task of ``config``; an RQ that needs an API endpoint and has none is not run.

    Systems answer ``batch_size`` questions at a time (stage by stage where they can); the
    answers are the same for any ``batch_size``, 1 being one question at a time. While tasks
    remain, ``on_task`` is called after each one with the result so far (status ``partial``,
    no cross-domain rows yet): a long run's finished domains can be reported before it ends."""
    start = time.perf_counter()
    environment = machine_info()
    if config.api is not None and not config.api.configured:
        return RQResult(config, "not run", not_configured_message(config.rq),
                        environment=environment)
    cache = DiskCache(Path(cache_path))
    out = RQResult(config, "ran", environment=environment)
    try:
        ran = []
        for task in config.tasks:
            logger.info("%s: task %s (%s, %d questions, seed %d)", config.rq, task.name,
                        task.dataset, task.limit, config.seed)
            result, data = _run_task(config, task, cache, progress, prebuilt or {}, embed,
                                     batch_size)
            ran.append((task, result, data))
            out.tasks.append(result)
            left = [t.name for t in config.tasks[len(ran):]]
            if on_task is not None and left:
                done = ", ".join(t.name for t in out.tasks)
                on_task(dataclasses.replace(
                    out, tasks=list(out.tasks), status="partial",
                    wall_s=time.perf_counter() - start,
                    message=f"partial: {len(ran)} of {len(config.tasks)} tasks done ({done}); "
                            f"still running: {', '.join(left)}. Cross-domain rows come at "
                            "the end"))
        _transfer(ran, config.seed)
    except GeneratorUnavailableError as error:
        out.status = "failed"
        out.message = f"failed: the generator endpoint is unavailable: {error}"
        logger.error("%s %s", config.rq, out.message)
    except ImportError as error:  # like RQ2 without an endpoint: say what to install
        out.status = "not run"
        out.message = f"not run: a model it needs is not installed: {error}"
        logger.error("%s %s", config.rq, out.message)
    out.wall_s = time.perf_counter() - start
    return out
