"""The on-disk call cache, and ensembles of systems (aggregation, concurrency), with doubles."""

from __future__ import annotations

import threading

import pytest

from nyx.ensemble import (
    BM25Retriever,
    DiskCache,
    Ensemble,
    EntropyVote,
    MajorityVote,
    SequentialPipeline,
    VotingGenerator,
    build,
    to_config,
)
from nyx.ensemble.cache import cache_key
from tests.ensemble.scripted import FixedSystem, ScriptedGenerator


def test_disk_cache_persists_and_is_thread_safe(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = DiskCache(path)
    key = cache_key("m", "prompt", {"t": 0})
    assert cache.get(key) is None
    cache.put(key, {"text": "Paris", "lp": [-0.1]})

    def writer(n):
        for i in range(20):
            cache.put(cache_key(n, i), i)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 81
    cache.close()
    again = DiskCache(path)
    assert again.get(key) == {"text": "Paris", "lp": [-0.1]}
    assert cache_key("a", {"x": 1, "y": 2}) == cache_key("a", {"y": 2, "x": 1})


def test_generator_and_retriever_calls_are_cached(tmp_path, corpus):
    cache = DiskCache(tmp_path / "c.sqlite")
    gen = ScriptedGenerator("Paris", cache=cache)
    assert gen.generate(["a", "b"])[0].text == "Paris"
    assert gen.generate(["b", "a"])[1].cached
    assert gen.calls == 1
    gen.generate(["a"], max_new_tokens=3)  # other parameters: a new call
    assert gen.calls == 2
    bm25 = BM25Retriever(corpus, cache=cache)
    first = bm25.retrieve("Tesla born", k=3)
    hits = cache.hits
    assert bm25.retrieve("Tesla born", k=3) == first and cache.hits == hits + 1
    other = BM25Retriever(corpus, k1=0.9, cache=cache)  # other settings, other key
    other.retrieve("Tesla born", k=3)
    assert cache.hits == hits + 1


def test_ensemble_majority_and_entropy_votes_record_members():
    systems = [FixedSystem("a", "Paris", 2.0), FixedSystem("b", "Lyon", 0.1),
               FixedSystem("c", "paris.", 2.0)]
    answer = Ensemble(systems).run("Capital of France?")
    assert answer.text == "Paris" and answer.system == "ensemble"
    assert answer.confidence == pytest.approx(2 / 3)
    assert [s.data["name"] for s in answer.steps if s.name == "system"] == ["a", "b", "c"]
    assert answer.metadata["members"] == {"a": "Paris", "b": "Lyon", "c": "paris."}
    weighted = Ensemble(systems, aggregator=EntropyVote(tau=1.0)).run("Capital of France?")
    assert weighted.text == "Lyon"  # e^-0.1 = 0.905 > 2 e^-2 = 0.271
    assert 0 < weighted.confidence < 1 and weighted.metadata["vote_entropy"] > 0


def test_ensemble_runs_concurrent_systems_in_threads_and_local_ones_in_order():
    slow = [FixedSystem(f"s{i}", "x", delay_s=0.3, concurrent_ok=True) for i in range(3)]
    answer = Ensemble(slow, max_workers=3).run("q")
    assert answer.metadata["seconds"] < 0.8
    local = [FixedSystem(f"l{i}", "x") for i in range(2)]
    Ensemble(local).run("q")
    assert all(s.threads == {threading.current_thread().name} for s in local)


def test_ensembles_nest_and_reject_duplicate_names():
    inner = Ensemble([FixedSystem("a", "x"), FixedSystem("b", "y")], name="inner")
    assert inner.run("q").text == "x"  # a tie goes to the first system
    outer = Ensemble([inner, FixedSystem("c", "y"), FixedSystem("d", "y")],
                     aggregator=MajorityVote(), name="outer")
    answer = outer.run("q")
    assert answer.text == "y" and answer.metadata["members"]["inner"] == "x"
    with pytest.raises(ValueError, match="unique"):
        Ensemble([FixedSystem("a", "x"), FixedSystem("a", "y")])


def test_module_level_voting_generator(corpus):
    members = [ScriptedGenerator("Paris", 2.0), ScriptedGenerator("Lyon", 0.1),
               ScriptedGenerator("Paris", 2.0)]
    assert VotingGenerator(members).generate("q")[0].text == "Paris"
    assert VotingGenerator(members, method="entropy").generate("q")[0].text == "Lyon"
    pipeline = SequentialPipeline(VotingGenerator(members), BM25Retriever(corpus), k=1)
    answer = pipeline.run("Where is Normandy?")
    assert answer.text == "Paris" and len(answer.documents) == 1
    assert all(m.calls == 3 for m in members)  # two votes above, one pipeline run


def test_config_round_trip_with_fixed_systems():
    doc = {"pipeline": {"type": "ensemble", "name": "e", "max_workers": 2,
                        "systems": [{"type": "fixed_answer", "name": "a", "text": "x",
                                     "entropy": 1.0, "delay_s": 0.0, "concurrent_ok": False}],
                        "aggregator": {"type": "entropy_vote", "tau": 2.0,
                                       "measure": "entropy"}}}
    assert to_config(build(doc, types=[FixedSystem])) == doc
