"""A module-level ensemble of generators: every member generates, the answers vote.

Used wherever a pipeline takes a generator, so one pipeline can ensemble several models.
Each prompt's answer is the member generation whose short answer
(:func:`~nyx.ensemble.prompts.extract_answer`) wins a majority or entropy-weighted vote
(:mod:`nyx.ensemble.aggregation.answers`); ties go to the earlier member.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from nyx.ensemble.aggregation.answers import (
    MEASURES,
    entropy_weighted_vote,
    majority_vote,
)
from nyx.ensemble.cache import DiskCache
from nyx.ensemble.generators.base import GenerationConfig, Generator
from nyx.ensemble.prompts import extract_answer
from nyx.ensemble.types import Generation, Message

__all__ = ["VotingGenerator"]


class VotingGenerator(Generator):
    """Generates with each member and keeps the generation whose answer wins the vote."""

    component_fields: ClassVar[tuple[str, ...]] = ("generators",)

    def __init__(self, generators: Sequence[Generator], *, method: str = "majority",
                 tau: float = 1.0, measure: str = "entropy",
                 generation: GenerationConfig | Mapping[str, Any] | None = None,
                 cache: DiskCache | None = None) -> None:
        super().__init__(generation, cache)
        if not generators:
            raise ValueError("VotingGenerator needs at least one member generator")
        if method not in ("majority", "entropy"):
            raise ValueError(f"method must be 'majority' or 'entropy', got {method!r}")
        if measure not in MEASURES:
            raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
        self.generators = list(generators)
        self.method = method
        self.tau = tau
        self.measure = measure

    @property
    def supports_concurrency(self) -> bool:  # type: ignore[override]
        return all(g.supports_concurrency for g in self.generators)

    def _generate(self, prompts: list[str | list[Message]],
                  config: GenerationConfig) -> list[Generation]:
        per_member = [g.generate(prompts, config) for g in self.generators]
        return [self._vote([gens[i] for gens in per_member]) for i in range(len(prompts))]

    def _vote(self, gens: list[Generation]) -> Generation:
        answers = [extract_answer(g.text) for g in gens]
        if self.method == "majority":
            vote = majority_vote(answers)
        else:
            h = [g.mean_entropy if self.measure == "entropy" else g.mean_nll for g in gens]
            vote = entropy_weighted_vote(answers, h, self.tau)
        return gens[vote.index]

    def option_logprobs(self, prompts: Sequence[str | list[Message]],
                        options: Sequence[str]) -> list[dict[str, float]]:
        """The members' log-probabilities, averaged."""
        per_member = [g.option_logprobs(prompts, options) for g in self.generators]
        return [{o: sum(m[i][o] for m in per_member) / len(per_member) for o in options}
                for i in range(len(prompts))]
