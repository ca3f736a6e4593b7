"""Generic data set loaders (BEIR, FlashRAG, M-BEIR, hf:) on small files, and the registry."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from nyx.benchmarks.datasets import (
    DatasetFormatError,
    DatasetUnavailableError,
    RetrievalDataset,
    available_datasets,
    load_dataset,
    register_dataset,
)
from nyx.benchmarks.datasets.huggingface import check_hub_reachable, rows_to_dataset


def write_jsonl(path: Path, records: list[dict | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- BEIR ------------------------------------------------------------------------------------


@pytest.fixture
def beir_dir(tmp_path: Path) -> Path:
    write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            {"_id": "d1", "title": "Paris", "text": "Paris is the capital of France."},
            {"_id": "d2", "title": "", "text": "Berlin is in Germany."},
            {"_id": "d3", "text": "", "image": "img/cat.png"},
        ],
    )
    write_jsonl(
        tmp_path / "queries.jsonl",
        [
            {"_id": "q1", "text": "capital of France"},
            {"_id": "q2", "text": "a cat"},
            {"_id": "q3", "text": "never judged"},
        ],
    )
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq2\td3\t1\nq9\td1\t1\n"
    )
    return tmp_path


def test_beir_folder(beir_dir: Path):
    data = load_dataset(f"beir:{beir_dir}")
    assert isinstance(data, RetrievalDataset)
    assert list(data.queries) == ["q1", "q2"]  # q3 has no qrels, q9 is not a query
    assert data.qrels == {"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 1}}
    assert data.corpus["d1"] == {"text": "Paris is the capital of France.", "title": "Paris",
                                 "image": None}  # fmt: skip
    assert data.corpus["d3"]["image"] == str(beir_dir / "img" / "cat.png")
    assert data.modalities == {"corpus": ["image", "text"], "queries": ["text"]}
    assert len(load_dataset(f"beir:{beir_dir}", limit=1)) == 1


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("corpus.jsonl", '{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": broken}\n',
         r"corpus\.jsonl:2: invalid JSON"),
        ("corpus.jsonl", '{"_id": "d1", "text": "ok"}\n["a list"]\n',
         r"corpus\.jsonl:2: expected a JSON object"),
        ("corpus.jsonl", '{"_id": "d1", "text": "a"}\n\n{"_id": "d1", "text": "b"}\n',
         r"corpus\.jsonl:3: duplicate document id 'd1' \(first on line 1\)"),
        ("queries.jsonl", '{"text": "no id"}\n', r"queries\.jsonl:1: missing field '_id'"),
        ("queries.jsonl", '{"_id": "q1"}\n', r"queries\.jsonl:1: record has no 'text'"),
        ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\thigh\n",
         r"test\.tsv:3: score 'high' is not an integer"),
        ("qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1 d1 1\n",
         r"test\.tsv:2: expected 3 tab-separated columns"),
    ],
)  # fmt: skip
def test_beir_malformed_lines_name_file_and_line(beir_dir: Path, file, content, message):
    (beir_dir / file).write_text(content)
    with pytest.raises(DatasetFormatError, match=message):
        load_dataset(f"beir:{beir_dir}")


def test_beir_missing_pieces(beir_dir: Path, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"available splits: \['test'\]"):
        load_dataset(f"beir:{beir_dir}", split="dev")
    with pytest.raises(FileNotFoundError, match="BEIR folder not found"):
        load_dataset(f"beir:{tmp_path / 'nowhere'}")
    (beir_dir / "corpus.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match=r"corpus\.jsonl"):
        load_dataset(f"beir:{beir_dir}")


def test_beir_qrels_without_header(beir_dir: Path):
    (beir_dir / "qrels" / "test.tsv").write_text("q1\td1\t1\n")
    assert load_dataset(f"beir:{beir_dir}").qrels == {"q1": {"d1": 1}}


# --- FlashRAG --------------------------------------------------------------------------------


def test_flashrag_qa_and_corpus(tmp_path: Path):
    qa = write_jsonl(
        tmp_path / "nq" / "test.jsonl",
        [
            {"id": "test_0", "question": "who wrote emma?", "golden_answers": ["Jane Austen"],
             "metadata": {"source": "nq"}},
            {"id": "test_1", "question": "capital of france?", "golden_answers": "Paris"},
        ],
    )  # fmt: skip
    corpus = write_jsonl(
        tmp_path / "wiki.jsonl",
        [{"id": "0", "contents": '"Emma (novel)"\nEmma is a novel by Jane Austen.'},
         {"id": "1", "title": "Paris", "text": "Paris is the capital."}],
    )  # fmt: skip
    data = load_dataset(f"flashrag:{qa}", corpus=str(corpus))
    assert data.answers == {"test_0": ["Jane Austen"], "test_1": ["Paris"]}
    assert data.queries["test_1"] == {"text": "capital of france?", "image": None}
    assert data.qrels == {}
    assert data.corpus["0"]["title"] == "Emma (novel)"
    assert data.corpus["0"]["text"] == "Emma is a novel by Jane Austen."
    assert data.metadata["question_metadata"] == {"test_0": {"source": "nq"}}
    assert list(load_dataset(f"flashrag:{qa}", limit=1).queries) == ["test_0"]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": "a", "question": "q?", "golden_answers": ["x"]}',
          '{"id": "b", "question": "q?"}'],
         r"test\.jsonl:2: missing field 'golden_answers'"),
        (['{"id": "a", "question": "  ", "golden_answers": ["x"]}'],
         r"test\.jsonl:1: 'question' must be a non-empty string"),
        (['{"id": "a", "question": "q?", "golden_answers": []}'],
         r"test\.jsonl:1: 'golden_answers' is empty"),
        (['{"id": "a", "question": "q?", "golden_answers": ["x"]', ],
         r"test\.jsonl:1: invalid JSON"),
    ],
)  # fmt: skip
def test_flashrag_errors(tmp_path: Path, lines, message):
    path = write_jsonl(tmp_path / "test.jsonl", lines)
    with pytest.raises(DatasetFormatError, match=message):
        load_dataset(f"flashrag:{path}")


# --- M-BEIR ----------------------------------------------------------------------------------


@pytest.fixture
def mbeir_root(tmp_path: Path) -> Path:
    (tmp_path / "mbeir_images" / "coco").mkdir(parents=True)
    for name in ("dog.jpg", "cat.jpg"):
        (tmp_path / "mbeir_images" / "coco" / name).write_bytes(b"not really a jpeg")
    write_jsonl(
        tmp_path / "query" / "test" / "mbeir_coco_task0_test.jsonl",
        [
            {"qid": "9:1", "query_txt": "a dog on a beach", "query_img_path": None,
             "query_modality": "text", "pos_cand_list": ["9:10"], "neg_cand_list": [],
             "task_id": 0},
            {"qid": "9:2", "query_txt": None, "query_img_path": "mbeir_images/coco/cat.jpg",
             "query_modality": "image", "pos_cand_list": [{"did": "9:11"}], "task_id": 3},
        ],
    )  # fmt: skip
    write_jsonl(
        tmp_path / "cand_pool" / "mbeir_coco_task0_cand_pool.jsonl",
        [
            {"did": "9:10", "txt": None, "img_path": "mbeir_images/coco/dog.jpg",
             "modality": "image"},
            {"did": "9:11", "txt": "A cat sleeping.", "img_path": None, "modality": "text"},
        ],
    )  # fmt: skip
    return tmp_path


def test_mbeir_mixed_modal(mbeir_root: Path):
    queries = mbeir_root / "query" / "test" / "mbeir_coco_task0_test.jsonl"
    pool = mbeir_root / "cand_pool" / "mbeir_coco_task0_cand_pool.jsonl"
    data = load_dataset(f"mbeir:{queries}", cand_pool=str(pool))
    assert data.metadata["image_root"] == str(mbeir_root)  # found two levels up
    assert data.queries["9:1"] == {"text": "a dog on a beach", "image": None}
    assert data.queries["9:2"]["image"] == str(mbeir_root / "mbeir_images/coco/cat.jpg")
    assert data.corpus["9:10"]["image"] == str(mbeir_root / "mbeir_images/coco/dog.jpg")
    assert data.qrels == {"9:1": {"9:10": 1}, "9:2": {"9:11": 1}}
    assert data.metadata["query_modalities"] == {"text": 1, "image": 1}

    qrels = mbeir_root / "qrels.txt"
    qrels.write_text("9:1 0 9:11 1 0\n9:2 0 9:10 2 3\n")
    judged = load_dataset(f"mbeir:{queries}", cand_pool=str(pool), qrels=str(qrels))
    assert judged.qrels == {"9:1": {"9:11": 1}, "9:2": {"9:10": 2}}

    qrels.write_text("9:1 0 9:11\n")
    with pytest.raises(DatasetFormatError, match=r"qrels\.txt:1: expected 'qid 0 did relevance"):
        load_dataset(f"mbeir:{queries}", cand_pool=str(pool), qrels=str(qrels))


def test_mbeir_errors(mbeir_root: Path):
    queries = mbeir_root / "query" / "test" / "mbeir_coco_task0_test.jsonl"
    with pytest.raises(ValueError, match="pass cand_pool=PATH"):
        load_dataset(f"mbeir:{queries}")
    pool = write_jsonl(mbeir_root / "bad_pool.jsonl", [{"did": "1", "txt": None}])
    with pytest.raises(DatasetFormatError, match=r"bad_pool\.jsonl:1: candidate has neither"):
        load_dataset(f"mbeir:{queries}", cand_pool=str(pool))


# --- hf: -------------------------------------------------------------------------------------


def test_hf_rows_are_mapped_like_squad():
    rows = [
        {"id": "a", "title": "T", "context": "Passage one.", "question": "Q1?",
         "answers": {"text": ["one", "one", "1"], "answer_start": [0, 0, 0]}},
        {"id": "b", "title": "T", "context": "Passage one.", "question": "Q2?",
         "answers": {"text": ["passage"], "answer_start": [0]}},
        {"id": "c", "title": "U", "context": "Passage two.", "question": "Q3?", "answers": "two"},
    ]  # fmt: skip
    data = rows_to_dataset(rows, name="hf:toy")
    assert data.corpus == {
        "doc-0": {"text": "Passage one.", "title": "T", "image": None},
        "doc-1": {"text": "Passage two.", "title": "U", "image": None},
    }
    assert data.qrels == {"a": {"doc-0": 1}, "b": {"doc-0": 1}, "c": {"doc-1": 1}}
    assert data.answers["a"] == ["one", "1"]
    with pytest.raises(DatasetFormatError, match="row 0: no question column"):
        rows_to_dataset([{"prompt": "x"}], name="hf:bad")


def test_hf_fails_fast_when_the_hub_is_unreachable(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://nyx-hub.invalid")  # .invalid never resolves
    start = time.perf_counter()
    with pytest.raises(DatasetUnavailableError, match="cannot reach the Hugging Face hub") as err:
        load_dataset("hf:rajpurkar/squad", timeout_s=3.0)
    assert time.perf_counter() - start < 5.0
    assert "beir:FOLDER" in str(err.value)


def test_hub_probe_times_out_on_a_silent_server():
    with socket.socket() as server:  # accepts connections (backlog) but never answers
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        start = time.perf_counter()
        with pytest.raises(DatasetUnavailableError, match="cannot reach the Hugging Face hub"):
            check_hub_reachable(url, timeout_s=0.5)
        assert time.perf_counter() - start < 2.0


def test_hf_offline_mode_reads_only_the_cache(monkeypatch, tmp_path: Path):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(DatasetUnavailableError, match="HF_HUB_OFFLINE"):
        load_dataset("hf:nyx-tests/not-cached", cache_dir=tmp_path)
    assert time.perf_counter() - start < 30.0


# --- registry --------------------------------------------------------------------------------


def test_registry_names_and_errors(beir_dir: Path):
    names = available_datasets()
    assert {"squad-dev", "fashion-mnist", "easy-vqa", "easy-vqa-qa", "beir:..."} <= set(names)
    with pytest.raises(KeyError, match="unknown data set 'nope'.*squad-dev"):
        load_dataset("nope")
    with pytest.raises(ValueError, match="beir: needs a path"):
        load_dataset("beir:")
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        load_dataset(f"beir:{beir_dir}", limit=0)
    with pytest.raises(TypeError, match="data set 'beir:.*unexpected keyword"):
        load_dataset(f"beir:{beir_dir}", colour="blue")


def test_register_custom_dataset():
    def toy(limit=None, cache_dir=None, size=2):
        corpus = {f"d{i}": {"text": f"doc {i}", "title": "", "image": None} for i in range(size)}
        return RetrievalDataset("toy", corpus, {"q": {"text": "doc", "image": None}},
                                {"q": {"d0": 1}})  # fmt: skip

    register_dataset("nyx-test-toy", toy, overwrite=True)
    assert len(load_dataset("nyx-test-toy", size=5).corpus) == 5
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("squad-dev", toy)


def test_dataset_head_validate_and_summary():
    data = RetrievalDataset(
        "toy",
        corpus={"d1": {"text": "x", "title": "", "image": None}},
        queries={"q1": {"text": "a", "image": None}, "q2": {"text": "b", "image": None}},
        qrels={"q1": {"d1": 1}, "q2": {"d404": 1}},
        answers={"q1": ["x"], "q2": []},
    )
    head = data.head(1)
    assert list(head.queries) == ["q1"] and list(head.qrels) == ["q1"]
    assert head.metadata["limit"] == 1 and data.head(None) is data
    problems = data.validate()
    assert any("d404" in p for p in problems) and any("empty answer" in p for p in problems)
    with pytest.raises(DatasetFormatError, match="inconsistent"):
        data.validate(strict=True)
    assert data.summary()["judgements"] == 2
