"""``nyx-index`` behaves like a command-line tool: --version, documents rather than chunks,
full text in --json, quiet exit when a pipe closes, readable verify and errors, text files
without an extension indexed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nyx import __version__
from nyx.builder import BuildOptions, build_index
from nyx.cli.index import main

ROOT = Path(__file__).resolve().parents[2]
LONG = " ".join(f"Sentence {i} explains how the readline library edits command lines."
                for i in range(60))


@pytest.fixture(scope="module")
def index(lite, tmp_path_factory) -> Path:
    corpus = tmp_path_factory.mktemp("corpus")
    (corpus / "readline.md").write_text(LONG)
    (corpus / "README.Debian").write_text("Debian notes: the package installs the bash "
                                          "completion scripts under /usr/share.\n")
    (corpus / "data.bin").write_bytes(b"\x00\x01\x02")
    # one record of 130 KB: --json output larger than a pipe's buffer
    big = {"id": "big", "text": " ".join(f"pipe{i % 50}" for i in range(20000))}
    (corpus / "big.jsonl").write_text(json.dumps(big) + "\n")
    out = tmp_path_factory.mktemp("idx") / "docs.nyx"
    summary = build_index(corpus, out, BuildOptions(model=lite, show_progress=False))
    assert dict(summary.skipped) == {"data.bin": "unsupported file type .bin"}
    return out


def _cli(*args: str, stdin_pipe: str = "") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "nyx.cli.index", *args]
    if stdin_pipe:  # e.g. "| head -c 50", through a shell, as a user would
        line = " ".join(f"'{a}'" for a in command) + " " + stdin_pipe
        return subprocess.run(line, shell=True, capture_output=True, text=True, cwd=ROOT,
                              timeout=300)
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"nyx-index {__version__}"


def test_search_lists_documents_and_json_has_full_text(index, capsys):
    assert main(["search", str(index), "readline command lines", "--mode", "lexical"]) == 0
    out = capsys.readouterr().out
    assert out.count("readline.md") == 1 and "more passage" in out, out
    assert main(["search", str(index), "readline command lines", "--mode", "lexical",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    top = rows[0]
    assert top["source"] == "readline.md" and top["matched_chunks"] > 1
    assert len(top["text"]) > 300  # not cut short
    assert main(["search", str(index), "readline", "--group", "chunk", "--json",
                 "--mode", "lexical"]) == 0
    assert len(json.loads(capsys.readouterr().out)) > 1


def test_extensionless_text_files_are_indexed(index, capsys):
    assert main(["search", str(index), "bash completion scripts", "--mode", "lexical"]) == 0
    assert capsys.readouterr().out.split("\n")[0].endswith("README.Debian  (passage 1)")


def test_json_into_a_closed_pipe_exits_quietly(index):
    done = _cli("search", str(index), "pipe7", "--mode", "lexical", "--json",
                stdin_pipe="| head -c 20")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_verify_prints_sentences_not_a_dict(index, capsys):
    assert main(["verify", str(index)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("OK: ") and "{" not in line
    assert "documents," in line and "vectors" in line and "in the BM25 index" in line


def test_errors_speak_in_options_not_python(index, tmp_path, capsys):
    image = tmp_path / "q.png"
    from PIL import Image

    Image.new("RGB", (32, 32), "red").save(image)
    assert main(["search", str(index), "--image", str(image), "--mode", "lexical"]) == 2
    err = capsys.readouterr().err
    assert "needs a query with text" in err and "mode dense" in err and "mode='" not in err


def test_rerank_zero_is_an_error_not_the_default(index, capsys):
    """`--rerank 0` used to mean 20 silently."""
    assert main(["search", str(index), "readline", "--rerank", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--rerank 0" in err and "at least 1" in err
