"""``nyx-bench rq RQ1 [RQ2 ...] | all``: run research questions and write their reports.

    nyx-bench rq all --limit 30 --out reports/rq
    nyx-bench rq RQ2 --api-url http://127.0.0.1:8000/v1 --api-model Qwen2.5-7B-Instruct
    nyx-bench rq benchmarks/configs/rq/RQ5-endpoints.yaml --out reports/rq-endpoints

Each RQ is driven by ``benchmarks/configs/rq/<RQn>.yaml`` (``--config-dir`` for others); a
YAML path runs that config instead.
Calls are cached in ``<out>/cache.sqlite``: a killed run started again skips finished work.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
from pathlib import Path

from nyx.benchmarks.rq.config import RQ_NAMES, config_path, load_rq_config
from nyx.benchmarks.rq.report import main_table, write_report
from nyx.benchmarks.rq.runner import RQResult, run_rq
from nyx.benchmarks.rq.systems import DEFAULT_BATCH_SIZE

logger = logging.getLogger(__name__)

__all__ = ["add_arguments", "expand_names", "run"]

API_KEY_ENV = "NYX_RQ_API_KEY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("questions", nargs="+", metavar="RQ",
                        help=f"{', '.join(RQ_NAMES)}, all, or a path to an RQ YAML config")
    parser.add_argument("--limit", type=int, default=None,
                        help="questions per task (default: each config's limit)")
    parser.add_argument("--out", type=Path, default=Path("reports/rq"),
                        help="report folder (default reports/rq)")
    parser.add_argument("--config-dir", type=Path, default=None,
                        help="folder of RQn.yaml files (default benchmarks/configs/rq)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="call cache (default <out>/cache.sqlite)")
    parser.add_argument("--seed", type=int, default=None, help="override the configs' seed")
    parser.add_argument("--tasks", default=None,
                        help="comma-separated task names: run only these tasks of each config "
                             "(e.g. squad of RQ1-domains.yaml)")
    parser.add_argument("--api-url", default=None,
                        help="RQ2: OpenAI-compatible base URL (env NYX_RQ_API_URL)")
    parser.add_argument("--api-model", default=None, help="RQ2: model name (env NYX_RQ_API_MODEL)")
    parser.add_argument("--api-key", default=None,
                        help="RQ2: API key (default: the env variable the config names, "
                             "OPENAI_API_KEY)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help="questions a system answers at once, stage by stage where it can "
                             f"(default {DEFAULT_BATCH_SIZE}; 1: one question at a time; the "
                             "answers are the same)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def expand_names(names: list[str]) -> list[str]:
    """``all`` -> every RQ; names are case-insensitive, YAML paths are kept; each once."""
    out: list[str] = []
    for name in names:
        if name.endswith((".yaml", ".yml")):
            picked = [name]
        else:
            picked = list(RQ_NAMES) if name.lower() == "all" else [name.upper()]
            if picked[0] not in RQ_NAMES:
                raise SystemExit(f"nyx-bench rq: unknown research question {name!r}; use "
                                 f"{', '.join(RQ_NAMES)}, all or a YAML path")
        out += [p for p in picked if p not in out]
    return out


def _command(args: argparse.Namespace) -> str:
    parts = ["nyx-bench", "rq", *args.questions]
    for flag in ("limit", "seed", "tasks", "out", "config_dir", "cache", "api_url", "api_model"):
        value = getattr(args, flag)
        if value is not None and not (flag == "out" and value == Path("reports/rq")):
            parts += [f"--{flag.replace('_', '-')}", str(value)]
    if args.api_key:
        parts += ["--api-key", "***"]
    return shlex.join(parts)


def _summary(results: list[RQResult], out: Path, command: str) -> Path:
    lines = ["# Research-question ablations", "", f"Command: `{command}`", ""]
    for result in results:
        rq = result.config.rq
        lines += [f"## {rq}: {result.config.title}", "",
                  f"{result.message or f'ran in {result.wall_s:.0f} s'} - "
                  f"[full report]({rq}/{rq}.md)", ""]
        for task in result.tasks:
            lines += [f"**{task.name}** ({task.dataset}, {task.questions} questions; "
                      f"best single: {task.best_single})", "", main_table(task), ""]
    path = out / "summary.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def run(args: argparse.Namespace) -> int:
    names = expand_names(args.questions)
    command = _command(args)
    key_env = None
    if args.api_key:  # the generator reads its key from an environment variable by name
        os.environ[API_KEY_ENV] = args.api_key
        key_env = API_KEY_ENV
    cache = args.cache or args.out / "cache.sqlite"
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    results = []
    for name in names:
        source = config_path(name, args.config_dir) if name in RQ_NAMES else Path(name)
        try:
            config = load_rq_config(source).with_overrides(
                limit=args.limit, seed=args.seed,
                api_url=args.api_url or os.environ.get("NYX_RQ_API_URL"),
                api_model=args.api_model or os.environ.get("NYX_RQ_API_MODEL"),
                api_key_env=key_env, tasks=tasks)
        except ValueError as error:  # --tasks names a task the config does not have
            raise SystemExit(f"nyx-bench rq: {source}: {error}") from error

        def partial(result: RQResult) -> None:  # finished tasks reported while others run
            files = write_report(result, args.out, command)
            logger.info("%s: %s; report so far: %s", result.config.rq, result.message,
                        files["markdown"])

        result = run_rq(config, cache_path=cache, progress=not args.no_progress,
                        batch_size=args.batch_size, on_task=partial)
        files = write_report(result, args.out, command)
        results.append(result)
        print(f"\n== {config.rq}: {config.title} -- {result.message or 'done'}")
        for task in result.tasks:
            print(f"\n{task.name} ({task.questions} questions, best single: "
                  f"{task.best_single})\n{main_table(task)}")
        print(f"report: {files['markdown']}")
        _summary(results, args.out, command)  # rewritten after each RQ: a partial run shows
    print(f"\nsummary: {args.out / 'summary.md'}")
    return 1 if any(r.status == "failed" for r in results) else 0
