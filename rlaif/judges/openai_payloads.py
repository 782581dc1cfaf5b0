"""Pure request building and log-prob parsing for OpenAI-compatible servers (no network here).

Chat endpoint: ``max_tokens=1, temperature=0, logprobs=True, top_logprobs=K``; the response's
``choices[0].logprobs.content[0].top_logprobs`` is a list of ``{"token", "logprob"}``.
Completions endpoint: ``logprobs=K``; the response's ``choices[0].logprobs.top_logprobs[0]`` is a
``{token: logprob}`` mapping. vLLM servers also accept ``logprob_token_ids`` (exact log-probs of
listed token ids, through ``extra_body``), which removes the top-k blind spot.
"""

from __future__ import annotations

from typing import Any, Sequence

from rlaif.judges.base import LabelLogprobs, Messages, merge_label_logprobs


def chat_payload(model: str, messages: Messages, *, top_logprobs: int = 20, max_tokens: int = 1,
                 logprob_token_ids: Sequence[int] | None = None, continuation: str = "") -> dict[str, Any]:
    """Keyword arguments for ``client.chat.completions.create`` asking for next-token log-probs.

    ``continuation`` (text the assistant turn already starts with) uses vLLM's
    ``continue_final_message``; OpenAI proper does not support it.
    """
    kw: dict[str, Any] = {"model": model, "messages": list(messages), "max_tokens": max_tokens, "temperature": 0,
                          "logprobs": True, "top_logprobs": top_logprobs}
    extra: dict[str, Any] = {}
    if continuation:
        kw["messages"] = kw["messages"] + [{"role": "assistant", "content": continuation}]
        extra.update(continue_final_message=True, add_generation_prompt=False)
    if logprob_token_ids:
        extra["logprob_token_ids"] = list(logprob_token_ids)
    if extra:
        kw["extra_body"] = extra
    return kw


def completion_payload(model: str, prompt: str, *, top_logprobs: int = 20, max_tokens: int = 1,
                       logprob_token_ids: Sequence[int] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``client.completions.create`` (the prompt is already chat-rendered)."""
    kw: dict[str, Any] = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                          "logprobs": top_logprobs}
    if logprob_token_ids:
        kw["extra_body"] = {"logprob_token_ids": list(logprob_token_ids)}
    return kw


def generate_payload(model: str, messages: Messages, max_tokens: int) -> dict[str, Any]:
    return {"model": model, "messages": list(messages), "max_tokens": max_tokens, "temperature": 0}


def sample_payload(model: str, messages: Messages, sampling: Any, seed: int) -> dict[str, Any]:
    """One chat request for ``sampling.n`` sampled replies (``n``, ``seed``: OpenAI and vLLM servers)."""
    return {"model": model, "messages": list(messages), "max_tokens": sampling.max_new_tokens, "n": sampling.n,
            "temperature": sampling.temperature, "top_p": sampling.top_p, "seed": seed}


def texts_from_chat(response: Any) -> list[str]:
    """Every choice's reply text, in the order of the choices' ``index``."""
    choices = sorted(_get(response, "choices") or [], key=lambda c: _get(c, "index") or 0)
    return [str(_get(_get(c, "message"), "content") or "").strip() for c in choices]


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
