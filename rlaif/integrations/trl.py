"""Judge rewards inside training loops: TRL's reward-function contract (OpenRLHF's is in ``openrlhf``).

TRL (GRPO/RLOO/online DPO) calls ``fn(prompts=..., completions=..., **kwargs) -> list[float | None]``;
prompts/completions are strings, or conversational message lists. ``None`` marks a completion the
judge could not score (TRL turns it into NaN and, from TRL 1.6, leaves it out of the group baseline,
its advantage 0). Tested with TRL 1.16 (``tests/test_trl_contract.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, Sequence

from rlaif.core.text import as_text
from rlaif.integrations.group_reward import AsyncPairwiseGroupReward, PairwiseGroupReward  # noqa: F401 (re-exported)
from rlaif.judges import load_judge
from rlaif.labeling.scorer import Scorer, ScorerConfig


class JudgeReward:
    """A TRL reward function backed by a judge; identical (prompt, completion) pairs are scored once.

    ``JudgeReward(judge=None)`` uses the embedded judge. ``batch_size`` completions go to the judge
    per call. The function's ``__name__`` (used by TRL in its logs) is ``rlaif_judge_reward``.
    """

    __name__ = "rlaif_judge_reward"

    def __init__(self, judge: Any = None, config: ScorerConfig | None = None, batch_size: int = 32,
                 cache_size: int = 100_000):
        self.scorer = Scorer(judge if judge is not None and not isinstance(judge, str) else load_judge(judge), config)
        self.batch_size, self.cache_size = batch_size, cache_size
        self.cache: dict[str, float | None] = {}
        self.calls = 0  # judge calls made (a batch counts once)

    @staticmethod
    def _key(prompt: str, completion: str) -> str:
        return hashlib.sha256(f"{prompt}\x1f{completion}".encode()).hexdigest()

    def rewards(self, prompts: Sequence[Any], completions: Sequence[Any]) -> list[float | None]:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        pairs = [(as_text(p), as_text(c)) for p, c in zip(prompts, completions)]
        keys = [self._key(p, c) for p, c in pairs]
        todo = list(dict.fromkeys(k for k in keys if k not in self.cache))
        by_key = dict(zip(keys, pairs))
        for s in range(0, len(todo), self.batch_size):
            chunk = todo[s:s + self.batch_size]
            self.calls += 1
            for k, res in zip(chunk, self.scorer.score([by_key[k] for k in chunk])):
                if len(self.cache) >= self.cache_size:
                    self.cache.pop(next(iter(self.cache)))
                self.cache[k] = res["reward"]
        return [self.cache[k] for k in keys]

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        return self.rewards(prompts, completions)


class AsyncJudgeReward(JudgeReward):
    """The same reward as an async callable: TRL (from 1.14, ``is_async_callable``) sees the async
    ``__call__`` of the instance and awaits it alongside its other async reward functions."""

    __name__ = "rlaif_judge_reward_async"

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        return await asyncio.to_thread(self.rewards, prompts, completions)
