"""``nyx-index adapt``: adapt an index's text encoder to its own passages (opt-in).

    nyx-index adapt INDEX_DIR                  # ~1,000 pseudo-queries, one epoch
    nyx-index adapt INDEX_DIR --queries 500    # cheaper
    nyx-index adapt INDEX_DIR --undo           # back to the plain encoder (a new generation)

nyx-index finds this command through the "nyx.cli" entry-point group
(nyx.training.adapt_cli:register), so nyx itself never imports training code. The work is
done by :func:`nyx.training.adapt.adapt`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """The ``nyx.cli`` entry point: add ``adapt`` to ``nyx-index``'s subcommands."""
    parser = subparsers.add_parser(
        "adapt", help="adapt the text encoder to the index's own passages (opt-in, ~17-20 min "
        "per 2,000 passages on 2 cores)", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index", type=Path, help="index folder built by `nyx-index build`")
    parser.add_argument("--queries", type=int, default=1000,
                        help="pseudo-queries drawn from the passages (default 1000)")
    parser.add_argument("--kind", choices=["sentence", "span"], default="sentence",
                        help="pseudo-query kind: a sentence of the passage (default) or a "
                        "run of 4-10 words")
    parser.add_argument("--epochs", type=int, default=1, help="passes over the queries")
    parser.add_argument("--layers", type=int, default=None,
                        help="top MiniLM layers that get adapters (default: AdaptConfig's; "
                        "fewer train faster)")
    parser.add_argument("--undo", action="store_true",
                        help="re-embed with the plain encoder (a new generation)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from nyx.training.adapt import AdaptConfig, adapt, undo_adapt

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.index.is_dir():
        print(f"nyx-index adapt: no index at {args.index}", file=sys.stderr)
        return 2
    try:
        if args.undo:
            name = undo_adapt(args.index, show_progress=True)
            print(f"{args.index}: plain text encoder again, generation {name}")
            return 0
        config = AdaptConfig(queries=args.queries, query_kind=args.kind, epochs=args.epochs)
        if args.layers is not None:
            config = dataclasses.replace(config, layers=args.layers)
        report = adapt(args.index, config, show_progress=True)
    except (ValueError, FileNotFoundError) as exc:
        print(f"nyx-index adapt: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    total = sum(report.seconds.values())
    print(f"{args.index}: adapted ({report.adapter}), generation {report.generation}\n"
          f"  {report.queries} pseudo-queries ({report.held_out} held out), "
          f"{report.pairs_labelled} pairs labelled, {report.steps} training steps\n"
          f"  dense weight {report.dense_weight_before:g} -> {report.dense_weight_after:g}\n"
          f"  took {total / 60:.1f} min: " +
          ", ".join(f"{k} {v:.0f} s" for k, v in report.seconds.items()) +
          f"\n  undo: nyx-index adapt {args.index} --undo")
    return 0
