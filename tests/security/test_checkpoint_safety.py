"""Resuming from a checkpoint folder someone hands you never runs code from it."""

from __future__ import annotations

import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nyx.training.checkpoint import _load_safely, rng_state, set_rng_state  # noqa: E402

RAN: list[str] = []


class Payload:
    def __reduce__(self):
        return (RAN.append, ("code ran",))


def test_a_pickled_object_in_optimizer_pt_is_refused_not_run(tmp_path):
    torch.save({"optimizer": Payload(), "scheduler": {}}, tmp_path / "optimizer.pt")
    with pytest.raises(ValueError, match="not loaded"):
        _load_safely(tmp_path / "optimizer.pt")
    assert RAN == []


def test_rng_state_round_trips_through_weights_only_load(tmp_path):
    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    torch.save(rng_state(), tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(_load_safely(tmp_path / "rng.pt"))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
