"""A text query against a saved index loads the text tower only: no image tower, no OCR
engine (a fresh process, as ``nyx-index search`` runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from nyx.builder import BuildOptions, build_index

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
from nyx.retriever import Retriever
r = Retriever.load(sys.argv[1])
hits = r.search("how long does an espresso shot take", k=2)
enc = r.encoder
print(json.dumps({"top": hits[0].id, "image_tower": enc._image_tower is not None,
                  "conse": enc._conse is not None,
                  "ocr_engine": enc._ocr is not None and enc._ocr._engine is not None,
                  "rapidocr": "rapidocr_onnxruntime" in sys.modules,
                  "torch": "torch" in sys.modules}))
"""


def test_text_query_loads_only_the_text_tower(lite, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "espresso.txt").write_text("An espresso shot takes about 25 to 30 seconds.")
    (corpus / "trains.txt").write_text("Night trains are returning to Europe.")
    build_index(corpus, tmp_path / "idx", BuildOptions(model=lite, show_progress=False))
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "idx")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
                               "PATH": "/usr/bin:/bin",
                               "NYX_CACHE": os.environ.get("NYX_CACHE", str(tmp_path))})
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"top": "espresso.txt#0", "image_tower": False, "conse": False,
                    "ocr_engine": False, "rapidocr": False, "torch": False}
