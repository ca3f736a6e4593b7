"""The search options of :class:`nyx.SearchOptions` as command-line arguments."""

from __future__ import annotations

import argparse
from typing import Any

from nyx.search_options import option_schema

__all__ = ["add_search_options"]

_TYPES: dict[str, Any] = {"number": float, "integer": int, "string": str}


def add_search_options(parser: argparse.ArgumentParser,
                       extra_help: dict[str, str] | None = None,
                       const: dict[str, Any] | None = None) -> None:
    """``--mode``, ``--group``, ``--modality``, ``--min-score``, ``--rerank``: names, choices,
    types, defaults and help from :func:`nyx.search_options.option_schema`. ``extra_help``
    appends a sentence to an option's help; ``const`` lets an option be given without a value
    (``--rerank`` alone: rerank that many)."""
    extra_help, const = extra_help or {}, const or {}
    for name, spec in option_schema().items():
        flag = "--" + name.replace("_", "-")
        text = spec["description"] + (f"; {extra_help[name]}" if name in extra_help else "")
        options: dict[str, Any] = {"default": spec.get("default"), "help": text}
        if "enum" in spec:
            options["choices"] = spec["enum"]
        else:
            options.update(type=_TYPES[spec["type"]], metavar=name.split("_")[-1][0].upper())
        if name in const:
            options.update(nargs="?", const=const[name],
                           metavar="N" if spec["type"] == "integer" else options.get("metavar"))
        parser.add_argument(flag, **options)
