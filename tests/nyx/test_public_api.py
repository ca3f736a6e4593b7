"""``nyx`` exports what its retriever takes, and loading those names stays light."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from pathlib import Path

import nyx
from nyx.retriever import Retriever

ROOT = Path(__file__).resolve().parents[2]


def _classes(hint: typing.Any) -> list[type]:
    args = typing.get_args(hint)
    if args:
        return [c for arg in args for c in _classes(arg)]
    return [hint] if isinstance(hint, type) else []


def test_what_the_retriever_takes_is_exported() -> None:
    hints = typing.get_type_hints(Retriever.__init__)
    taken = {c for name, hint in hints.items() if name != "return" for c in _classes(hint)
             if c.__module__.startswith("nyx.")}
    assert {c.__name__ for c in taken} >= {"BM25Config", "CrossEncoder", "Encoder",
                                           "HybridConfig", "VectorIndex"}
    for cls in taken:
        assert cls.__name__ in nyx.__all__ and getattr(nyx, cls.__name__) is cls
    from nyx.indexes import Filter  # what a search's filter= takes, besides a dict

    assert "Filter" in nyx.__all__ and nyx.Filter is Filter


PROBE = """
import json, sys, time
start = time.perf_counter()
import nyx
seconds = time.perf_counter() - start
for name in ("BM25Config", "CrossEncoder", "Filter", "HybridConfig", "VectorIndex"):
    getattr(nyx, name)
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers", "onnxruntime")
               if m in sys.modules)
print(json.dumps({"heavy": heavy, "seconds": seconds}))
"""


def test_the_exported_configs_load_without_models() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={"PYTHONPATH": str(ROOT),
                                                      "PATH": "/usr/bin:/bin"}, check=True)
    result = json.loads(done.stdout)
    assert result["heavy"] == []
    assert result["seconds"] < 0.5
