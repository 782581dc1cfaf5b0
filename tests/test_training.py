"""Soft labels to training: losses, the distilled reward model and soft-target DPO on tiny in-process models."""

import copy
import re
import random

import pytest
import torch
import torch.nn.functional as F

from rlaif.training.dpo import DPOConfig, export_rows, implicit_reward_accuracy, train_dpo
from rlaif.training.losses import soft_bt_loss, soft_dpo_loss
from rlaif.training.reward_model import RewardModelScorer, RMConfig, train_reward_model, training_pairs


def test_soft_loss_reduces_to_hard_and_is_symmetric():
    r_a, r_b = torch.randn(16), torch.randn(16)
    assert torch.allclose(soft_bt_loss(r_a, r_b, torch.ones(16)), -F.logsigmoid(r_a - r_b))
    assert torch.allclose(soft_bt_loss(r_a, r_b, torch.zeros(16)), -F.logsigmoid(r_b - r_a))
    p = torch.rand(16)
    assert torch.allclose(soft_bt_loss(r_a, r_b, p), soft_bt_loss(r_b, r_a, 1 - p))
    # DPO: p = 1 is the standard sigmoid DPO loss -log σ(βΔ)
    pa, pb, ra, rb = torch.randn(4, 16)
    delta = (pa - ra) - (pb - rb)
    assert torch.allclose(soft_dpo_loss(pa, pb, ra, rb, torch.ones(16), 0.1), -F.logsigmoid(0.1 * delta))
    assert torch.allclose(soft_dpo_loss(pa, pb, ra, rb, p, 0.1), soft_dpo_loss(pb, pa, rb, ra, 1 - p, 0.1))
    # a 0.55 and a 0.98 do not train the same: the optimum margin is logit(p)
    d = torch.linspace(-6, 6, 2001)
    for target in (0.55, 0.98):
        best = d[soft_bt_loss(d, torch.zeros_like(d), torch.full_like(d, target)).argmin()]
        assert float(best) == pytest.approx(float(torch.logit(torch.tensor(target))), abs=0.01)


def synthetic_records(n=40, seed=0):
    rng = random.Random(seed)
    good = ["This is a great and kind answer.", "A great, helpful and kind reply."]
    bad = ["This is an awful rude answer.", "An awful, rude and useless reply."]
    recs = []
    for i in range(n):
        a_good = rng.random() < 0.5
        g, b = rng.choice(good), rng.choice(bad)
        p = rng.choice([0.9, 0.75, 0.6])
        recs.append({"id": str(i), "prompt": f"User: question {i}", "response_a": g if a_good else b,
                     "response_b": b if a_good else g, "p_a": p if a_good else 1 - p,
                     "human_label": 1.0 if a_good else 0.0, "judge": "j", "constitution": "c", "template": "t"})
    return recs


@pytest.fixture
def tiny_cls(smol_tokenizer):
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(smol_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, num_labels=1, pad_token_id=smol_tokenizer.pad_token_id)
    return LlamaForSequenceClassification(cfg)


def test_reward_model_trains_saves_and_reloads(tiny_cls, smol_tokenizer, tmp_path):
    recs = synthetic_records()
    assert len(training_pairs(recs, "ai", min_confidence=0.4)) < len(recs)  # filtering drops the 0.6/0.4 pairs
    m = train_reward_model(recs, "unused", tmp_path / "rm", RMConfig(epochs=8, lr=3e-3, eval_fraction=0.25, batch_size=8),
                           model=tiny_cls, tokenizer=smol_tokenizer)
    assert m["train_loss"] < m["train_before_loss"]
    assert m["train_pair_accuracy"] >= 0.8 and m["eval_pair_accuracy"] >= 0.7
    scorer = RewardModelScorer(tmp_path / "rm")
    s = scorer.scores(["User: q", "User: q"], ["A great, helpful and kind reply.", "An awful, rude and useless reply."])
    assert s[0] > s[1]
    assert scorer(prompts=["User: q"], completions=[[{"role": "assistant", "content": "A great, helpful and kind reply."}]]) \
        == pytest.approx([s[0]], abs=1e-5)


def test_export_dpo_orients_and_filters():
    recs = [{"id": "1", "prompt": "p", "response_a": "A", "response_b": "B", "p_a": 0.8, "human_label": 0.0},
            {"id": "2", "prompt": "p", "response_a": "A", "response_b": "B", "p_a": 0.3, "human_label": 0.0},
            {"id": "3", "prompt": "p", "response_a": "A", "response_b": "B", "p_a": 0.55, "human_label": None},
            {"id": "4", "prompt": "p", "response_a": "A", "response_b": "B", "p_a": None, "human_label": 1.0},
            {"id": "5", "prompt": "p", "response_a": "A", "response_b": "B", "p_a": 0.5, "human_label": 1.0}]
    rows = export_rows(recs, min_confidence=0.2)
    assert [(r["id"], r["chosen"], r["rejected"]) for r in rows] == [
        ("1", [{"role": "assistant", "content": "A"}], [{"role": "assistant", "content": "B"}]),
        ("2", [{"role": "assistant", "content": "B"}], [{"role": "assistant", "content": "A"}])]
    assert rows[0]["prompt"] == [{"role": "user", "content": "p"}]
    assert rows[0]["p_chosen"] == 0.8 and rows[1]["p_chosen"] == pytest.approx(0.7)
    assert rows[0]["human_agrees"] is False and rows[1]["human_agrees"] is True
    assert [r["id"] for r in export_rows(recs)] == ["1", "2", "3"]


@pytest.mark.parametrize("loss", ["soft", "hard", "trl"])
def test_soft_dpo_runs_and_implicit_reward_accuracy_rises(tiny_lm, smol_tokenizer, tmp_path, loss):
    rows = export_rows(synthetic_records(16))
    policy = copy.deepcopy(tiny_lm)
    m = train_dpo(rows, policy, smol_tokenizer, tmp_path / loss,
                  DPOConfig(loss=loss, beta=0.5, epochs=6, lr=3e-3, batch_size=8))
    assert m["implicit_reward_accuracy_before"] == pytest.approx(0.5, abs=0.5)
    assert m["implicit_reward_accuracy_after"] > max(0.75, m["implicit_reward_accuracy_before"])
    assert m["last_loss"] < m["first_loss"]
    from transformers import AutoModelForCausalLM

    again = AutoModelForCausalLM.from_pretrained(str(tmp_path / loss))
    assert implicit_reward_accuracy(again, tiny_lm, smol_tokenizer, rows) == m["implicit_reward_accuracy_after"]


def test_reward_model_accuracy_vs_humans(tiny_cls, smol_tokenizer, tmp_path):
    recs = synthetic_records()
    train_reward_model(recs, "unused", tmp_path / "rm", RMConfig(epochs=8, lr=3e-3, eval_fraction=0.0, batch_size=8),
                       model=tiny_cls, tokenizer=smol_tokenizer)
    acc, (lo, hi) = RewardModelScorer(tmp_path / "rm").accuracy_vs_humans(recs)
    assert acc >= 0.8 and lo <= acc <= hi
    flipped = [{**r, "human_label": 1 - r["human_label"]} for r in recs]
    assert RewardModelScorer(tmp_path / "rm").accuracy_vs_humans(flipped)[0] == pytest.approx(1 - acc)


def test_dpo_rows_are_conversations_and_older_text_rows_still_train(smol_tokenizer):
    from rlaif.core.schema import check_dpo_row
    from rlaif.core.text import flatten_messages, prompt_messages
    from rlaif.training.conversations import prompt_response_ids, row_parts, trl_row

    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
             {"role": "user", "content": "and now?"}]
    assert prompt_messages(flatten_messages(turns)) == turns  # a flattened conversation gets its turns back
    assert prompt_messages("Summarise:\n\nAssistant: x") == [{"role": "user", "content": "Summarise:\n\nAssistant: x"}]
    assert prompt_messages("User: a\n\nAssistant: b") == [{"role": "user", "content": "User: a\n\nAssistant: b"}]
    row = export_rows([{"id": "1", "prompt": flatten_messages(turns), "response_a": "Sure.", "response_b": "No.",
                        "p_a": 0.9, "human_label": None}])[0]
    assert row["prompt"] == turns and row["chosen"] == [{"role": "assistant", "content": "Sure."}]
    check_dpo_row(row, "d.jsonl:1")
    text_row = {"prompt": "User: q", "chosen": "yes", "rejected": "no", "p_chosen": 0.8}  # an older export
    check_dpo_row(text_row, "d.jsonl:2")
    assert row_parts(text_row) == ([{"role": "user", "content": "q"}], "yes", "no")
    for bad, msg in [({**row, "prompt": turns[:2]}, "field 'prompt' must end with a user turn"),
                     ({**row, "chosen": [{"role": "assistant", "content": " "}]}, "field 'chosen[0].content'"),
                     ({**row, "rejected": 3}, "field 'rejected' must be a list of chat messages or a string")]:
        with pytest.raises(ValueError, match=re.escape(f"d.jsonl:3: {msg}")):
            check_dpo_row(bad, "d.jsonl:3")
    # a tokenizer without a chat template: "...Assistant:" then " response", cut on a token boundary
    plain = copy.deepcopy(smol_tokenizer)
    plain.chat_template = None
    t = trl_row(plain, row)
    assert t["prompt"].endswith("User: and now?\n\nAssistant:") and t["chosen"] == " Sure."
    p_ids, r_ids = prompt_response_ids(plain, turns, "Sure.")
    assert p_ids == plain(t["prompt"])["input_ids"] and plain.decode(r_ids) == " Sure." + plain.eos_token
