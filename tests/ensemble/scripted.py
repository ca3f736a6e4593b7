"""Test doubles: a generator that answers from a script, and a fixed pipeline."""

from __future__ import annotations

import math
import threading
import time

from nyx.ensemble.generators.base import Generator
from nyx.ensemble.pipelines.base import System
from nyx.ensemble.types import Answer, Generation


class ScriptedGenerator(Generator):
    """Answers every prompt with ``text`` (entropy ``entropy`` per token); counts calls."""

    def __init__(self, text: str = "Paris", entropy: float = 1.0, generation=None, cache=None):
        super().__init__(generation, cache)
        self.text = text
        self.entropy = entropy
        self.calls = 0
        self.prompts: list = []

    @property
    def model_id(self) -> str:
        return f"scripted:{self.text}"

    def _generate(self, prompts, config):
        self.calls += 1
        self.prompts += prompts
        tokens = self.text.split(" ")
        tokens = [t if i == 0 else f" {t}" for i, t in enumerate(tokens)]
        return [Generation(self.text, tokens, [-self.entropy] * len(tokens),
                           [self.entropy] * len(tokens), finish_reason="stop")
                for _ in prompts]


class PassageGenerator(Generator):
    """Answers a prompt with ``answers[word]`` for the first ``word`` found in it (else "");
    an empty answer has no tokens, as a model that stops at once gives."""

    def __init__(self, answers: dict[str, str], entropy: float = 1.0):
        super().__init__()
        self.answers = answers
        self.entropy = entropy

    @property
    def model_id(self) -> str:
        return f"passages:{sorted(self.answers.items())}"

    def _generate(self, prompts, config):
        out = []
        for prompt in prompts:
            text = next((a for w, a in self.answers.items() if w in str(prompt)), "")
            tokens = text.split()
            out.append(Generation(text, tokens, [-self.entropy] * len(tokens),
                                  [self.entropy] * len(tokens), finish_reason="stop"))
        return out


class FixedSystem(System):
    """A system that always gives ``text`` with mean token entropy ``entropy``."""

    config_type = "fixed_answer"


    def __init__(self, name: str, text: str, entropy: float = 1.0, delay_s: float = 0.0,
                 concurrent_ok: bool = False):
        self.name = name
        self.text = text
        self.entropy = entropy
        self.delay_s = delay_s
        self.concurrent_ok = concurrent_ok
        self.threads: set[str] = set()

    @property
    def concurrent(self) -> bool:
        return self.concurrent_ok

    def _run(self, question: str) -> Answer:
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay_s)
        return Answer(question, self.text, token_entropies=[self.entropy],
                      token_logprobs=[-self.entropy], confidence=math.exp(-self.entropy))
