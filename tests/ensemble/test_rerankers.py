"""List-wise reranker cleaning (exact) and the ONNX cross-encoder on real passages."""

from __future__ import annotations

import pytest

from nyx.ensemble import CrossEncoderReranker, LLMListwiseReranker
from nyx.ensemble.generators.base import Generator
from nyx.ensemble.rerankers import clean_ranking, parse_ranking
from nyx.ensemble.types import Generation
from nyx.results import SearchResult


@pytest.mark.parametrize(("indices", "n", "expected"), [
    ([2, 0, 1], 3, [2, 0, 1]),
    ([2, 2, 0, 2], 3, [2, 0, 1]),            # duplicates: first mention counts
    ([5, -1, 1, 3], 3, [1, 0, 2]),           # out of range dropped, missing appended in order
    ([], 4, [0, 1, 2, 3]),
    ([3], 4, [3, 0, 1, 2]),
])
def test_clean_ranking(indices, n, expected):
    assert clean_ranking(indices, n) == expected


@pytest.mark.parametrize(("text", "n", "expected"), [
    ("[2] > [1] > [3]", 3, [1, 0, 2]),
    ("3 > 3 > 1", 3, [2, 0, 1]),
    ("Passage 4 is best, then 9 and 0, then 2", 4, [3, 1, 0, 2]),
    ("I cannot rank these.", 3, [0, 1, 2]),
])
def test_parse_ranking(text, n, expected):
    assert parse_ranking(text, n) == expected


class ScriptedGenerator(Generator):
    """Returns fixed text; records the prompts it saw."""

    def __init__(self, text):
        super().__init__()
        self.text = text
        self.prompts = []

    @property
    def model_id(self):
        return "scripted"

    def _generate(self, prompts, config):
        self.prompts += prompts
        return [Generation(self.text) for _ in prompts]


def _docs(n):
    return [SearchResult(f"d{i}", 10.0 - i, text=f"passage number {i}") for i in range(n)]


def test_listwise_reranker_cleans_model_output_and_keeps_tail():
    generator = ScriptedGenerator("[3] > [3] > [7] > [1]")
    reranker = LLMListwiseReranker(generator, window=4)
    ranked, info = reranker.rerank_with_text("which passage?", _docs(6))
    assert [d.id for d in ranked] == ["d2", "d0", "d1", "d3", "d4", "d5"]
    assert info["order"] == [2, 0, 1, 3]
    assert ranked[0].first_stage_score == 8.0
    assert "[4] passage number 3" in generator.prompts[0]
    assert "[5]" not in generator.prompts[0]  # only the window is shown
    assert reranker.rerank("q", _docs(1))[0].id == "d0"


def test_cross_encoder_ranks_the_gold_paragraph_first(corpus):
    try:
        reranker = CrossEncoderReranker().load()
    except ImportError as error:
        pytest.skip(str(error))
    question = "In what year was Nikola Tesla born?"
    docs = [corpus.doc(i, 1.0) for i in ("0-0", "4-0", "3-0", "2-0")]
    ranked = reranker.rerank(question, docs)
    assert ranked[0].id == "3-0"
    assert ranked[0].score > ranked[-1].score
    assert ranked[0].first_stage_score == 1.0
    assert len(reranker.score(question, ["x"] * 20)) == 20  # more than one batch
