"""The text generator the data stages need, behind a small protocol.

The NyxQA and feedback stages only need "prompts in, texts out". :func:`load_generator` adapts
the project's generator (``nyx.ensemble.generators``, SmolLM2-135M-Instruct offline by default);
any callable with the :class:`TextGenerator` signature works too (tests, other backends).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

logger = logging.getLogger(__name__)


#: A user turn, or chat messages (``{"role", "content"}``; few-shot turns included).
Prompt = str | list[dict[str, str]]


class TextGenerator(Protocol):
    """One completion per prompt."""

    def __call__(self, prompts: Sequence[Prompt], *, max_new_tokens: int = 32,
                 stop: Sequence[str] = ()) -> list[str]: ...


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the first stop string (generators may or may not apply stops)."""
    end = len(text)
    for s in stop:
        if s and (i := text.find(s)) != -1:
            end = min(end, i)
    return text[:end]


class BackendGenerator:
    """Adapts an object with ``generate(prompts, **overrides)`` (returning strings or objects
    with ``.text``), as ``nyx.ensemble.generators`` backends are, to :class:`TextGenerator`."""

    def __init__(self, backend: Any) -> None:
        if not callable(getattr(backend, "generate", None)):
            raise TypeError(f"{type(backend).__name__} has no generate() method")
        self.backend = backend

    def __call__(self, prompts: Sequence[Prompt], *, max_new_tokens: int = 32,
                 stop: Sequence[str] = ()) -> list[str]:
        if not prompts:
            return []
        try:
            outputs = self.backend.generate(list(prompts), max_new_tokens=max_new_tokens,
                                            stop=list(stop))
        except TypeError:  # a backend that takes no decoding overrides
            outputs = self.backend.generate(list(prompts))
        texts = [o if isinstance(o, str) else str(o.text) for o in outputs]
        if len(texts) != len(prompts):
            raise RuntimeError(f"generator returned {len(texts)} outputs for {len(prompts)} "
                               "prompts")
        return [cut_at_stop(t.lstrip(), stop).strip() for t in texts]

    def __repr__(self) -> str:
        return f"BackendGenerator({self.backend!r})"


def load_generator(spec: str = "smollm2", **options: Any) -> TextGenerator:
    """A generator by name: ``smollm2`` (offline, from PyPI), a local model folder, or a hub id.

    Extra ``options`` go to the backend (``device``, ``batch_size``, ``num_threads``...).
    """
    try:
        from nyx.ensemble.generators.transformers_backend import TransformersGenerator
    except ImportError as exc:
        raise ImportError(
            "the data stages generate with nyx.ensemble.generators (transformers); it could "
            f"not be imported ({exc}). Install the project with its dependencies "
            "(pip install -e '.[train]') or pass your own TextGenerator callable"
        ) from exc
    name = "smollm2-135m-instruct" if spec.lower() in ("smollm2", "smollm2-135m") else spec
    logger.info("generator: %s", name)
    return BackendGenerator(TransformersGenerator(name, **options))
