"""Contract with TRL's real trainers: a DPOTrainer step on ``rlaif export-dpo`` output (its tokenized
prompt/chosen boundary checked), and a GRPOTrainer step with the sync and the async judge reward and
rewards the judge could not give (None). Tiny models built from a config, max_steps=1, CPU."""

from __future__ import annotations

import copy
import logging
import math

import pytest
import torch

from conftest import ScriptedJudge, write_jsonl
from rlaif.cli import main as rlaif_main
from rlaif.core.text import ASSISTANT_TURN
from rlaif.data.records import read_records
from rlaif.integrations.trl import AsyncJudgeReward, JudgeReward
from rlaif.jobs.pipeline import generate_file, label_file
from rlaif.jobs.spec import GenerateJob, LabelJob, RunOptions
from rlaif.judges.base import LabelLogprobs
from rlaif.judges.sampling import Sampling
from rlaif.labeling.generator import GeneratorConfig
from rlaif.training.conversations import prompt_response_ids

SYSTEM = "You are a kind assistant."
NOT_A_PREFIX = "tokenized prompt is not a prefix"


def _export(tmp_path):
    """Candidates (with a system message) -> pair labels -> ``rlaif rank`` -> ``rlaif export-dpo``."""
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"id": f"q{i}", "prompt": f"Question number {i}?"} for i in range(2)])
    run = RunOptions(input=str(prompts), output=str(tmp_path / "c.jsonl"), progress=False)
    generate_file(GenerateJob(run=run, generator=GeneratorConfig(sampling=Sampling(n=3), system=SYSTEM)),
                  ScriptedJudge())
    label_file(LabelJob(run=RunOptions(input=str(tmp_path / "c.jsonl"), output=str(tmp_path / "l.jsonl"),
                                       progress=False), pairs="all"), ScriptedJudge())
    assert rlaif_main(["rank", str(tmp_path / "l.jsonl"), "-o", str(tmp_path / "r.jsonl")]) == 0
    for ext in ("jsonl", "parquet"):
        assert rlaif_main(["export-dpo", str(tmp_path / "r.jsonl"), "-o", str(tmp_path / f"d.{ext}"),
                           "--strategy", "best-vs-rest"]) == 0
    rows = read_records(tmp_path / "d.jsonl")
    assert read_records(tmp_path / "d.parquet") == rows
    return rows


def _chat_ids(tok, messages, **kw):
    return tok.apply_chat_template(messages, tokenize=True, return_dict=True, **kw)["input_ids"]


def test_export_dpo_rows_train_in_trl_dpotrainer_with_the_chat_template_boundary(tmp_path, tiny_lm, smol_tokenizer,
                                                                                 caplog):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    rows = _export(tmp_path)
    assert len(rows) == 2 * 2
    for r in rows:  # the conversation the candidates were sampled under, system message included
        assert r["prompt"] == [{"role": "system", "content": SYSTEM},
                               {"role": "user", "content": f"Question number {r['id'][1]}?"}]
        assert r["chosen"] == [{"role": "assistant", "content": "a GOOD reply"}]
        assert r["rejected"][0]["role"] == "assistant" and len(r["rejected"]) == 1
    # the old text rows (prompt + "\n\nAssistant: "): TRL warns, and the prompt's last token is lost
    old = [{"prompt": "User: Question number 0?" + ASSISTANT_TURN, "chosen": "a GOOD reply",
            "rejected": "a BAD reply"}]
    model = copy.deepcopy(tiny_lm).train()
    before = [p.detach().clone() for p in model.parameters()]
    args = DPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=2, max_steps=1, learning_rate=1e-2,
                     max_length=128, logging_steps=1, save_strategy="no", report_to="none", use_cpu=True,
                     disable_tqdm=True)
    with caplog.at_level(logging.WARNING):
        trainer = DPOTrainer(model=model, ref_model=copy.deepcopy(tiny_lm), args=args,
                             train_dataset=Dataset.from_list(rows), eval_dataset=Dataset.from_list(old),
                             processing_class=smol_tokenizer)
    warned = [rec.getMessage() for rec in caplog.records if NOT_A_PREFIX in rec.getMessage()]
    assert len(warned) == 1 and "' '" in warned[0]  # for the old rows only: their trailing space is cut off
    for r, tok_row in zip(rows, trainer.train_dataset):
        prompt_ids = _chat_ids(smol_tokenizer, r["prompt"], add_generation_prompt=True)
        assert tok_row["prompt_ids"] == prompt_ids  # the whole prompt, ending in the assistant turn marker
        assert smol_tokenizer.decode(prompt_ids).endswith("<|im_start|>assistant\n")
        assert prompt_ids + tok_row["chosen_ids"] == _chat_ids(smol_tokenizer, r["prompt"] + r["chosen"])
        assert prompt_ids + tok_row["rejected_ids"] == _chat_ids(smol_tokenizer, r["prompt"] + r["rejected"])
        # our own soft-DPO trainer cuts the same ids
        assert prompt_response_ids(smol_tokenizer, r["prompt"], r["chosen"][0]["content"]) == \
            (tok_row["prompt_ids"], tok_row["chosen_ids"])
    old_row = trainer.eval_dataset[0]
    assert old_row["prompt_ids"] != smol_tokenizer(old[0]["prompt"])["input_ids"]  # the control does fail the check
    out = trainer.train()
    assert math.isfinite(out.training_loss)
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters()))


class HalfScoredJudge(ScriptedJudge):
    """Rates every second item of a call "9"; the others get no score token (the reward is None)."""

    def label_logprobs(self, prompts, labels, continuations=None):
        out = []
        for k in range(0, len(prompts), 2):  # the scorer asks (item, item + "1") in pairs
            if (k // 2) % 2:
                out += [LabelLogprobs({}, "no score token"), LabelLogprobs({}, "no score token")]
            else:
                hit = LabelLogprobs({lab: (-0.1 if lab == "9" else -6.0) for lab in labels})
                out += [hit, LabelLogprobs({lab: -6.0 for lab in labels})]
        return out


def test_grpo_step_with_sync_and_async_judge_rewards_and_unscorable_completions(tmp_path, tiny_lm, smol_tokenizer):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer
    from trl.trainer.utils import is_async_callable

    sync, async_ = JudgeReward(HalfScoredJudge()), AsyncJudgeReward(HalfScoredJudge())
    assert is_async_callable(async_) and not is_async_callable(sync)  # TRL runs the class as async
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": f"Say something nice, {i}."}]} for i in range(4)])
    args = GRPOConfig(output_dir=str(tmp_path / "grpo"), per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=6, max_steps=1, learning_rate=1e-3, logging_steps=1, report_to="none",
                      use_cpu=True, save_strategy="no", bf16=False, beta=0.0, seed=0, disable_tqdm=True)
    torch.manual_seed(0)
    trainer = GRPOTrainer(model=copy.deepcopy(tiny_lm).train(), reward_funcs=[sync, async_], args=args,
                          train_dataset=ds, processing_class=smol_tokenizer)
    assert trainer._has_async_funcs
    trainer.train()
    log = next(h for h in trainer.state.log_history if "reward" in h)
    assert sync.calls >= 1 and async_.calls >= 1
    got = list(sync.cache.values())
    assert list(async_.cache.values()) == got  # both saw the same completions in the same order
    scored = [v for v in got if v is not None]
    assert scored and len(scored) < len(got)  # some completions could not be scored
    r9 = scored[0]
    assert r9 > 0.5 and all(v == pytest.approx(r9) for v in scored)
    # None is NaN to TRL: left out of each function's mean and of the summed reward (not counted as 0)
    assert log["rewards/rlaif_judge_reward/mean"] == pytest.approx(r9, abs=1e-5)
    assert log["rewards/rlaif_judge_reward_async/mean"] == pytest.approx(r9, abs=1e-5)
    assert log["reward"] == pytest.approx(2 * r9, abs=1e-5)
