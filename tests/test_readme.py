"""The README's blocks marked ``<!-- runnable ... -->`` run as written, offline: each in a
fresh folder holding the files the marker names (copies of the bundled demo corpus)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "nyx" / "data" / "demo_corpus"
BLOCK = re.compile(r"^<!-- runnable(?P<note>[^>]*)-->\n```(?P<lang>\w+)\n(?P<code>.*?)^```$",
                   re.MULTILINE | re.DOTALL)


def runnable_blocks() -> list[tuple[str, str]]:
    return [(m["lang"], m["code"]) for m in BLOCK.finditer(
        (ROOT / "README.md").read_text(encoding="utf-8"))]


def _sandbox(folder: Path) -> Path:
    """What the markers say the blocks run beside: the demo photos, the demo corpus as
    ``mycorpus/`` and one photo as ``photo.jpg``."""
    shutil.copytree(DEMO / "photos", folder / "photos")
    shutil.copytree(DEMO, folder / "mycorpus")
    shutil.copy(DEMO / "photos" / "espresso.jpg", folder / "photo.jpg")
    return folder


def test_the_readme_marks_its_runnable_blocks():
    langs = [lang for lang, _ in runnable_blocks()]
    assert langs.count("python") >= 1 and langs.count("bash") >= 1, langs


@pytest.mark.parametrize("number", range(len(runnable_blocks())))
def test_readme_block_runs_as_written(number: int, tmp_path: Path) -> None:
    lang, code = runnable_blocks()[number]
    folder = _sandbox(tmp_path)
    bin_dir = str(Path(sys.executable).parent)  # where nyx-index is installed
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    command = [sys.executable, "-"] if lang == "python" else ["bash", "-euo", "pipefail"]
    done = subprocess.run(command, input=code, cwd=folder, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, f"README {lang} block {number} failed:\n{code}\n" \
                                 f"--- stderr ---\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr


#: Where a path in the docs may point: the repository's top-level folders.
REPO_FOLDERS = ("nyx", "indexes", "ensemble", "training", "benchmarks", "serve", "docs", "tests",
                "scripts", "deploy")
REPO_PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(REPO_FOLDERS) + r")/[\w./{},*-]*[\w/}*])")
LINK = re.compile(r"\]\((?!https?:|#|mailto:)([^)\s#]+)")


def _markdown() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.md") if ".venv" not in p.parts
                  and not p.name.startswith(".") and "demo_corpus" not in p.parts)


def _exists(ref: str, md: Path) -> bool:
    """``ref`` exists from the root or beside ``md``; ``nyx/<folder>/...`` is an installed
    name for ``<folder>/...``; ``a-{1,2}.json`` names both files."""
    brace = re.search(r"\{([^}]*)\}", ref)
    if brace:
        return all(_exists(ref[:brace.start()] + part + ref[brace.end():], md)
                   for part in brace[1].split(","))
    places = [ROOT / ref, md.parent / ref]
    if ref.startswith("nyx/"):
        places.append(ROOT / ref[len("nyx/"):])
    return any(place.exists() for place in places)


def test_the_docs_name_only_files_that_exist() -> None:
    """Every repository path written in code spans of the Markdown docs, and every relative
    link or image, names a file or folder that exists."""
    missing = []
    for md in _markdown():
        text = md.read_text(encoding="utf-8")
        spans = re.findall(r"`([^`\n]+)`", text)
        refs = [m[1] for span in spans for m in REPO_PATH.finditer(span)]
        refs += LINK.findall(re.sub(r"`[^`\n]+`", "", text))
        missing += [f"{md.relative_to(ROOT)}: {ref}" for ref in refs
                    if "*" not in ref and "..." not in ref and not _exists(ref, md)]
    assert missing == []
