"""Pipelines and ensembles from dicts / YAML files and back (round trips), without models."""

from __future__ import annotations

import pytest
import yaml

from nyx.ensemble import (
    BM25Retriever,
    Ensemble,
    EntropyVote,
    FusedRetriever,
    SequentialPipeline,
    TransformersGenerator,
    build,
    load_config,
    save_config,
    to_config,
)
from nyx.ensemble.config import ConfigBuilder, available_types

DOC = {
    "cache": None,
    "components": {
        "llm": {"type": "transformers", "model": "smollm2-135m-instruct", "dtype": "bfloat16",
                "generation": {"max_new_tokens": 8, "stop": ["\n"]}},
        "bm25": {"type": "bm25", "corpus": "squad", "k1": 1.2},
        "fused": {"type": "fused", "retrievers": ["bm25", {"type": "bm25", "corpus": "squad"}],
                  "method": "combmnz"},
        "seq": {"type": "sequential", "generator": "llm", "retriever": "fused", "k": 2},
    },
    "pipeline": {
        "type": "ensemble",
        "name": "all",
        "systems": [
            "seq",
            {"type": "iter_retgen", "name": "iter", "generator": "llm", "retriever": "bm25",
             "rounds": 2},
            {"type": "replug", "name": "replug", "generator": "llm", "retriever": "bm25",
             "temperature": 0.5},
            {"type": "sure", "name": "sure", "generator": "llm", "retriever": "bm25"},
            {"type": "self_rag", "name": "self_rag", "generator": "llm", "retriever": "bm25"},
            {"type": "flare", "name": "flare", "generator": "llm", "retriever": "bm25",
             "threshold": 0.3},
            {"type": "agentic", "name": "agent", "generator": "llm", "retriever": "bm25",
             "max_calls": 2},
        ],
        "aggregator": {"type": "generative_fusion", "generator": "llm", "max_new_tokens": 12},
    },
}


def _doc():
    doc = {k: v for k, v in DOC.items() if v is not None}
    return yaml.safe_load(yaml.safe_dump(doc))  # a deep copy


def test_build_resolves_names_and_shares_components(corpus):
    system = build(_doc(), resources={"squad": corpus})
    assert isinstance(system, Ensemble) and system.name == "all"
    assert [s.name for s in system.systems] == ["seq", "iter", "replug", "sure", "self_rag",
                                                "flare", "agent"]
    llm = system.systems[0].generator
    assert isinstance(llm, TransformersGenerator) and llm._model is None  # loads lazily
    assert all(s.generator is llm for s in system.systems)
    assert system.aggregator.generator is llm
    assert isinstance(system.systems[0].retriever, FusedRetriever)
    assert system.systems[0].retriever.retrievers[0] is system.systems[1].retriever
    assert llm.generation.max_new_tokens == 8 and llm.generation.stop == ["\n"]


def test_round_trip_dict_and_yaml(corpus, tmp_path):
    resources = {"squad": corpus}
    first = to_config(build(_doc(), resources=resources))
    assert set(first) == {"components", "pipeline"}
    assert first["pipeline"]["systems"][0] == "seq"
    assert first["components"]["llm"]["dtype"] == "bfloat16"
    assert first["components"]["bm25"]["corpus"] == "squad"
    second = to_config(build(first, resources=resources))
    assert second == first
    path = save_config(build(first, resources=resources), tmp_path / "ensemble.yaml")
    assert load_config(path) == first
    assert to_config(build(path, resources=resources)) == first


def test_selection_permutations_round_trip(corpus):
    doc = _doc()
    doc["pipeline"]["aggregator"] = {"type": "selection", "generator": "llm", "style": "chat",
                                     "permutations": 4}
    system = build(doc, resources={"squad": corpus})
    assert system.aggregator.permutations == 4
    config = to_config(system)
    assert config["pipeline"]["aggregator"]["permutations"] == 4
    assert to_config(build(config, resources={"squad": corpus})) == config


def test_objects_built_in_code_round_trip_and_shared_ones_are_named(corpus, tmp_path):
    llm = TransformersGenerator(batch_size=2)
    bm25 = BM25Retriever(corpus)
    ensemble = Ensemble([SequentialPipeline(llm, bm25, name="a", k=1),
                         SequentialPipeline(llm, bm25, name="b", k=3)],
                        aggregator=EntropyVote(tau=0.5, measure="nll"))
    doc = to_config(ensemble)
    assert doc["pipeline"]["systems"][0]["generator"] == "transformers_0"
    assert doc["components"]["transformers_0"]["batch_size"] == 2
    rebuilt = build(doc, resources={"squad": corpus})
    assert rebuilt.systems[0].generator is rebuilt.systems[1].generator
    assert rebuilt.aggregator.tau == 0.5 and rebuilt.aggregator.measure == "nll"
    assert to_config(rebuilt) == doc


def test_single_spec_and_cache(corpus, tmp_path):
    spec = {"type": "sequential", "generator": {"type": "openai",
                                                "base_url": "http://127.0.0.1:9/v1"},
            "retriever": {"type": "bm25", "corpus": "squad"}, "k": 4}
    system = build(spec, resources={"squad": corpus})
    assert system.k == 4 and system.generator.supports_concurrency
    doc = {"cache": str(tmp_path / "c.sqlite"), "pipeline": spec}
    cached = build(doc, resources={"squad": corpus})
    assert cached.generator.cache is cached.retriever.cache is not None
    assert to_config(cached)["cache"] == str(tmp_path / "c.sqlite")


@pytest.mark.parametrize(("doc", "message"), [
    ({"type": "sequentail", "generator": "x"}, "unknown component type 'sequentail'"),
    ({"type": "sequential", "generator": "nope"}, "'nope' is neither a component"),
    ({"type": "bm25", "corpus": "squad", "k3": 1}, "unknown field 'k3' for type 'bm25'"),
    ({"pipeline": {"type": "closed_book"}, "extra": 1}, "keys cache, components and pipeline"),
])
def test_config_errors_say_what_is_wrong(doc, message, corpus):
    with pytest.raises((ValueError, KeyError), match=message):
        build(doc, resources={"squad": corpus})


def test_cycles_are_reported():
    builder = ConfigBuilder({"a": {"type": "voting", "generators": ["b"]},
                             "b": {"type": "voting", "generators": ["a"]}})
    with pytest.raises(ValueError, match="cycle: a -> b -> a"):
        builder.get("a")


def test_every_pipeline_type_is_registered():
    assert {"sequential", "closed_book", "replug", "sure", "iter_retgen", "self_rag", "flare",
            "agentic", "ensemble", "transformers", "openai", "vllm", "voting", "bm25", "nyx",
            "fused", "reranked", "cross_encoder", "llm_listwise", "majority_vote",
            "entropy_vote", "selection", "generative_fusion"} <= set(available_types())


def test_build_one_component_of_a_benchmark_config(corpus, tmp_path, monkeypatch):
    """The README's ``nyx.ensemble.build(squad.yaml, ...)``: a benchmark config has no pipeline
    entry, so the error says how to pick a component, and ``component=`` builds it."""
    from pathlib import Path

    from nyx.ensemble import build

    config = Path(__file__).resolve().parents[2] / "benchmarks/configs/ensemble/squad.yaml"
    monkeypatch.chdir(tmp_path)  # its call cache is a relative path
    with pytest.raises(ValueError, match="pass component=NAME .*replug"):
        build(config, {"corpus": corpus})
    bm25 = build(config, {"corpus": corpus}, component="bm25")
    assert bm25.retrieve("Nikola Tesla", 1)[0].id.startswith("3-")
    with pytest.raises(ValueError, match="no component 'nope'"):
        build(config, {"corpus": corpus}, component="nope")


def test_the_package_docstring_example_builds(tmp_path, monkeypatch) -> None:
    """``nyx.ensemble``'s example, all but its last line (which loads SmolLM2), run from a
    folder like the repository's (the config's cache lands in ``tmp_path``)."""
    import doctest
    from pathlib import Path

    import nyx.ensemble

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "benchmarks").symlink_to(root / "benchmarks")
    monkeypatch.chdir(tmp_path)
    examples = doctest.DocTestParser().get_examples(nyx.ensemble.__doc__ or "")
    namespace: dict = {}
    for example in examples[:-1]:
        exec(example.source, namespace)
    assert isinstance(namespace["system"], SequentialPipeline)
    assert ".run(" in examples[-1].source and examples[-1].want.strip() == "'Roger Goodell'"
