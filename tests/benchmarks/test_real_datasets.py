"""Real data: SQuAD dev and SQuADShifts (a data folder or their sources), Fashion-MNIST (apt),
easy-VQA (pip).

``make test`` sets ``NYX_DATA_DIR=../shared/data``. The file-finding machinery (data folder,
cache, download with the checksum checked while streaming) is also tested offline against a
local HTTP server standing in for the canonical URL.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
import re
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nyx.benchmarks.datasets import (
    DatasetFormatError,
    DatasetUnavailableError,
    available_datasets,
    fashion_mnist,
    load_dataset,
    sources,
)
from nyx.benchmarks.datasets.easy_vqa import infer_attributes
from nyx.benchmarks.datasets.files import sha256_file

# --- SQuAD dev and SQuADShifts ---------------------------------------------------------------


@pytest.fixture(scope="session")
def squad_dev():
    return load_dataset("squad-dev")


@pytest.mark.data
def test_squad_dev_counts_and_checksum(squad_dev):
    assert len(squad_dev.corpus) == 2067
    assert len(squad_dev.queries) == 10570
    assert len(squad_dev.answers) == 10570 and all(squad_dev.answers.values())
    assert all(len(rels) == 1 for rels in squad_dev.qrels.values())
    assert squad_dev.metadata["articles"] == 48
    assert sha256_file(squad_dev.metadata["path"]) == sources.DATA_FILES["squad-dev"].sha256
    assert squad_dev.metadata["source"].startswith("https://rajpurkar.github.io/")
    assert squad_dev.validate(strict=True) == []
    assert all(re.fullmatch(r"\d+-\d+", doc_id) for doc_id in squad_dev.corpus)


@pytest.mark.data
def test_squad_dev_first_question(squad_dev):
    qid = "56be4db0acb8001400a502ec"
    assert squad_dev.queries[qid]["text"] == "Which NFL team represented the AFC at Super Bowl 50?"
    assert squad_dev.answers[qid] == ["Denver Broncos"]
    assert squad_dev.qrels[qid] == {"0-0": 1}
    assert squad_dev.corpus["0-0"]["title"] == "Super Bowl 50"
    assert "Denver Broncos" in squad_dev.corpus["0-0"]["text"]
    assert len(load_dataset("squad-dev", limit=300).queries) == 300


@pytest.mark.data
def test_squad_shifts_domains():
    counts = {}
    for name in ("squad-shifts-amazon", "squad-shifts-new-wiki"):
        data = load_dataset(name)
        counts[name] = (len(data.corpus), len(data.queries))
        qid = next(iter(data.queries))
        (doc,) = [d for d, g in data.qrels[qid].items() if g > 0]
        assert data.corpus[doc]["text"] and data.answers[qid]
        assert data.name == name and data.metadata["sha256"] == sources.DATA_FILES[name].sha256
    assert counts == {"squad-shifts-amazon": (2050, 9885), "squad-shifts-new-wiki": (1581, 7938)}


def test_coqa_is_declared_unavailable():
    with pytest.raises(DatasetUnavailableError, match="CoQA is no longer available"):
        load_dataset("coqa")
    assert "coqa" not in available_datasets()


TINY_SQUAD = {
    "version": "1.1",
    "data": [
        {"title": "A_b", "paragraphs": [
            {"context": "Same text.", "qas": [
                {"id": "q1", "question": "Q1?", "answers": [{"text": "x"}, {"text": "x"}]}]},
            {"context": "Other.", "qas": [{"id": "q2", "question": "Q2?",
                                           "answers": [{"text": "y"}]}]}]},
        {"title": "C", "paragraphs": [
            {"context": "Same text.", "qas": [{"id": "q3", "question": "Q3?",
                                               "answers": [{"text": "z"}]}]}]},
    ],
}  # fmt: skip
TINY_BYTES = json.dumps(TINY_SQUAD).encode()


def test_build_squad_merges_identical_paragraphs():
    from nyx.benchmarks.datasets import squad

    data = squad.build_squad_dataset(TINY_SQUAD)
    assert list(data.corpus) == ["0-0", "0-1"]  # "1-0" repeats "0-0"'s context
    assert data.corpus["0-0"]["title"] == "A b"
    assert data.qrels == {"q1": {"0-0": 1}, "q2": {"0-1": 1}, "q3": {"0-0": 1}}
    assert data.answers["q1"] == ["x"]
    assert data.metadata["merged_duplicate_paragraphs"] == 1
    with pytest.raises(DatasetFormatError, match="not SQuAD v1.1 JSON"):
        squad.build_squad_dataset({"data": [{"title": "x"}]})


@pytest.fixture
def tiny_source(tmp_path: Path, monkeypatch):
    """SQuAD-dev re-declared as TINY_SQUAD, served by a local HTTP server as its 'canonical
    URL'; an empty data folder and cache."""
    import hashlib

    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "dev-v1.1.json").write_bytes(TINY_BYTES)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

    handler = functools.partial(Quiet, directory=str(tmp_path / "srv"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    spec = dataclasses.replace(
        sources.DATA_FILES["squad-dev"],
        urls=(f"http://127.0.0.1:{server.server_port}/dev-v1.1.json",),
        sha256=hashlib.sha256(TINY_BYTES).hexdigest(), size=len(TINY_BYTES))
    monkeypatch.setitem(sources.DATA_FILES, "squad-dev", spec)
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(tmp_path / "data"))
    monkeypatch.setenv("NYX_CACHE", str(tmp_path / "cache"))
    (tmp_path / "data").mkdir()
    yield tmp_path
    server.shutdown()
    server.server_close()


def test_download_lands_in_the_cache_and_is_read_from_there_after(tiny_source: Path, monkeypatch):
    data = load_dataset("squad-dev")
    cached = tiny_source / "cache" / "datasets" / "squad" / "dev-v1.1.json"
    assert data.metadata["path"] == str(cached) and cached.read_bytes() == TINY_BYTES
    assert len(data.corpus) == 2 and len(data.queries) == 3
    assert sorted(p.name for p in cached.parent.iterdir()) == ["dev-v1.1.json"]  # no .part left
    (tiny_source / "srv" / "dev-v1.1.json").unlink()  # the source is gone: the cache answers
    assert len(load_dataset("squad-dev").queries) == 3


def test_the_data_folder_comes_before_the_cache(tiny_source: Path):
    mine = tiny_source / "data" / "squad" / "dev-v1.1.json"
    mine.parent.mkdir()
    mine.write_bytes(TINY_BYTES)
    assert load_dataset("squad-dev").metadata["path"] == str(mine)
    assert not (tiny_source / "cache" / "datasets" / "squad").exists()  # nothing fetched


def test_a_file_whose_checksum_differs_is_refused(tiny_source: Path):
    edited = tiny_source / "data" / "squad" / "dev-v1.1.json"
    edited.parent.mkdir()
    edited.write_bytes(TINY_BYTES.replace(b"Q1?", b"Q9?"))
    with pytest.raises(DatasetFormatError, match=r"dev-v1\.1\.json has sha256 .* not the pinned"):
        load_dataset("squad-dev")
    edited.unlink()
    (tiny_source / "srv" / "dev-v1.1.json").write_bytes(b"{}")  # the source serves another file
    with pytest.raises(DatasetFormatError, match="nothing was kept"):
        load_dataset("squad-dev")
    assert not list((tiny_source / "cache" / "datasets" / "squad").iterdir())


def test_a_missing_file_is_one_line_naming_the_file_and_where_to_put_it(tiny_source: Path,
                                                                         monkeypatch):
    spec = sources.DATA_FILES["squad-dev"]
    monkeypatch.setitem(sources.DATA_FILES, "squad-dev",
                        dataclasses.replace(spec, urls=("http://127.0.0.1:1/dev-v1.1.json",)))
    with pytest.raises(DatasetUnavailableError) as err:
        load_dataset("squad-dev")
    message = str(err.value)
    assert "\n" not in message
    assert "squad/dev-v1.1.json" in message and "NYX_DATA_DIR" in message
    assert "--data-dir" in message and str(tiny_source / "data") in message


def test_a_data_test_whose_file_is_missing_fails_in_one_line(pytester, tmp_path: Path):
    pytester.makepyfile(test_needs_squad=f"""
        import dataclasses
        import pytest
        from nyx.benchmarks.datasets import load_dataset, sources

        @pytest.mark.data
        def test_squad(monkeypatch):
            monkeypatch.setenv("NYX_DATA_DIR", {str(tmp_path / "empty")!r})
            monkeypatch.setenv("NYX_CACHE", {str(tmp_path / "cache")!r})
            spec = dataclasses.replace(sources.DATA_FILES["squad-dev"],
                                       urls=("http://127.0.0.1:1/dev-v1.1.json",))
            monkeypatch.setitem(sources.DATA_FILES, "squad-dev", spec)
            load_dataset("squad-dev")
        """)
    result = pytester.runpytest("-p", "tests.data_missing", "-q")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "data missing: SQuAD v1.1 dev not found" in text and "squad/dev-v1.1.json" in text
    assert "Traceback" not in text and "raise " not in text


def test_training_evidence_looks_where_the_declaration_says():
    from nyx.training.evidence.common import SQUAD_RELATIVE

    assert sources.DATA_FILES["squad-dev"].path == SQUAD_RELATIVE


def test_nyx_bench_says_in_one_line_when_data_is_missing(tmp_path: Path):
    env = {"NYX_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin",
           "NYX_DATA_DIR": str(tmp_path / "nothing")}
    run = subprocess.run([sys.executable, "-c",
                          "import sys; from nyx.benchmarks.datasets import sources as s; "
                          "import dataclasses as d; "
                          "s.DATA_FILES['squad-dev'] = d.replace(s.DATA_FILES['squad-dev'], "
                          "urls=('http://127.0.0.1:1/x',)); "
                          "from nyx.benchmarks.cli import main; "
                          "sys.exit(main(['retrieval', '--dataset', 'squad-dev']))"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if "nyx-bench retrieval:" in line]
    assert len(lines) == 1 and "squad/dev-v1.1.json" in lines[0], run.stderr[-2000:]
    assert "Traceback" not in run.stderr


# --- Fashion-MNIST ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fashion(tmp_path_factory):
    return load_dataset("fashion-mnist", cache_dir=tmp_path_factory.mktemp("nyx-cache"))


@pytest.mark.data
def test_fashion_mnist_arrays_and_checksums():
    data = fashion_mnist.load_fashion_mnist_arrays("test")
    assert data.images.shape == (10000, 28, 28) and data.images.dtype == np.uint8
    assert np.bincount(data.labels).tolist() == [1000] * 10  # balanced test split
    assert len(data.class_names) == 10 and data.class_name(0) == "Ankle boot"
    for name in fashion_mnist.FILES["test"]:
        path = fashion_mnist.DEFAULT_DATA_DIR / name
        assert sha256_file(path) == fashion_mnist.SHA256[name]


@pytest.mark.data
def test_fashion_mnist_retrieval_view(fashion):
    assert len(fashion.corpus) == 10000 and len(fashion.queries) == 10
    assert {len(rels) for rels in fashion.qrels.values()} == {1000}
    assert fashion.queries["class-0"] == {"text": "a photo of a t-shirt/top", "image": None}
    assert fashion.queries["class-9"]["text"] == "a photo of a ankle boot"
    arrays = fashion_mnist.load_fashion_mnist_arrays("test")
    for index in (0, 1234, 9999):
        doc_id = f"test-{index:05d}"
        with Image.open(fashion.corpus[doc_id]["image"]) as image:
            assert image.size == (28, 28) and image.mode == "L"
            assert np.array_equal(np.asarray(image), arrays.images[index])
        label = int(arrays.labels[index])
        assert fashion.metadata["labels"][doc_id] == fashion_mnist.CLASS_NAMES[label]
        assert doc_id in fashion.qrels[f"class-{label}"]


@pytest.mark.data
def test_fashion_mnist_limit_and_stale_cache(tmp_path: Path):
    folder = tmp_path / "fashion-mnist" / "test"
    folder.mkdir(parents=True)
    (folder / "SOURCE_SHA256").write_text("other data\n")
    Image.new("L", (28, 28)).save(folder / "test-00000.png")  # a stale, wrong image
    data = load_dataset("fashion-mnist", limit=50, cache_dir=tmp_path)
    assert len(data.corpus) == 50 and sum(len(r) for r in data.qrels.values()) == 50
    with Image.open(data.corpus["test-00000"]["image"]) as image:
        assert np.asarray(image).any()  # rewritten from the real data


def test_fashion_mnist_missing_package_and_bad_files(tmp_path: Path):
    with pytest.raises(DatasetUnavailableError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", data_dir=str(tmp_path), cache_dir=tmp_path)
    truncated = tmp_path / "t10k-images-idx3-ubyte.gz"
    truncated.write_bytes(gzip.compress(bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2])))
    with pytest.raises(DatasetFormatError, match="truncated or corrupt"):
        fashion_mnist.read_idx(truncated)


# --- easy-VQA --------------------------------------------------------------------------------


def test_easy_vqa_retrieval_view():
    data = load_dataset("easy-vqa")
    assert len(data.corpus) == 888 and len(data.queries) == 24  # 8 colours x 3 shapes
    assert sum(len(rels) for rels in data.qrels.values()) == 888  # each image in one query
    assert data.queries["red-triangle"]["text"] == "a red triangle"
    assert "test-0" in data.qrels["red-triangle"]
    for qid, rels in data.qrels.items():
        color, shape = qid.split("-")
        for doc_id in rels:
            assert data.metadata["attributes"][doc_id] == {"color": color, "shape": shape}
    assert Path(data.corpus["test-0"]["image"]).is_file()
    assert len(data.metadata["unresolved_images"]) == 112
    assert len(load_dataset("easy-vqa", limit=100).corpus) <= 100


def test_easy_vqa_qa_view():
    data = load_dataset("easy-vqa-qa")
    assert len(data.queries) == 9673 and len(data.corpus) == 1000
    assert len(data.metadata["answer_vocabulary"]) == 13
    for qid in list(data.queries)[:50]:
        (doc_id,) = data.qrels[qid]
        assert data.queries[qid]["image"] == data.corpus[doc_id]["image"]
        assert data.answers[qid][0] in data.metadata["answer_vocabulary"]
    assert len(load_dataset("easy-vqa-qa", limit=10).queries) == 10


def test_infer_attributes_rules():
    assert infer_attributes([("what color is the circle?", "blue")]) == ("blue", "circle")
    assert infer_attributes([("what is the red shape?", "triangle")]) == ("red", "triangle")
    # "is there not a teal shape?" -> "no" asserts teal
    pairs = [("is there not a teal shape?", "no"), ("what shape is present?", "circle")]
    assert infer_attributes(pairs) == ("teal", "circle")
    assert infer_attributes([("what shape is present?", "circle")]) is None  # colour unknown
    contradictory = [("what color is the circle?", "blue"), ("is there a blue shape?", "no")]
    assert infer_attributes(contradictory) is None
