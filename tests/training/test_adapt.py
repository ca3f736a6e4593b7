"""``nyx-index adapt``: a low-rank adapter of nyx-lite's text tower, learnt from an index's own
passages, recorded in the index, undone by re-embedding. Real models and real SQuAD passages
(the 48 of tests/ensemble/data/squad_slice.json); small settings so that it runs in about a
minute."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nyx import Item, Retriever, load_encoder
from nyx.encoders.lite import NyxLite
from nyx.encoders.text_adapter import TextAdapter, adapter_relpath, write_adapter
from nyx.training.adapt import WORK_FOLDER, AdaptConfig, adapt, undo_adapt
from nyx.verify import verify_index

SLICE = Path(__file__).parents[1] / "ensemble" / "data" / "squad_slice.json"
SMALL = AdaptConfig(queries=40, candidates=3, batch_queries=8, train_tokens=64,
                    checkpoint_every=2)
#: nyx-lite's version string without an adapter: the vectors every existing index holds
PLAIN_VERSION = "0.1;minilm-l6-v2;effnet-lite0;conse-T10;ocr0.75+respace+gate320;tw0.5"


def _corpus() -> list[Item]:
    rows = json.loads(SLICE.read_text())["corpus"]
    return [Item([f"{r['title']}\n\n{r['text']}"], {}, r["id"]) for r in rows]


@pytest.fixture(scope="module")
def plain_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("adapt") / "plain"
    r = Retriever()
    r.add(_corpus())
    r.save(folder)
    r.close()
    return folder


@pytest.fixture(scope="module")
def adapted(plain_index: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("adapt") / "adapted"
    shutil.copytree(plain_index, folder)
    return folder, adapt(folder, SMALL)


def _vectors(folder: Path) -> tuple[list[str], np.ndarray, str]:
    r = Retriever.load(folder)
    try:
        ids = sorted(r.index.ids())
        return ids, r.index.get_vectors(ids), r.encoder.version
    finally:
        r.close()


def test_adapter_file_is_named_by_its_checksum(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    factors = {"encoder.layer.0.attention.self.query.weight":
               (rng.normal(size=(4, 384)).astype(np.float32),
                rng.normal(size=(384, 4)).astype(np.float32))}
    path = write_adapter(tmp_path, factors, 2.0, {"steps": 1})
    adapter = TextAdapter.load(path)
    assert path.name == f"{adapter.tag}.safetensors" and adapter.info["steps"] == 1
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # one flipped bit in a factor
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match its name"):
        TextAdapter.load(path)
    for bad in ("../../etc/passwd", "text-adapter/../x.safetensors", "adapter.safetensors",
                f"/{tmp_path}/{path.name}"):
        with pytest.raises(ValueError, match="text-adapter/<16 hex digits>"):
            adapter_relpath(bad)
    with pytest.raises(ValueError, match="text-adapter/<16 hex digits>"):
        # an index folder's settings naming a file outside it
        load_encoder("nyx-lite", root=tmp_path, text_adapter=str(path))


def test_merged_onnx_graph_computes_the_torch_adapted_tower(tmp_path: Path) -> None:
    import torch

    from nyx.training.text_lora import LoraTextTower

    tower = LoraTextTower(rank=4, alpha=8.0).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for module in tower.adapted.values():
            module.lora_b.normal_(std=0.02)
    texts = ["how long does an espresso shot take", _corpus()[0].text]
    with torch.no_grad():
        expected = tower(texts).numpy()
    path = write_adapter(tmp_path, tower.factors(), tower.scale, {})
    encoder = NyxLite(text_adapter=str(path))
    got = encoder.encode_texts(texts)
    plain = NyxLite().encode_texts(texts)
    assert np.abs(got - expected).max() < 1e-5
    assert np.abs(got - plain).max() > 1e-3  # the adapter changes the vectors
    assert encoder.version == PLAIN_VERSION.replace(
        "minilm-l6-v2", f"minilm-l6-v2+adapt-{encoder.text_adapter.tag}")


def test_plain_encoder_is_unchanged(lite: object) -> None:
    """Without ``adapt`` nothing changes: the same version string (so existing indexes load
    without re-embedding) and the same vectors as sentence-transformers."""
    from nyx.encoders.towers import load_text_tower

    assert NyxLite().version == PLAIN_VERSION
    texts = [item.text for item in _corpus()[:4]]
    reference = load_text_tower("cpu").encode(texts, normalize_embeddings=True)
    assert np.abs(NyxLite().encode_texts(texts) - reference).max() < 1e-5


def test_adapt_writes_a_new_generation_with_the_adapter_inside(
        plain_index: Path, adapted: tuple[Path, object]) -> None:
    folder, report = adapted
    ids, before, plain_version = _vectors(plain_index)
    ids_after, after, version = _vectors(folder)
    assert plain_version == PLAIN_VERSION and ids == ids_after
    tag = Path(report.adapter).stem
    assert version == PLAIN_VERSION.replace("minilm-l6-v2", f"minilm-l6-v2+adapt-{tag}")
    assert not np.allclose(before, after, atol=1e-3)
    live = sorted(p for p in folder.iterdir() if p.name.startswith("gen-"))[-1]
    assert live.name == report.generation
    assert (live / report.adapter).is_file()
    assert report.adapter in (live / "checksums.json").read_text()  # verified with the rest
    settings = json.loads((live / "retriever.json").read_text())
    assert settings["encoder_options"]["text_adapter"] == report.adapter
    assert not (folder / WORK_FOLDER).exists()
    checked = verify_index(folder)
    assert checked.problems == [] and any("adapted" in n for n in checked.notes)
    assert report.steps == 5 and report.queries == 36 and report.held_out == 4
    assert report.pairs_labelled == 36 * 3


def test_adapted_index_moves_and_refuses_a_changed_adapter(
        adapted: tuple[Path, object], tmp_path: Path) -> None:
    folder, report = adapted
    moved = tmp_path / "moved"
    shutil.copytree(folder, moved)
    ids, vectors, _ = _vectors(folder)
    r = Retriever.load(moved)
    try:
        query = r.encoder.encode_queries(["Which NFL team won Super Bowl 50?"])[0]
        best = ids[int(np.argmax(vectors @ query))]
        assert r.search("Which NFL team won Super Bowl 50?", k=1, mode="dense")[0].id == best
    finally:
        r.close()
    live = sorted(p for p in moved.iterdir() if p.name.startswith("gen-"))[-1]
    adapter = live / report.adapter
    os.chmod(adapter, 0o644)
    data = bytearray(adapter.read_bytes())
    data[-2] ^= 0x01
    adapter.write_bytes(bytes(data))
    problems = verify_index(moved).problems  # the commit's checksums cover the adapter
    assert any(Path(report.adapter).name in p for p in problems), problems
    r = Retriever.load(moved)
    try:
        with pytest.raises(ValueError, match="does not match its name"):
            r.search("Which NFL team won Super Bowl 50?", k=1, mode="dense")
    finally:
        r.close()


def test_undo_gives_back_the_plain_vectors(plain_index: Path, adapted: tuple[Path, object],
                                          tmp_path: Path) -> None:
    folder = tmp_path / "undo"
    shutil.copytree(adapted[0], folder)
    undo_adapt(folder)
    ids, before, _ = _vectors(plain_index)
    ids_after, after, version = _vectors(folder)
    assert ids == ids_after and version == PLAIN_VERSION
    assert np.abs(before - after).max() < 1e-5
    r = Retriever.load(folder)
    try:
        assert r.hybrid.dense_weight == Retriever.load(plain_index).hybrid.dense_weight
    finally:
        r.close()
    with pytest.raises(ValueError, match="not adapted"):
        undo_adapt(folder)


def test_adapt_resumes_after_a_kill(plain_index: Path, tmp_path: Path,
                                    caplog: pytest.LogCaptureFixture) -> None:
    """SIGKILL during training: the next run keeps the labels and the last checkpoint."""
    folder = tmp_path / "killed"
    shutil.copytree(plain_index, folder)
    code = ("from nyx.training.adapt import AdaptConfig, adapt; import sys; "
            f"adapt(sys.argv[1], AdaptConfig(**{SMALL.__dict__!r}))")
    child = subprocess.Popen([sys.executable, "-c", code, str(folder)])
    state = folder / WORK_FOLDER / "checkpoint.json"
    deadline = time.monotonic() + 600
    while not state.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert state.exists(), "the child never wrote a training checkpoint"
    labels = (folder / WORK_FOLDER / "labels.jsonl").read_text().splitlines()
    assert len(labels) == 36
    caplog.set_level("INFO", logger="nyx.training.adapt")
    report = adapt(folder, SMALL)
    assert "resuming training at step" in caplog.text
    assert report.pairs_labelled == 36 * 3
    ids, vectors, version = _vectors(folder)
    assert "+adapt-" in version and ids == _vectors(plain_index)[0]


def test_labels_cut_by_a_crash_are_trimmed_before_appending(plain_index: Path,
                                                            tmp_path: Path) -> None:
    """A line torn by a crash is dropped from the file, not left in front of the new rows (a
    later resume would stop reading at it and label everything after it again)."""
    from nyx.training.adapt import _label, _make_queries

    r = Retriever.load(plain_index)
    try:
        queries = _make_queries(r, SMALL)[:6]
        path = tmp_path / "labels.jsonl"
        first = _label(r, queries[:2], SMALL, path, False)
        path.write_text(path.read_text() + '{"qid": "q2", "que')  # torn by a kill
        rows = _label(r, queries, SMALL, path, False)
    finally:
        r.close()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["qid"] for line in lines] == [q.qid for q in queries]
    assert rows[:2] == first and len(rows) == 6


def test_only_the_most_recently_used_adapted_graphs_stay_cached(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nyx.encoders import minilm_onnx

    monkeypatch.setenv("NYX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(minilm_onnx, "KEEP_ADAPTED_GRAPHS", 2)
    rng = np.random.default_rng(1)
    adapters = [write_adapter(tmp_path / "adapters", {
        "encoder.layer.5.attention.self.query.weight":
            (rng.normal(size=(2, 384)).astype(np.float32),
             rng.normal(scale=0.05, size=(384, 2)).astype(np.float32))}, 1.0, {})
        for _ in range(3)]
    texts = ["how long does an espresso shot take"]
    first = NyxLite(text_adapter=str(adapters[0])).encode_texts(texts)
    second = NyxLite(text_adapter=str(adapters[1])).encode_texts(texts)
    graphs = lambda: sorted(p.name for p in (tmp_path / "cache" / "onnx").glob("*.onnx"))  # noqa: E731
    assert len(graphs()) == 2
    NyxLite(text_adapter=str(adapters[0])).encode_texts(texts)  # used again: now the newest
    NyxLite(text_adapter=str(adapters[2])).encode_texts(texts)  # a third: one must go
    tags = [TextAdapter.load(a).tag for a in adapters]
    kept = graphs()
    assert len(kept) == 2 and any(tags[0] in g for g in kept) and any(tags[2] in g for g in kept)
    assert not any(tags[1] in g for g in kept)  # the least recently used
    # a pruned graph is rebuilt when its index needs it again, and computes the same vectors
    again = NyxLite(text_adapter=str(adapters[1])).encode_texts(texts)
    assert any(tags[1] in g for g in graphs())
    assert np.allclose(again, second, atol=1e-6) and np.abs(again - first).max() > 1e-4
    assert np.allclose(NyxLite(text_adapter=str(adapters[0])).encode_texts(texts), first,
                       atol=1e-6)
