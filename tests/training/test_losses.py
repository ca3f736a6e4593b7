"""InfoNCE and Matryoshka against hand-computed values; gathering across two processes."""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from training.losses import MatryoshkaInfoNCE, info_nce, known_positive_mask


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


def _worker(rank: int, port: int, folder: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)
    q_all, d_all = torch.randn(4, 6), torch.randn(7, 6)  # rank 0 holds 4 docs, rank 1 holds 3
    shards = {0: (slice(0, 2), slice(0, 4)), 1: (slice(2, 4), slice(4, 7))}
    qs, ds = shards[rank]
    d = d_all[ds].clone().requires_grad_(True)
    positives = torch.tensor([0, 1]) if rank == 0 else torch.tensor([0, 1])
    out = MatryoshkaInfoNCE(0.1)(q_all[qs], d, positives)
    out.loss.backward()
    torch.save({"loss": out.loss.item(), "grad": d.grad}, Path(folder) / f"rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_documents_are_gathered_across_processes_with_local_gradients(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    torch.manual_seed(0)
    q_all, d_all = torch.randn(4, 6), torch.randn(7, 6)
    for rank, (qs, ds, offset) in enumerate([(slice(0, 2), slice(0, 4), 0),
                                             (slice(2, 4), slice(4, 7), 4)]):
        saved = torch.load(tmp_path / f"rank{rank}.pt")
        d = d_all.clone().requires_grad_(True)
        # Each process scores its queries against all 7 documents; positives are local rows.
        reference = MatryoshkaInfoNCE(0.1, gather=False)(
            q_all[qs], d, torch.tensor([0, 1]) + offset)
        reference.loss.backward()
        assert saved["loss"] == pytest.approx(reference.loss.item(), rel=1e-5)
        torch.testing.assert_close(saved["grad"], d.grad[ds])  # gradient of the local shard
