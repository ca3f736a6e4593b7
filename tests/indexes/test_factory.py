from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from nyx.indexes import FaissIndex, QdrantIndex, available_backends, create_index, load_index

from .conftest import REPO_ROOT


def test_create_and_load_each_backend(tmp_path):
    assert available_backends() == ["faiss", "qdrant"]
    vectors = np.eye(4, dtype=np.float32)
    for backend, cls in [("faiss", FaissIndex), ("qdrant", QdrantIndex)]:
        index = create_index(backend, 4)
        assert isinstance(index, cls) and index.dim == 4
        index.upsert(["a", "b", "c", "d"], vectors, [{"n": i} for i in range(4)])
        index.save(tmp_path / backend)
        index.close()
        loaded = load_index(tmp_path / backend)
        assert isinstance(loaded, cls)
        assert [h.id for h in loaded.search(vectors[2], 1)[0]] == ["c"]
        assert loaded.get_metadata(["d"]) == [{"n": 3}]
        loaded.close()


def test_params_reach_the_backend():
    index = create_index("faiss", 8, kind="hnsw", hnsw_m=8)
    assert isinstance(index, FaissIndex) and index.kind == "hnsw" and index.config.hnsw_m == 8


def test_unknown_backend_and_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="unknown index backend 'milvus'.*faiss"):
        create_index("milvus", 8)
    with pytest.raises(FileNotFoundError, match="index.json missing"):
        load_index(tmp_path)


def test_missing_qdrant_client_names_the_extra():
    # A child process where qdrant_client cannot be imported.
    code = (
        "import sys; sys.modules['qdrant_client'] = None\n"
        "import nyx.indexes\n"
        "try:\n"
        "    nyx.indexes.create_index('qdrant', 8)\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "pip install 'nyx-retrieval[qdrant]'" in out


def test_indexes_never_imports_models_or_nyx():
    """nyx.indexes loads the ``nyx`` package's lazy ``__init__`` and nothing else of nyx."""
    heavy = "{'torch', 'qdrant_client', 'sentence_transformers', 'transformers'}"
    code = (
        "import sys, nyx.indexes\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy}\n"
        "             or (m.startswith('nyx.') and not m.startswith('nyx.indexes'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
