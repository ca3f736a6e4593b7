"""Pair records: side formats, hard-negative counts per query, known positives, datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from nyx.content import ImagePart
from nyx.training.data import collate_pairs, load_pairs, read_pairs, side_key
from nyx.training.losses import MatryoshkaInfoNCE


def write_lines(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture()
def pairs_file(tmp_path: Path) -> Path:
    Image.new("RGB", (8, 8), "red").save(tmp_path / "red.png")
    return write_lines(tmp_path / "pairs.jsonl", [
        {"query": "q0", "positive": "p0"},  # no negatives
        {"query": "q1", "positive": {"text": "p1", "images": ["red.png"]},
         "negatives": ["n1a"]},
        {"query": "q2", "positive": "p2", "negatives": ["n2a", "n2b", "n2c"]},
        # q2 again with another positive; that positive is also listed as a negative above
        {"query": "q2", "positive": "n2b", "negatives": ["n2d"]},
        {"query": {"parts": [{"text": "what is"}, {"image": "red.png"}]}, "positive": "p4"},
    ])


def test_sides_are_canonical_and_images_resolved(pairs_file: Path) -> None:
    rows = list(read_pairs(pairs_file))
    p1 = json.loads(rows[1]["positive"])
    assert p1 == {"parts": [{"text": "p1"}, {"image": str(pairs_file.parent / "red.png")}]}
    assert json.loads(rows[4]["query"])["parts"][1]["image"].endswith("red.png")
    # Both positives of the repeated query q2 are known on both of its lines.
    assert rows[2]["positive_keys"] == rows[3]["positive_keys"]
    assert len(rows[2]["positive_keys"]) == 2


def test_hard_negatives_per_query_are_capped_and_may_be_missing(pairs_file: Path) -> None:
    rows = list(read_pairs(pairs_file))
    batch = collate_pairs(rows[:3], hard_negatives=2)
    texts = [d.text for d in batch.documents]
    # Positives first, then up to 2 negatives per query (q0: none, q1: one, q2: two of three,
    # n2b skipped because it is a known positive of q2).
    assert texts == ["p0", "p1", "p2", "n1a", "n2a", "n2c"]
    assert batch.positives.tolist() == [0, 1, 2]
    assert batch.doc_keys.shape == (6,) and batch.positive_keys.shape == (3, 2)
    assert batch.positive_keys[0].tolist()[1] == -1  # padding
    assert isinstance(batch.documents[1].parts[1], ImagePart)
    assert len(collate_pairs(rows[:3], hard_negatives=0).documents) == 3
    with pytest.raises(ValueError, match="hard_negatives"):
        collate_pairs(rows, hard_negatives=-1)


def test_the_loss_runs_on_a_ragged_batch(pairs_file: Path) -> None:
    rows = list(read_pairs(pairs_file))
    batch = collate_pairs(rows, hard_negatives=3)
    torch.manual_seed(0)
    q = torch.randn(len(batch.queries), 8, requires_grad=True)
    d = torch.randn(len(batch.documents), 8, requires_grad=True)
    out = MatryoshkaInfoNCE(0.05, dims=[8, 4])(q, d, batch.positives, batch.doc_keys,
                                                batch.positive_keys)
    out.loss.backward()
    assert torch.isfinite(out.loss) and d.grad is not None and set(out.per_dim) == {8, 4}
    # q2's other positive (n2b, positive of the next line) is masked as a negative of q2.
    assert side_key({"parts": [{"text": "n2b"}]}) in batch.positive_keys[2].tolist()


def test_load_pairs_through_datasets(pairs_file: Path, tmp_path: Path) -> None:
    data = load_pairs(pairs_file, cache_dir=tmp_path / "cache")
    assert len(data) == 5
    assert set(data.column_names) == {"query", "positive", "negatives", "positive_keys"}
    assert data[2]["negatives"] == [json.dumps({"parts": [{"text": t}]})
                                    for t in ("n2a", "n2b", "n2c")]
    assert len(load_pairs(pairs_file, max_examples=2, cache_dir=tmp_path / "cache")) == 2


@pytest.mark.parametrize(("line", "message"), [
    ({"query": "q"}, "needs 'query' and 'positive'"),
    ({"query": "", "positive": "p"}, "empty text"),
    ({"query": "q", "positive": {"txt": "p"}}, "unknown keys"),
    ({"query": "q", "positive": {"images": []}}, "no text and no images"),
])
def test_bad_lines_name_the_problem(tmp_path: Path, line: dict, message: str) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [line])
    with pytest.raises(ValueError, match=message):
        list(read_pairs(path))
    with pytest.raises(FileNotFoundError, match="training pairs not found"):
        list(read_pairs(tmp_path / "missing.jsonl"))
