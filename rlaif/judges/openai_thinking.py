"""Reasoning on OpenAI-compatible servers (``OpenAIJudge.reason`` / ``sample_reasoning``): the greedy reasoning
before a log-prob label, and sampled replies that reason then answer (OpenAI's reasoning models, vLLM with a
reasoning parser, llama.cpp's server with --reasoning-format). Payloads in ``openai_payloads``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from rlaif.core.errors import RlaifError
from rlaif.judges import openai_payloads as P
from rlaif.judges.base import Messages
from rlaif.judges.sampling import Sampling, prompt_seed, repeat_greedy
from rlaif.judges.thinking import (FORMATS, Reasoning, Thought, from_generated, from_reply, message_reasoning,
                                   opening_for, think_format)

if TYPE_CHECKING:
    from rlaif.judges.openai_backend import OpenAIJudge


async def areason(judge: "OpenAIJudge", prompts: Sequence[Messages], reasoning: Reasoning) -> list[Thought]:
    """Greedy reasoning of at most ``reasoning.budget`` tokens per prompt. With a local tokenizer the prompt is
    rendered here, the opening tag written, and the completions endpoint continues it; the reasoning is what comes
    before the closing tag (no ``stop`` string: llama.cpp's server then says "stop" for an end of turn inside the
    reasoning too; the few answer tokens after the tag are cheap). Without one, a chat request lets the server's
    model reason and its reply is read (``thinking.from_reply``: the server's parsed reasoning, or the tags in the
    content)."""
    judge._plain_replies()  # a reasoning model hides its reasoning: nothing to read log-probs after
    fmt = think_format(reasoning, judge.judge_id)

    async def one(client, msgs):
        if judge._tok is not None:
            rendered = judge._render(msgs)
            opened = opening_for(rendered, fmt)
            kw = P.think_completion_payload(judge.model, rendered + opened, reasoning.budget, judge.openai_api)
            resp = await judge._call(lambda: client.completions.create(**kw))
            judge._account(resp)
            text = P.completion_text(resp)
            thought = from_generated(text, fmt, opened)
            spent = text[:text.find(fmt.closing) + len(fmt.closing)] if thought.closed else text
            judge.usage.add(reasoning_tokens=len(judge._tok(spent, add_special_tokens=False)["input_ids"]))
            return thought
        kw = P.think_chat_payload(judge.model, msgs, reasoning.budget, reasoning.effort)
        resp = await judge._call(lambda: client.chat.completions.create(**kw))
        judge._account(resp)
        choices = P.chat_choices(resp)
        message, content, finish = choices[0] if choices else (None, "", None)
        return from_reply(content, message_reasoning(message), fmt, cut=finish == "length")
    return await judge._gather(list(prompts), one)


async def asample_reasoning(judge: "OpenAIJudge", prompts: Sequence[Messages], sampling: Sampling,
                            reasoning: Reasoning) -> list[list[Thought]]:
    """``sampling.n`` replies per prompt, each reasoning (at most ``reasoning.budget`` tokens) then answering; a
    reasoning model samples at temperature 1 only."""
    if judge.reasoning_model and sampling.temperature != 1:
        raise RlaifError(f"openai judge: '{judge.model}' is a reasoning model, which samples at temperature 1 only "
                         f"(asked for {sampling.temperature:g})")
    fmt = FORMATS.get(reasoning.format)

    async def one(client, msgs):
        kw = P.reasoning_sample_payload(judge.model, msgs, sampling, reasoning, prompt_seed(sampling.seed, msgs),
                                        judge.reasoning_model)
        resp = await judge._call(lambda: client.chat.completions.create(**kw))
        judge._account(resp)
        choices = P.chat_choices(resp)
        P.expect_replies(kw["n"], len(choices))
        return repeat_greedy([from_reply(content, message_reasoning(m), fmt, cut=finish == "length")
                              for m, content, finish in choices], sampling)
    return await judge._gather(list(prompts), one)
