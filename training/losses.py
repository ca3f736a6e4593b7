"""InfoNCE over in-batch and hard negatives, and its Matryoshka extension over several dims.

A batch holds ``B`` queries and a pool of ``M`` documents: the ``B`` positives followed by the
hard negatives of every query (all shared as negatives for all queries, as in-batch negatives
are).

Under torch.distributed (``gather=True``) the queries *and* the documents are gathered from every
process, and every process computes the loss of the whole gathered batch, back-propagating into
its own shard only. A process's gradient is then its shard's part of the full-batch gradient
(including the terms of other processes' queries that use its documents as negatives), so the
sum over processes equals one process's gradient on the concatenated batch; the trainer sums
them (:func:`nyx.training.distributed.reduce_gradients` with ``average=False``). Gathering the
documents alone would leave out those cross terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nyx.training.distributed import gather_tensor, gather_with_grad, is_distributed


def info_nce(queries: torch.Tensor, documents: torch.Tensor, positives: torch.Tensor,
             temperature: float = 0.02, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy of each query's positive against every document in the pool.

    Args:
        queries: ``(B, d)``, L2-normalised (cosine similarity is the dot product).
        documents: ``(M, d)``, L2-normalised.
        positives: ``(B,)`` index of each query's positive document in ``documents``.
        temperature: the softmax temperature (0.02 in the Nyx paper).
        mask: optional ``(B, M)`` bool, ``False`` where a document must not count as a negative
            (padding, or another positive of the same query). The positive itself is always kept.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if queries.shape[-1] != documents.shape[-1]:
        raise ValueError(f"queries are {queries.shape[-1]}-d but documents are "
                         f"{documents.shape[-1]}-d")
    logits = queries @ documents.T / temperature
    if mask is not None:
        keep = mask.clone()
        keep[torch.arange(len(positives), device=keep.device), positives] = True
        logits = logits.masked_fill(~keep, torch.finfo(logits.dtype).min)
    return F.cross_entropy(logits.float(), positives)


@dataclass
class ContrastiveBatchOutput:
    loss: torch.Tensor
    #: Loss per Matryoshka dim (one entry, the full dim, without Matryoshka).
    per_dim: dict[int, float]


class MatryoshkaInfoNCE:
    """InfoNCE summed over truncations of the embeddings: ``sum_d w_d * InfoNCE(x[:, :d])``.

    Each truncation is renormalised before scoring, as ``VLMEncoder(dim=d)`` does at inference.
    With no ``dims`` the loss is plain InfoNCE over the full (normalised) embeddings.
    """

    def __init__(self, temperature: float = 0.02, dims: Sequence[int] = (),
                 weights: Sequence[float] = (), gather: bool = True) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        dims = list(dims)
        if weights and len(weights) != len(dims):
            raise ValueError(f"{len(weights)} Matryoshka weights for {len(dims)} dims; give one "
                             "weight per dim or none (all 1.0)")
        if any(d < 1 for d in dims) or len(set(dims)) != len(dims):
            raise ValueError(f"Matryoshka dims must be distinct positive integers, got {dims}")
        if any(w < 0 for w in weights):
            raise ValueError(f"Matryoshka weights must be >= 0, got {list(weights)}")
        self.temperature = temperature
        self.dims = dims
        self.weights = list(weights) if weights else [1.0] * len(dims)
        self.gather = gather

    @property
    def sums_gradients(self) -> bool:
        """Whether this process computes the gathered batch's loss, so that the processes'
        gradients must be summed (not averaged) to give the full-batch gradient."""
        return self.gather and is_distributed()

    def __call__(self, queries: torch.Tensor, documents: torch.Tensor,
                 positives: torch.Tensor, doc_keys: torch.Tensor | None = None,
                 positive_keys: torch.Tensor | None = None) -> ContrastiveBatchOutput:
        """Loss of one batch.

        ``doc_keys`` ``(M,)`` and ``positive_keys`` ``(B, P)`` (int64, ``-1`` padding) mask
        false negatives: a document whose key is one of the query's known positives is not
        used as a negative. The batch is gathered across processes first when enabled (see the
        module docstring).
        """
        full = queries.shape[-1]
        dims = self.dims or [full]
        if max(dims) > full:
            raise ValueError(f"Matryoshka dim {max(dims)} exceeds the embedding size {full}")
        if self.sums_gradients:
            documents, offset = gather_with_grad(documents)
            queries, _ = gather_with_grad(queries)
            positives = gather_tensor(positives + offset)
            if doc_keys is not None:
                doc_keys = gather_tensor(doc_keys)
            if positive_keys is not None:
                positive_keys = gather_tensor(positive_keys, fill=-1)
        mask = None
        if doc_keys is not None and positive_keys is not None:
            mask = ~known_positive_mask(doc_keys, positive_keys)
        weights = self.weights if self.dims else [1.0]
        total = queries.new_zeros((), dtype=torch.float32)
        per_dim: dict[int, float] = {}
        for dim, weight in zip(dims, weights):
            q = F.normalize(queries[:, :dim].float(), dim=-1)
            d = F.normalize(documents[:, :dim].float(), dim=-1)
            loss = info_nce(q, d, positives, self.temperature, mask)
            per_dim[dim] = float(loss.detach())
            total = total + weight * loss
        return ContrastiveBatchOutput(total, per_dim)


def known_positive_mask(doc_keys: torch.Tensor, positive_keys: torch.Tensor) -> torch.Tensor:
    """``(B, M)`` bool: document ``j`` is one of query ``i``'s known positives.

    ``doc_keys`` is ``(M,)``; ``positive_keys`` is ``(B, P)`` with ``-1`` as padding.
    """
    # Row by row: a query may have thousands of known positives (a caption shared by many
    # images), and a (B, P, M) comparison would not fit.
    return torch.stack([torch.isin(doc_keys, row[row >= 0]) for row in positive_keys])
