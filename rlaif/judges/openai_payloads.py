"""Pure request building and log-prob parsing for OpenAI-compatible servers (no network here).

Chat endpoint: ``max_tokens=1, temperature=0, logprobs=True, top_logprobs=K``; the response's
``choices[0].logprobs.content[0].top_logprobs`` is a list of ``{"token", "logprob"}``.
Completions endpoint: ``logprobs=K``; the response's ``choices[0].logprobs.top_logprobs[0]`` is a
``{token: logprob}`` mapping. vLLM servers also accept ``logprob_token_ids`` (exact log-probs of
listed token ids, through ``extra_body``), which removes the top-k blind spot; with
``return_tokens_as_token_ids`` their tokens come back as ``"token_id:N"``, so a server that ignored
the ids is told apart. Checked against vLLM 0.33's own request models (tests/test_vllm_contract.py).
"""

from __future__ import annotations

import email.utils
import re
import time
from typing import Any, Mapping, Sequence

from rlaif.core.errors import RlaifError
from rlaif.judges.base import LabelLogprobs, Messages, merge_label_logprobs

# OpenAI's own API: at most 20 log-probs per position on chat, 5 on the legacy completions endpoint
OPENAI_MAX_LOGPROBS = {"chat": 20, "completions": 5}
# o-series and gpt-5 family: reasoning models, which reject logprobs, temperature and max_tokens
_REASONING = re.compile(r"(?:^|/)(?:o\d+(?:$|[-.])|gpt-5)", re.IGNORECASE)


def is_openai_api(base_url: str | None) -> bool:
    """Whether requests go to OpenAI's own API (no base URL, or api.openai.com)."""
    return not base_url or "api.openai.com" in base_url


def is_reasoning_model(model: str) -> bool:
    """Whether ``model`` names an OpenAI reasoning model (o-series, gpt-5 family)."""
    return bool(_REASONING.search(model))


def reasoning_model_error(model: str) -> str | None:
    """The one-line reason a reasoning model cannot give log-prob labels (or plain replies), or None for other
    models."""
    if not is_reasoning_model(model):
        return None
    return (f"openai judge: '{model}' is a reasoning model (o-series / gpt-5 family): it rejects logprobs, "
            "temperature and max_tokens and hides its reasoning, so it labels with sampled answers: --method sample "
            "--reasoning openai (or use a chat model that returns log-probs, e.g. --judge openai:gpt-4.1-mini)")


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds a server asked to wait: ``retry-after-ms`` (OpenAI), else ``retry-after`` as delta-seconds
    or as an HTTP date (RFC 9110 §10.2.3); None when absent or unreadable. ``now``: epoch seconds."""
    if not headers:
        return None
    get = lambda k: headers.get(k) or headers.get(k.title())  # noqa: E731 (a plain dict's keys keep their case)
    try:
        if (ms := get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
    except ValueError:
        pass
    value = get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _exact(logprob_token_ids: Sequence[int] | None) -> dict[str, Any]:
    """vLLM's exact-ids fields: the listed ids' log-probs, their tokens as ``"token_id:N"``."""
    return {"logprob_token_ids": list(logprob_token_ids), "return_tokens_as_token_ids": True} \
        if logprob_token_ids else {}


def chat_payload(model: str, messages: Messages, *, top_logprobs: int = 20, max_tokens: int = 1,
                 logprob_token_ids: Sequence[int] | None = None, continuation: str = "") -> dict[str, Any]:
    """Keyword arguments for ``client.chat.completions.create`` asking for next-token log-probs.

    ``continuation`` (text the assistant turn already starts with) uses vLLM's
    ``continue_final_message``; OpenAI proper rejects it and llama.cpp's server ignores it (the judge
    sends continuations to the completions endpoint when it has a tokenizer, see ``OpenAIJudge``).
    """
    kw: dict[str, Any] = {"model": model, "messages": list(messages), "max_tokens": max_tokens, "temperature": 0,
                          "logprobs": True, "top_logprobs": top_logprobs}
    extra: dict[str, Any] = _exact(logprob_token_ids)
    if continuation:
        kw["messages"] = kw["messages"] + [{"role": "assistant", "content": continuation}]
        extra.update(continue_final_message=True, add_generation_prompt=False)
    if extra:
        kw["extra_body"] = extra
    return kw


def completion_payload(model: str, prompt: str, *, top_logprobs: int = 20, max_tokens: int = 1,
                       logprob_token_ids: Sequence[int] | None = None, openai_api: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``client.completions.create``; the prompt is already chat-rendered, so a
    vLLM server is told not to add a second BOS (``add_special_tokens=False``; OpenAI's own API, which
    rejects unknown fields, is not)."""
    kw: dict[str, Any] = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                          "logprobs": top_logprobs}
    extra = {} if openai_api else {"add_special_tokens": False, **_exact(logprob_token_ids)}
    if extra:
        kw["extra_body"] = extra
    return kw


def generate_payload(model: str, messages: Messages, max_tokens: int) -> dict[str, Any]:
    return {"model": model, "messages": list(messages), "max_tokens": max_tokens, "temperature": 0}


# what a server other than OpenAI's is told when sampling, so that replies come from the model's distribution at the
# temperature and top_p asked for: llama.cpp's servers cut it by default (top_k 40, min_p 0.05), vLLM by the model's
# generation config (top_k, min_p, repetition_penalty); 0 turns top_k off in both
WHOLE_DISTRIBUTION = {"top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0}


def sample_payload(model: str, messages: Messages, sampling: Any, seed: int, n: int | None = None,
                   openai_api: bool = False) -> dict[str, Any]:
    """One chat request for ``n`` replies of ``sampling`` (default: all of them, ``request_n``: greedy asks for
    one) with ``seed`` (OpenAI and vLLM servers take ``n``; a server that does not gets one request per reply)."""
    from rlaif.judges.sampling import request_n

    kw = {"model": model, "messages": list(messages), "max_tokens": sampling.max_new_tokens,
          "n": request_n(sampling) if n is None else n, "temperature": sampling.temperature, "top_p": sampling.top_p,
          "seed": seed}
    if not openai_api:  # OpenAI's API rejects fields it does not define
        kw["extra_body"] = dict(WHOLE_DISTRIBUTION)
    return kw


def think_chat_payload(model: str, messages: Messages, budget: int, effort: str | None = None) -> dict[str, Any]:
    """One greedy chat reply of at most ``budget`` tokens, in which the server's model reasons (``effort``:
    ``reasoning_effort``, for servers that take it)."""
    kw: dict[str, Any] = {"model": model, "messages": list(messages), "max_tokens": budget, "temperature": 0}
    if effort:
        kw["reasoning_effort"] = effort
    return kw


def think_completion_payload(model: str, prompt: str, budget: int, openai_api: bool = False) -> dict[str, Any]:
    """A greedy reasoning continuing the rendered ``prompt`` (which ends with the opening tag), at most ``budget``
    tokens; vLLM servers keep control tokens in the text (harmony's tags)."""
    kw: dict[str, Any] = {"model": model, "prompt": prompt, "max_tokens": budget, "temperature": 0}
    if not openai_api:
        kw["extra_body"] = {"add_special_tokens": False, "skip_special_tokens": False}
    return kw


def reasoning_sample_payload(model: str, messages: Messages, sampling: Any, reasoning: Any, seed: int,
                             reasoning_model: bool) -> dict[str, Any]:
    """One chat request for ``sampling.n`` replies that each reason (at most ``reasoning.budget`` tokens) and then
    answer (``sampling.max_new_tokens`` more). OpenAI's reasoning models take ``max_completion_tokens`` and
    ``reasoning_effort`` only: no temperature, top_p, seed or log-probs."""
    from rlaif.judges.sampling import request_n

    tokens = reasoning.budget + sampling.max_new_tokens
    kw: dict[str, Any] = {"model": model, "messages": list(messages), "n": request_n(sampling)}
    if reasoning_model:
        kw["max_completion_tokens"] = tokens
    else:
        kw.update(max_tokens=tokens, temperature=sampling.temperature, top_p=sampling.top_p, seed=seed)
    if reasoning.effort:
        kw["reasoning_effort"] = reasoning.effort
    return kw


def expect_replies(asked: int, got: int, where: str = "openai judge", hint: str = " (does it support n?)") -> None:
    """Stop where a server sent another number of choices than the ``n`` asked for (``hint``: what to do)."""
    if got != asked:
        raise RlaifError(f"{where}: asked for n={asked} replies, the server sent {got}{hint}")


def chat_choices(response: Any) -> list[tuple[Any, str, str | None]]:
    """(message, content, finish_reason) of every choice, in the order of the choices' ``index``."""
    choices = sorted(_get(response, "choices") or [], key=lambda c: _get(c, "index") or 0)
    return [(_get(c, "message"), str(_get(_get(c, "message"), "content") or ""), _get(c, "finish_reason"))
            for c in choices]


def completion_text(response: Any) -> str:
    """The text of a completions response's first choice."""
    choices = _get(response, "choices") or []
    return str(_get(choices[0], "text") or "") if choices else ""


def reasoning_tokens_of(response: Any) -> int | None:
    """``usage.completion_tokens_details.reasoning_tokens`` (OpenAI; vLLM with a reasoning parser), or None."""
    details = _get(_get(response, "usage"), "completion_tokens_details")
    n = _get(details, "reasoning_tokens") if details is not None else None
    return int(n) if n is not None else None


def texts_from_chat(response: Any) -> list[str]:
    """Every choice's reply text, in the order of the choices' ``index``."""
    return [content.strip() for _, content, _ in chat_choices(response)]


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def candidates_from_chat(response: Any) -> dict[str, float] | None:
    """{token: logprob} of the first generated position of a chat response, or None if absent."""
    choices = _get(response, "choices") or []
    lp = _get(choices[0], "logprobs") if choices else None
    content = _get(lp, "content") if lp is not None else None
    if not content:
        return None
    first = content[0]
    out = {str(_get(t, "token")): float(_get(t, "logprob")) for t in (_get(first, "top_logprobs") or [])}
    out.setdefault(str(_get(first, "token")), float(_get(first, "logprob")))
    return out


def candidates_from_completion(response: Any) -> dict[str, float] | None:
    """{token: logprob} of the first generated position of a completions response, or None."""
    choices = _get(response, "choices") or []
    lp = _get(choices[0], "logprobs") if choices else None
    top = _get(lp, "top_logprobs") if lp is not None else None
    if not top or top[0] is None:
        return None
    return {str(k): float(v) for k, v in dict(top[0]).items()}


def candidates_by_id(cands: dict[str, float] | None) -> dict[int, float]:
    """{token id: logprob} of the ``"token_id:N"`` tokens of a response (``return_tokens_as_token_ids``)."""
    out: dict[int, float] = {}
    for tok, lp in (cands or {}).items():
        head, _, num = tok.partition(":")
        if head == "token_id" and num.isdigit():
            out[int(num)] = lp
    return out


def label_logprobs_from_ids(cands: dict[str, float] | None, label_ids: dict[str, list[int]],
                            top_k: int) -> LabelLogprobs | None:
    """Exact label log-probs from a response to ``logprob_token_ids``; None when any requested id is
    absent (the server ignored the field and sent its top-k instead)."""
    by_id = candidates_by_id(cands)
    if any(i not in by_id for ids in label_ids.values() for i in ids):
        return None
    return merge_label_logprobs({lab: [by_id[i] for i in ids] for lab, ids in label_ids.items()},
                                list(label_ids), top_k)


def label_logprobs_from_candidates(cands: dict[str, float] | None, labels: Sequence[str],
                                   top_k: int) -> LabelLogprobs:
    """Log-prob of each label, summing the tokens that equal it after stripping spaces ("1", " 1").

    A label with no matching token is left out and the reason says it was not in the top-k.
    """
    if cands is None:
        return LabelLogprobs({}, "the server returned no log-probs (does it support logprobs?)")
    return merge_label_logprobs({lab: [lp for tok, lp in cands.items() if tok.strip() == lab] for lab in labels},
                                labels, top_k)


def text_from_chat(response: Any) -> str:
    choices = _get(response, "choices") or []
    msg = _get(choices[0], "message") if choices else None
    return str(_get(msg, "content") or "").strip()


def usage_of(response: Any) -> tuple[int, int]:
    u = _get(response, "usage")
    if u is None:
        return 0, 0
    return int(_get(u, "prompt_tokens") or 0), int(_get(u, "completion_tokens") or 0)


# USD per million tokens (input, output), from OpenAI's public price list; override with options.
PRICES_PER_MTOK = {"gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00)}


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int,
                  price: tuple[float, float] | None = None) -> float | None:
    """Estimated cost in USD, or None when the model's price is unknown."""
    price = price or PRICES_PER_MTOK.get(model)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6
