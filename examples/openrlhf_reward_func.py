"""OpenRLHF reward function backed by the rlaif judge in the trainer's process (direct RLAIF).

Use (OpenRLHF 0.11; the flag is ``--reward.remote_url`` since 0.10.2, a ``.py`` path loads ``reward_func``):
    python -m openrlhf.cli.train_ppo_ray ... --reward.remote_url examples/openrlhf_reward_func.py
OpenRLHF calls ``reward_func(queries, prompts, labels)`` from worker threads, one sample per call; the judge
is loaded once on the first call (under a lock) and concurrent calls' samples go to the judge together
(``rlaif.integrations.openrlhf.RewardFunc``). The response is the query after its chat-templated prompt, with
its control tokens removed; labels are unused (no reference answers).
Judge: the embedded SmolLM2 by default; set RLAIF_JUDGE (e.g. "openai:Qwen/Qwen2.5-7B-Instruct") and, for
OpenAI-compatible servers, OPENAI_BASE_URL / OPENAI_API_KEY. RLAIF_MAX_BATCH (32) and RLAIF_MAX_WAIT_MS (20)
bound how many samples go to one judge call and how long a sample waits for company.
To keep the judge off the trainer's nodes, run ``rlaif serve`` and pass its URL instead:
    --reward.remote_url http://rlaif:KEY@HOST:8080/get_reward
"""

import os

from rlaif.integrations.openrlhf import RewardFunc


def load_reward():
    from rlaif.integrations.trl import JudgeReward
    from rlaif.judges import load_judge

    spec = os.environ.get("RLAIF_JUDGE") or None
    base_url = os.environ.get("OPENAI_BASE_URL")
    opts = {"base_url": base_url} if spec and spec.startswith("openai:") and base_url else {}
    return JudgeReward(load_judge(spec, **opts))


reward_func = RewardFunc(load_reward, max_batch=int(os.environ.get("RLAIF_MAX_BATCH", "32")),
                         max_wait_ms=float(os.environ.get("RLAIF_MAX_WAIT_MS", "20")))
