"""NyxQA: refinement and rule filters on crafted pairs, sampling quotas, distractors, hard-negative
windows, and the resumable pipeline end to end (scripted generator, ranked-list searcher)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from nyx.results import SearchResult
from nyx.training.config import NyxQAConfig
from nyx.training.jsonl import ResumableJsonl, read_jsonl
from nyx.training.nyxqa.distractors import make_distractors
from nyx.training.nyxqa.filters import RuleFilter, passage_dependent, refine
from nyx.training.nyxqa.pipeline import NyxQAPipeline
from nyx.training.nyxqa.questions import parse_qa_pairs
from nyx.training.nyxqa.sampling import modality_quotas
from nyx.training.search import ranks_window

CHUNK = ("The Hoover Dam was built between 1931 and 1936 on the Colorado River. It supplies "
         "power to Nevada, Arizona and California.")


@pytest.mark.parametrize("question", [
    "According to the passage, when was the dam built?",
    "What does this text say about power?",
    "Which river is mentioned above?",
    "What is shown in the image?",
    "What did the author describe first?",
])
def test_passage_dependent_questions_are_dropped(question: str) -> None:
    assert passage_dependent(question)
    assert refine(question, "1931", 8)[2].reason == "passage-dependent question"


@pytest.mark.parametrize("question", [
    "On which river was the Hoover Dam built?",
    "Which states get power from the Hoover Dam?",
    "Who wrote the passage of the Reform Act in 1832?",  # "passage of a law" is not a context
])
def test_standalone_questions_pass(question: str) -> None:
    assert not passage_dependent(question)


def test_refine_shortens_answers() -> None:
    _, answer, verdict = refine("  On which river was the Hoover Dam built? ",
                                "Answer: The Colorado River. It flows south.", 8)
    assert verdict.kept and answer == "The Colorado River"
    # Long answers are kept whole here, so that the rule filter rejects them with a reason.
    long = "the dam was built by thousands of workers over five long years"
    assert refine("Who built the Hoover Dam?", long, 8)[1] == long
    assert RuleFilter().check("Who built the Hoover Dam on the river?", long,
                              CHUNK).reason == "answer longer than 8 words"
    assert refine("Which river is it?", "   ", 8)[2].reason == "empty answer"


@pytest.mark.parametrize(("question", "answer", "reason"), [
    ("When built?", "1931", "question shorter than 4 words"),
    ("When was the Hoover Dam finished on the river", "1936", "no question mark"),
    ("When was the Hoover Dam finished?", "in the year of our lord 1936 after five years",
     "answer longer than 8 words"),
    ("Which river did the Hoover Dam dam, the Colorado River?", "Colorado River",
     "question contains its answer"),
    ("Which city is closest to the Hoover Dam?", "Las Vegas", "answer not found in the chunk"),
    ("Who designed the turbines of the dam?", "the", "only punctuation or articles"),
    # A copied demonstration: the answer happens to occur in the chunk, the topic does not.
    ("Who designed the Golden Gate Bridge?", "California", "not grounded in the chunk"),
])
def test_rule_filter_rejections(question: str, answer: str, reason: str) -> None:
    verdict = RuleFilter().check(question, answer, CHUNK)
    assert not verdict.kept and reason in verdict.reason


def test_rule_filter_keeps_good_pairs_once() -> None:
    rules = RuleFilter()
    assert rules.check("On which river was the Hoover Dam built?", "the Colorado River",
                       CHUNK).kept
    duplicate = rules.check("On which river was the Hoover Dam built ?", "Colorado", CHUNK)
    assert duplicate.reason == "duplicate question"
    # Abstractive mode accepts answers that are not in the chunk.
    assert RuleFilter(extractive=False).check(
        "Which city lies closest to the Hoover Dam on the Colorado River?", "Las Vegas",
        CHUNK).kept


def test_parse_qa_pairs_accepts_numbered_variants() -> None:
    text = ("Question 1: When was the dam built?\nAnswer 1: 1931\n\n"
            "Q2) Which river?\nA2) the Colorado River\nQuestion: dangling")
    assert parse_qa_pairs(text) == [
        {"question": "When was the dam built?", "answer": "1931"},
        {"question": "Which river?", "answer": "the Colorado River"}]
    assert len(parse_qa_pairs(text, limit=1)) == 1


def test_modality_quotas_follow_the_mix_and_redistribute_shortfalls() -> None:
    assert modality_quotas({"text": 100, "interleaved": 100, "image": 100},
                           {"text": 0.5, "interleaved": 0.3, "image": 0.2}, 10) == {
        "text": 5, "interleaved": 3, "image": 2}
    # Only one interleaved chunk exists: the rest goes to the others, by their shares.
    assert modality_quotas({"text": 100, "interleaved": 1, "image": 100},
                           {"text": 0.5, "interleaved": 0.3, "image": 0.2}, 10) == {
        "text": 6, "interleaved": 1, "image": 3}
    assert sum(modality_quotas({"text": 3, "image": 2}, {"text": 1, "image": 1}, 50).values()) \
        == 5
    with pytest.raises(ValueError, match="unknown modalities"):
        modality_quotas({"text": 1}, {"video": 1.0}, 1)


def test_distractors_are_distinct_same_shape_and_exclude_the_answer() -> None:
    pool = ["1931", "the Colorado River", "1936", "Nevada", "1931", "power", "Arizona", "1,200"]
    options = make_distractors("1931", pool, 2, seed="q1")
    assert len(options) == 2 and "1931" not in options
    assert all(any(ch.isdigit() for ch in o) for o in options)  # numbers for a number
    assert options == make_distractors("1931", pool, 2, seed="q1")  # deterministic
    assert make_distractors("Nevada", pool, 2, seed="x")[0] in ("Arizona",)


def test_hard_negatives_take_ranks_10_to_20_without_the_positive() -> None:
    hits = [SearchResult(f"d{r}", 1.0 - r / 100) for r in range(1, 26)]
    window = ranks_window(hits, 10, 20, exclude=["d14"])
    assert [h.id for h in window] == [f"d{r}" for r in range(10, 21) if r != 14]
    assert [h.id for h in ranks_window(hits[:12], 10, 20)] == ["d10", "d11", "d12"]
    with pytest.raises(ValueError, match="rank window"):
        ranks_window(hits, 0, 5)


def test_resumable_jsonl_skips_done_units_and_drops_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "stage.jsonl"
    with ResumableJsonl(path, key=lambda r: r["id"]) as out:
        out.write({"id": "a"})
    with path.open("a") as f:
        f.write('{"id": "b", "tru')  # a crash mid-line
    with ResumableJsonl(path, key=lambda r: r["id"]) as out:
        assert out.done("a") and not out.done("b")
        out.write({"id": "b"})
    assert [r["id"] for r in read_jsonl(path)] == ["a", "b"]


class ScriptedGenerator:
    """Answers every QA-generation prompt with two pairs built from the chunk's second word:
    one good pair and one passage-dependent question."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, prompts: Sequence, *, max_new_tokens: int = 32,
                 stop: Sequence[str] = ()) -> list[str]:
        self.calls += len(prompts)
        out = []
        for prompt in prompts:
            context = prompt[-1]["content"].split("\n\n", 1)[1]
            word = context.split()[1].strip(".,")
            out.append(f"Question: In which note are things spelled {word[::-1]}?\n"
                       f"Answer: {word}\nQuestion: What does the passage say?\nAnswer: things")
        return out


def ranked_searcher(items: list) -> object:
    ids = [str(item.id) for item in items]

    def search(queries: Sequence[str], k: int) -> list[list[SearchResult]]:
        return [[SearchResult(i, 1.0) for i in ids[:k]] for _ in queries]

    return search


def test_pipeline_end_to_end_and_resumes(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
             "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
             "sierra", "tango", "uniform", "victor", "whiskey", "xray"]
    for i, word in enumerate(words):
        (corpus / f"note{i:02d}.txt").write_text(f"Note {word} is about {word} things. " * 3)
    Image.new("RGB", (32, 32), "blue").save(corpus / "pic.png")
    (corpus / "page.md").write_text("Note zulu is about zulu things. ![a blue square](pic.png)\n")

    config = NyxQAConfig(corpus=str(corpus), num_samples=12, questions_per_chunk=2,
                         modality_mix={"text": 1.0, "interleaved": 1.0}, distractors=2,
                         dev_fraction=0.25, describe_images=False, negative_ranks=[10, 20])
    generator = ScriptedGenerator()
    pipeline = NyxQAPipeline(config, tmp_path / "out", generator=generator,
                             searcher_factory=ranked_searcher)
    summary = pipeline.run()
    assert summary["sampled"] == 12 and summary["sampled_by_modality"]["interleaved"] == 1
    assert summary["refine_rejections"] == {"passage-dependent question": 12}
    assert summary["kept"] == summary["train"] + summary["dev"] == 12
    assert summary["dev"] > 0 and summary["train"] > 0

    lines = read_jsonl(tmp_path / "out" / "train.jsonl") + read_jsonl(tmp_path / "out" /
                                                                      "dev.jsonl")
    for line in lines:
        assert line["chunk_id"] not in line["negative_ids"]
        assert len(line["options"]) == 2 and line["answers"][0] not in line["options"]
        assert line["positive"]["parts"] and line["query"].endswith("?")
    mined = read_jsonl(tmp_path / "out" / "mined.jsonl")
    assert all(len(m["negative_ids"]) in (10, 11) for m in mined)  # ranks 10..20, minus positive
    interleaved = [line for line in lines if any("image" in p for p in line["positive"]["parts"])]
    assert interleaved and "[Image: a blue square]" in json.dumps(
        read_jsonl(tmp_path / "out" / "generated.jsonl"))

    # Resume: nothing is generated again, outputs are identical.
    calls = generator.calls
    again = NyxQAPipeline(config, tmp_path / "out", generator=generator,
                          searcher_factory=ranked_searcher).run()
    assert generator.calls == calls and again == summary
