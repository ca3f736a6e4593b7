"""The learned answer selector and the entropy vote with a fitted temperature: what they learn
from members' answers on some questions, applied to other questions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nyx.answer_metrics import token_f1
from nyx.ensemble import build, to_config
from nyx.ensemble.aggregation import EntropyVote, LearnedSelector, MajorityVote
from nyx.ensemble.aggregation.selector import FEATURES, answer_features, fit_logistic
from nyx.ensemble.types import Answer
from nyx.results import SearchResult

PASSAGE = "The Normans were the people who in the 10th and 11th centuries gave their name to "\
          "Normandy, a region in France."


def _answer(system: str, text: str, logprob: float, entropy: float,
            passage: str = PASSAGE, score: float = 1.0) -> Answer:
    return Answer("q", text, text, [SearchResult("p", score, text=passage)],
                  token_logprobs=[logprob] * 3, token_entropies=[entropy] * 3, system=system)


def test_features_of_one_questions_answers():
    answers = [_answer("a", "Normandy", -0.2, 0.5), _answer("b", "normandy.", -1.0, 1.5),
               _answer("c", "Paris", -2.0, 2.5, score=4.0), Answer("q", "", system="d")]
    x = answer_features(answers)
    assert x.shape == (4, len(FEATURES))
    col = {name: x[:, i].tolist() for i, name in enumerate(FEATURES)}
    assert col["agreement"] == [0.5, 0.5, 0.25, 0.0]  # normalised "normandy" twice of four
    assert col["in_passages"] == [1.0, 1.0, 0.0, 0.0]
    assert col["mean_logprob"][:3] == pytest.approx([-0.2, -1.0, -2.0])
    assert col["no_scores"] == [0.0, 0.0, 0.0, 1.0] and col["empty"] == [0.0, 0.0, 0.0, 1.0]
    assert col["top_score"] == [1.0, 1.0, 4.0, 0.0]


def test_version_two_features_see_partial_agreement_support_and_echoes():
    """What version 2 adds: "in 1066" half-agrees with "1066"; an answer several members'
    passages contain has more support; an answer that repeats the question echoes it; the
    least likely and the first token; whether the first passage holds it; digits."""
    other = "Normandy was named in 1066 by the Normans."
    answers = [
        Answer("when were the normans in normandy", "in 1066", "in 1066",
               [SearchResult("p", 1.0, text=PASSAGE), SearchResult("o", 0.5, text=other)],
               token_logprobs=[-0.1, -2.0, -0.3], system="a"),
        Answer("when were the normans in normandy", "1066", "1066",
               [SearchResult("o", 0.9, text=other)], token_logprobs=[-0.5], system="b"),
        Answer("when were the normans in normandy", "the normans in normandy", "",
               [SearchResult("p", 1.0, text=PASSAGE)], system="c"),
    ]
    x = answer_features(answers)
    col = {name: x[:, i].tolist() for i, name in enumerate(FEATURES)}
    # token F1: "in 1066" vs "1066" 2/3, vs "normans in normandy" 0.4; "1066" vs that 0
    assert col["soft_agreement"] == pytest.approx([(2 / 3 + 0.4) / 2, (2 / 3 + 0.0) / 2,
                                                   (0.4 + 0.0) / 2])
    assert col["support"] == [0.5, 0.5, 0.0]  # "1066" is in one of the two passages read
    assert col["question_overlap"] == [0.5, 0.0, 1.0]  # "normans in normandy" echoes
    assert col["min_logprob"] == [-2.0, -0.5, 0.0] and col["first_logprob"] == [-0.1, -0.5, 0.0]
    assert col["in_top_passage"] == [0.0, 1.0, 0.0]  # a's first passage lacks "1066"
    assert col["has_digit"] == [1.0, 1.0, 0.0]


def test_a_model_fitted_on_version_one_features_is_refused():
    train, train_f1, _ = _world(40, seed=3)
    model = LearnedSelector.fit(train, train_f1).to_dict()
    assert model["version"] == 2 and model["l2"] == 10.0
    old = {**model, "version": 1, "features": list(FEATURES[:8])}
    with pytest.raises(ValueError, match="fit it again"):
        LearnedSelector(old)


def test_logistic_fit_recovers_a_known_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    p = 1 / (1 + np.exp(-(1.5 * x[:, 0] - 2.0 * x[:, 1] + 0.5)))
    y = (rng.random(4000) < p).astype(float)
    w = fit_logistic(x, y, l2=0.0)
    assert w == pytest.approx([1.5, -2.0, 0.5], abs=0.15)


def _world(n: int, seed: int) -> tuple[list[list[Answer]], list[list[float]], list[str]]:
    """Three members: "steady" is right 60% of the time, the others 35%, and a right answer
    is one the member read in its passage, generated with confidence; a wrong one is not."""
    rng = np.random.default_rng(seed)
    sets, targets, golds = [], [], []
    for q in range(n):
        gold = f"answer {q}"
        passage = f"Some context. The {gold} is here."
        answers = []
        for system, rate in (("steady", 0.6), ("left", 0.35), ("right", 0.35)):
            if rng.random() < rate:
                answers.append(_answer(system, gold, rng.normal(-0.3, 0.2),
                                       rng.normal(0.6, 0.2), passage))
            else:
                answers.append(_answer(system, f"wrong {system} {q}", rng.normal(-1.2, 0.4),
                                       rng.normal(1.6, 0.4), passage))
        sets.append(answers)
        targets.append([token_f1(a.text, [gold]) for a in answers])
        golds.append(gold)
    return sets, targets, golds


def _mean_f1(aggregator, sets, golds) -> float:
    return float(np.mean([token_f1(aggregator.aggregate("q", s).text, [g])
                          for s, g in zip(sets, golds)]))


def test_the_selector_beats_the_best_member_and_the_vote_on_other_questions(tmp_path):
    train, train_f1, _ = _world(300, seed=1)
    test, _, golds = _world(300, seed=2)
    selector = LearnedSelector.fit(train, train_f1, trained_on="world seed 1")
    best_member = max(float(np.mean([token_f1(s[m].text, [g]) for s, g in zip(test, golds)]))
                      for m in range(3))
    chosen = _mean_f1(selector, test, golds)
    oracle = float(np.mean([max(token_f1(a.text, [g]) for a in s) for s, g in zip(test, golds)]))
    assert chosen > best_member + 0.1 and chosen > _mean_f1(MajorityVote(), test, golds) + 0.1
    assert chosen <= oracle
    # plain data: saved as JSON, read back (or built from a config) it chooses the same
    path = selector.save(tmp_path / "selector.json")
    model = json.loads(path.read_text())
    assert model["trained_on"] == "world seed 1" and model["systems"] == ["steady", "left", "right"]
    again = LearnedSelector(path)
    rebuilt = build(to_config(selector))
    for answers in test[:20]:
        assert again.scores(answers) == pytest.approx(selector.scores(answers))
        assert rebuilt.aggregate("q", answers).text == selector.aggregate("q", answers).text
    with pytest.raises(ValueError, match="other features"):
        LearnedSelector({**model, "features": ["mean_logprob"]})


def test_entropy_vote_temperature_is_fitted_on_other_questions():
    """Two wrong members agree with each other; the right one is alone but confident: a vote
    that trusts confidence (small tau) wins, and fitting finds it."""
    def sets(n: int):
        out, targets = [], []
        for q in range(n):
            answers = [_answer("sure", f"right {q}", -0.1, 0.1),
                       _answer("a", f"wrong {q}", -0.5, 2.0), _answer("b", f"wrong {q}", -0.5, 2.0)]
            out.append(answers)
            targets.append([1.0, 0.0, 0.0])
        return out, targets

    train, targets = sets(20)
    fitted = EntropyVote.fit(train, targets)
    assert fitted.tau <= 1.0 and fitted.measure == "entropy"
    test, _ = sets(5)
    assert all(fitted.aggregate("q", s).text.startswith("right") for s in test)
    assert all(EntropyVote(tau=5.0).aggregate("q", s).text.startswith("wrong") for s in test)
    with pytest.raises(ValueError, match="one target list per question"):
        EntropyVote.fit(train, targets[:3])
