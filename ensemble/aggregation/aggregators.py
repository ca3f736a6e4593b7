"""Answer aggregators for ensembles: majority vote, entropy-weighted vote, selection by an
LLM, and generative fusion. Each turns the member systems' answers into one Answer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from nyx.ensemble.aggregation.answers import MEASURES, Vote, entropy_weighted_vote, majority_vote
from nyx.ensemble.config import Configurable
from nyx.ensemble.generators.base import Generator
from nyx.ensemble.prompts import extract_answer, qa_prompt, truncate_words
from nyx.ensemble.types import Answer, Message

__all__ = ["Aggregator", "EntropyVote", "GenerativeFusion", "MajorityVote", "Selection"]


class Aggregator(Configurable, ABC):
    """Combines the answers of several systems to one question."""

    #: Whether the aggregator calls a generator (and so must run after all members).
    uses_generator: ClassVar[bool] = False

    @abstractmethod
    def aggregate(self, question: str, answers: Sequence[Answer]) -> Answer:
        """One answer from ``answers`` (in system order)."""


def _from_vote(question: str, answers: Sequence[Answer], vote: Vote, method: str) -> Answer:
    chosen = answers[vote.index]
    docs = {d.id: d for a in answers for d in a.documents}
    return Answer(question, chosen.text, chosen.raw_text, list(docs.values()),
                  token_logprobs=list(chosen.token_logprobs),
                  token_entropies=list(chosen.token_entropies), confidence=vote.share,
                  metadata={"method": method, "chosen_system": chosen.system,
                            "vote_weights": vote.groups, "vote_entropy": vote.entropy})


class MajorityVote(Aggregator):
    """The most frequent normalised answer; ties go to the earliest system."""

    def aggregate(self, question: str, answers: Sequence[Answer]) -> Answer:
        vote = majority_vote([a.text for a in answers])
        return _from_vote(question, answers, vote, "majority_vote")


class EntropyVote(Aggregator):
    """Votes weighted by ``exp(-H / tau)``, ``H`` the mean token entropy or mean NLL."""


    def __init__(self, tau: float = 1.0, measure: str = "entropy") -> None:
        if measure not in MEASURES:
            raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.tau = tau
        self.measure = measure

    @classmethod
    def fit(cls, answer_sets: Sequence[Sequence[Answer]], targets: Sequence[Sequence[float]],
            measure: str = "entropy",
            taus: Sequence[float] = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
            ) -> EntropyVote:
        """The vote whose ``tau`` (from ``taus``; ties: the first) gives the chosen answers
        the best mean target (their F1) over questions other than those it will vote on:
        a calibrated temperature instead of a fixed one."""
        if not answer_sets or len(answer_sets) != len(targets):
            raise ValueError("fit needs one target list per question, and some questions")

        def mean_target(tau: float) -> float:
            vote = cls(tau, measure)
            picked = [vote._vote(answers).index for answers in answer_sets]
            return float(np.mean([row[i] for row, i in zip(targets, picked)]))

        return cls(max(taus, key=mean_target), measure)

    def _uncertainties(self, answers: Sequence[Answer]) -> list[float | None]:
        return [a.mean_entropy if self.measure == "entropy" else a.mean_nll for a in answers]

    def _vote(self, answers: Sequence[Answer]) -> Vote:
        return entropy_weighted_vote([a.text for a in answers], self._uncertainties(answers),
                                     self.tau)

    def aggregate(self, question: str, answers: Sequence[Answer]) -> Answer:
        h = self._uncertainties(answers)
        vote = entropy_weighted_vote([a.text for a in answers], h, self.tau)
        result = _from_vote(question, answers, vote, "entropy_vote")
        result.metadata["uncertainties"] = h
        return result


class _LLMAggregator(Aggregator):
    component_fields: ClassVar[tuple[str, ...]] = ("generator",)
    uses_generator: ClassVar[bool] = True

    def __init__(self, generator: Generator, *, style: str = "completion", max_words: int = 60,
                 docs_per_system: int = 1) -> None:
        self.generator = generator
        self.style = style
        self.max_words = max_words
        self.docs_per_system = docs_per_system

    def _evidence(self, answers: Sequence[Answer]) -> str:
        lines = []
        for n, a in enumerate(answers, 1):
            docs = " ".join(truncate_words(d.text, self.max_words)
                            for d in a.documents[:self.docs_per_system])
            lines.append(f"[{n}] answer: {a.text or '(none)'}" + (f" | evidence: {docs}"
                                                                  if docs else ""))
        return "\n".join(lines)


class Selection(_LLMAggregator):
    """The generator picks one system's answer by its number (the likeliest label wins).

    Small models pick by position (SmolLM2-135M takes candidate 1 on every question).
    ``permutations=k`` shows the candidates in ``k`` cyclic orders (``k = n``: each candidate
    once in every position) and ranks them by their label log-probability averaged over the
    orders, at ``k`` times the cost; ``1`` keeps the listed order.
    """


    def __init__(self, generator: Generator, *, permutations: int = 1, **kwargs: Any) -> None:
        super().__init__(generator, **kwargs)
        if permutations < 1:
            raise ValueError(f"permutations must be >= 1, got {permutations}")
        self.permutations = permutations

    def prompt(self, question: str, answers: Sequence[Answer]) -> str | list[Message]:
        body = (f"Candidate answers from different systems:\n{self._evidence(answers)}\n\n"
                f"Question: {question}\nWhich candidate answers the question correctly?")
        if self.style == "chat":
            return [{"role": "user", "content": f"{body} Reply with its number."}]
        return f"{body}\nCandidate number:"

    def aggregate(self, question: str, answers: Sequence[Answer]) -> Answer:
        n = len(answers)
        labels = [(" " if self.style == "completion" else "") + str(k) for k in range(1, n + 1)]
        # orders[s][pos] is the candidate shown at position pos in the s-th cyclic shift
        orders = [[(pos + shift) % n for pos in range(n)]
                  for shift in range(min(self.permutations, n))]
        prompts = [self.prompt(question, [answers[i] for i in order]) for order in orders]
        scores = self.generator.option_logprobs(prompts, labels)
        mean = [0.0] * n
        for order, by_label in zip(orders, scores):
            for pos, i in enumerate(order):
                mean[i] += by_label[labels[pos]] / len(orders)
        best = max(range(n), key=lambda i: (mean[i], -i))
        chosen = answers[best]
        docs = {d.id: d for a in answers for d in a.documents}
        return Answer(question, chosen.text, chosen.raw_text, list(docs.values()),
                      token_logprobs=list(chosen.token_logprobs),
                      token_entropies=list(chosen.token_entropies),
                      metadata={"method": "selection", "chosen_system": chosen.system,
                                "label_logprobs": mean, "orders": len(orders)})


class GenerativeFusion(_LLMAggregator):
    """One prompt with every system's answer and evidence; the generator writes the answer."""


    def __init__(self, generator: Generator, *, max_new_tokens: int = 16, **kwargs: Any) -> None:
        super().__init__(generator, **kwargs)
        self.max_new_tokens = max_new_tokens

    def aggregate(self, question: str, answers: Sequence[Answer]) -> Answer:
        context = ("Answers proposed by other systems, with their evidence:\n"
                   f"{self._evidence(answers)}")
        prompt = qa_prompt(question, style=self.style, context=context)
        gen = self.generator.generate([prompt], max_new_tokens=self.max_new_tokens,
                                      stop=["\n"])[0]
        docs = {d.id: d for a in answers for d in a.documents}
        return Answer.from_generation(question, extract_answer(gen.text), gen,
                                      list(docs.values()),
                                      metadata={"method": "generative_fusion"})
