"""OpenRLHF reward entry point backed by the rlaif judge (direct RLAIF).

Use:  python -m openrlhf.cli.train_ppo_ray ... --remote_rm_url examples/openrlhf_reward_func.py
Judge: the embedded SmolLM2 by default; set RLAIF_JUDGE (e.g. "openai:Qwen/Qwen2.5-7B-Instruct") and,
for OpenAI-compatible servers, OPENAI_BASE_URL / OPENAI_API_KEY. Read when the first batch arrives.
"""

import os

from rlaif.integrations.trl import JudgeReward, openrlhf_rewards

_reward = None


def reward_func(queries, prompts, labels):
    """queries: prompt + response strings; prompts: the prompts; labels: unused (no reference answers)."""
    global _reward
    if _reward is None:
        spec = os.environ.get("RLAIF_JUDGE") or None
        opts = {"base_url": os.environ["OPENAI_BASE_URL"]} if spec and spec.startswith("openai:") and os.environ.get("OPENAI_BASE_URL") else {}
        from rlaif.judges import load_judge

        _reward = JudgeReward(load_judge(spec, **opts))
    return openrlhf_rewards(_reward, queries, prompts)
