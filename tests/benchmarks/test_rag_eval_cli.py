"""``python -m nyx.benchmarks.rag_eval --out DIR`` writes into the folder, as ``nyx-bench --out``
does (it used to fail with IsADirectoryError after all the work was done)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from nyx.benchmarks import rag_eval
from tests.benchmarks.test_rq_api import squad_slice  # noqa: F401  (registers rq-test-squad)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({
        "dataset": "rq-test-squad", "evaluate": ["fixed"],
        "components": {"fixed": {"type": "tests.ensemble.scripted:FixedSystem", "name": "fixed",
                                 "text": "Denver Broncos"}}}))
    return path


def test_out_folder_gets_summary_table_and_answers(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    rag_eval.main(["--config", str(_config(tmp_path)), "--limit", "3", "--out", str(out),
                   "--no-progress"])
    summary = json.loads((out / "tiny.json").read_text())
    assert summary["systems"]["fixed"]["num_questions"] == 3
    assert "| fixed | 3 |" in (out / "tiny.md").read_text()
    assert len((out / "tiny.answers.jsonl").read_text().splitlines()) == 3


def test_out_ending_in_json_still_names_the_file(tmp_path: Path) -> None:
    target = tmp_path / "run" / "squad3.json"
    rag_eval.main(["--config", str(_config(tmp_path)), "--limit", "2", "--out", str(target),
                   "--no-progress"])
    assert json.loads(target.read_text())["questions"] == 2
    assert (tmp_path / "run" / "squad3.md").is_file()
