"""``System.run_batch``: the answers ``run`` gives, question by question, for every system.

Real BM25 over the SQuAD slice; the generator answers from the passages in its prompt
(``PassageGenerator``), so these run in well under a second. The real SmolLM2 + nyx-lite run
on 50 SQuAD-dev questions is ``test_batched_squad.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from nyx.ensemble import (
    ClosedBookPipeline,
    Ensemble,
    EntropyVote,
    FlarePipeline,
    IterRetGenPipeline,
    ReplugPipeline,
    SelfRagPipeline,
    SequentialPipeline,
)
from tests.ensemble.scripted import PassageGenerator

SMALL = {"k": 2, "max_words": 40, "max_new_tokens": 6}


@pytest.fixture(scope="module")
def questions(squad) -> list[str]:
    return [q["question"] for q in squad["questions"]]


@pytest.fixture(scope="module")
def generator() -> PassageGenerator:
    # an answer that depends on the passages retrieved, so a mixed-up batch would show
    return PassageGenerator({"Broncos": "Denver Broncos", "Tesla": "1856", "Warsaw": "Warsaw",
                             "Normandy": "France", "Amazon": "rainforest"})


def systems(generator: PassageGenerator, bm25: Any) -> dict[str, Any]:
    sequential = SequentialPipeline(generator, bm25, **SMALL)
    iterative = IterRetGenPipeline(generator, bm25, rounds=2, name="iter", **SMALL)
    closed = ClosedBookPipeline(generator, name="closed", max_new_tokens=4)
    # a threshold above every probability: each first sentence is retrieved for and rewritten
    flare = FlarePipeline(generator, bm25, name="flare", threshold=1.0, max_sentences=2,
                          **SMALL)
    replug = ReplugPipeline(generator, bm25, name="replug", **SMALL)
    return {"sequential": sequential, "closed_book": closed, "iter_retgen": iterative,
            "flare": flare, "replug": replug,
            "ensemble": Ensemble([sequential, iterative, closed, flare, replug],
                                 EntropyVote(tau=1.0))}


@pytest.mark.parametrize("name", ["sequential", "closed_book", "iter_retgen", "flare", "replug",
                                  "ensemble"])
@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_run_batch_gives_the_answers_of_run(name: str, batch_size: int, generator, bm25,
                                            questions: list[str]) -> None:
    system = systems(generator, bm25)[name]
    alone = [system.run(q) for q in questions]
    together = system.run_batch(questions, batch_size=batch_size)
    assert [a.question for a in together] == questions
    assert [a.to_dict(timing=False) for a in together] == [a.to_dict(timing=False) for a in alone]
    assert all(a.system == system.name and a.metadata["seconds"] >= 0 for a in together)
    assert len({a.text for a in together}) > 1  # the answers do depend on the question


def test_stagewise_batch_makes_one_retrieval_and_one_generation_call(bm25,
                                                                     questions: list[str]
                                                                     ) -> None:
    calls: list[int] = []

    class Counting(PassageGenerator):
        def _generate(self, prompts, config):
            calls.append(len(prompts))
            return super()._generate(prompts, config)

    pipeline = SequentialPipeline(Counting({"Tesla": "1856"}), bm25, **SMALL)
    answers = pipeline.run_batch(questions)
    assert calls == [len(questions)]
    seconds = {a.metadata["seconds"] for a in answers}
    assert len(seconds) == 1 and seconds.pop() > 0  # each question's share of the batch's


@pytest.mark.parametrize("name", ["iter_retgen", "flare", "replug"])
def test_multi_step_pipelines_batch_each_stage(name: str, bm25, questions: list[str]) -> None:
    calls: list[int] = []

    class Counting(PassageGenerator):
        def _generate(self, prompts, config):
            calls.append(len(prompts))
            return super()._generate(prompts, config)

    generator = Counting({"Broncos": "Denver Broncos", "Tesla": "1856", "Warsaw": "Warsaw"})
    system = systems(generator, bm25)[name]
    system.run_batch(questions)
    # a few calls for the whole batch (a round, a sentence or the branches each), not one or
    # more per question
    assert 1 <= len(calls) <= 4 and sum(calls) >= len(questions)


def test_the_default_loop_times_each_question_alone(generator, bm25,
                                                    questions: list[str]) -> None:
    answers = SelfRagPipeline(generator, bm25, **SMALL).run_batch(questions[:3])
    assert len({a.metadata["seconds"] for a in answers}) == 3


@pytest.mark.parametrize("bad", ["", "   ", None, 7])
def test_run_batch_checks_every_question_before_running_any(bad: Any, bm25) -> None:
    calls: list[int] = []

    class Counting(PassageGenerator):
        def _generate(self, prompts, config):
            calls.append(len(prompts))
            return super()._generate(prompts, config)

    for pipeline in (SequentialPipeline(Counting({}), bm25, **SMALL),
                     IterRetGenPipeline(Counting({}), bm25, **SMALL)):
        with pytest.raises(ValueError, match=rf"question 1: {bad!r}"):
            pipeline.run_batch(["Who founded Tesla?", bad, "Where is Warsaw?"])
    assert calls == []


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_run_batch_refuses_a_bad_batch_size(batch_size: Any, generator, bm25) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        SequentialPipeline(generator, bm25).run_batch(["Who founded Tesla?"], batch_size)


def test_an_empty_batch_has_no_answers(generator, bm25) -> None:
    assert SequentialPipeline(generator, bm25).run_batch([]) == []


def test_an_answer_without_timing_drops_only_the_seconds(generator, bm25) -> None:
    sequential = SequentialPipeline(generator, bm25, **SMALL)
    answer = Ensemble([sequential]).run("Who founded Tesla?")
    full, timeless = answer.to_dict(), answer.to_dict(timing=False)
    assert "seconds" in full["metadata"] and "seconds" in full["steps"][0]["data"]
    assert "seconds" not in timeless["metadata"] and "seconds" not in timeless["steps"][0]["data"]
    full["metadata"].pop("seconds")
    full["steps"][0]["data"].pop("seconds")
    assert full == timeless
