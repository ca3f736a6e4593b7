"""InfoNCE and Matryoshka against hand-computed values; gathering across two processes."""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nyx.training.losses import MatryoshkaInfoNCE, info_nce, known_positive_mask


def test_info_nce_matches_a_hand_computed_case() -> None:
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    d = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    # Scores / 0.5: query 0 -> [2, 0, 1.2] (positive 0), query 1 -> [0, 2, 1.6] (positive 1).
    by_hand = (-(2 - math.log(math.exp(2) + 1 + math.exp(1.2)))
               - (2 - math.log(1 + math.exp(2) + math.exp(1.6)))) / 2
    loss = info_nce(q, d, torch.tensor([0, 1]), temperature=0.5)
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)

    # Masking document 2 for query 0 removes it from that query's denominator only.
    mask = torch.tensor([[True, True, False], [True, True, True]])
    masked = (-(2 - math.log(math.exp(2) + 1)) - (2 - math.log(1 + math.exp(2) + math.exp(1.6))))
    assert info_nce(q, d, torch.tensor([0, 1]), 0.5, mask).item() == pytest.approx(masked / 2,
                                                                                 rel=1e-6)
    # The positive is never masked, even when asked to.
    never = torch.tensor([[False, True, True], [True, True, True]])
    assert info_nce(q, d, torch.tensor([0, 1]), 0.5, never).item() == pytest.approx(by_hand,
                                                                                  rel=1e-6)


def test_info_nce_rejects_bad_input() -> None:
    q, d = torch.eye(2), torch.eye(2)
    with pytest.raises(ValueError, match="temperature"):
        info_nce(q, d, torch.tensor([0, 1]), temperature=0)
    with pytest.raises(ValueError, match="3-d"):
        info_nce(q, torch.ones(2, 3), torch.tensor([0, 1]))


def test_matryoshka_is_the_weighted_sum_over_truncations() -> None:
    torch.manual_seed(0)
    q, d = torch.randn(3, 8), torch.randn(5, 8)
    positives = torch.tensor([0, 1, 2])
    loss = MatryoshkaInfoNCE(0.05, dims=[8, 4, 2], weights=[1.0, 0.5, 0.25])
    out = loss(q, d, positives)

    def at(dim: int) -> float:
        return info_nce(F.normalize(q[:, :dim], dim=-1), F.normalize(d[:, :dim], dim=-1),
                        positives, 0.05).item()

    assert out.per_dim == pytest.approx({8: at(8), 4: at(4), 2: at(2)}, rel=1e-5)
    assert out.loss.item() == pytest.approx(at(8) + 0.5 * at(4) + 0.25 * at(2), rel=1e-5)
    # Without dims: plain InfoNCE on the normalised full vectors.
    assert MatryoshkaInfoNCE(0.05)(q, d, positives).loss.item() == pytest.approx(at(8), rel=1e-5)
    # Unweighted dims default to 1.0 each.
    assert MatryoshkaInfoNCE(0.05, dims=[8, 4])(q, d, positives).loss.item() == pytest.approx(
        at(8) + at(4), rel=1e-5)


def test_matryoshka_argument_errors() -> None:
    with pytest.raises(ValueError, match="one weight per dim"):
        MatryoshkaInfoNCE(dims=[4, 2], weights=[1.0])
    with pytest.raises(ValueError, match="distinct positive"):
        MatryoshkaInfoNCE(dims=[4, 4])
    with pytest.raises(ValueError, match="exceeds the embedding size"):
        MatryoshkaInfoNCE(dims=[16])(torch.randn(2, 8), torch.randn(2, 8), torch.tensor([0, 1]))


def test_known_positives_are_masked_as_negatives() -> None:
    doc_keys = torch.tensor([10, 20, 10, 30])
    positive_keys = torch.tensor([[10, -1], [20, 30]])
    assert known_positive_mask(doc_keys, positive_keys).tolist() == [
        [True, False, True, False], [False, True, False, True]]
    q = F.normalize(torch.randn(2, 4), dim=-1)
    d = F.normalize(torch.randn(4, 4), dim=-1)
    d[2] = d[0]  # the same document twice: query 0's copy must not be its negative
    loss = MatryoshkaInfoNCE(0.1, gather=False)
    masked = loss(q, d, torch.tensor([0, 1]), doc_keys, positive_keys).loss
    expected = info_nce(q, d, torch.tensor([0, 1]), 0.1,
                        ~known_positive_mask(doc_keys, positive_keys))
    assert masked.item() == pytest.approx(expected.item(), rel=1e-6)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# One step of a tiny linear embedder: 5 queries and 9 documents, split unevenly over two
# processes (rank 0: queries 0-1 and documents 0-3; rank 1: queries 2-4 and documents 4-8),
# Matryoshka over two dims, false negatives masked with key lists of different widths.
QUERY_SHARDS, DOC_SHARDS = [slice(0, 2), slice(2, 5)], [slice(0, 4), slice(4, 9)]
POSITIVES = [torch.tensor([0, 1]), torch.tensor([0, 1, 2])]  # local document rows
POSITIVE_KEYS = [torch.tensor([[10], [11]]), torch.tensor([[14, 10], [15, -1], [16, -1]])]
DOC_KEYS = torch.tensor([10, 11, 12, 13, 14, 15, 16, 10, 18])  # document 7 repeats key 10


def _step_inputs() -> tuple[torch.nn.Linear, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return torch.nn.Linear(6, 4), torch.randn(5, 6), torch.randn(9, 6)


def _one_step(model: torch.nn.Linear, xq: torch.Tensor, xd: torch.Tensor, positives: torch.Tensor,
              doc_keys: torch.Tensor, positive_keys: torch.Tensor) -> float:
    from nyx.training.distributed import reduce_gradients

    loss = MatryoshkaInfoNCE(0.1, dims=[4, 2], weights=[1.0, 0.5])
    out = loss(model(xq), model(xd), positives, doc_keys, positive_keys)
    out.loss.backward()
    reduce_gradients(list(model.parameters()), average=not loss.sums_gradients)
    torch.optim.SGD(model.parameters(), lr=0.5).step()
    return out.loss.item()


def _worker(rank: int, port: int, folder: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    model, xq, xd = _step_inputs()
    qs, ds = QUERY_SHARDS[rank], DOC_SHARDS[rank]
    loss = _one_step(model, xq[qs], xd[ds], POSITIVES[rank], DOC_KEYS[ds], POSITIVE_KEYS[rank])
    torch.save({"loss": loss, "weight": model.weight.detach(), "bias": model.bias.detach()},
               Path(folder) / f"rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_two_process_step_equals_one_process_step_on_the_concatenated_batch(
        tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    model, xq, xd = _step_inputs()
    positives = torch.cat([POSITIVES[0], POSITIVES[1] + 4])  # rows in the concatenated pool
    keys = torch.full((5, 2), -1)
    keys[:2, :1], keys[2:] = POSITIVE_KEYS[0], POSITIVE_KEYS[1]
    loss = _one_step(model, xq, xd, positives, DOC_KEYS, keys)
    for rank in (0, 1):
        saved = torch.load(tmp_path / f"rank{rank}.pt")
        assert saved["loss"] == pytest.approx(loss, rel=1e-5)
        # Gathering documents alone (the old scheme) misses the gradient that other processes'
        # queries send to this process's documents, and the weights drift apart from these.
        torch.testing.assert_close(saved["weight"], model.weight.detach())
        torch.testing.assert_close(saved["bias"], model.bias.detach())
