"""Token-level mixture decoding (REPLUG): one answer from a weighted mix of conditionals.

At each step every prompt (say, one per retrieved document) yields a next-token distribution
``p_i``; the token is chosen from ``p = sum_i w_i p_i`` and appended to every prompt, so the
documents vote token by token. One batched forward pass per step with a KV cache.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from nyx.ensemble.generators.base import GenerationConfig, apply_stop
from nyx.ensemble.types import Generation

if TYPE_CHECKING:
    from nyx.ensemble.generators.transformers_backend import TransformersGenerator

__all__ = ["mixture_decode", "mixture_decode_many", "sample_token"]



def sample_token(logprobs: Any, config: GenerationConfig, rng: Any) -> int:
    """Pick the next token from a log-probability vector: argmax, or temperature / top-k /
    top-p sampling."""
    import torch

    if config.greedy:
        return int(logprobs.argmax())
    scores = logprobs / config.temperature
    if config.top_k:
        kth = scores.topk(min(config.top_k, scores.numel())).values[-1]
        scores = scores.masked_fill(scores < kth, -math.inf)
    probs = scores.softmax(-1)
    if config.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        keep = sorted_probs.cumsum(-1) - sorted_probs < config.top_p
        filtered = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
        probs = filtered / filtered.sum()
    return int(torch.multinomial(probs, 1, generator=rng))


def mixture_decode(gen: TransformersGenerator, texts: list[str], weights: list[float],
                   config: GenerationConfig) -> Generation:
    """Decode from the ``weights``-mixture of the model's distributions given each text."""
    return mixture_decode_many(gen, [(texts, weights)], config)[0]


def mixture_decode_many(gen: TransformersGenerator,
                        groups: list[tuple[list[str], list[float]]],
                        config: GenerationConfig) -> list[Generation]:
    """:func:`mixture_decode` for several mixtures at once (one per question): every text of
    every group runs in one batched forward pass per step, and each group picks its own token
    from its own mixture. A group that has finished keeps its rows in the batch (its tokens are
    ignored) until every group is done."""
    import torch

    model, tok = gen._model, gen._tokenizer
    texts = [text for group, _ in groups for text in group]
    rows: list[slice] = []
    log_w: list[Any] = []
    for group, weights in groups:
        w = torch.tensor(weights, dtype=torch.float32)
        if (w < 0).any() or float(w.sum()) <= 0:
            raise ValueError("mixture weights must be non-negative with a positive sum: "
                             f"{weights}")
        first = rows[-1].stop if rows else 0
        rows.append(slice(first, first + len(group)))
        log_w.append((w / w.sum()).log().to(gen.device)[:, None])
    cache_arg = gen.cache_arg
    batch = gen._inputs(texts)
    mask, past = batch.attention_mask, batch.cache
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, batch.prefix:]
    input_ids = batch.input_ids[:, batch.prefix:]  # the cached prefix is not run again
    eos = {tok.eos_token_id, *_ids(model.generation_config.eos_token_id)}
    rng = torch.Generator().manual_seed(config.seed) if config.seed is not None else None
    decoded = [_Decoded() for _ in groups]
    with torch.inference_mode():
        for _ in range(config.max_new_tokens):
            out = model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                        use_cache=True, **{cache_arg: past})
            past = getattr(out, cache_arg)
            step = out.logits[:, -1].float().log_softmax(-1)
            next_ids = input_ids[:, -1:].clone()
            for where, weights_log, result in zip(rows, log_w, decoded):
                if result.finish is not None:
                    continue
                mixed = torch.logsumexp(step[where] + weights_log, dim=0).cpu()
                token = sample_token(mixed, config, rng)
                if token in eos:
                    result.finish = "stop"
                    continue
                result.add(token, mixed, config, tok)
                if config.stop and any(s in tok.decode(result.ids) for s in config.stop):
                    result.finish = "stop"
                next_ids[where] = token
            if all(result.finish is not None for result in decoded):
                break
            input_ids = next_ids
            mask = torch.cat([mask, mask.new_ones((len(texts), 1))], dim=1)
            positions = positions[:, -1:] + 1
    out_gens = []
    for result in decoded:
        tokens = gen.token_strings(result.ids)
        text, kept, _ = apply_stop("".join(tokens), tokens, config.stop)
        out_gens.append(Generation(text=text, tokens=tokens[:kept],
                                   token_logprobs=result.logprobs[:kept],
                                   token_entropies=result.entropies[:kept],
                                   top_logprobs=result.tops[:kept],
                                   finish_reason=result.finish or "length", model=gen.model))
    return out_gens


class _Decoded:
    """One mixture's tokens and their statistics so far."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.logprobs: list[float] = []
        self.entropies: list[float] = []
        self.tops: list[dict[str, float]] = []
        self.finish: str | None = None

    def add(self, token: int, mixed: Any, config: GenerationConfig, tok: Any) -> None:
        self.ids.append(token)
        self.logprobs.append(float(mixed[token]))
        self.entropies.append(float(-(mixed.exp() * mixed).sum()))
        if config.top_logprobs > 0:
            values, index = mixed.topk(config.top_logprobs)
            self.tops.append({tok.decode([i]): v
                              for i, v in zip(index.tolist(), values.tolist())})


def _ids(value: Any) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [int(value)]
