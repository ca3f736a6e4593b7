"""``run_system`` answers a task in batches: the same results as one question at a time, a
rerun that the call cache answers, and a failing question that costs only itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nyx.benchmarks.rq.data import TaskData
from nyx.benchmarks.rq.systems import run_system
from nyx.ensemble import (
    BM25Retriever,
    Corpus,
    DiskCache,
    Ensemble,
    IterRetGenPipeline,
    MajorityVote,
    SequentialPipeline,
)
from tests.ensemble.scripted import PassageGenerator

SLICE = Path(__file__).parents[1] / "ensemble" / "data" / "squad_slice.json"
ANSWERS = {"Broncos": "Denver Broncos", "Tesla": "1856", "Warsaw": "Warsaw"}


class Exploding(PassageGenerator):
    """Refuses any prompt whose question mentions ``word`` (one the backend cannot take)."""

    def __init__(self, answers: dict[str, str], word: str) -> None:
        super().__init__(answers)
        self.word = word
        self.batches: list[int] = []

    def _generate(self, prompts: list[Any], config: Any) -> list[Any]:
        self.batches.append(len(prompts))
        if any(self.word in str(p).rsplit("Question:", 1)[-1] for p in prompts):
            raise RuntimeError(f"cannot take a prompt about {self.word}")
        return super()._generate(prompts, config)


@pytest.fixture(scope="module")
def data() -> TaskData:
    squad = json.loads(SLICE.read_text(encoding="utf-8"))
    questions = {q["id"]: q["question"] for q in squad["questions"]}
    return TaskData("slice", "squad-slice", questions,
                    {q["id"]: q["answers"] for q in squad["questions"]},
                    {q["id"]: {q["doc_id"]: 1} for q in squad["questions"]},
                    Corpus(squad["corpus"], name="corpus"))


def _systems(data: TaskData, cache: DiskCache | None = None) -> list[Any]:
    bm25 = BM25Retriever(data.corpus, cache=cache)
    generator = PassageGenerator(ANSWERS)
    generator.cache = cache
    sequential = SequentialPipeline(generator, bm25, k=2)
    iterative = IterRetGenPipeline(generator, bm25, k=2, name="iter")
    return [sequential, iterative, Ensemble([sequential, iterative], MajorityVote())]


@pytest.mark.parametrize("batch_size", [3, 32])
def test_batches_give_the_results_of_one_question_at_a_time(data: TaskData, batch_size: int,
                                                            tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "calls.sqlite")
    for alone_system, system in zip(_systems(data), _systems(data, cache)):
        alone = run_system(alone_system, data, progress=False, batch_size=1)
        batched = run_system(system, data, cache=cache, progress=False, batch_size=batch_size)
        assert list(batched.answers) == list(data.questions)
        assert ({q: a.to_dict(timing=False) for q, a in batched.answers.items()}
                == {q: a.to_dict(timing=False) for q, a in alone.answers.items()})
        assert batched.scores == alone.scores and not batched.errors
        assert batched.mean("f1") > 0
        rerun = run_system(system, data, cache=cache, progress=False, batch_size=batch_size)
        assert rerun.cache_misses == 0 and rerun.cache_hits > 0  # a rerun is free
        assert rerun.scores == batched.scores


def test_a_failing_question_costs_only_itself(data: TaskData) -> None:
    generator = Exploding(ANSWERS, word="Tesla")
    system = SequentialPipeline(generator, BM25Retriever(data.corpus), k=2)
    result = run_system(system, data, progress=False, batch_size=4)
    failed = [qid for qid, q in data.questions.items() if "Tesla" in q]
    assert failed and sorted(result.errors) == sorted(failed)
    assert all("cannot take a prompt about Tesla" in e for e in result.errors.values())
    assert list(result.answers) == list(data.questions)
    assert all(result.answers[q].text == "" for q in failed)
    answered = [a for q, a in result.answers.items() if q not in failed]
    assert any(a.text for a in answered)  # the others in the failing batch were answered
    assert generator.batches[0] == 4  # the first batch went to the generator whole


def test_run_system_refuses_a_bad_batch_size(data: TaskData) -> None:
    system = _systems(data)[0]
    with pytest.raises(ValueError, match="batch_size"):
        run_system(system, data, progress=False, batch_size=0)
