"""The generator interface: batched generation with per-token log-probabilities and entropies."""

from __future__ import annotations

import dataclasses
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from nyx.ensemble.cache import DiskCache, cache_key
from nyx.ensemble.config import Configurable
from nyx.ensemble.types import Generation, Message

logger = logging.getLogger(__name__)

__all__ = ["GenerationConfig", "Generator", "apply_stop", "entropy_from_top_logprobs",
           "is_single_prompt"]


@dataclass
class GenerationConfig:
    """Decoding parameters. ``temperature == 0`` is greedy decoding (the default)."""

    max_new_tokens: int = 32
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    top_logprobs: int = 5

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            self.stop = [self.stop]
        self.stop = list(self.stop)
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def deterministic(self) -> bool:
        """Whether the same call gives the same output (so its result may be cached)."""
        return self.greedy or self.seed is not None

    def replace(self, **overrides: Any) -> GenerationConfig:
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(overrides) - names
        if unknown:
            raise ValueError(f"unknown generation parameters {sorted(unknown)}; "
                             f"known: {sorted(names)}")
        return dataclasses.replace(self, **overrides)

    @classmethod
    def coerce(cls, value: GenerationConfig | Mapping[str, Any] | None) -> GenerationConfig:
        if value is None:
            return cls()
        if isinstance(value, GenerationConfig):
            return value
        return cls().replace(**dict(value))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def is_single_prompt(prompts: Any) -> bool:
    """A string or a list of messages is one prompt; a list of those is a batch."""
    if isinstance(prompts, str):
        return True
    return bool(prompts) and isinstance(prompts, list) and isinstance(prompts[0], Mapping)


class Generator(Configurable, ABC):
    """Turns prompts into :class:`~nyx.ensemble.types.Generation` records, caching on disk.

    A prompt is a string (one user turn; the chat template is applied where the model has one)
    or a list of chat messages; a list whose last message is the assistant's is continued.
    """

    #: Whether independent calls may run in threads at once (true for HTTP backends).
    supports_concurrency: ClassVar[bool] = False
    #: Whether :meth:`generate_mixture` decodes a token-level mixture (REPLUG).
    supports_mixture: ClassVar[bool] = False

    def __init__(self, generation: GenerationConfig | Mapping[str, Any] | None = None,
                 cache: DiskCache | None = None) -> None:
        self.generation = GenerationConfig.coerce(generation)
        self.cache = cache

    #: decoding parameters are keyed per call, so the default ones are not part of the id
    volatile_fields: ClassVar[tuple[str, ...]] = ("generation",)

    @property
    def model_id(self) -> str:
        """Names the model and every setting that changes its generations, in cache keys
        (:attr:`cache_id`, derived from the constructor's parameters)."""
        return self.cache_id

    def generate(self, prompts: str | list[Message] | Sequence[str | list[Message]],
                 config: GenerationConfig | Mapping[str, Any] | None = None,
                 **overrides: Any) -> list[Generation]:
        """Generate for each prompt; ``overrides`` change single decoding parameters."""
        batch = [prompts] if is_single_prompt(prompts) else list(prompts)
        params = (GenerationConfig.coerce(config) if config is not None
                  else self.generation).replace(**overrides)
        results: list[Generation | None] = [None] * len(batch)
        keys = [self._key("generate", p, params.to_dict()) for p in batch]
        if self.cache is not None and params.deterministic:
            for i, key in enumerate(keys):
                hit = self.cache.get(key)
                if hit is not None:
                    results[i] = Generation.from_dict(hit)
                    results[i].cached = True
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            fresh = self._generate([batch[i] for i in todo], params)
            for i, gen in zip(todo, fresh):
                results[i] = gen
                if self.cache is not None and params.deterministic:
                    self.cache.put(keys[i], gen.to_dict())
        return results  # type: ignore[return-value]

    @abstractmethod
    def _generate(self, prompts: list[str | list[Message]],
                  config: GenerationConfig) -> list[Generation]:
        """Generate for prompts that were not in the cache."""

    def option_logprobs(self, prompts: Sequence[str | list[Message]],
                        options: Sequence[str]) -> list[dict[str, float]]:
        """log P(option | prompt) for each prompt and option, e.g. ``["yes", "no"]``.

        This default reads the first generated step's top log-probabilities (options are matched
        on their first token, case- and space-insensitively); an option not among them gets
        the smallest value seen minus one. Local backends override it with exact scores.
        """
        gens = self.generate(list(prompts), max_new_tokens=1, temperature=0.0,
                             top_logprobs=max(self.generation.top_logprobs, 20), stop=[])
        out = []
        for gen in gens:
            top = gen.top_logprobs[0] if gen.top_logprobs else {}
            scores: dict[str, float] = {}
            for token, lp in top.items():
                key = token.strip().lower()
                if key and key not in scores:
                    scores[key] = lp
            floor = min(scores.values(), default=0.0) - 1.0
            out.append({o: _match_option(o, scores, floor) for o in options})
        return out

    def generate_mixture(self, prompts: Sequence[str | list[Message]], weights: Sequence[float],
                         config: GenerationConfig | Mapping[str, Any] | None = None,
                         **overrides: Any) -> Generation:
        """One generation from the weighted mixture of each prompt's next-token distribution."""
        raise NotImplementedError(f"{type(self).__name__} cannot decode a token-level mixture; "
                                  "use the transformers backend")

    def generate_mixtures(self, groups: Sequence[tuple[Sequence[str | list[Message]],
                                                       Sequence[float]]],
                          config: GenerationConfig | Mapping[str, Any] | None = None,
                          **overrides: Any) -> list[Generation]:
        """:meth:`generate_mixture` for each ``(prompts, weights)`` group (one per question);
        a backend may decode them together."""
        return [self.generate_mixture(prompts, weights, config, **overrides)
                for prompts, weights in groups]

    def _key(self, kind: str, prompt: Any, params: Any) -> str:
        return cache_key(kind, self.model_id, prompt, params)

    def close(self) -> None:
        """Release the model or connection (optional)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_id!r})"


def _match_option(option: str, scores: dict[str, float], floor: float) -> float:
    key = option.strip().lower()
    if key in scores:
        return scores[key]
    prefixes = [lp for tok, lp in scores.items() if key.startswith(tok) or tok.startswith(key)]
    return max(prefixes) if prefixes else floor


def apply_stop(text: str, tokens: list[str], stop: Sequence[str]) -> tuple[str, int, bool]:
    """Cut ``text`` before the first stop sequence.

    Returns the cut text, how many of ``tokens`` (whose concatenation is ``text``) start
    before the cut, and whether a stop sequence was found.
    """
    cut = min((pos for s in stop if s and (pos := text.find(s)) >= 0), default=-1)
    if cut < 0:
        return text, len(tokens), False
    kept, offset = 0, 0
    for token in tokens:
        if offset >= cut:
            break
        kept += 1
        offset += len(token)
    return text[:cut], kept, True


def entropy_from_top_logprobs(top: Mapping[str, float]) -> float:
    """Entropy (nats) estimated from the top-k log-probabilities an API returns.

    The probability mass outside the top k is treated as one outcome, so this is a lower
    bound of the true entropy; it is exact when the top k hold all the mass.
    """
    probs = [math.exp(lp) for lp in top.values() if lp is not None and math.isfinite(lp)]
    rest = max(0.0, 1.0 - sum(probs))
    return -sum(p * math.log(p) for p in [*probs, rest] if p > 0)
