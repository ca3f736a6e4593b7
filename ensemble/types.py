"""The records every module passes around: messages, generations, steps, answers. A retrieved
document is the retriever's hit, :class:`nyx.results.SearchResult`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeAlias, TypedDict

from nyx.results import SearchResult


class Message(TypedDict):
    """One chat turn. A prompt whose last message is from the assistant is *continued*."""

    role: str
    content: str


Prompt: TypeAlias = "str | list[Message]"


def as_messages(prompt: str | list[Message]) -> list[Message]:
    """A plain string prompt is one user message."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(m) for m in prompt]  # type: ignore[misc]


@dataclass
class Generation:
    """What a generator wrote for one prompt, token by token.

    ``token_logprobs[i]`` is the log-probability of the i-th generated token under the model's
    (temperature-1) next-token distribution; ``token_entropies[i]`` is the entropy, in nats, of
    that distribution. Backends that cannot report them leave the lists empty.
    ``top_logprobs[i]`` maps the most likely next tokens at step i to their log-probabilities.
    """

    text: str
    tokens: list[str] = field(default_factory=list)
    token_logprobs: list[float] = field(default_factory=list)
    token_entropies: list[float] = field(default_factory=list)
    top_logprobs: list[dict[str, float]] = field(default_factory=list)
    finish_reason: str = "length"
    model: str = ""
    cached: bool = False

    @property
    def mean_entropy(self) -> float | None:
        return _mean(self.token_entropies)

    @property
    def mean_nll(self) -> float | None:
        mean = _mean(self.token_logprobs)
        return None if mean is None else -mean

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("cached")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Generation:
        return cls(**data)


@dataclass
class Step:
    """One intermediate step of a pipeline run (a retrieval, a generation, a judgement...)."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Answer:
    """The result of ``Pipeline.run(question)`` or ``Ensemble.run(question)``.

    ``text`` is the extracted short answer; ``raw_text`` what the generator wrote.
    ``token_logprobs`` / ``token_entropies`` belong to the generation the answer came from.
    ``confidence`` is in [0, 1] where a pipeline can say (an ensemble's vote share, say).
    """

    question: str
    text: str
    raw_text: str = ""
    documents: list[SearchResult] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    token_logprobs: list[float] = field(default_factory=list)
    token_entropies: list[float] = field(default_factory=list)
    system: str = ""
    confidence: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_entropy(self) -> float | None:
        """Mean next-token entropy over the answer's tokens (nats)."""
        return _mean(self.token_entropies)

    @property
    def mean_nll(self) -> float | None:
        """Mean negative log-likelihood of the answer's tokens (nats)."""
        mean = _mean(self.token_logprobs)
        return None if mean is None else -mean

    def add_step(self, step: str, /, **data: Any) -> None:
        self.steps.append(Step(step, data))

    def to_dict(self, *, timing: bool = True) -> dict[str, Any]:
        """The answer as JSON-ready data; ``timing=False`` leaves out the ``seconds`` it and
        its steps took (what differs between two runs that gave the same answer)."""
        data = asdict(replace(self, documents=[]))
        data["documents"] = [d.to_dict() for d in self.documents]  # never the in-memory item
        data["mean_entropy"] = self.mean_entropy
        data["mean_nll"] = self.mean_nll
        if not timing:
            data["metadata"].pop("seconds", None)
            for step in data["steps"]:
                step["data"].pop("seconds", None)
        return data

    @classmethod
    def from_generation(cls, question: str, text: str, generation: Generation,
                        documents: list[SearchResult] | None = None, **kwargs: Any) -> Answer:
        return cls(question=question, text=text, raw_text=generation.text,
                   documents=list(documents or []), token_logprobs=list(generation.token_logprobs),
                   token_entropies=list(generation.token_entropies), **kwargs)


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None
