"""Sampled replies from OpenAI-compatible servers (``OpenAIJudge.sample``): all of a prompt's replies in one request
(``n``: OpenAI, vLLM) or one seeded request per reply (servers without ``n``: llama.cpp's), chosen by
``sample_requests`` or found out from the first prompt. Payloads in ``openai_payloads``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Sequence

from rlaif.judges import openai_payloads as P
from rlaif.judges.base import Messages
from rlaif.judges.sampling import Sampling, prompt_seed, repeat_greedy, request_n

if TYPE_CHECKING:
    from rlaif.judges.openai_backend import OpenAIJudge

log = logging.getLogger("rlaif.judges.openai")


async def asample(judge: "OpenAIJudge", prompts: Sequence[Messages], sampling: Sampling) -> list[list[str]]:
    """``sampling.n`` replies per prompt, in order (``replies``: how each request is asked)."""
    judge._plain_replies()
    n, prompts = request_n(sampling), list(prompts)
    out: list[list[str] | None] = [None] * len(prompts)
    if n > 1 and judge._takes_n is None and prompts:  # the first prompt alone tells whether the server takes n
        out[0] = (await judge._gather(prompts[:1], lambda c, m: replies(judge, c, m, sampling)))[0]
    todo = [i for i, texts in enumerate(out) if texts is None]
    if n == 1 or judge._takes_n:
        got = await judge._gather([prompts[i] for i in todo], lambda c, m: replies(judge, c, m, sampling))
    else:  # a request per reply, prompt after prompt (a server that caches its last prompt reuses it)
        each = await judge._gather([(prompts[i], k) for i in todo for k in range(n)],
                                  lambda c, item: replies(judge, c, item[0], sampling, item[1]))
        got = [[r[0] for r in each[j * n:(j + 1) * n]] for j in range(len(todo))]
    for i, texts in zip(todo, got):
        out[i] = texts
    return [repeat_greedy(texts, sampling) for texts in out]


async def replies(judge: "OpenAIJudge", client: Any, msgs: Messages, sampling: Sampling,
                  k: int | None = None) -> list[str] | None:
    """One request: all the prompt's replies (``n``, one seed for the prompt), or its reply ``k`` alone, seeded
    with ``prompt_seed(seed, prompt, k)`` (the same reply on a re-run or a resumed job, whatever else is asked at
    the same time). None while it is not known whether the server takes ``n`` (``sample_requests='auto'``) and it
    ignored ``n`` (one reply came back) or refused it: then, for this judge's life, each reply is a request."""
    import openai

    kw = P.sample_payload(judge.model, msgs, sampling, prompt_seed(sampling.seed, msgs, k or 0),
                          n=None if k is None else 1, openai_api=judge.openai_api)
    probing, why = judge._takes_n is None and kw["n"] > 1, "sent one reply"
    # llama.cpp's own server refuses n != 1 (HTTP 400, or 500 in older versions), llama-cpp-python's ignores it
    refused = (openai.BadRequestError, openai.UnprocessableEntityError, openai.InternalServerError)
    refused = refused if probing else ()
    try:
        resp = await judge._call(lambda: client.chat.completions.create(**kw), keep=refused)
        judge._account(resp)
        texts = P.texts_from_chat(resp)
    except refused as e:
        texts, why = [], f"refused it (HTTP {e.status_code}: {(str(e).splitlines() or [''])[0][:120]})"
    if probing:
        judge._takes_n = len(texts) > 1
        if not judge._takes_n:
            log.warning("openai judge %s: asked for n=%d replies, the server %s; sampling one reply per request "
                        "from now on, each with its own seed", judge.model, kw["n"], why)
            return None
    P.expect_replies(kw["n"], len(texts), judge._where(),
                     "; pass sample_requests=each (a request per reply) for a server that does not take n" * (kw["n"] > 1))
    return texts
