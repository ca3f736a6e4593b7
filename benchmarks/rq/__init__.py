"""Ablations for the seven research questions of the RAG-ensemble study.

Pipeline level: RQ1 does aggregating different pipelines help; RQ2 still with API models;
RQ3 does it scale with the number of systems; RQ4 does the ensemble prefer some systems.
Module level: RQ5 different generators, RQ6 different retrievers, RQ7 different rerankers.

    nyx-bench rq all --limit 30 --out reports/rq

The RQ configs name two component types beyond the ensemble's (``RQ_TYPES``, handed to its
builder): ``packaged_lm`` (Gemma 3 270M from PyPI) and ``nyx_cached`` (Nyx over cached vectors).
"""

from __future__ import annotations

from nyx.benchmarks.rq.config import RQ_NAMES, RQConfig, TaskSpec, load_rq_config
from nyx.benchmarks.rq.models import PackagedLM
from nyx.benchmarks.rq.report import write_report
from nyx.benchmarks.rq.retrievers import CachedNyxRetriever
from nyx.benchmarks.rq.runner import RQResult, TaskResult, run_rq

__all__ = ["RQ_NAMES", "CachedNyxRetriever", "PackagedLM", "RQConfig", "RQResult",
           "TaskResult", "TaskSpec", "load_rq_config", "run_rq", "write_report"]
