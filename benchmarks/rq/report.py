"""One RQ's report: Markdown tables, a JSON of every number and setting, answers, PNG plots
(bar charts from :mod:`nyx.benchmarks.report`; here the scaling band and the answer map).

``<out>/<RQn>/<RQn>.md``, ``<RQn>.json``, ``<RQn>.answers.jsonl`` and ``<RQn>-*.png``. Scores
are percentages; a gain is an aggregate's score minus the best single system's (by F1), with
a 95% paired-bootstrap interval over questions (small samples: read the interval). The best
single system is chosen by 2-fold cross-fitting: each half of the questions is compared with the
system that is best on the other half, so the reference's luck on a question does not count.
The oracle row scores each question by its best single system (right when any is right): the
ceiling for an aggregator that picks one of their answers; "share of oracle gap" is an
aggregate's F1 gain divided by the oracle's.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nyx.benchmarks.report import (
    Report,
    _pyplot,
    bar_chart,
    markdown_table,
    save_figure,
    to_jsonable,
)
from nyx.benchmarks.rq.runner import RQResult, TaskResult

logger = logging.getLogger(__name__)

__all__ = ["answer_map_chart", "main_table", "scaling_chart", "write_report"]

PCT = 100.0


def scaling_chart(path: Path, curves: Mapping[str, Sequence[Mapping[str, Any]]], title: str,
                  ylabel: str, singles: Mapping[str, float] | None = None) -> Path:
    """Mean score over all combinations of k systems, the min-max band, and the singles."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    for label, points in curves.items():
        ks = [p["k"] for p in points]
        line = ax.plot(ks, [p["mean"] for p in points], marker="o", label=f"{label} (mean)")
        ax.fill_between(ks, [p["min"] for p in points], [p["max"] for p in points],
                        alpha=0.15, color=line[0].get_color(), label=f"{label} (min-max)")
    values = list((singles or {}).values())
    if values:
        ax.scatter([1] * len(values), values, marker="x", s=30, color="gray",
                   label="single systems", zorder=3)
    ax.set_xlabel("number of aggregated systems k (all combinations)")
    ax.set_ylabel(ylabel)
    ax.set_xticks(sorted({p["k"] for pts in curves.values() for p in pts}))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, plt, path)


def answer_map_chart(path: Path, points: Sequence[Mapping[str, Any]], title: str,
                     highlight: str | None = None) -> Path:
    """Answers in 2-D (PCA of their embeddings), one colour per system; ``highlight`` (the
    ensemble) is drawn as larger hollow markers on top. Systems that give the same answer land
    on the same point, so each system's points are shifted by a small fixed offset."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 5.5))
    systems = list(dict.fromkeys(p["system"] for p in points))
    spread = max([abs(p["x"]) for p in points] + [abs(p["y"]) for p in points] + [1e-9])
    for n, system in enumerate(systems):
        angle = 2 * math.pi * n / max(len(systems), 1)
        dx, dy = (0.02 * spread * math.cos(angle), 0.02 * spread * math.sin(angle))
        if system == highlight:
            dx = dy = 0.0
        xs = [p["x"] + dx for p in points if p["system"] == system]
        ys = [p["y"] + dy for p in points if p["system"] == system]
        if system == highlight:
            ax.scatter(xs, ys, s=90, facecolors="none", edgecolors="black", linewidths=1.2,
                       label=f"{system} (ensemble)", zorder=3)
        else:
            ax.scatter(xs, ys, s=22, alpha=0.7, label=system)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return save_figure(fig, plt, path)


def _pct(value: float | None) -> float | None:
    return None if value is None else PCT * value


def main_table(task: TaskResult) -> str:
    """Each single system, each aggregate, and each aggregate's gain over the best single
    (chosen on held-out questions; the "(best single)" mark is the in-sample best), the share
    of the oracle's gain it reaches, and the oracle over the single systems."""
    rows = []
    for r in task.systems.values():
        gain = task.gains.get(r.name, {})
        low, high = gain.get("f1_ci95", [None, None])
        closed = gain.get("oracle_gap_closed")
        rows.append({"system": r.name + (" (best single)" if r.name == task.best_single else ""),
                     "role": r.role, "EM": _pct(r.mean("exact_match")), "F1": _pct(r.mean("f1")),
                     "contains": _pct(r.mean("contains")),
                     "gold passage": _pct(r.mean("gold_passage")),
                     "ΔF1 vs held-out best": _pct(gain.get("f1")),
                     "ΔEM vs held-out best": _pct(gain.get("exact_match")),
                     "ΔF1 95% CI": f"[{PCT * low:+.1f}, {PCT * high:+.1f}]" if gain else "",
                     "share of oracle gap": f"{PCT * closed:+.0f}%" if closed is not None else "",
                     "wall s": r.wall_s, "errors": len(r.errors)})
    if task.oracle and task.reference:
        rows.append({"system": "oracle (best single per question)", "role": "ceiling",
                     "EM": _pct(task.oracle["exact_match"]), "F1": _pct(task.oracle["f1"]),
                     "ΔF1 vs held-out best": _pct(task.oracle["f1"] - task.reference["f1"]),
                     "ΔEM vs held-out best": _pct(task.oracle["exact_match"]
                                                  - task.reference["exact_match"]),
                     "share of oracle gap": "100%"})
    columns = ["system", "role", "EM", "F1", "contains", "gold passage", "ΔF1 vs held-out best",
               "ΔEM vs held-out best", "ΔF1 95% CI", "share of oracle gap", "wall s", "errors"]
    return markdown_table(rows, columns, digits={c: 1 for c in columns})


def _retrieval_table(task: TaskResult, ks: list[int]) -> str:
    rows = [{"retriever": label, "role": r["role"],
             **{f"recall@{k}": _pct(r.get(f"recall@{k}")) for k in ks},
             f"MRR@{max(ks)}": _pct(r.get(f"mrr@{max(ks)}")), "wall s": r["wall_s"]}
            for label, r in task.retrieval.items()]
    columns = ["retriever", "role", *[f"recall@{k}" for k in ks], f"MRR@{max(ks)}", "wall s"]
    return markdown_table(rows, columns, digits={c: 1 for c in columns})


def _setup(result: RQResult, task: TaskResult) -> str:
    config = result.config
    spec = next(t for t in config.tasks if t.name == task.name)
    lines = [f"- data: `{task.dataset}`, {task.questions} questions drawn with seed "
             f"{config.seed} from {task.data.get('sampled_from')} ({task.data.get('source')})",
             f"- single systems: {', '.join(spec.systems)}"
             + (f"; baselines: {', '.join(spec.baselines)}" if spec.baselines else ""),
             f"- answer-level aggregators: {', '.join(spec.aggregators) or '-'}"
             + (f"; module-level aggregates: {', '.join(spec.combined)}" if spec.combined
                else ""),
             f"- wall time of this task: {task.wall_s:.0f} s (cached calls cost ~0 s)"]
    if task.gains:
        first, second = task.best_single_held_out
        lines.append(f"- gains are against the best single system chosen on the other half of "
                     f"the questions (2-fold, seed {config.seed}): {first} (chosen on half 1, "
                     f"compared on half 2) and {second} (chosen on half 2, compared on half 1)")
    if "caption_accuracy_on_sampled_images" in task.data:
        acc = task.data["caption_accuracy_on_sampled_images"]
        lines.append(f"- image -> text: {task.data['caption_surrogate']}; caption right "
                     f"(colour and shape) for {PCT * acc['both']:.1f}% of "
                     f"{acc['images']} sampled images")
    models = [{"model": m["model_id"], "weights": m.get("package") or m.get("endpoint", "-"),
               "version": m.get("package_version") or "-",
               "decoding": ", ".join(f"{k}={v}" for k, v in m["generation"].items()
                                     if k in ("temperature", "top_p", "seed"))}
              for m in task.models]
    return "\n".join(lines) + "\n\n" + markdown_table(models, ["model", "weights", "version",
                                                              "decoding"])


def _preference_sections(report: Report, task: TaskResult, out: Path, stem: str) -> None:
    pref = task.preference
    for agg, stats in pref["aggregators"].items():
        rows = [{"system": n, "agreement": _pct(stats["agreement"][n]),
                 "sole agreement": _pct(stats["sole_agreement"][n]),
                 "answer taken from": _pct((stats["chosen"] or {}).get(n)),
                 "own F1": _pct(task.systems[n].mean("f1"))} for n in stats["agreement"]]
        report.add(f"{task.name}: whom does `{agg}` agree with? (% of questions)",
                   markdown_table(rows, list(rows[0]), digits={c: 1 for c in rows[0]}))
    names = list(pref["pairwise"])
    report.add(f"{task.name}: pairwise agreement of the systems (%)", markdown_table(
        [{"system": a, **{b: _pct(pref["pairwise"][a][b]) for b in names}} for a in names],
        ["system", *names], digits=dict.fromkeys(names, 1)))
    report.plots.append(bar_chart(
        out / f"{stem}-agreement.png", names,
        {agg: [s["agreement"][n] for n in names] for agg, s in pref["aggregators"].items()},
        f"{task.name}: share of questions where the ensemble's answer equals the system's",
        ylabel="agreement"))
    points = pref.get("map", {}).get("points", [])
    if points:
        spec_map = next((p["system"] for p in points if p["system"] not in names), None)
        report.plots.append(answer_map_chart(
            out / f"{stem}-answer-map.png", points,
            f"{task.name}: answers embedded with nyx-lite text vectors, PCA to 2-D", spec_map))


def _task_sections(report: Report, result: RQResult, task: TaskResult, out: Path) -> None:
    stem = f"{result.config.rq}-{task.name}"
    spec = next(t for t in result.config.tasks if t.name == task.name)
    report.add(f"{task.name}: setup", _setup(result, task))
    report.add(f"{task.name}: scores (%, {task.questions} questions)", main_table(task))
    names = list(task.systems)
    report.plots.append(bar_chart(
        out / f"{stem}-scores.png", names,
        {"F1": [task.systems[n].mean("f1") for n in names],
         "EM": [task.systems[n].mean("exact_match") for n in names]},
        f"{result.config.rq} {task.name}: single systems and aggregates", ylabel="score"))
    if task.retrieval and spec.retrieval is not None:
        ks = spec.retrieval.ks
        report.add(f"{task.name}: retrieval quality (%)", _retrieval_table(task, ks))
        labels = list(task.retrieval)
        report.plots.append(bar_chart(
            out / f"{stem}-recall.png", labels,
            {f"recall@{k}": [task.retrieval[lb][f"recall@{k}"] for lb in labels] for k in ks},
            f"{task.name}: recall@k of each module and the fused ones", ylabel="recall"))
    if task.scaling:
        metric = spec.scaling.metric if spec.scaling else "f1"
        for agg, points in task.scaling.items():
            report.add(f"{task.name}: `{agg}` vs number of systems ({metric}, %)", markdown_table(
                [{"k": p["k"], "combinations": p["combinations"], "mean": _pct(p["mean"]),
                  "min": _pct(p["min"]), "max": _pct(p["max"])} for p in points],
                ["k", "combinations", "mean", "min", "max"],
                digits={"mean": 1, "min": 1, "max": 1}))
        report.plots.append(scaling_chart(
            out / f"{stem}-scaling.png", task.scaling,
            f"{task.name}: {metric} vs number of aggregated systems", metric,
            {n: task.systems[n].mean(metric) for n in spec.systems}))
    if task.preference:
        _preference_sections(report, task, out, stem)


def _answers_jsonl(result: RQResult, path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for task in result.tasks:
            for r in task.systems.values():
                for qid, a in r.answers.items():
                    handle.write(json.dumps({"task": task.name, "system": r.name, "role": r.role,
                                             "id": qid, "question": a.question,
                                             "prediction": a.text, "raw": a.raw_text,
                                             "gold": task.gold.get(qid),
                                             **r.scores.get(qid, {}),
                                             # whose answer an aggregator took, if it says
                                             "chosen_system": a.metadata.get("chosen_system"),
                                             "error": r.errors.get(qid)}) + "\n")


def write_report(result: RQResult, out_dir: Path, command: str = "") -> dict[str, Path]:
    """Write the Markdown, JSON, answers and plots of one RQ into ``out_dir/<RQn>/``."""
    config = result.config
    out = out_dir / config.rq
    report = Report(config.rq, f"{config.rq}: {config.title}")
    status = result.message or f"ran in {result.wall_s:.0f} s"
    report.add("Status", f"{status}\n\nCommand: `{command}`" if command else status)
    for task in result.tasks:
        _task_sections(report, result, task, out)
    if config.notes:
        report.add("Notes", config.notes)
    report.data = {"rq": config.rq, "title": config.title, "status": result.status,
                   "message": result.message, "command": command, "wall_s": result.wall_s,
                   "config": config.to_dict(), "environment": result.environment,
                   "tasks": [_task_json(t) for t in result.tasks]}
    files = report.write(out)
    if result.tasks:
        files["answers"] = out / f"{config.rq}.answers.jsonl"
        _answers_jsonl(result, files["answers"])
    return files


def _task_json(task: TaskResult) -> dict[str, Any]:
    return to_jsonable({"name": task.name, "dataset": task.dataset,
                        "questions": task.questions, "data": task.data,
                        "best_single": task.best_single,
                        "best_single_held_out": list(task.best_single_held_out),
                        "systems": {n: r.summary() for n, r in task.systems.items()},
                        "gains_vs_best_single": task.gains, "reference": task.reference,
                        "oracle": task.oracle,
                        "retrieval": task.retrieval,
                        "scaling": task.scaling, "preference": task.preference,
                        "models": task.models, "wall_s": task.wall_s})
