"""DPO path: export AI-labelled pairs as a conversational TRL preference dataset, and train DPO with a
per-example soft target (``rlaif.training.losses.soft_dpo_loss``), or plain DPO through TRL's DPOTrainer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal, Sequence

import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field
from transformers import Trainer

from rlaif.core.errors import RlaifError
from rlaif.core.prefs import agrees, confidence, sigmoid
from rlaif.training.conversations import dpo_row, prompt_response_ids, row_parts, trl_row
from rlaif.training.losses import soft_dpo_loss


def export_rows(records: Sequence[dict[str, Any]], min_confidence: float = 0.0) -> list[dict[str, Any]]:
    """TRL preference rows oriented by the AI label: chosen = the response with p >= 1/2.

    Rows are conversational (``conversations.dpo_row``): the prompt as messages, chosen and rejected as
    one assistant message each, so TRL renders them with the policy's chat template.

    Keeps rows with a label and confidence |2 p_a - 1| >= ``min_confidence`` (ties are dropped);
    ``p_chosen`` = max(p_a, 1 - p_a) is the soft probability that chosen is better.
    """
    out = []
    for r in records:
        p = r.get("p_a")
        if p is None or p == 0.5 or confidence(p) < min_confidence:
            continue
        a_wins = p > 0.5
        chosen, rejected = (r["response_a"], r["response_b"]) if a_wins else (r["response_b"], r["response_a"])
        out.append({**dpo_row(r, chosen, rejected), "p_chosen": max(p, 1 - p),
                    "id": r.get("id"), "judge": r.get("judge"), "constitution": r.get("constitution"),
                    "template": r.get("template"),
                    "human_agrees": agrees(p, r.get("human_label"))})
    return out


STRATEGIES = ("best-worst", "best-vs-rest", "all-pairs")


def ranked_pairs(scores: Sequence[float], strategy: str) -> list[tuple[int, int]]:
    """(chosen, rejected) candidate indices of one ranked prompt: best-worst (one pair), best-vs-rest (n-1),
    all-pairs (every pair with different scores, the higher one chosen). Unscored (None) candidates and
    tied scores give no pair."""
    order = sorted((i for i, v in enumerate(scores) if v is not None), key=lambda i: -scores[i])
    if len(order) < 2:
        return []
    if strategy == "best-worst":
        cand = [(order[0], order[-1])]
    elif strategy == "best-vs-rest":
        cand = [(order[0], j) for j in order[1:]]
    else:
        cand = [(order[a], order[b]) for a in range(len(order)) for b in range(a + 1, len(order))]
    return [(i, j) for i, j in cand if scores[i] > scores[j]]


def export_ranked_rows(ranked: Sequence[dict[str, Any]], strategy: str = "best-worst",
                       min_margin: float = 0.0) -> list[dict[str, Any]]:
    """TRL preference rows from ``rlaif rank`` output. The margin is s_chosen − s_rejected in the ranking's
    units (Bradley-Terry logits, or points of the 1-10 score); ``p_chosen`` = σ(margin), which for BT scores
    is the model's own P(chosen preferred). Pairs below ``min_margin`` or with identical texts are dropped.
    The prompt is the candidates' ``messages`` when the ranking kept them."""
    out = []
    for r in ranked:
        scores, resp = r["scores"], r["responses"]
        for i, j in ranked_pairs(scores, strategy):
            margin = scores[i] - scores[j]
            if margin < min_margin or resp[i] is None or resp[j] is None or resp[i].strip() == resp[j].strip():
                continue
            out.append({**dpo_row(r, resp[i], resp[j]), "p_chosen": sigmoid(margin), "id": f"{r['id']}:{i}>{j}",
                        "judge": r.get("judge"), "constitution": r.get("constitution"), "template": r.get("template"),
                        "human_agrees": None, "margin": margin})
    return out


class DPOConfig(BaseModel):
    loss: Literal["soft", "hard", "trl"] = Field("soft", description="soft: per-example target p_chosen; hard: "
                                                 "p = 1 (plain DPO, same trainer); trl: plain DPO through TRL's DPOTrainer.")
    beta: float = Field(0.1, gt=0, description="DPO temperature β.")
    epochs: float = Field(1.0, gt=0, description="Training epochs.")
    lr: float = Field(5e-5, gt=0, description="Learning rate.")
    batch_size: int = Field(4, ge=1, description="Pairs per device batch.")
    max_length: int = Field(384, ge=16, description="Prompt + response tokens (prompt cut from the left).")
    lora: bool = Field(False, description="Train a LoRA adapter; the reference is the base with the adapter off.")
    seed: int = Field(0, description="Training seed.")


def _sequences(tok: Any, prompts: list, responses: list[str], max_length: int):
    """Right-padded prompt+response ids (as TRL's DPOTrainer cuts them) and a mask over response tokens only."""
    ids, masks = [], []
    for p, r in zip(prompts, responses):
        pi, ri = prompt_response_ids(tok, p, r)
        ri = ri[: max_length - 1]
        pi = pi[-(max_length - len(ri)):]
        ids.append(pi + ri)
        masks.append([0] * len(pi) + [1] * len(ri))
    width = max(map(len, ids))
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
    attn = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
    resp = torch.tensor([m + [0] * (width - len(m)) for m in masks])
    return input_ids, attn, resp


def sequence_logps(model: Any, input_ids: torch.Tensor, attn: torch.Tensor, resp: torch.Tensor) -> torch.Tensor:
    """Σ log π(response tokens | prefix). Shapes: (B, T) ids/masks -> (B,)."""
    logits = model(input_ids=input_ids, attention_mask=attn).logits[:, :-1]
    lp = torch.gather(F.log_softmax(logits.float(), -1), 2, input_ids[:, 1:, None])[..., 0]
    return (lp * resp[:, 1:]).sum(-1)


def reference_logps(model: Any, ref_model: Any, input_ids: torch.Tensor, attn: torch.Tensor,
                    resp: torch.Tensor) -> torch.Tensor:
    """Σ log π_ref(response | prefix), no gradient: the frozen ``ref_model``, or with ``ref_model=None``
    the LoRA base (``model`` with its adapter disabled, as TRL does). (B, T) -> (B,)."""
    with torch.no_grad():
        if ref_model is not None:
            return sequence_logps(ref_model, input_ids, attn, resp)
        with model.disable_adapter():
            return sequence_logps(model, input_ids, attn, resp)


def reward_margins(pol: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Implicit DPO reward margins Δ = (log π - log π_ref)(chosen) - (log π - log π_ref)(rejected), for
    batches laid out chosen rows first, then rejected rows. (2B,), (2B,) -> (B,)."""
    n = pol.shape[0] // 2
    return (pol[:n] - ref[:n]) - (pol[n:] - ref[n:])


class SoftDPOCollator:
    def __init__(self, tok: Any, max_length: int):
        self.tok, self.max_length = tok, max_length

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        parts = [row_parts(r) for r in rows]
        ids, attn, resp = _sequences(self.tok, [p[0] for p in parts] * 2,
                                     [p[1] for p in parts] + [p[2] for p in parts], self.max_length)
        return {"input_ids": ids, "attention_mask": attn, "response_mask": resp,
                "p": torch.tensor([r["p_chosen"] for r in rows], dtype=torch.float32)}


class SoftDPOTrainer(Trainer):
    """``Trainer`` with the soft-target DPO loss; chosen and rejected go through one forward pass."""

    def __init__(self, *args: Any, ref_model: Any = None, beta: float = 0.1, hard: bool = False, **kw: Any):
        super().__init__(*args, **kw)
        self.ref_model, self.beta, self.hard = ref_model, beta, hard
        self.reward_acc: list[float] = []

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        ids, attn, resp = inputs["input_ids"], inputs["attention_mask"], inputs["response_mask"]
        pol = sequence_logps(model, ids, attn, resp)
        ref = reference_logps(model, self.ref_model, ids, attn, resp)
        n = ids.shape[0] // 2
        p = torch.ones_like(inputs["p"]) if self.hard else inputs["p"]
        loss = soft_dpo_loss(pol[:n], pol[n:], ref[:n], ref[n:], p, self.beta).mean()
        margin = reward_margins(pol, ref)
        self.reward_acc.append(float((margin > 0).float().mean()))
        return (loss, margin) if return_outputs else loss


def implicit_reward_accuracy(model: Any, ref_model: Any, tok: Any, rows: Sequence[dict[str, Any]],
                             max_length: int = 384) -> float:
    """Share of pairs whose implicit DPO reward margin β·Δ favours chosen (β does not change the sign)."""
    coll = SoftDPOCollator(tok, max_length)
    hits = 0
    for s in range(0, len(rows), 8):
        b = coll(list(rows[s:s + 8]))
        seqs = (b["input_ids"], b["attention_mask"], b["response_mask"])
        with torch.no_grad():
            pol = sequence_logps(model, *seqs)
        hits += int((reward_margins(pol, reference_logps(model, ref_model, *seqs)) > 0).sum())
    return hits / len(rows)


def train_dpo(rows: Sequence[dict[str, Any]], model: Any, tok: Any, out_dir: str | Path,
              cfg: DPOConfig | None = None) -> dict[str, Any]:
    """Train the policy on exported rows; the reference is a frozen copy (or the base under LoRA)."""
    import copy

    from datasets import Dataset
    from transformers import TrainingArguments

    cfg = cfg or DPOConfig()
    if not rows:
        raise RlaifError("no preference rows to train on")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    ref = None
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, target_modules="all-linear"))
    else:
        ref = copy.deepcopy(model).eval()
        for prm in ref.parameters():
            prm.requires_grad_(False)
    before = implicit_reward_accuracy(model, ref, tok, rows, cfg.max_length)
    if cfg.loss == "trl":
        trainer = _trl_trainer(rows, model, ref, tok, out_dir, cfg)
    else:
        args = TrainingArguments(output_dir=str(out_dir), per_device_train_batch_size=cfg.batch_size,
                                 num_train_epochs=cfg.epochs, learning_rate=cfg.lr, logging_steps=1,
                                 save_strategy="no", report_to="none", remove_unused_columns=False, seed=cfg.seed,
                                 use_cpu=not torch.cuda.is_available(), disable_tqdm=not sys.stderr.isatty())
        trainer = SoftDPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(list(rows)),
                                 data_collator=SoftDPOCollator(tok, cfg.max_length), ref_model=ref, beta=cfg.beta,
                                 hard=cfg.loss == "hard")
    trainer.train()
    after = implicit_reward_accuracy(trainer.model, ref, tok, rows, cfg.max_length)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    trainer.model.save_pretrained(str(out_dir))
    tok.save_pretrained(str(out_dir))
    return {"implicit_reward_accuracy_before": before, "implicit_reward_accuracy_after": after,
            "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
            "pairs": len(rows), "loss": cfg.loss}


def _trl_trainer(rows, model, ref, tok, out_dir, cfg: DPOConfig):
    """Plain (hard-label) DPO with TRL's own DPOTrainer, for comparison with the soft path."""
    from datasets import Dataset
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    data = Dataset.from_list([trl_row(tok, r) for r in rows])
    args = TRLDPOConfig(output_dir=str(out_dir), per_device_train_batch_size=cfg.batch_size,
                        num_train_epochs=cfg.epochs, learning_rate=cfg.lr, beta=cfg.beta, max_length=cfg.max_length,
                        logging_steps=1, save_strategy="no", report_to="none", seed=cfg.seed,
                        use_cpu=not torch.cuda.is_available(), disable_tqdm=not sys.stderr.isatty())
    return DPOTrainer(model=model, ref_model=copy_or_none(ref), args=args, train_dataset=data, processing_class=tok)


def copy_or_none(ref: Any) -> Any:
    """TRL's reference model: a copy of our frozen one (TRL prepares it itself), or None under LoRA."""
    import copy

    return None if ref is None else copy.deepcopy(ref)
