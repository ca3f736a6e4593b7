"""Writing benchmark results: Markdown tables, a JSON of every number, and PNG plots.

Each command writes ``<out>/<name>.md``, ``<out>/<name>.json`` and ``<out>/<name>-*.png``. The
JSON holds the settings (data set, limit, encoder version) and :func:`machine_info` next to
the numbers, so a table can always be traced back to how it was made. Plots use matplotlib's
``Agg`` backend (no display needed).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["Report", "bar_chart", "format_value", "line_chart", "markdown_table", "to_jsonable"]


def format_value(value: Any, digits: int = 3) -> str:
    """Numbers for tables: floats with ``digits`` decimals, ints with separators, ``-`` for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):,.{digits}f}"
    return str(value)


def markdown_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    headers: Sequence[str] | None = None,
    digits: Mapping[str, int] | None = None,
) -> str:
    """A GitHub Markdown table; text columns align left, numeric columns right."""
    headers = list(headers or columns)
    digits = dict(digits or {})
    def is_number(value: Any) -> bool:
        return value is None or (isinstance(value, (int, float, np.number))
                                 and not isinstance(value, bool))

    numeric = [all(is_number(r.get(c)) for r in rows) for c in columns]
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---:" if num else "---" for num in numeric) + "|")
    for row in rows:
        cells = [format_value(row.get(c), digits.get(c, 3)) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, paths and dataclass-like objects for ``json.dump``."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    return value


@dataclass
class Report:
    """A Markdown document under construction plus the data behind it."""

    name: str
    title: str
    sections: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    plots: list[Path] = field(default_factory=list)

    def add(self, heading: str, body: str) -> None:
        self.sections.append(f"## {heading}\n\n{body.strip()}\n")

    def markdown(self) -> str:
        links = "".join(f"\n![{p.stem}]({p.name})\n" for p in self.plots)
        return f"# {self.title}\n\n" + "\n".join(self.sections) + links

    def write(self, out_dir: Path) -> dict[str, Path]:
        """Write ``<name>.md`` and ``<name>.json`` into ``out_dir``; returns every file."""
        out_dir.mkdir(parents=True, exist_ok=True)
        md_path = out_dir / f"{self.name}.md"
        json_path = out_dir / f"{self.name}.json"
        md_path.write_text(self.markdown(), encoding="utf-8")
        json_path.write_text(json.dumps(to_jsonable(self.data), indent=2), encoding="utf-8")
        logger.info("wrote %s, %s and %d plots", md_path, json_path, len(self.plots))
        return {"markdown": md_path, "json": json_path, **{p.stem: p for p in self.plots}}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, plt: Any, path: Path) -> Path:
    """Lay out, write (creating folders) and close ``fig``; returns ``path``."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def bar_chart(
    path: Path, groups: Sequence[str], series: Mapping[str, Sequence[float]], title: str,
    ylabel: str = "score",
) -> Path:
    """Grouped bars: one group per system, one bar per metric (``series`` name -> values)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(groups) + 2), 4.2))
    width = 0.8 / max(1, len(series))
    positions = np.arange(len(groups))
    for i, (label, values) in enumerate(series.items()):
        bars = ax.bar(positions + i * width - 0.4 + width / 2, values, width, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(positions, groups, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.05 * max([1.0, *[v for vs in series.values() for v in vs]]))
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return save_figure(fig, plt, path)


def line_chart(
    path: Path,
    lines: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    xlabel: str,
    ylabel: str,
    log_x: bool = False,
    markers: Mapping[str, tuple[float, float]] | None = None,
) -> Path:
    """One line per series (``label -> (xs, ys)``), plus optional single labelled points."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    for label, (xs, ys) in lines.items():
        ax.plot(xs, ys, marker="o", markersize=3, label=label)
    for label, (x, y) in (markers or {}).items():
        ax.scatter([x], [y], marker="s", s=40, label=label, zorder=3)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, plt, path)
