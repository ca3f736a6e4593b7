"""A text query never imports torch: nyx-lite's text tower also runs in NumPy (the same
weights and tokenizer), with vectors equal to the torch tower's to ~1e-7."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from nyx.builder import BuildOptions, build_index
from nyx.encoders.minilm_numpy import NumpyMiniLM
from nyx.encoders.towers import minilm_dir

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["a cup of coffee", "Which NFL team represented the AFC at Super Bowl 50?",
         "Crème brûlée — ﬁne café, ΟΔΟΣ, 東京", "", "word " * 400,  # truncated at 256 tokens
         "When does the library open? It opens daily from nine to five."]


def test_numpy_tower_equals_the_torch_tower(lite):
    ours = NumpyMiniLM(minilm_dir()).encode(TEXTS, batch_size=4)
    theirs = lite.text_model.encode(TEXTS, batch_size=4, convert_to_numpy=True,
                                    normalize_embeddings=True)
    assert ours.shape == theirs.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours[[0, 1, 2, 4, 5]], axis=1), 1.0, atol=1e-6)


def test_nyx_lite_queries_use_the_numpy_tower_with_the_same_vectors(lite):
    queries = lite.encode_queries(TEXTS[:3])
    documents = lite.encode_documents(TEXTS[:3])  # the torch tower
    assert np.abs(queries - documents).max() < 1e-5


PROBE = """
import json, sys
from nyx.cli.index import main
code = main(["search", *sys.argv[1:]])
heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers", "timm")
               if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}))
"""


def test_a_text_search_process_never_imports_torch(lite, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "coffee.txt").write_text("Making espresso at home: hot water through coffee.")
    (corpus / "space.txt").write_text("Rockets carry crews to orbit.")
    build_index(corpus, tmp_path / "idx", BuildOptions(model=lite, show_progress=False))
    for mode in ("hybrid", "dense"):
        done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "idx"),
                               "a cup of coffee", "-k", "2", "--mode", mode],
                              capture_output=True, text=True, timeout=300, cwd=ROOT,
                              env={"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
                                   "PATH": "/usr/bin:/bin",
                                   "NYX_RUNTIME_DIR": str(tmp_path / "run")})
        lines = done.stdout.strip().splitlines()
        assert json.loads(lines[-1]) == {"code": 0, "heavy": []}, done.stderr[-2000:]
        assert "coffee.txt" in lines[0]
