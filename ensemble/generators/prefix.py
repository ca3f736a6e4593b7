"""Prefix caching: prompts that begin with the same tokens share one forward pass over them.

Every RAG prompt here starts with the same few-shot demonstrations (about a third of its
tokens for two 60-word passages). :class:`PrefixCache` keeps the key/value cache of the
longest token prefix that the prompts it has seen share, computed once; a batch whose every
prompt begins with it is laid out as ``[prefix | left padding | each prompt's rest]`` and only
the rest is run. The tokens the model reads are exactly the whole prompt's (the prompts are
tokenised whole and split at a token boundary), so greedy answers are those of running each
prompt whole; the numbers agree to float rounding (a split prefill sums in another order).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

__all__ = ["MIN_SHARED_TOKENS", "PrefixBatch", "PrefixCache"]

#: a shared prefix shorter than this is not worth a separate forward pass
MIN_SHARED_TOKENS = 16


@dataclass
class PrefixBatch:
    """One batch's inputs: ``input_ids`` and ``attention_mask`` cover the whole prompts
    (``[B, prefix + S]``); ``cache`` holds the first ``prefix`` tokens' keys and values, one
    copy per row (``None`` and ``prefix == 0``: nothing cached, left padding only)."""

    input_ids: Any
    attention_mask: Any
    cache: Any | None
    prefix: int


class PrefixCache:
    """The key/value cache of the token prefix the prompts seen so far share (see module)."""

    def __init__(self) -> None:
        self._ids: tuple[int, ...] = ()
        self._cache: Any | None = None

    def clear(self) -> None:
        self._ids, self._cache = (), None

    def batch(self, model: Any, tokenizer: Any, texts: list[str], device: str,
              cache_arg: str) -> PrefixBatch:
        """The inputs for ``texts``; computes (or narrows) the cached prefix when the batch
        shares one of at least :data:`MIN_SHARED_TOKENS` tokens with it or within itself."""
        import torch

        rows = [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
        # every prompt keeps at least one token of its own to run (its last position's logits)
        limit = min(len(r) for r in rows) - 1
        kept = self._ids[:limit]
        shared = tuple(kept[:_common(rows, kept)])
        if len(shared) < MIN_SHARED_TOKENS and len(rows) > 1:
            # nothing kept fits: what this batch shares becomes the kept prefix
            shared = tuple(rows[0][:_common(rows, rows[0][:limit])])
        if len(shared) < MIN_SHARED_TOKENS:
            shared = ()
        elif shared != self._ids:  # a new prefix, or the kept one narrowed to what all share
            with torch.inference_mode():
                out = model(input_ids=torch.tensor([shared], device=device), use_cache=True)
            self._ids, self._cache = shared, getattr(out, cache_arg)
        prefix = len(shared)
        width = max(len(r) for r in rows) - prefix
        pad = tokenizer.pad_token_id
        input_ids = torch.full((len(rows), prefix + width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), prefix + width), dtype=torch.long)
        for b, row in enumerate(rows):
            rest = row[prefix:]
            input_ids[b, :prefix] = torch.tensor(row[:prefix], dtype=torch.long)
            input_ids[b, prefix + width - len(rest):] = torch.tensor(rest, dtype=torch.long)
            mask[b, :prefix] = 1
            mask[b, prefix + width - len(rest):] = 1
        cache = None
        if prefix:
            cache = copy.deepcopy(self._cache)
            cache.batch_repeat_interleave(len(rows))
        return PrefixBatch(input_ids.to(device), mask.to(device), cache, prefix)


def _common(rows: list[list[int]], start: Any) -> int:
    """How many leading tokens of ``start`` every row begins with."""
    n = len(start)
    for row in rows:
        i = 0
        while i < n and row[i] == start[i]:
            i += 1
        n = i
    return n
