"""The shipped RQ configs load and check; includes, overrides and the ``rq`` command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nyx.benchmarks import cli
from nyx.benchmarks.rq import RQ_NAMES, load_rq_config
from nyx.benchmarks.rq.cli import _command, expand_names
from nyx.benchmarks.rq.config import CONFIG_DIR


@pytest.mark.parametrize("rq", RQ_NAMES)
def test_every_shipped_config_loads(rq: str) -> None:
    config = load_rq_config(rq)
    assert config.rq == rq and config.title and config.tasks
    for task in config.tasks:
        assert task.limit >= 1 and task.systems
        known = config.resolved_components(task)
        assert all(name in known for name in task.component_names())
    assert load_rq_config(CONFIG_DIR / f"{rq}.yaml").to_dict() == config.to_dict()


def test_the_user_model_example_loads() -> None:
    config = load_rq_config(CONFIG_DIR / "RQ5-endpoints.yaml")
    types = {config.components[n]["type"] for n in ("api_a", "api_b", "vllm_c")}
    assert types == {"openai", "vllm"} and config.tasks[0].combined


def test_the_questions_use_what_they_promise() -> None:
    rq1, rq3, rq4 = (load_rq_config(n) for n in ("RQ1", "RQ3", "RQ4"))
    assert {t.dataset for t in rq1.tasks} == {"squad-dev", "easy-vqa-qa"}
    assert set(rq1.tasks[0].aggregators) == {"majority_vote", "entropy_vote", "selection",
                                             "selection_5_orders", "generative_fusion"}
    assert rq1.tasks[0].aggregators["selection_5_orders"]["permutations"] == 5
    assert rq3.tasks[0].scaling is not None and rq4.tasks[0].preference is not None
    assert rq3.tasks[0].systems == rq1.tasks[0].systems == rq4.tasks[0].systems
    rq5 = load_rq_config("RQ5")
    generators = {rq5.components[n]["model"] for n in ("llm", "gemma", "llm_chat")}
    assert generators == {"smollm2-135m-instruct", "gemma-3-270m"}
    # the decisive-size run: RQ1's five systems on the three text domains, 1,000 each
    domains = load_rq_config(CONFIG_DIR / "RQ1-domains.yaml")
    assert [(t.dataset, t.limit) for t in domains.tasks] == [
        ("squad-dev", 1000), ("squad-shifts-amazon", 1000), ("squad-shifts-new-wiki", 1000)]
    assert all(t.systems == rq1.tasks[0].systems for t in domains.tasks)
    # RQ3 and RQ4 on the same questions: RQ1-domains' call cache answers every member
    for name in ("RQ3-domains.yaml", "RQ4-domains.yaml"):
        same = load_rq_config(CONFIG_DIR / name)
        assert same.seed == domains.seed and same.components == domains.components
        assert [(t.name, t.dataset, t.limit, t.systems) for t in same.tasks] == [
            (t.name, t.dataset, t.limit, t.systems) for t in domains.tasks]
        assert all(t.scaling or t.preference for t in same.tasks)
    for rq in ("RQ6", "RQ7"):
        spec = load_rq_config(rq).tasks[0].retrieval
        assert spec is not None and len(spec.singles) >= 2 and spec.fused


def test_api_placeholders_and_overrides() -> None:
    rq2 = load_rq_config("RQ2")
    assert rq2.api is not None and not rq2.api.configured
    ready = rq2.with_overrides(limit=3, seed=7, api_url="http://127.0.0.1:9/v1",
                               api_model="stub", api_key_env="MY_KEY")
    assert ready.api is not None and ready.api.configured and ready.seed == 7
    assert {t.limit for t in ready.tasks} == {3}
    llm = ready.resolved_components()["api_llm"]
    assert (llm["base_url"], llm["model"], llm["api_key_env"]) == (
        "http://127.0.0.1:9/v1", "stub", "MY_KEY")
    assert rq2.tasks[0].limit == 30  # the original is unchanged


def test_tasks_picks_a_configs_tasks_by_name() -> None:
    domains = load_rq_config(CONFIG_DIR / "RQ1-domains.yaml")
    assert [t.name for t in domains.tasks] == ["squad", "amazon", "new-wiki"]
    picked = domains.with_overrides(tasks=["new-wiki", "squad"], limit=5)
    assert [(t.name, t.limit) for t in picked.tasks] == [("squad", 5), ("new-wiki", 5)]
    with pytest.raises(ValueError, match="no task 'nyt'.*squad, amazon, new-wiki"):
        domains.with_overrides(tasks=["nyt"])


def test_include_merges_components_and_errors_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(
        {"components": {"llm": {"type": "transformers"}, "bm25": {"type": "bm25",
                                                                   "corpus": "corpus"}}}))
    doc = {"rq": "RQ1", "title": "t", "include": "base.yaml",
           "components": {"seq": {"type": "sequential", "generator": "llm",
                                  "retriever": "bm25"}},
           "tasks": [{"name": "x", "systems": ["seq"]}]}
    path = tmp_path / "RQ1.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert set(load_rq_config(path).components) == {"llm", "bm25", "seq"}
    path.write_text(yaml.safe_dump({**doc, "tasks": [{"name": "x", "systems": ["nope"]}]}))
    with pytest.raises(ValueError, match="not defined.*nope"):
        load_rq_config(path)
    path.write_text(yaml.safe_dump({**doc, "tasks": [{"name": "x", "systems": ["seq"],
                                                      "aggregatorz": {}}]}))
    with pytest.raises(ValueError, match="aggregatorz"):
        load_rq_config(path)
    path.write_text(yaml.safe_dump({**doc, "tasks": [{"name": "x", "systems": ["seq"],
                                                      "aggregators": {"v": {"type": "vote"}}}]}))
    with pytest.raises(ValueError, match="aggregator 'v'"):
        load_rq_config(path)


def test_names_and_the_command_line() -> None:
    assert expand_names(["all"]) == list(RQ_NAMES)
    assert expand_names(["rq3", "RQ1", "rq3"]) == ["RQ3", "RQ1"]
    assert expand_names(["RQ1", "my/RQ5.yaml"]) == ["RQ1", "my/RQ5.yaml"]
    with pytest.raises(SystemExit):
        expand_names(["RQ9"])
    parser, modules = cli.build_parser()
    assert modules["rq"] is not None
    args = parser.parse_args(["rq", "RQ2", "--limit", "5", "--api-key", "secret"])
    assert args.command == "rq" and args.limit == 5
    assert _command(args) == "nyx-bench rq RQ2 --limit 5 --api-key '***'"
