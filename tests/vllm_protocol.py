"""A loopback server speaking vLLM 0.33's OpenAI protocol through vLLM's own request models: every request
body is validated by ``ChatCompletionRequest`` / ``CompletionRequest``, turned into ``SamplingParams`` with
their ``to_sampling_params`` and checked against the engine's log-prob limit (``max_logprobs``), as
``vllm serve`` does before its engine runs. A field vLLM does not define is an error here (vLLM itself
drops it silently). Answers are scripted (no model): equal mass on the label tokens asked for; a server started
with ``reasoning=True`` answers chat requests as one with a reasoning parser, its message and usage made by vLLM's
own ``ChatMessage`` and ``UsageInfo`` (the reasoning in ``message.reasoning``, counted in
``usage.completion_tokens_details.reasoning_tokens``)."""

from __future__ import annotations

import math
import threading
import time
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

REASONING = "the first reply is kinder"  # a reasoning server's thought, reply i: f"{REASONING} {i}"
THOUGHT_TOKENS = 5  # reasoning tokens a reasoning server counts per reply
LABEL_TOKENS = ["A", "B", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
VOCAB = 49152  # the embedded judge's vocabulary size


def engine_config(max_logprobs: int = 20) -> Any:
    """The two ModelConfig attributes ``SamplingParams._validate_logprobs`` reads (vLLM's default limit)."""
    return SimpleNamespace(max_logprobs=max_logprobs, get_vocab_size=lambda: VOCAB)


def check_sampling(params: Any, max_logprobs: int = 20) -> None:
    """The engine-side log-prob checks of a real ``SamplingParams`` (raises VLLMValidationError)."""
    params._validate_logprobs(engine_config(max_logprobs))


def validate(kind: str, body: dict) -> tuple[Any, Any]:
    """(request model, SamplingParams) of one request body, as vLLM 0.33's server builds them."""
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    from vllm.entrypoints.openai.completion.protocol import CompletionRequest

    model = ChatCompletionRequest if kind == "chat" else CompletionRequest
    unknown = set(body) - set(model.model_fields)
    if unknown:
        raise ValueError(f"fields vLLM's {model.__name__} does not define (it would ignore them): {sorted(unknown)}")
    req = model.model_validate(body)
    max_tokens = (req.max_completion_tokens or body.get("max_tokens") or 16) if kind == "chat" else req.max_tokens
    params = req.to_sampling_params(max_tokens, {})
    check_sampling(params)
    return req, params


def _logprob_entries(params: Any, honour_ids: bool) -> list[tuple[str, float]]:
    if params.logprob_token_ids and honour_ids:
        ids = params.logprob_token_ids
        return [(f"token_id:{i}", -math.log(len(ids))) for i in ids]
    k = params.logprobs or 0
    return [(t, -math.log(len(LABEL_TOKENS))) for t in LABEL_TOKENS[:k]]


def _message(i: int, reasoning: bool) -> dict:
    """Reply ``i``: plain text, or (a reasoning parser) an answer label with the reasoning apart, as vLLM 0.33's
    ``ChatMessage`` serialises it."""
    if not reasoning:
        return {"role": "assistant", "content": f"reply {i}"}
    from vllm.entrypoints.openai.chat_completion.protocol import ChatMessage

    return ChatMessage(role="assistant", content=str(1 + i % 2), reasoning=f"{REASONING} {i}").model_dump()


def _usage(n_in: int, n: int, reasoning: bool) -> dict:
    if not reasoning:
        return {"prompt_tokens": n_in, "completion_tokens": 1, "total_tokens": n_in + 1}
    from vllm.entrypoints.serve.engine.protocol import CompletionTokenUsageInfo, UsageInfo

    out = n * (THOUGHT_TOKENS + 1)
    details = CompletionTokenUsageInfo(reasoning_tokens=n * THOUGHT_TOKENS)
    return UsageInfo(prompt_tokens=n_in, completion_tokens=out, total_tokens=n_in + out,
                     completion_tokens_details=details).model_dump()


def chat_response(body: dict, params: Any, honour_ids: bool, reasoning: bool = False) -> dict:
    entries = _logprob_entries(params, honour_ids) if body.get("logprobs") else []
    content = [{"token": entries[0][0], "logprob": entries[0][1], "bytes": None,
                "top_logprobs": [{"token": t, "logprob": v, "bytes": None} for t, v in entries]}] if entries else None
    n_in = sum(len(str(m.get("content", ""))) for m in body["messages"])  # prompt "tokens": characters
    reasons = reasoning and not body.get("logprobs")
    choices = [{"index": i, "finish_reason": "stop" if reasons else "length", "message": _message(i, reasons),
                "logprobs": {"content": content} if content else None} for i in range(params.n)]
    return {"id": "x", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
            "choices": choices, "usage": _usage(n_in, params.n, reasons)}


def completion_response(body: dict, params: Any, honour_ids: bool) -> dict:
    entries = _logprob_entries(params, honour_ids)
    lp = {"tokens": [entries[0][0]], "token_logprobs": [entries[0][1]], "text_offset": [0],
          "top_logprobs": [dict(entries)]} if entries else None
    n_in = len(body["prompt"])
    # a request without log-probs is a reasoning continuing "<think>\n": the reasoning, closed, then an answer
    text, finish = ("1", "length") if body.get("logprobs") else (f"{REASONING}</think>\n\n1", "stop")
    return {"id": "x", "object": "text_completion", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": lp}],
            "usage": {"prompt_tokens": n_in, "completion_tokens": 1, "total_tokens": n_in + 1}}


class VLLMProtocolServer:
    """uvicorn on 127.0.0.1 (a thread); ``seen`` lists (endpoint, body, SamplingParams) of every valid
    request. ``honour_ids=False`` answers like a server that ignores ``logprob_token_ids`` (top-k text);
    ``reasoning=True`` like one with a reasoning parser."""

    def __init__(self, honour_ids: bool = True, reasoning: bool = False):
        import uvicorn

        from servers import free_port

        self.seen: list[tuple[str, dict, Any]] = []
        app = FastAPI()

        async def handle(kind: str, request: Request):
            body = await request.json()
            try:
                _, params = validate(kind, body)
            except Exception as e:  # pydantic's ValidationError, VLLMValidationError, unknown fields
                return JSONResponse({"error": {"message": f"{type(e).__name__}: {e}"}}, status_code=400)
            self.seen.append((kind, body, params))
            if kind == "chat":
                return chat_response(body, params, honour_ids, reasoning)
            return completion_response(body, params, honour_ids)

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            return await handle("chat", request)

        @app.post("/v1/completions")
        async def completions(request: Request):
            return await handle("completions", request)

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.time() + 30
        while not self._server.started and time.time() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
