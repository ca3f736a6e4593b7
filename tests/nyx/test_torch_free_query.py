"""Text never imports torch: nyx-lite's text tower runs on onnxruntime from a graph written
from the same weights and tokenizer, with vectors equal to sentence-transformers' to ~2e-7."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from nyx.builder import BuildOptions, build_index
from nyx.encoders.lite import NyxLite
from nyx.encoders.minilm_onnx import OnnxMiniLM, onnx_model_path
from nyx.encoders.towers import load_text_tower, minilm_dir

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["a cup of coffee", "Which NFL team represented the AFC at Super Bowl 50?",
         "Crème brûlée — ﬁne café, ΟΔΟΣ, 東京", "", "word " * 400,  # truncated at 256 tokens
         "When does the library open? It opens daily from nine to five."]


def test_onnx_tower_equals_the_torch_tower():
    ours = OnnxMiniLM(minilm_dir()).encode(TEXTS, batch_size=4)
    theirs = load_text_tower("cpu").encode(TEXTS, batch_size=4, convert_to_numpy=True,
                                           normalize_embeddings=True)
    assert ours.shape == theirs.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours[[0, 1, 2, 4, 5]], axis=1), 1.0, atol=1e-6)
    assert onnx_model_path("fp32").is_file()  # built once into the cache


def test_int8_tower_is_close_and_a_different_encoder_version():
    fp32, int8 = NyxLite(), NyxLite(text_precision="int8")
    a, b = fp32.encode_queries(TEXTS[:3]), int8.encode_queries(TEXTS[:3])
    cosine = (a * b).sum(1)
    assert cosine.min() > 0.9 and np.abs(a - b).max() > 1e-4  # quantised, not the same graph
    assert fp32.version != int8.version and "int8" in int8.version
    assert "int8" not in fp32.version  # indexes built before the ONNX tower stay current


def test_nyx_lite_queries_and_documents_share_one_tower(lite):
    queries = lite.encode_queries(TEXTS[:3])
    documents = lite.encode_documents(TEXTS[:3])
    assert np.abs(queries - documents).max() < 1e-6


PROBE = """
import json, sys
from nyx.cli.index import main
code = main(["search", *sys.argv[1:]])
heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers", "timm", "onnx")
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
                                   "NYX_RUNTIME_DIR": str(tmp_path / "run"),
                                   "NYX_CACHE": str(onnx_model_path("fp32").parents[1])})
        lines = done.stdout.strip().splitlines()
        # the graph was cached by the build: not even the onnx package is imported
        assert json.loads(lines[-1]) == {"code": 0, "heavy": []}, done.stderr[-2000:]
        assert "coffee.txt" in lines[0]


BUILD_PROBE = """
import json, sys
from nyx.cli.index import main
code = main(["build", *sys.argv[1:], "--json"])
heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers", "timm")
               if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}))
"""


def test_a_text_only_build_never_imports_torch(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "coffee.md").write_text("# Espresso\n\nHot water forced through fine coffee.")
    (corpus / "notes.txt").write_text("Rockets carry crews to orbit.")
    done = subprocess.run([sys.executable, "-c", BUILD_PROBE, str(corpus), "-o",
                           str(tmp_path / "idx")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT),
                               "NYX_RUNTIME_DIR": str(tmp_path / "run")})
    lines = done.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == {"code": 0, "heavy": []}, done.stderr[-2000:]
