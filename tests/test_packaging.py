"""One namespace in site-packages: the design's folders install as ``nyx.<folder>``.

A user's own ``training/`` or ``benchmarks/`` package must neither shadow ours nor be shadowed by
it, so a wheel of this project may hold nothing outside ``nyx/`` (and its dist-info).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import nyx

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"nyx": "nyx", "indexes": "nyx.indexes", "ensemble": "nyx.ensemble",
           "training": "nyx.training", "benchmarks": "nyx.benchmarks", "serve": "nyx.serve"}
OLD_IMPORT = re.compile(r"\b(from|import) (indexes|ensemble|training|benchmarks|serve)\b(?! *[-/])")


def _declared_packages() -> list[str]:
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["setuptools"]["packages"]


def test_every_package_folder_is_declared_under_nyx() -> None:
    found = set()
    for folder, name in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    assert found == set(_declared_packages())


def test_the_version_is_written_once() -> None:
    """pyproject.toml reads the version from ``nyx.__version__`` (the wheel test checks the
    built wheel carries it)."""
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in config["project"] and "version" in config["project"]["dynamic"]
    assert config["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "nyx.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", nyx.__version__)


def test_no_module_imports_the_bare_folder_names() -> None:
    """From a source checkout both ``indexes`` and ``nyx.indexes`` would import, as two copies
    of every module with two copies of their state; only the second may be used."""
    offenders = []
    for folder in (*FOLDERS, "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for match in OLD_IMPORT.finditer(path.read_text()):
                offenders.append(f"{path.relative_to(ROOT)}: {match.group(0).strip()}")
    assert offenders == []


def test_wheel_installs_only_the_nyx_namespace(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "results")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(source)],
                   check=True, capture_output=True, text=True, timeout=600)
    (wheel,) = wheels.glob("*.whl")
    assert wheel.name.startswith(f"nyx_retrieval-{nyx.__version__}-")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"nyx"}
    for expected in ("nyx/indexes/faiss_index.py", "nyx/serve/routes.py",
                     "nyx/training/configs/tiny-vlm-cpu.yaml", "nyx/benchmarks/configs/rq/RQ1.yaml",
                     "nyx/data/bridge/SOURCES.md"):
        assert expected in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "nyx-bench = nyx.benchmarks.cli:main" in scripts
    assert "nyx-train = nyx.training.cli:main" in scripts

    # Installed into an empty folder, the only importable top-level name is nyx.
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(site), str(wheel)], check=True, capture_output=True,
                   timeout=600)
    installed = {p.name for p in site.iterdir()
                 if not p.name.endswith(".dist-info") and p.name not in {"bin", "__pycache__"}}
    assert installed == {"nyx"}
