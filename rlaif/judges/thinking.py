"""Reasoning judges: the settings (``Reasoning``), the thinking formats' tags, and the pure steps of
think-then-answer: where a reasoning ends in generated text or in a server's reply, and the assistant-turn text
(the reasoning, closed) after which the answer token is read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rlaif.core.errors import RlaifError

# reasoning_effort values of OpenAI's API and vLLM 0.33 (openai.types.shared.ReasoningEffort, vllm.renderers)
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class Reasoning(BaseModel):
    """How a reasoning judge thinks before its answer (all of it goes into the labeler's ``config_hash``)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["think", "harmony", "openai"] = Field(
        ..., description="'think': <think>...</think> models (Qwen3, DeepSeek-R1, QwQ); 'harmony': gpt-oss's "
        "analysis channel; 'openai': the server reasons inside each request and shows no log-probs after it "
        "(OpenAI o-series and gpt-5; needs method='sample').")
    budget: int = Field(512, ge=1, description="Most reasoning tokens per prompt; a reasoning still open then is "
                        "closed by rlaif before the answer is read (think, harmony).")
    effort: Effort | None = Field(None, description="reasoning_effort sent to servers (OpenAI reasoning models, "
                                  "vLLM); in-process judges take none.")


@dataclass(frozen=True)
class ThinkFormat:
    """The tags of one thinking format: ``opening`` starts the reasoning in the assistant turn, the model ends it
    with ``closing``, and rlaif writes it back as ``opening + reasoning + close`` (``strip`` trimmed off the
    reasoning's ends), after which the answer token comes."""

    opening: str
    closing: str
    close: str
    strip: str = ""


# think: as Qwen3's chat template writes a past reasoning back; harmony: gpt-oss's analysis, then final channel
FORMATS = {"think": ThinkFormat("<think>\n", "</think>", "\n</think>\n\n", "\n"),
           "harmony": ThinkFormat("<|channel|>analysis<|message|>", "<|end|>",
                                  "<|end|><|start|>assistant<|channel|>final<|message|>")}


@dataclass
class Thought:
    """One reasoning before an answer: ``text`` (None where the server keeps it hidden), ``closed`` (the judge
    ended it within the budget; False: cut there), ``opened`` (what rlaif wrote to open it in the assistant turn,
    "" where the chat template opens it) and, for a sampled reply, the ``answer`` after it."""

    text: str | None
    closed: bool
    opened: str = ""
    answer: str = ""


def think_format(reasoning: Reasoning, judge_id: str) -> ThinkFormat:
    """The tags of a judge that writes its reasoning itself; 'openai' (the server's own) is a one-line error."""
    if reasoning.format not in FORMATS:
        raise RlaifError(f"judge {judge_id} reasons in the assistant turn rlaif writes: use --reasoning think or "
                         "harmony ('openai' is for servers that reason inside each request)")
    return FORMATS[reasoning.format]


def opening_for(rendered_prompt: str, fmt: ThinkFormat) -> str:
    """What rlaif writes to open the reasoning: nothing where the chat template's generation prompt already
    opened it (DeepSeek-R1's ends with "<think>\\n"), else the opening tag."""
    return "" if rendered_prompt.rstrip().endswith(fmt.opening.strip()) else fmt.opening


def from_generated(text: str, fmt: ThinkFormat, opened: str) -> Thought:
    """The reasoning in ``text``, which the judge wrote after ``opened``: everything before the closing tag
    (closed), or all of it when the tag is missing (cut at the budget, or the judge ended its turn inside it)."""
    head = fmt.opening.strip()
    body = text.lstrip()[len(head):] if head and text.lstrip().startswith(head) else text  # a repeated opening
    at = body.find(fmt.closing)
    if at >= 0:
        return Thought(body[:at].strip(fmt.strip), True, opened, body[at + len(fmt.closing):])
    return Thought(body.strip(fmt.strip), False, opened)


def from_reply(content: str | None, reasoning: str | None, fmt: ThinkFormat | None, cut: bool) -> Thought:
    """The reasoning of a server's chat reply: the parsed ``reasoning`` field where the server gives one (vLLM's
    ``reasoning``, llama.cpp's ``reasoning_content``), else the tags in ``content`` (a server without a reasoning
    parser), else none shown (``text`` None: OpenAI keeps it hidden). ``cut``: the reply stopped at its token
    limit; a reasoning is closed when an answer follows it or the reply was not cut."""
    content = content or ""
    opened = fmt.opening if fmt else ""
    tagged = fmt is not None and (fmt.closing in content or content.lstrip().startswith(fmt.opening.strip()))
    if reasoning is None and tagged:
        got = from_generated(content, fmt, opened)
        return Thought(got.text, got.closed, opened, got.answer.strip())
    text = reasoning.strip(fmt.strip if fmt else "") if reasoning is not None else None
    return Thought(text, bool(content.strip()) or not cut, opened, content.strip())


def answer_prefix(thought: Thought, fmt: ThinkFormat) -> str:
    """The assistant turn up to the answer token: the opening rlaif wrote, the reasoning, and the closing
    (rlaif's own, also where the judge closed it: Qwen3's template writes a past reasoning back the same way)."""
    return thought.opened + (thought.text or "") + fmt.close


def message_reasoning(message: Any) -> str | None:
    """The parsed reasoning of a chat response message: ``reasoning`` (vLLM 0.33; older vLLM and llama.cpp's
    server with --reasoning-format call it ``reasoning_content``), None where there is none."""
    for key in ("reasoning", "reasoning_content"):
        value = message.get(key) if isinstance(message, dict) else getattr(message, key, None)
        if isinstance(value, str):
            return value
    return None
