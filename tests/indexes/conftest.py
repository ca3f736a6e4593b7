"""Fixtures for index tests: realistic (clustered, L2-normalised) vectors and metadata."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

VectorFactory = Callable[..., np.ndarray]


def clustered_vectors(
    n: int, dim: int, *, seed: int, n_clusters: int = 12, spread: float = 0.35, topics: int = 0
) -> np.ndarray:
    """Points scattered around cluster centres, then L2-normalised, like embeddings of
    documents on a handful of topics. Calls with the same `topics` share the centres, so
    queries drawn with another `seed` land among the documents."""
    centres = np.random.default_rng(10_000 + topics).standard_normal((n_clusters, dim))
    rng = np.random.default_rng(seed)
    assignment = rng.integers(0, n_clusters, size=n)
    points = centres[assignment] + spread * rng.standard_normal((n, dim))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32)


def make_metadata(n: int, *, seed: int) -> list[dict[str, Any]]:
    """Metadata with every value kind the filters handle: str, list of str, int, float, bool."""
    rng = np.random.default_rng(seed)
    tags = ["news", "blog", "paper", "forum", "wiki"]
    metadata = []
    for _ in range(n):
        chosen = rng.choice(tags, size=int(rng.integers(1, 3)), replace=False)
        metadata.append(
            {
                "lang": str(rng.choice(["en", "de", "fr"], p=[0.6, 0.25, 0.15])),
                "tags": sorted(str(t) for t in chosen),
                "year": int(rng.integers(1990, 2025)),
                "rating": round(float(rng.uniform(0, 5)), 2),
                "public": bool(rng.random() < 0.7),
            }
        )
    return metadata


@pytest.fixture
def vectors() -> VectorFactory:
    return clustered_vectors


def run_python(code: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """Start `python -c code args...` (args land in sys.argv[1:]) in a child process that
    can import the repo's packages; stdout and stderr are pipes."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )
