"""Any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, llama.cpp, TGI, OpenAI...).

Standard library HTTP only. Each prompt is one request; a batch runs in a thread pool.
Connection errors, timeouts, HTTP 408/429 and 5xx are retried with exponential backoff; other
4xx errors are raised at once. Log-probabilities are requested (``logprobs`` with
``top_logprobs``); a server that refuses them is asked again without, and remembered.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from nyx.ensemble.cache import DiskCache
from nyx.ensemble.errors import (
    GeneratorRequestError,
    GeneratorTimeoutError,
    GeneratorUnavailableError,
)
from nyx.ensemble.generators.base import (
    GenerationConfig,
    Generator,
    apply_stop,
    entropy_from_top_logprobs,
)
from nyx.ensemble.types import Generation, Message, as_messages

logger = logging.getLogger(__name__)

__all__ = ["OpenAIGenerator"]

_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class OpenAIGenerator(Generator):
    """Generation through an OpenAI-compatible HTTP API.

    >>> llm = OpenAIGenerator("http://127.0.0.1:8000/v1", model="SmolLM2-135M-Instruct")
    >>> llm.generate(["Capital of France?"])[0].text

    The API key is read from the environment variable ``api_key_env`` (none is sent if unset).
    """

    supports_concurrency: ClassVar[bool] = True
    volatile_fields: ClassVar[tuple[str, ...]] = (
        *Generator.volatile_fields, "api_key_env", "timeout_s", "max_retries", "backoff_s",
        "max_concurrency")

    def __init__(self, base_url: str, model: str = "default", *,
                 api_key_env: str | None = "OPENAI_API_KEY", timeout_s: float = 60.0,
                 max_retries: int = 3, backoff_s: float = 0.5, max_concurrency: int = 8,
                 logprobs: bool = True,
                 generation: GenerationConfig | Mapping[str, Any] | None = None,
                 cache: DiskCache | None = None) -> None:
        super().__init__(generation, cache)
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if max_retries < 0 or timeout_s <= 0:
            raise ValueError("max_retries must be >= 0 and timeout_s > 0")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_concurrency = max(1, max_concurrency)
        self.logprobs = logprobs

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _generate(self, prompts: list[str | list[Message]],
                  config: GenerationConfig) -> list[Generation]:
        if len(prompts) == 1:
            return [self._one(prompts[0], config)]
        with ThreadPoolExecutor(min(self.max_concurrency, len(prompts))) as pool:
            return list(pool.map(lambda p: self._one(p, config), prompts))

    def _payload(self, prompt: str | list[Message], config: GenerationConfig) -> dict[str, Any]:
        messages = as_messages(prompt)
        body: dict[str, Any] = {"model": self.model, "messages": messages,
                                "max_tokens": config.max_new_tokens,
                                "temperature": config.temperature, "top_p": config.top_p}
        if config.stop:
            body["stop"] = list(config.stop)[:4]  # the API accepts at most four
        if config.seed is not None:
            body["seed"] = config.seed
        if self.logprobs:
            body["logprobs"] = True
            if config.top_logprobs > 0:
                body["top_logprobs"] = min(config.top_logprobs, 20)
        if messages[-1]["role"] == "assistant":
            # vLLM's extension for continuing the assistant's turn; others ignore it.
            body.update(continue_final_message=True, add_generation_prompt=False)
        return body

    def _one(self, prompt: str | list[Message], config: GenerationConfig) -> Generation:
        body = self._payload(prompt, config)
        try:
            data = self._post(body)
        except GeneratorRequestError as error:
            if "logprob" not in str(error).lower() or not self.logprobs:
                raise
            logger.warning("%s refuses logprobs; continuing without them", self.base_url)
            self.logprobs = False
            data = self._post(self._payload(prompt, config))
        return self._parse(data, config)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        blob = json.dumps(body).encode("utf-8")
        last: Exception | None = None
        timeouts = 0
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=blob, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as error:
                detail = error.read().decode("utf-8", errors="replace")[:500]
                if error.code not in _RETRY_STATUS:
                    raise GeneratorRequestError(
                        f"{self.url} answered HTTP {error.code}: {detail}; check the model "
                        f"name ({self.model!r}) and the request parameters") from error
                last = error
            except TimeoutError as error:
                last, timeouts = error, timeouts + 1
            except urllib.error.URLError as error:
                if isinstance(error.reason, TimeoutError):
                    timeouts += 1
                last = error
            except (ConnectionError, json.JSONDecodeError) as error:
                last = error
            logger.warning("attempt %d/%d on %s failed: %s", attempt + 1, self.max_retries + 1,
                           self.url, last)
        attempts = self.max_retries + 1
        if timeouts == attempts:
            raise GeneratorTimeoutError(
                f"{self.url} did not answer within {self.timeout_s} s in {attempts} attempts; "
                "raise timeout_s or check the server's load") from last
        raise GeneratorUnavailableError(
            f"cannot reach {self.url} after {attempts} attempts ({last}); is the server "
            "running and is base_url right (it usually ends in /v1)?") from last

    def _parse(self, data: dict[str, Any], config: GenerationConfig) -> Generation:
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError) as error:
            raise GeneratorRequestError(
                f"{self.url} returned no choices[0].message: {str(data)[:300]}") from error
        tokens: list[str] = []
        logprobs: list[float] = []
        entropies: list[float] = []
        tops: list[dict[str, float]] = []
        for entry in (choice.get("logprobs") or {}).get("content") or []:
            tokens.append(entry.get("token", ""))
            logprobs.append(float(entry.get("logprob", 0.0)))
            top = {t["token"]: float(t["logprob"]) for t in entry.get("top_logprobs") or []}
            tops.append(top)
            entropies.append(entropy_from_top_logprobs(top) if top else float("nan"))
        finish = choice.get("finish_reason") or "stop"
        if tokens and "".join(tokens) == text:
            text, kept, stopped = apply_stop(text, tokens, config.stop)
            tokens, logprobs, entropies, tops = (tokens[:kept], logprobs[:kept],
                                                 entropies[:kept], tops[:kept])
        else:
            text, _, stopped = apply_stop(text, [], config.stop)
        return Generation(text=text, tokens=tokens, token_logprobs=logprobs,
                          token_entropies=entropies, top_logprobs=tops,
                          finish_reason="stop" if stopped else finish,
                          model=str(data.get("model", self.model)))
