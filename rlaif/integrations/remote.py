"""Rewards from a running ``rlaif serve``: the TRL reward-function contract of ``JudgeReward``, with the
judge on the service instead of in the trainer's process (e.g. a trainer on a GPU box)."""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import httpx

from rlaif.core.errors import RlaifError
from rlaif.core.text import as_text
from rlaif.integrations.group_reward import batch_groups, row_rewards


class RemoteJudgeReward:
    """``fn(prompts=..., completions=...) -> list[float | None]`` through ``POST URL/v1/scores``.

    Empty completions get ``None`` without a request (as ``JudgeReward`` gives them); identical
    (prompt, completion) pairs are sent once; ``batch_size`` items go per request.
    """

    __name__ = "rlaif_remote_judge_reward"

    def __init__(self, url: str, api_key: str | None = None, settings: dict[str, Any] | None = None,
                 timeout: float = 300.0, batch_size: int = 256, cache_size: int = 100_000):
        self.url = url.rstrip("/") + "/v1/scores"
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.settings, self.timeout = settings or {}, timeout
        self.batch_size, self.cache_size = batch_size, cache_size
        self.cache: dict[str, float | None] = {}

    def _plan(self, prompts: Sequence[Any], completions: Sequence[Any]) -> tuple[list[str], list[list[dict]]]:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        pairs = [(as_text(p), as_text(c)) for p, c in zip(prompts, completions)]
        keys = [hashlib.sha256(f"{p}\x1f{c}".encode()).hexdigest() for p, c in pairs]
        todo: dict[str, dict] = {}
        for k, (p, c) in zip(keys, pairs):
            if k in self.cache or k in todo:
                continue
            if not c.strip() or not p.strip():
                self.cache[k] = None
            else:
                todo[k] = {"id": k, "prompt": p, "response": c}
        items = list(todo.values())
        return keys, [items[s:s + self.batch_size] for s in range(0, len(items), self.batch_size)]

    def _keep(self, body: dict[str, Any]) -> None:
        for rec in body["scores"]:
            if len(self.cache) >= self.cache_size:
                self.cache.pop(next(iter(self.cache)))
            self.cache[rec["id"]] = rec["reward"]

    def _payload(self, batch: list[dict]) -> dict[str, Any]:
        return {"items": batch, "settings": self.settings}

    def rewards(self, prompts: Sequence[Any], completions: Sequence[Any]) -> list[float | None]:
        keys, batches = self._plan(prompts, completions)
        with httpx.Client(timeout=self.timeout, headers=self.headers) as client:
            for batch in batches:
                self._keep(_checked(client.post(self.url, json=self._payload(batch))))
        return [self.cache[k] for k in keys]

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        return self.rewards(prompts, completions)


class AsyncRemoteJudgeReward(RemoteJudgeReward):
    """The same reward as an async callable (TRL runs async reward functions concurrently)."""

    __name__ = "rlaif_remote_judge_reward_async"

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        keys, batches = self._plan(prompts, completions)
        async with httpx.AsyncClient(timeout=self.timeout, headers=self.headers) as client:
            for batch in batches:
                self._keep(_checked(await client.post(self.url, json=self._payload(batch))))
        return [self.cache[k] for k in keys]


class RemotePairwiseGroupReward:
    """``PairwiseGroupReward`` on a running service: the batch's groups (by position, as TRL lays them
    out: the calling trainer's group size, or ``num_generations`` outside one) go in one ``POST URL/v1/rank``; the
    service labels the pairs and fits BT, and its ``rewards`` come back, one per completion."""

    __name__ = "rlaif_remote_pairwise_group_reward"

    def __init__(self, url: str, api_key: str | None = None, pairs: str = "adjacent", reward: str = "centered_bt",
                 settings: dict[str, Any] | None = None, num_generations: int | None = None, seed: int = 0,
                 timeout: float = 300.0):
        self.url = url.rstrip("/") + "/v1/rank"
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.body = {"pairs": pairs, "reward": reward, "seed": seed, "settings": settings or {}}
        self.num_generations, self.timeout = num_generations, timeout

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        groups, p, c = batch_groups(prompts, completions, self.num_generations, kwargs)
        body = {**self.body, "groups": [{"prompt": p[rows[0]], "responses": [c[i] for i in rows]} for rows in groups]}
        with httpx.Client(timeout=self.timeout, headers=self.headers) as client:
            answer = _checked(client.post(self.url, json=body))
        return row_rewards(groups, [g["rewards"] for g in answer["groups"]])


def _checked(resp: httpx.Response) -> dict[str, Any]:
    if resp.status_code != 200:
        try:
            detail = resp.json().get("detail")
        except ValueError:
            detail = resp.text[:200]
        raise RlaifError(f"rlaif service at {resp.request.url}: HTTP {resp.status_code}: {detail}")
    return resp.json()
