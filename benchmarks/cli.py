"""``nyx-bench``: run a benchmark and write its Markdown report, JSON and PNG plots.

    nyx-bench retrieval --dataset squad-dev [--limit N] [--out reports/squad-dev]
    nyx-bench retrieval --dataset squad-shifts-amazon|squad-shifts-new-wiki
    nyx-bench retrieval --dataset fashion-mnist|easy-vqa|beir:DIR
    nyx-bench fusion-domains [--queries 2000] [--out reports/fusion-domains]
    nyx-bench rerank [--domains squad-dev,...] [--depths 5,10,20] [--out reports/rerank]
    nyx-bench query-batching [--queries 1000] [--out reports/query-batching]
    nyx-bench text-tower [--queries 1000] [--out reports/text-tower]
    nyx-bench pipeline-batching [--questions 50] [--batch-size 32] [--out reports/...]
    nyx-bench tune-hybrid [--out reports/tune-hybrid]
    nyx-bench speed [--sizes 100000,1000000] [--out reports/speed]
    nyx-bench rq RQ1 [RQ2 ...] | all [--limit N] [--out reports/rq]

Every subcommand takes ``--data-dir DIR``: a folder laid out like ``../shared/data`` holding the
real data files (default ``$NYX_DATA_DIR``; see :mod:`nyx.benchmarks.datasets.sources`).

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``; :data:`COMMANDS` maps names to modules (:func:`register_command` adds
one).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from dataclasses import dataclass
from types import ModuleType

__all__ = ["COMMANDS", "Command", "build_parser", "main", "register_command"]


@dataclass(frozen=True)
class Command:
    """A subcommand: the module implementing it and a one-line help."""

    module: str
    help: str


COMMANDS: dict[str, Command] = {
    "retrieval": Command("nyx.benchmarks.retrieval", "retrieval quality and latency vs peers"),
    "tune-hybrid": Command("nyx.benchmarks.tune_hybrid",
                           "tune the hybrid dense weight on SQuAD-dev (first half / second half)"),
    "fusion-domains": Command("nyx.benchmarks.fusion_domains",
                              "choose hybrid fusion by leave-one-domain-out over QA domains"),
    "rerank": Command("nyx.benchmarks.rerank", "cross-encoder reranking: nDCG@10 and p50 vs N"),
    "adapt": Command("nyx.benchmarks.adapt",
                     "nyx-index adapt on each domain's passages: dense/hybrid nDCG@10 before "
                     "and after"),
    "rerank-blend": Command("nyx.benchmarks.rerank_blend",
                            "cross-encoder blended with the first stage, leave-one-domain-out"),
    "rerank-pairs": Command("nyx.benchmarks.rerank_pairs",
                            "first-stage candidates per question as jsonl (reranker distillation)"),
    "text-tower": Command("nyx.benchmarks.text_tower",
                          "nyx-lite's text tower: torch vs onnxruntime fp32/int8, speed and nDCG"),
    "query-batching": Command("nyx.benchmarks.query_batching",
                              "hybrid search queries/s: batched vs one by one"),
    "pipeline-batching": Command("nyx.benchmarks.pipeline_batching",
                                 "RAG pipeline questions/s: stage by stage in batches vs one "
                                 "by one"),
    "speed": Command("nyx.benchmarks.speed", "index build/search speed, recall and memory"),
    "rq": Command("nyx.benchmarks.rq.cli",
                  "research-question ablations RQ1-RQ7 (configs/rq/*.yaml)"),
}


def register_command(name: str, module: str, help: str) -> None:
    """Add or replace a subcommand; ``module`` must define ``add_arguments`` and ``run``."""
    COMMANDS[name] = Command(module, help)


def _load(command: Command) -> ModuleType:
    """The command's module, checked to define ``add_arguments(parser)`` and ``run(args)``."""
    module = importlib.import_module(command.module)
    if not (callable(getattr(module, "add_arguments", None))
            and callable(getattr(module, "run", None))):
        raise TypeError(f"{command.module} defines no add_arguments(parser) and run(args)")
    return module


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = argparse.ArgumentParser(prog="nyx-bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=None, metavar="DIR",
                        help="folder holding the real data files, laid out like ../shared/data "
                             "(default: $NYX_DATA_DIR, then the cache, then the files' sources)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules: dict[str, ModuleType] = {}
    for name, command in COMMANDS.items():
        modules[name] = module = _load(command)
        child = sub.add_parser(name, help=command.help, description=command.help,
                               parents=[common])
        module.add_arguments(child)
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    # Offline by design: the models ship inside PyPI packages (see shared/OFFLINE.md).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    module = modules[args.command]
    from nyx.benchmarks.datasets import DatasetUnavailableError
    from nyx.benchmarks.datasets.sources import DATA_DIR_ENV

    if args.data_dir:
        os.environ[DATA_DIR_ENV] = os.path.abspath(args.data_dir)
    try:
        return int(module.run(args))
    except DatasetUnavailableError as error:
        print(f"nyx-bench {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
