"""OpenRLHF's reward contract (0.11, ``openrlhf/utils/agent.py``): the (prompt, response) the judge rates, parsed
from what ``SingleTurnAgentExecutor`` sends, the answer it reads back, and ``RewardFunc``, the in-process
``reward_func`` it calls from concurrent threads.

What it sends, for every sample on its own (one request, or one ``reward_func`` call, per sample): ``prompts``
= the prompt as the dataset gave it, chat-templated under ``--data.apply_chat_template`` (ends with the
assistant's generation header); ``query`` = ``tokenizer.decode(prompt_ids + response_ids,
skip_special_tokens=False)``, i.e. the prompt, the response, and the response's end-of-turn token (where the
prompt was longer than the budget, its ids were cut from the left); ``labels`` = the dataset's label
column, or "". It reads ``rewards`` (for the advantage), ``scores`` (dynamic filtering) and ``extra_logs``.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Callable, Sequence

from rlaif.core.batcher import Batcher
from rlaif.core.text import flatten_messages, strip_special_tokens

# Turn headers of chat-templated prompts: ChatML (Qwen, SmolLM), Llama 3, Gemma, Phi-3.
_TURN = re.compile(r"<\|im_start\|>(\w+)\n|<\|start_header_id\|>(\w+)<\|end_header_id\|>\n*"
                   r"|<start_of_turn>(\w+)\n|<\|(system|user|assistant)\|>\n?")
_ROLES = {"model": "assistant"}
_EMPTY_THINK = re.compile(r"<think>\s*</think>")  # Qwen3's generation header with thinking off


def chat_turns(text: str) -> list[dict[str, str]] | None:
    """The conversation in a chat-templated prompt (``_TURN`` markup), control tokens removed; an empty
    last assistant turn (the generation header) is left out. None when the text has no turn markup."""
    parts = _TURN.split(text)
    if len(parts) == 1:
        return None
    turns = []
    for i in range(1, len(parts), 5):  # each header: 4 alternative role groups, then the text up to the next one
        role = next(r for r in parts[i:i + 4] if r)
        turns.append({"role": _ROLES.get(role, role), "content": strip_special_tokens(parts[i + 4]).strip()})
    if turns[-1]["role"] == "assistant" and not _EMPTY_THINK.sub("", turns[-1]["content"]).strip():
        turns.pop()
    return turns


def prompt_text(prompt: str) -> str:
    """A chat-templated prompt as the judge's conversation text ("User: ...", as TRL's conversational
    prompts are shown); other prompts with their control-token text removed."""
    turns = chat_turns(prompt)
    return flatten_messages(turns) if turns else strip_special_tokens(prompt).strip()


def response_text(query: str, prompt: str) -> str:
    """The response in ``query``: what follows its prompt (or the longest end of the prompt that the query
    starts with, when the prompt's ids were cut from the left), control tokens (its end of turn) removed."""
    if query.startswith(prompt):
        return strip_special_tokens(query[len(prompt):]).strip()
    rest, at = query, prompt.find(query[:1], 1)
    while at >= 0:  # the first (longest) end of the prompt that the query starts with
        if query.startswith(prompt[at:]):
            rest = query[len(prompt) - at:]
            break
        at = prompt.find(query[:1], at + 1)
    return strip_special_tokens(rest).strip()


def parse_rewards_request(queries: Sequence[str], prompts: Sequence[str] | None) -> list[tuple[str, str]]:
    """(prompt, response) for the judge from OpenRLHF's ``query`` and ``prompts`` (without prompts, the whole
    query is the response)."""
    prompts = [""] * len(queries) if prompts is None else prompts
    if len(prompts) != len(queries):
        raise ValueError(f"prompts: {len(prompts)} items for {len(queries)} queries")
    return [(prompt_text(p), response_text(q, p)) for q, p in zip(queries, prompts)]


def reward_outputs(raw: Sequence[float | None]) -> dict[str, Any]:
    """OpenRLHF's answer from judge rewards: ``rewards`` (unscorable rows get 0), ``scores`` in [0, 1] (for
    dynamic filtering) and ``extra_logs`` (how many rows the judge could not score)."""
    r = [0.0 if x is None else float(x) for x in raw]
    return {"rewards": r, "scores": [(x + 1) / 2 for x in r],
            "extra_logs": {"judge_unscored": float(sum(x is None for x in raw))}}


class RewardFunc:
    """OpenRLHF's ``reward_func(queries, prompts, labels)`` over a judge reward (``JudgeReward``).

    OpenRLHF 0.11 calls it in worker threads (``asyncio.to_thread``), one sample per call, many at once. The
    reward is built by ``load()`` once, on the first call, under a lock (concurrent first calls wait for it);
    the calls' samples are coalesced by a ``Batcher`` into judge calls of up to ``max_batch`` samples (each
    waiting at most ``max_wait_ms`` for company) on the one thread that runs the judge. Returns tensors, as
    OpenRLHF's own example does.
    """

    def __init__(self, load: Callable[[], Any], max_batch: int = 32, max_wait_ms: float = 20.0):
        self._load, self.max_batch, self.max_wait_ms = load, max_batch, max_wait_ms
        self._lock = threading.Lock()
        self.reward: Any = None
        self.batcher: Batcher | None = None

    def _ready(self) -> Batcher:
        with self._lock:
            if self.batcher is None:
                self.reward = self._load()
                self.batcher = Batcher(self.max_batch, self.max_wait_ms)
        return self.batcher

    def _rate(self, pairs: list[tuple[str, str]]) -> list[float | None]:
        return self.reward.rewards([p for p, _ in pairs], [r for _, r in pairs])

    def __call__(self, queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any] = ()) -> dict[str, Any]:
        import torch

        pairs = parse_rewards_request(queries, prompts)
        out = reward_outputs(self._ready().submit("reward", self._rate, pairs).result())
        return {"rewards": torch.tensor(out["rewards"], dtype=torch.float32),
                "scores": torch.tensor(out["scores"], dtype=torch.float32),
                "extra_logs": {k: torch.tensor(v) for k, v in out["extra_logs"].items()}}
