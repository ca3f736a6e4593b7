"""What a benchmark ran on: machine, library versions, thread limits and the cache folder.

Every report records :func:`machine_info` so that numbers from different machines (or from the
same machine with different thread counts or BLAS settings) are never compared by mistake.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "BLAS_ENV_VARS",
    "Stopwatch",
    "bench_cache_dir",
    "limit_threads",
    "machine_info",
    "package_versions",
    "rss_bytes",
]

#: OpenBLAS settings present on the reference machine; the speed report runs with and without.
BLAS_ENV_VARS: tuple[str, ...] = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_PACKAGES: tuple[str, ...] = (
    "numpy",
    "faiss-cpu",
    "qdrant-client",
    "torch",
    "sentence-transformers",
    "transformers",
    "bm25s",
    "nyx-retrieval",
)


def bench_cache_dir(*parts: str) -> Path:
    """``$NYX_CACHE/bench/...`` (default ``~/.cache/nyx/bench/...``), created on demand."""
    root = Path(os.environ.get("NYX_CACHE") or Path.home() / ".cache" / "nyx").expanduser()
    folder = root.joinpath("bench", *parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def package_versions() -> dict[str, str | None]:
    """Installed versions of the libraries whose speed or quality the reports depend on."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:
        return None


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """CPU, memory, OS, Python, library versions, thread limit and the BLAS variables."""
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_bytes": _memory_bytes(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "threads": threads,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "blas_env": {name: os.environ.get(name) for name in BLAS_ENV_VARS},
        "versions": package_versions(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def limit_threads(threads: int) -> None:
    """Cap torch, BLAS (numpy) and FAISS OpenMP threads for this process.

    On a small machine shared with other work, two torch threads fighting other processes for
    two cores are ~15x slower than one thread for single-query encoding, so benchmarks default
    to one thread and record the value.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:
        logger.warning("threadpoolctl is not installed; BLAS keeps its default thread count")
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)


def rss_bytes() -> int:
    """Resident set size of this process (psutil; 0 if it is missing)."""
    try:
        import psutil
    except ImportError:
        return 0
    return int(psutil.Process().memory_info().rss)


@dataclass
class Stopwatch:
    """Named wall-clock timings of the phases of a run, reported in the JSON."""

    seconds: dict[str, float]

    def __init__(self) -> None:
        self.seconds = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            logger.info("%s took %.1f s", name, self.seconds[name])

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in asdict(self)["seconds"].items()}
