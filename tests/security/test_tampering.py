"""A damaged or hostile index folder: verify catches every change (exit code 2), and search
fails with one line, never a traceback, never a download and never a connection."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from nyx.builder import build_index
from nyx.cli.index import main
from nyx.indexes.generations import write_checksums
from nyx.retriever import Retriever
from tests.security.conftest import options


@pytest.fixture(scope="module")
def pristine(lite, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    corpus = root / "corpus"
    corpus.mkdir()
    for i, text in enumerate(["Lighthouses guide ships.", "Owls hunt at night.",
                              "Bread rises because of yeast."]):
        (corpus / f"d{i}.txt").write_text(text)
    build_index(corpus, root / "idx", options(lite))
    return root / "idx"


def _live(index: Path) -> Path:
    return index / (index / "CURRENT").read_text().strip()


def _edit_json(file: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(file.read_text())
    change(data)
    file.write_text(json.dumps(data))


def truncate_faiss(g: Path) -> None:
    faiss = next((g / "vectors").glob("*.faiss"))
    faiss.write_bytes(faiss.read_bytes()[:100])


def corrupt_sqlite(g: Path) -> None:
    (g / "docs.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)


def empty_sqlite(g: Path) -> None:
    conn = sqlite3.connect(g / "docs.sqlite")
    tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
    for table in tables:
        conn.execute(f"delete from {table}")
    conn.commit()
    conn.close()  # the last connection folds any write-ahead log back into the file


def drop_key(g: Path) -> None:
    _edit_json(g / "retriever.json", lambda d: d.pop("hybrid"))


def edit_index_dim(g: Path) -> None:
    _edit_json(g / "vectors" / "index.json", lambda d: d.update(dim=d["dim"] + 1))


def edit_manifest_dim(g: Path) -> None:
    _edit_json(g / "manifest.json", lambda d: d["encoder"].update(dim=7))


def hub_encoder(g: Path) -> None:
    _edit_json(g / "retriever.json", lambda d: d.update(encoder="vlm:someone/model"))


CASES = [truncate_faiss, corrupt_sqlite, empty_sqlite, drop_key, edit_index_dim,
         edit_manifest_dim, hub_encoder]


def _copy(pristine: Path, tmp_path: Path) -> Path:
    index = tmp_path / "idx"
    shutil.copytree(pristine, index)
    return index


@pytest.mark.parametrize("damage", CASES, ids=lambda f: f.__name__)
def test_verify_catches_damage_with_exit_code_2(pristine, tmp_path, capsys, damage):
    index = _copy(pristine, tmp_path)
    assert main(["verify", str(index)]) == 0
    capsys.readouterr()
    damage(_live(index))
    assert main(["verify", str(index)]) == 2
    out = capsys.readouterr().out
    assert out.startswith("FAILED") and "changed since the commit" in out


@pytest.mark.parametrize("damage", [edit_index_dim, edit_manifest_dim, drop_key, empty_sqlite,
                                    truncate_faiss], ids=lambda f: f.__name__)
def test_verify_catches_damage_even_with_rewritten_checksums(pristine, tmp_path, capsys,
                                                             damage):
    index = _copy(pristine, tmp_path)
    damage(_live(index))
    write_checksums(_live(index))  # a forger who also rewrites the checksums
    assert main(["verify", str(index)]) == 2
    assert capsys.readouterr().out.startswith("FAILED")


@pytest.mark.parametrize("damage", [truncate_faiss, corrupt_sqlite, drop_key, hub_encoder],
                         ids=lambda f: f.__name__)
def test_search_on_a_damaged_index_is_one_line_and_exit_2(pristine, tmp_path, capsys, damage):
    index = _copy(pristine, tmp_path)
    damage(_live(index))
    assert main(["search", str(index), "owls", "--mode", "dense"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "error:" in err


def test_current_a_directory(pristine, tmp_path, capsys):
    index = _copy(pristine, tmp_path)
    (index / "CURRENT").unlink()
    (index / "CURRENT").mkdir()
    assert main(["verify", str(index)]) == 2
    assert main(["search", str(index), "owls"]) == 2
    captured = capsys.readouterr()
    assert "CURRENT" in captured.out and captured.err.count("\n") == 1


def test_a_qdrant_url_in_the_folder_is_never_contacted(pristine, tmp_path, capsys):
    index = _copy(pristine, tmp_path)
    live = _live(index)
    shutil.rmtree(live / "vectors")
    (live / "vectors").mkdir()
    (live / "vectors" / "index.json").write_text(json.dumps({
        "backend": "qdrant", "format_version": 1, "dim": 384,
        "config": {"url": "http://198.51.100.1:6333", "collection": "x"}}))
    write_checksums(live)
    with pytest.raises(ValueError, match="not trusted to name a server"):
        Retriever.load(index)
    assert main(["search", str(index), "owls", "--mode", "lexical"]) == 2
    assert main(["verify", str(index)]) in (0, 2)
    captured = capsys.readouterr()
    assert "not contacted" in captured.out and "not trusted" in captured.err


def test_a_hub_encoder_named_by_the_folder_is_not_fetched(pristine, tmp_path):
    index = _copy(pristine, tmp_path)
    hub_encoder(_live(index))
    with Retriever.load(index) as r:
        assert r.search("owls", k=1, mode="lexical")  # lexical search needs no model
        with pytest.raises(ValueError, match="not trusted to make Nyx download a model"):
            r.search("owls", k=1, mode="dense")


# --- an index folder names only its own plain data files; verify opens only regular files ----


@pytest.mark.parametrize("target", ["/dev/zero", "/etc/passwd", "../../../etc/passwd",
                                    "records-x.json/../../manifest.json"])
def test_index_json_cannot_name_a_file_outside_the_generation(pristine, tmp_path, capsys,
                                                              target):
    index = _copy(pristine, tmp_path)
    live = _live(index)
    key = "vectors" if target == "/dev/zero" else "records"
    _edit_json(live / "vectors" / "index.json", lambda d: d["files"].update({key: target}))
    write_checksums(live)  # a forger who also rewrites the checksums
    with pytest.raises(ValueError, match="names .* as a data file"):
        Retriever.load(index)
    assert main(["search", str(index), "owls", "--mode", "dense"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "root:" not in err  # /etc/passwd's bytes are not echoed


def test_a_data_file_swapped_for_a_symlink_is_refused(pristine, tmp_path):
    index = _copy(pristine, tmp_path)
    records = next((_live(index) / "vectors").glob("records-*.json"))
    records.unlink()
    records.symlink_to("/etc/passwd")
    with pytest.raises(ValueError, match="not a regular file"):
        Retriever.load(index)


@pytest.mark.parametrize("plant", ["fifo", "dev-zero"])
def test_verify_never_opens_a_fifo_or_a_device_link(pristine, tmp_path, capsys, plant):
    import os

    index = _copy(pristine, tmp_path)
    live = _live(index)
    docs = live / "docs.sqlite"
    docs.unlink()
    if plant == "fifo":
        os.mkfifo(docs)
    else:
        docs.symlink_to("/dev/zero")
    assert main(["verify", str(index)]) == 2  # returns at once instead of hanging
    out = capsys.readouterr().out
    assert "docs.sqlite" in out and "not a regular file" in out


def test_verify_treats_a_deleted_checksums_file_as_damage(pristine, tmp_path, capsys):
    index = _copy(pristine, tmp_path)
    live = _live(index)
    conn = sqlite3.connect(live / "docs.sqlite")
    conn.execute("update documents set payload = replace(payload, 'Owls', 'Cats')")
    conn.commit()
    conn.close()
    (live / "checksums.json").unlink()
    assert main(["verify", str(index)]) == 2
    assert "checksums.json is missing" in capsys.readouterr().out
