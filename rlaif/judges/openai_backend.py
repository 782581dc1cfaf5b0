"""OpenAI-compatible judge (OpenAI, ``vllm serve``, llama.cpp server, ...) on the official async client.

Concurrency is bounded by a semaphore; transient failures (429, 5xx, timeouts, dropped
connections) are retried by tenacity with exponential backoff and jitter, honouring Retry-After-ms
and Retry-After (seconds or an HTTP date), up to ``max_retries`` times; a request that receives no
byte for ``timeout`` seconds is a timeout.
A server that refuses the connection is retried twice within about two seconds, then the job
stops; 400/401/403/404/422 fail fast with one clear line. Payloads and parsing live in
``openai_payloads`` (pure, tested without a network). A reply continuation ("1", for the scorer's
P("0" | "1")) goes to the completions endpoint, rendered here, when the judge has a tokenizer: only
vLLM's chat endpoint continues a turn (``continue_final_message``); llama.cpp's server ignores the
field and closes the turn, which is detected from the prompt-token counts and stops the job. Sampled
replies: one request per prompt asking ``n``, or, on a server that ignores or refuses ``n`` (llama.cpp's),
one request per reply, each with its own seed (``sample_requests``).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import threading
import time
from typing import Any, Awaitable, Callable, Literal, Sequence, TypeVar

from pydantic import BaseModel, Field
from tenacity import AsyncRetrying, retry_if_exception, wait_exponential_jitter

from rlaif.core.errors import RlaifError
from rlaif.judges import openai_payloads as P
from rlaif.judges.base import LabelLogprobs, Messages, Usage
from rlaif.judges.registry import JudgeKind
from rlaif.judges.sampling import Sampling
from rlaif.judges.thinking import Reasoning, Thought

T = TypeVar("T")
log = logging.getLogger("rlaif.judges.openai")
CONNECT_ATTEMPTS = 3  # a refused connection: the server is not there; don't wait a minute to say so


def _refused(exc: BaseException | None) -> bool:
    """Whether the request never reached a server (connection refused, unreachable, connect timeout).

    Told by the transport error's class name: the openai client wraps httpx's (or its successor's)."""
    return type(getattr(exc, "__cause__", None)).__name__ in ("ConnectError", "ConnectTimeout")


def _retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError,
                        openai.InternalServerError)):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """Seconds the server asked to wait in the error's response headers (``P.retry_after_seconds``)."""
    resp = getattr(exc, "response", None)
    return P.retry_after_seconds(resp.headers) if resp is not None else None


class OpenAIJudge:
    """Judge behind an OpenAI-compatible HTTP API. See ``openai_payloads`` for the wire format."""

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 concurrency: int = 8, endpoint: Literal["chat", "completions"] = "chat", top_logprobs: int = 20,
                 timeout: float = 60.0, max_retries: int = 4, max_wait: float = 30.0, tokenizer: str | None = None,
                 exact_label_ids: bool = False, price_per_mtok: tuple[float, float] | None = None,
                 context_length: int | None = None, sample_requests: Literal["auto", "n", "each"] = "auto"):
        self.model, self.base_url, self._api_key = model, base_url, api_key
        self.concurrency, self.endpoint, self.top_logprobs = concurrency, endpoint, top_logprobs
        self.timeout, self.max_attempts, self.max_wait = timeout, max_retries + 1, max_wait
        self.exact_label_ids, self.price = exact_label_ids, price_per_mtok
        self.judge_id = f"openai:{model}"
        self.context_length = context_length
        self.reasoning_model = P.is_reasoning_model(model)  # labels from sampled replies only (openai_thinking)
        self._takes_n = {"auto": None, "n": True, "each": False}[sample_requests]  # None: not known yet
        self.openai_api = P.is_openai_api(base_url or os.environ.get("OPENAI_BASE_URL"))
        if self.openai_api:
            self._fit_openai_limits()
        self.usage = Usage()
        self._tok = None
        if tokenizer:  # a local tokenizer: chat rendering for /completions, token counts, label ids
            from transformers import AutoTokenizer
            from pathlib import Path

            p = Path(tokenizer)
            kw = {"gguf_file": p.name} if p.suffix == ".gguf" else {}
            self._tok = AutoTokenizer.from_pretrained(str(p.parent if kw else p), **kw)
        if (endpoint == "completions" or exact_label_ids) and self._tok is None:
            raise RlaifError(f"openai judge: endpoint '{endpoint}'"
                             f"{' with exact label ids' if exact_label_ids else ''} needs tokenizer=LOCAL_PATH")
        self._last_warning = -1e9

    def _fit_openai_limits(self) -> None:
        """OpenAI's own API: at most 20 log-probs on chat, 5 on completions; no exact label ids."""
        if self.exact_label_ids:
            raise RlaifError("openai judge: --exact-label-ids needs a vLLM server (logprob_token_ids); "
                             "OpenAI's API does not take it")
        most = P.OPENAI_MAX_LOGPROBS[self.endpoint]
        if self.top_logprobs > most:
            log.warning("openai judge: OpenAI's %s endpoint returns at most %d log-probs; asking for %d, not %d",
                        self.endpoint, most, most, self.top_logprobs)
            self.top_logprobs = most

    # -- plumbing -------------------------------------------------------------------------------
    def _client(self):
        import openai

        key = self._api_key or os.environ.get("OPENAI_API_KEY") or ("EMPTY" if self.base_url else None)
        if key is None:
            raise RlaifError("openai judge: no API key (pass --api-key or set OPENAI_API_KEY)")
        base = self.base_url or os.environ.get("OPENAI_BASE_URL")
        # read: the longest silence between two bytes of a reply; connect: a live server accepts at once
        timeout = openai.Timeout(self.timeout, connect=min(self.timeout, 5.0))
        return openai.AsyncOpenAI(api_key=key, base_url=base, timeout=timeout, max_retries=0)

    def _wait(self, state) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if _refused(exc):
            return 0.5 * state.attempt_number
        asked = retry_after_seconds(exc)
        backoff = wait_exponential_jitter(multiplier=0.5, max=self.max_wait, jitter=0.5)(state)
        return min(self.max_wait, asked) if asked is not None else backoff

    def _stop(self, state) -> bool:
        n = state.attempt_number
        exc = state.outcome.exception() if state.outcome else None
        return n >= self.max_attempts or (_refused(exc) and n >= min(CONNECT_ATTEMPTS, self.max_attempts))

    def _warn(self, state) -> None:
        """A line on the log (stderr in the CLI) at most every 5 s, so a struggling server is not silent."""
        now = time.monotonic()
        if now - self._last_warning < 5.0:
            return
        self._last_warning = now
        exc = state.outcome.exception() if state.outcome else None
        msg = (str(exc).splitlines() or [""])[0]
        log.warning("openai judge %s: attempt %d of %d failed (%s: %s); retrying in %.1f s", self.model,
                    state.attempt_number, self.max_attempts, type(exc).__name__, msg, state.next_action.sleep)

    async def _call(self, fn: Callable[[], Awaitable[T]], keep: tuple[type, ...] = ()) -> T:
        """``fn()`` with retries; a failure stops the job with one line (``RlaifError``), but for the openai client's
        errors of the classes in ``keep``, raised at once as they are."""
        try:
            return await self._call_with_retries(fn, keep)
        except Exception as e:
            if not _retryable(e) or isinstance(e, keep):
                raise
            msg = (str(e).splitlines() or [type(e).__name__])[0]
            where = self._where()
            if _refused(e):
                cause = e.__cause__
                raise RlaifError(f"{where}: cannot connect ({type(cause).__name__}: {cause}); is the server "
                                 f"running? re-run to resume") from None
            raise RlaifError(f"{where}: gave up after {self.max_attempts} attempts ({type(e).__name__}: {msg}); "
                             f"raise --timeout/--max-retries or re-run to resume") from None

    async def _call_with_retries(self, fn: Callable[[], Awaitable[T]], keep: tuple[type, ...] = ()) -> T:
        import openai

        retry = retry_if_exception(lambda e: _retryable(e) and not isinstance(e, keep))
        async for attempt in AsyncRetrying(retry=retry, wait=self._wait, stop=self._stop, before_sleep=self._warn,
                                           reraise=True):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    self.usage.add(retries=1)
                try:
                    return await fn()
                except openai.APIStatusError as e:
                    if _retryable(e) or isinstance(e, keep):
                        raise
                    msg = getattr(e, "message", str(e)).splitlines()[0]
                    raise RlaifError(f"{self._where()}: HTTP {e.status_code}: {msg}") from None
        raise AssertionError("unreachable")

    def _run(self, coro_factory: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine from sync code, also when the caller already has an event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro_factory())
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["v"] = asyncio.run(coro_factory())
            except BaseException as e:  # handed to the caller's thread below
                box["e"] = e
        ctx = contextvars.copy_context()  # the caller's usage meter counts the worker's requests too
        t = threading.Thread(target=ctx.run, args=(work,))
        t.start()
        t.join()
        if "e" in box:
            raise box["e"]
        return box["v"]

    async def _gather(self, items: Sequence[Any], one: Callable[[Any, Any], Awaitable[T]]) -> list[T]:
        client = self._client()
        sem = asyncio.Semaphore(self.concurrency)

        async def guarded(item):
            async with sem:
                return await one(client, item)
        try:
            return list(await asyncio.gather(*(guarded(i) for i in items)))
        finally:
            await client.close()

    def _account(self, resp: Any) -> None:
        """Count a response's tokens, its reasoning tokens where the server counts them."""
        pin, pout = P.usage_of(resp)
        cost = P.estimate_cost(self.model, pin, pout, self.price)
        thought = P.reasoning_tokens_of(resp)
        self.usage.add(prompt_tokens=pin, completion_tokens=pout, requests=1,
                       **({"estimated_cost_usd": cost} if cost is not None else {}),
                       **({"reasoning_tokens": thought} if thought is not None else {}))

    def _plain_replies(self) -> None:
        """Stop at once where a reasoning model is asked for log-probs or plain replies (one line)."""
        if self.reasoning_model:
            raise RlaifError(P.reasoning_model_error(self.model))

    def _label_ids(self, labels: Sequence[str]) -> dict[str, list[int]] | None:
        if not self.exact_label_ids:
            return None
        from rlaif.judges.chat import label_token_ids

        return {lab: label_token_ids(lambda s: self._tok.encode(s, add_special_tokens=False), lab) for lab in labels}

    def _where(self) -> str:
        return f"openai judge {self.model} at {self.base_url or 'api.openai.com'}"

    def _parse(self, cands: dict[str, float] | None, labels: Sequence[str],
               ids: dict[str, list[int]] | None) -> LabelLogprobs:
        if ids is None:
            return P.label_logprobs_from_candidates(cands, labels, self.top_logprobs)
        got = P.label_logprobs_from_ids(cands, ids, self.top_logprobs)
        if got is None:
            raise RlaifError(f"{self._where()}: the response lacks the log-probs of the label token ids "
                             f"{sorted(i for v in ids.values() for i in v)} asked for with --exact-label-ids (the "
                             f"server ignores logprob_token_ids; vLLM 0.33 takes it); drop --exact-label-ids to use "
                             f"the top-{self.top_logprobs} log-probs")
        return got

    def _check_continuations(self, items: list[tuple[Messages, str]], prompt_tokens: list[int]) -> None:
        """Stop when a chat continuation was ignored: a request continuing the reply with ``cont`` counts at
        most about len(cont) more prompt tokens than the same prompt without it; a closed turn and a new
        assistant header count several more."""
        base = {json.dumps(m, sort_keys=True): n for (m, c), n in zip(items, prompt_tokens) if not c}
        for (msgs, cont), n in zip(items, prompt_tokens):
            b = base.get(json.dumps(msgs, sort_keys=True))
            if cont and b and n and n - b > len(cont.encode("utf-8")) + 1:
                raise RlaifError(f"{self._where()}: the server ignored continue_final_message (the reply continued "
                                 f"with {cont!r} counted {n} prompt tokens, {n - b} more than without it: a closed "
                                 f"turn), so P(score 10) would read 0; pass --tokenizer PATH (continuations then go "
                                 f"to the completions endpoint)")

    def _render(self, messages: Messages) -> str:
        from rlaif.judges.chat import render_chat

        return render_chat(self._tok, messages)

    # -- protocol -------------------------------------------------------------------------------
    def count_tokens(self, messages: Messages) -> int:
        if self._tok is not None:
            return len(self._tok(self._render(messages), add_special_tokens=False)["input_ids"])
        return sum(len(m["content"]) for m in messages) // 4 + 4 * len(messages)  # rough: ~4 chars a token

    async def alabel_logprobs(self, prompts: Sequence[Messages], labels: Sequence[str],
                              continuations: Sequence[str] | None = None) -> list[LabelLogprobs]:
        self._plain_replies()
        ids = self._label_ids(labels)
        flat = [i for v in ids.values() for i in v] if ids else None
        items = list(zip(prompts, continuations or [""] * len(prompts)))
        if self.openai_api and any(c for _, c in items):
            raise RlaifError(f"{self._where()}: OpenAI's API cannot continue an assistant reply (needed for "
                             "P('0' | '1'), score 10); score with a vLLM or llama.cpp server or an in-process judge")

        async def one(client, item):
            msgs, cont = item
            if self.endpoint == "chat" and not (cont and self._tok is not None):
                kw = P.chat_payload(self.model, msgs, top_logprobs=self.top_logprobs, logprob_token_ids=flat,
                                    continuation=cont)
                resp = await self._call(lambda: client.chat.completions.create(**kw))
                cands = P.candidates_from_chat(resp)
            else:  # the completions endpoint, or a continuation with a local tokenizer: rendered here
                kw = P.completion_payload(self.model, self._render(msgs) + cont, top_logprobs=self.top_logprobs,
                                          logprob_token_ids=flat, openai_api=self.openai_api)
                resp = await self._call(lambda: client.completions.create(**kw))
                cands = P.candidates_from_completion(resp)
            self._account(resp)
            return self._parse(cands, labels, ids), P.usage_of(resp)[0]
        # first-token requests, then continuations: a server that keeps the previous request's KV cache (llama.cpp)
        # would otherwise evaluate a continuation as the one new row after its own prompt, with other kernels
        firsts = [i for i, (_, c) in enumerate(items) if not c]
        order = firsts + [i for i, (_, c) in enumerate(items) if c]
        out: list[Any] = [None] * len(items)
        for wave in (w for w in (order[:len(firsts)], order[len(firsts):]) if w):
            for i, r in zip(wave, await self._gather([items[i] for i in wave], one)):
                out[i] = r
        if self.endpoint == "chat" and self._tok is None:
            self._check_continuations(items, [n for _, n in out])
        return [r for r, _ in out]

    def label_logprobs(self, prompts: Sequence[Messages], labels: Sequence[str],
                       continuations: Sequence[str] | None = None) -> list[LabelLogprobs]:
        return self._run(lambda: self.alabel_logprobs(prompts, labels, continuations))

    async def agenerate(self, prompts: Sequence[Messages], max_new_tokens: int) -> list[str]:
        self._plain_replies()

        async def one(client, msgs):
            kw = P.generate_payload(self.model, msgs, max_new_tokens)
            resp = await self._call(lambda: client.chat.completions.create(**kw))
            self._account(resp)
            return P.text_from_chat(resp)
        return await self._gather(list(prompts), one)

    def generate(self, prompts: Sequence[Messages], max_new_tokens: int) -> list[str]:
        return self._run(lambda: self.agenerate(prompts, max_new_tokens))

    def sample(self, prompts: Sequence[Messages], sampling: Sampling) -> list[list[str]]:
        from rlaif.judges.openai_sampling import asample

        return self._run(lambda: asample(self, prompts, sampling))

    def reason(self, prompts: Sequence[Messages], reasoning: Reasoning) -> list[Thought]:
        from rlaif.judges.openai_thinking import areason

        return self._run(lambda: areason(self, prompts, reasoning))

    def sample_reasoning(self, prompts: Sequence[Messages], sampling: Sampling,
                         reasoning: Reasoning) -> list[list[Thought]]:
        from rlaif.judges.openai_thinking import asample_reasoning

        return self._run(lambda: asample_reasoning(self, prompts, sampling, reasoning))


class OpenAIOptions(BaseModel):
    base_url: str | None = Field(None, description="openai judges: server URL, e.g. http://127.0.0.1:8000/v1")
    api_key: str | None = Field(None, description="openai judges: API key (default: $OPENAI_API_KEY at call time)")
    concurrency: int | None = Field(None, ge=1, description="openai judges: requests in flight (default 8)")
    endpoint: Literal["chat", "completions"] | None = Field(
        None, description="openai judges: chat (default) or plain completions (needs --tokenizer)")
    tokenizer: str | None = Field(None, description="openai judges: local tokenizer dir or GGUF for completions "
                                  "rendering, token counts, exact label ids")
    exact_label_ids: bool | None = Field(None, description="openai judges on vLLM servers: request exact "
                                         "label-token log-probs (logprob_token_ids)")
    timeout: float | None = Field(None, gt=0, description="openai judges: seconds without a byte from the server "
                                  "before a request is retried (default 60)")
    max_retries: int | None = Field(None, ge=0, description="openai judges: retries of a failed request before "
                                    "the job stops (default 4)")
    max_wait: float | None = Field(None, gt=0, description="openai judges: longest wait between retries, seconds "
                                   "(default 30)")
    top_logprobs: int | None = Field(None, ge=2, description="openai/vllm judges: log-probs asked for per "
                                     "position (default 20)")
    context_length: int | None = Field(None, ge=64, description="openai judges: the server model's context "
                                       "length, to cut long prompts (default: unknown, nothing is cut)")
    price_per_mtok: tuple[float, float] | None = Field(None, description="USD per million tokens in and out, "
                                                       "for the cost estimate of models not in the price table")
    sample_requests: Literal["auto", "n", "each"] | None = Field(
        None, description="openai judges, sampled replies (--method sample, generate): 'n' one request per prompt "
        "asking for all its replies (OpenAI, vLLM), 'each' one request per reply, each with its own seed (servers "
        "without n: llama.cpp's), 'auto' (default) 'n' until the server ignores or refuses n, then 'each'")


KIND = JudgeKind("openai", "MODEL", "an OpenAI-compatible server (OpenAI, vllm serve, llama.cpp server); see "
                 "--base-url", OpenAIOptions, lambda model, options: OpenAIJudge(model, **options))
