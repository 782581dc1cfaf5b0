"""Worked loop: a short TRL GRPO run on CPU with the direct-RLAIF reward from the embedded judge.

Policy: SmolLM2-135M-Instruct (the same GGUF as the judge, dequantised by transformers) with a LoRA
adapter; a handful of prompts; a few steps. Prints the mean judge reward per step.

    python examples/grpo_direct_rlaif.py [--steps 6] [--out runs/grpo]
"""

from __future__ import annotations

import argparse
import time

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM
from trl import GRPOConfig, GRPOTrainer

from rlaif.judges import load_judge
from rlaif.training.models import load_trainable
from rlaif.integrations.trl import JudgeReward

PROMPTS = [
    "Give me one tip for staying focused while studying.",
    "How should I apologise to a friend I was rude to?",
    "Explain what a password manager is in one sentence.",
    "What is a healthy breakfast I can make in five minutes?",
    "My neighbour's music is too loud at night. What can I do?",
    "Suggest a kind message for a coworker's last day.",
    "How do I start learning to cook?",
    "What should I do if I find a lost wallet?",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--out", default="runs/grpo")
    args = ap.parse_args()
    torch.manual_seed(0)
    tok, policy = load_trainable(AutoModelForCausalLM, "embedded")
    reward = JudgeReward(load_judge("embedded"))
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": p}]} for p in PROMPTS])
    cfg = GRPOConfig(output_dir=args.out, per_device_train_batch_size=4, num_generations=4, max_completion_length=32,
                     max_steps=args.steps, learning_rate=2e-4, logging_steps=1, report_to="none", use_cpu=True,
                     save_strategy="no", bf16=False, temperature=1.0, beta=0.0)
    trainer = GRPOTrainer(model=policy, reward_funcs=[reward], args=cfg, train_dataset=ds, processing_class=tok,
                          peft_config=LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                 task_type="CAUSAL_LM"))
    t0 = time.perf_counter()
    trainer.train()
    print(f"\n{'step':>4s} {'mean reward':>12s} {'reward std':>11s}")
    for h in trainer.state.log_history:
        if "reward" in h:
            print(f"{h['step']:4d} {h['reward']:12.4f} {h.get('reward_std', float('nan')):11.4f}")
    print(f"\n{args.steps} steps in {time.perf_counter() - t0:.0f}s; judge calls {reward.calls}, "
          f"cached pairs {len(reward.cache)}")


if __name__ == "__main__":
    main()
