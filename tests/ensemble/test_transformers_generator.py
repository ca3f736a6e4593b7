"""The local transformers backend with the real SmolLM2-135M-Instruct (few tokens each)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from nyx.ensemble.generators.smollm2 import smollm2_model_dir
from nyx.ensemble.generators.transformers_backend import TransformersGenerator, native_dtype

PROMPT = ("Question: What is the capital of France?\nAnswer: Paris\n\n"
          "Question: What is the capital of Italy?\nAnswer:")
OTHER = "Question: Who wrote Hamlet?\nAnswer:"


def test_model_is_cached_as_safetensors(llm):
    folder = smollm2_model_dir()
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert llm.model_id.startswith("transformers:")
    # "auto" is resolved before anything is cached: the id names the dtype that computes
    assert {"model": "smollm2-135m-instruct", "dtype": native_dtype()}.items() <= \
        llm.identity().items()
    assert llm.to_config()["dtype"] in ("float32", "bfloat16")


def test_auto_dtype_is_bfloat16_only_where_it_is_native():
    assert native_dtype("cpu", frozenset({"avx2", "fma"})) == "float32"
    assert native_dtype("cpu", frozenset({"avx2", "avx512f", "avx512_bf16"})) == "bfloat16"
    assert native_dtype("cpu", frozenset({"amx_bf16", "amx_tile"})) == "bfloat16"
    assert native_dtype("cuda:0") == "bfloat16"
    flags = Path("/proc/cpuinfo").read_text()
    here = "bfloat16" if "avx512_bf16" in flags or "amx_bf16" in flags else "float32"
    assert native_dtype() == here
    assert TransformersGenerator(dtype="auto").dtype == here
    assert TransformersGenerator(dtype="bfloat16").dtype == "bfloat16"


def test_batched_generation_reports_token_logprobs_and_entropies(llm):
    gens = llm.generate([PROMPT, OTHER], max_new_tokens=4, stop=[])
    assert len(gens) == 2
    for gen in gens:
        assert 1 <= len(gen.tokens) <= 4
        assert "".join(gen.tokens) == gen.text
        assert len(gen.token_logprobs) == len(gen.token_entropies) == len(gen.top_logprobs)
        assert all(lp <= 0 for lp in gen.token_logprobs)
        assert all(0 <= h <= math.log(49152) for h in gen.token_entropies)
        # greedy: each chosen token is the most likely one at its step
        for lp, top in zip(gen.token_logprobs, gen.top_logprobs):
            assert lp == pytest.approx(max(top.values()), abs=1e-4)
        assert gen.mean_entropy is not None and gen.mean_nll >= 0
    assert gens[0].text.strip().startswith("Rome")


def test_stop_sequences_cut_text_and_tokens(llm):
    gen = llm.generate(PROMPT, max_new_tokens=6, stop=["\n"])[0]
    assert "\n" not in gen.text and gen.finish_reason == "stop"
    assert "".join(gen.tokens) == gen.text


def test_chat_template_for_messages_raw_text_for_strings(llm):
    assert llm.render("plain text") == "plain text"
    chat = llm.render([{"role": "user", "content": "Hi"}])
    assert "<|im_start|>user\nHi<|im_end|>" in chat and chat.endswith("<|im_start|>assistant\n")
    cont = llm.render([{"role": "user", "content": "Hi"},
                       {"role": "assistant", "content": "Hello, I"}])
    assert cont.endswith("<|im_start|>assistant\nHello, I")
    gen = llm.generate([[{"role": "user", "content": "Say hi."}]], max_new_tokens=3)[0]
    assert gen.tokens


def test_mixture_decoding_matches_greedy_for_one_component(llm):
    greedy = llm.generate(PROMPT, max_new_tokens=3, stop=[])[0]
    alone = llm.generate_mixture([PROMPT], [1.0], max_new_tokens=3, stop=[])
    assert alone.text == greedy.text
    assert alone.token_logprobs == pytest.approx(greedy.token_logprobs, abs=0.1)
    # a zero-weight component changes nothing
    masked = llm.generate_mixture([PROMPT, OTHER], [1.0, 0.0], max_new_tokens=3, stop=[])
    assert masked.text == greedy.text
    with pytest.raises(ValueError, match="one weight per prompt"):
        llm.generate_mixture([PROMPT], [0.5, 0.5])


def test_mixtures_decoded_together_answer_as_each_alone(llm, monkeypatch):
    """REPLUG's batch: several questions' mixtures in one padded batch, chunked by the
    generator's batch_size, give each question the greedy answer it gets alone."""
    passages = [("The Eiffel Tower is in Paris.", "Rome is the capital of Italy."),
                ("Hamlet was written by William Shakespeare.", "Mozart wrote operas."),
                ("Water boils at 100 degrees Celsius at sea level.", "Ice is frozen water."),
                ("The Amazon is a rainforest in South America.", "Warsaw is in Poland.")]
    questions = ["Where is the Eiffel Tower?", "Who wrote Hamlet?",
                 "At what temperature does water boil?", "Where is the Amazon rainforest?"]
    groups = [([f"{p}\nQuestion: {q}\nAnswer:" for p in pair], [0.7, 0.3])
              for pair, q in zip(passages, questions)]
    monkeypatch.setattr(llm, "cache", None)  # both really decode
    alone = [llm.generate_mixture(prompts, weights, max_new_tokens=4, stop=["\n"])
             for prompts, weights in groups]
    together = llm.generate_mixtures(groups, max_new_tokens=4, stop=["\n"])
    assert [g.text for g in together] == [g.text for g in alone]
    assert len({g.text for g in together}) == 4
    for batched, single in zip(together, alone):
        tolerance = 1e-3 if llm.dtype == "float32" else 5e-2  # padded sums round differently
        assert batched.token_logprobs == pytest.approx(single.token_logprobs, abs=tolerance)
        assert batched.finish_reason == single.finish_reason


def test_a_shared_prompt_prefix_runs_once_and_changes_no_answer(llm, monkeypatch):
    """Few-shot RAG prompts share their demonstrations: with the prefix cache on, those
    tokens run once and every greedy answer (and REPLUG mixture) is the one without it."""
    from nyx.ensemble.prompts import qa_prompt
    from nyx.results import SearchResult

    facts = [("Warsaw", "Warsaw is the capital and largest city of Poland."),
             ("Tesla", "Nikola Tesla was born on 10 July 1856 in Smiljan."),
             ("Amazon", "The Amazon rainforest covers much of the Amazon basin."),
             ("Normandy", "The Normans gave their name to Normandy, a region in France."),
             ("Broncos", "The Denver Broncos won Super Bowl 50 in February 2016.")]
    docs = [SearchResult(id=t, score=1.0, text=text, metadata={"title": t})
            for t, text in facts]
    questions = ["What is the capital of Poland?", "When was Nikola Tesla born?",
                 "What does the Amazon rainforest cover?", "Which region is named after the "
                 "Normans?", "Who won Super Bowl 50?"]
    prompts = [qa_prompt(q, [d, docs[(i + 1) % 5]], max_words=40)
               for i, (q, d) in enumerate(zip(questions, docs))]
    monkeypatch.setattr(llm, "cache", None)  # every call really generates
    monkeypatch.setattr(llm, "prefix_cache", False)
    whole = llm.generate(prompts, max_new_tokens=5, stop=["\n"])
    mixed_whole = llm.generate_mixtures([(prompts[:2], [0.6, 0.4])], max_new_tokens=5,
                                        stop=["\n"])
    monkeypatch.setattr(llm, "prefix_cache", True)
    llm._prefix.clear()
    split = llm.generate(prompts, max_new_tokens=5, stop=["\n"])
    demos = len(llm.tokenizer(prompts[0][:prompts[0].index("Context: [1]")],
                              add_special_tokens=False)["input_ids"])
    assert len(llm._prefix._ids) >= demos - 2  # the demonstrations were run once, kept
    mixed_split = llm.generate_mixtures([(prompts[:2], [0.6, 0.4])], max_new_tokens=5,
                                        stop=["\n"])
    assert [g.text for g in split] == [g.text for g in whole]
    assert len({g.text for g in split}) >= 3, [g.text for g in split]  # real, varied answers
    assert mixed_split[0].text == mixed_whole[0].text
    tolerance = 1e-3 if llm.dtype == "float32" else 5e-2
    for a, b in zip([*split, *mixed_split], [*whole, *mixed_whole]):
        assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=tolerance)


def test_mixture_entropy_is_at_least_the_mean_of_its_parts(llm):
    a = llm.generate(PROMPT, max_new_tokens=1, stop=[])[0]
    b = llm.generate(OTHER, max_new_tokens=1, stop=[])[0]
    mixed = llm.generate_mixture([PROMPT, OTHER], [0.5, 0.5], max_new_tokens=1, stop=[])
    # entropy is concave: H(mix) >= mean of the components' entropies
    assert mixed.token_entropies[0] >= (a.token_entropies[0] + b.token_entropies[0]) / 2 - 1e-3


def test_option_logprobs_are_exact_and_agree_with_generation(llm):
    question = "Question: Is Paris in France? Answer yes or no.\nAnswer:"
    # One-token options: one forward pass over the prompt alone, the same single row that
    # generation's first step runs, so even bfloat16 agrees. (Options of several tokens are
    # scored as a padded batch of prompt+option rows, which bfloat16 rounds differently.)
    scores = llm.option_logprobs([question], [" yes", " no"])[0]
    first = llm.generate(question, max_new_tokens=1, top_logprobs=20, stop=[])[0]
    for option in (" yes", " no"):
        if option in first.top_logprobs[0]:
            assert scores[option] == pytest.approx(first.top_logprobs[0][option], abs=0.05)
    longer = llm.option_logprobs([question], [" yes", " yes indeed"])[0]
    assert longer[" yes indeed"] < longer[" yes"]


def test_sampling_with_a_seed_is_reproducible(llm):
    one = llm.generate(OTHER, max_new_tokens=4, temperature=1.0, seed=7, stop=[])[0]
    two = llm.generate(OTHER, max_new_tokens=4, temperature=1.0, seed=7, stop=[])[0]
    assert one.text == two.text


def test_prefix_cache_only_for_models_with_full_attention_in_every_layer(llm):
    from types import SimpleNamespace

    assert llm._full_attention()  # SmolLM2: Llama layers
    gemma_like = TransformersGenerator(dtype="float32")
    gemma_like._model = SimpleNamespace(config=SimpleNamespace(
        layer_types=["sliding_attention"] * 5 + ["full_attention"], sliding_window=512))
    assert not gemma_like._full_attention()  # its cache layers keep a window: left padding only
