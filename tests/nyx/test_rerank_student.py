"""The distilled cross-encoder student, built from the pinned teacher file and the shipped delta."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from nyx.encoders.towers import ModelFileError
from nyx.rerank import CrossEncoder, default_reranker_dir
from nyx.rerank_student import STUDENTS, select_layers, student_weights

SPEC = STUDENTS["student-l6"]
PAIRS = [("who wrote hamlet?", "Hamlet is a tragedy written by William Shakespeare around 1600."),
         ("who wrote hamlet?", "Copenhagen is the capital of Denmark."),
         ("what is the boiling point of water?",
          "At sea level water boils at 100 degrees Celsius, or 212 degrees Fahrenheit."),
         ("what is the boiling point of water?", "Hamlet is a small village in the county.")]


@pytest.fixture(scope="module")
def weights():
    return student_weights(SPEC, default_reranker_dir() / "model.onnx")


@pytest.fixture(scope="module")
def student():
    return CrossEncoder(model="student-l6", num_threads=2).load()


@pytest.fixture(scope="module")
def teacher():
    return CrossEncoder(num_threads=2).load()


def test_the_graph_reproduces_the_torch_student(weights, student):
    """The ONNX graph (fp32 as written, and the cached int8 file) computes what transformers'
    BertForSequenceClassification computes with the same merged weights."""
    torch = pytest.importorskip("torch")
    import onnxruntime as ort
    from transformers import BertConfig, BertForSequenceClassification

    from nyx.encoders.bert_graph import bert_graph
    from nyx.rerank_weights import weights_shape

    shape = weights_shape(weights)
    assert shape.layers == len(SPEC.layers)
    model = BertForSequenceClassification(BertConfig(**shape.config())).eval()
    missing, unexpected = model.load_state_dict(
        {k: torch.from_numpy(v.copy()) for k, v in weights.items()}, strict=False)
    assert not unexpected and all("position_ids" in k or "token_type_ids" in k for k in missing)
    fp32 = ort.InferenceSession(bert_graph(weights, shape, head="classifier",
                                           prefix="bert.").SerializeToString(),
                                providers=["CPUExecutionProvider"])
    tokenizer = student._tokenizer
    for query, passage in PAIRS:
        e = tokenizer.encode(query, passage)
        feeds = {"input_ids": np.array([e.ids]), "attention_mask": np.array([e.attention_mask]),
                 "token_type_ids": np.array([e.type_ids])}
        with torch.inference_mode():
            reference = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits
        assert abs(fp32.run(None, feeds)[0][0, 0] - float(reference[0, 0])) < 1e-3
        # int8 dynamic quantisation moves a logit by a few tenths at most on such pairs
        assert abs(student.score(query, [passage])[0] - float(reference[0, 0])) < 0.5


def test_layers_are_selected_and_renumbered():
    tensors = {"bert.encoder.layer.4.output.dense.bias": np.ones(2),
               "bert.encoder.layer.5.output.dense.bias": np.zeros(2),
               "classifier.bias": np.ones(1)}
    kept = select_layers(tensors, [4])
    assert set(kept) == {"bert.encoder.layer.0.output.dense.bias", "classifier.bias"}


def test_a_changed_delta_is_refused(tmp_path):
    changed = tmp_path / SPEC.delta_path.name
    shutil.copy(SPEC.delta_path, changed)
    with changed.open("r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    with pytest.raises(ModelFileError, match=re.escape(SPEC.delta_sha256[:16])):
        student_weights(SPEC, default_reranker_dir() / "model.onnx", delta_path=changed)


@pytest.mark.data
def test_the_student_ranks_real_squad_questions_like_the_teacher(student, teacher):
    """On 20 SQuAD-dev questions (never used to distil it), each with its gold paragraph and the
    four paragraphs sharing most words with the question, the student's top passage is the
    teacher's on most questions, and the gold one about as often as the teacher's."""
    from nyx.benchmarks.datasets import load_dataset

    data = load_dataset("squad-dev")
    words = {d: set(re.findall(r"\w+", text["text"].lower()))
             for d, text in data.corpus.items()}
    rng = np.random.default_rng(7)
    qids = list(data.queries)
    agree = student_gold = teacher_gold = 0
    for q in rng.choice(len(qids), 20, replace=False):
        qid = qids[int(q)]
        query = data.queries[qid]["text"]
        gold = next(d for d, g in data.qrels[qid].items() if g > 0)
        terms = set(re.findall(r"\w+", query.lower()))
        others = sorted((d for d in words if d != gold), key=lambda d: -len(terms & words[d]))
        docs = [gold, *others[:4]]
        passages = [data.corpus[d]["text"] for d in docs]
        s, t = student.score(query, passages), teacher.score(query, passages)
        agree += int(np.argmax(s) == np.argmax(t))
        student_gold += int(np.argmax(s) == 0)
        teacher_gold += int(np.argmax(t) == 0)
    assert agree >= 16, (agree, student_gold, teacher_gold)
    assert student_gold >= teacher_gold - 2, (student_gold, teacher_gold)
