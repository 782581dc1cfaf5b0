"""Distilled reward model: a one-scalar ``AutoModelForSequenceClassification`` trained on soft labels
with the soft Bradley-Terry loss (``rlaif.training.losses.soft_bt_loss``) through ``transformers.Trainer``
(checkpointing, logging, eval; LoRA through peft as an option)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import torch
from pydantic import BaseModel, Field
from transformers import Trainer

from rlaif.core.errors import RlaifError
from rlaif.core.prefs import confidence
from rlaif.core.text import as_text, policy_text
from rlaif.training.losses import soft_bt_loss


class RMConfig(BaseModel):
    label_source: Literal["ai", "human"] = Field("ai", description="Train on AI soft labels (p_a) or human hard labels.")
    min_confidence: float = Field(0.0, ge=0, le=1, description="Keep AI pairs with |2 p_a - 1| >= this.")
    eval_fraction: float = Field(0.2, ge=0, lt=1, description="Share of pairs held out for evaluation.")
    max_length: int = Field(384, ge=16, description="Tokens per prompt+response (the prompt is cut from the left).")
    epochs: float = Field(2.0, gt=0, description="Training epochs.")
    lr: float = Field(5e-5, gt=0, description="Learning rate.")
    batch_size: int = Field(8, ge=1, description="Pairs per device batch.")
    lora: bool = Field(False, description="Train a LoRA adapter (peft) instead of all weights.")
    seed: int = Field(0, description="Split and training seed.")


def training_pairs(records: Sequence[dict[str, Any]], source: str, min_confidence: float = 0.0) -> list[dict[str, Any]]:
    """(prompt, a, b, p) rows: p = AI soft label, or the human label; unusable rows are dropped."""
    out = []
    for r in records:
        p = r.get("p_a") if source == "ai" else r.get("human_label")
        if p is None or (source == "ai" and confidence(p) < min_confidence):
            continue
        out.append({"prompt": r["prompt"], "a": r["response_a"], "b": r["response_b"], "p": float(p),
                    "human_label": r.get("human_label")})
    return out


def load_base(base: str, num_labels: int = 1):
    """Tokenizer and one-scalar sequence classifier from a local directory or GGUF file (no downloads)."""
    from transformers import AutoModelForSequenceClassification

    from rlaif.training.models import load_trainable

    return load_trainable(AutoModelForSequenceClassification, base, num_labels=num_labels)


class PairCollator:
    """Tokenises both responses of each pair (left truncation keeps the response) and pads them."""

    def __init__(self, tokenizer: Any, max_length: int):
        self.tok, self.max_length = tokenizer, max_length
        self.tok.truncation_side = "left"

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        enc = {}
        for side in ("a", "b"):
            e = self.tok([policy_text(r["prompt"], r[side]) for r in rows], truncation=True, max_length=self.max_length,
                         padding=True, return_tensors="pt")
            enc[f"input_ids_{side}"], enc[f"attention_mask_{side}"] = e["input_ids"], e["attention_mask"]
        enc["p"] = torch.tensor([r["p"] for r in rows], dtype=torch.float32)
        return enc


class SoftRewardTrainer(Trainer):
    """``Trainer`` whose loss is the soft Bradley-Terry cross-entropy over (a, b) pairs."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        r_a = model(input_ids=inputs["input_ids_a"], attention_mask=inputs["attention_mask_a"]).logits[:, 0]
        r_b = model(input_ids=inputs["input_ids_b"], attention_mask=inputs["attention_mask_b"]).logits[:, 0]
        loss = soft_bt_loss(r_a, r_b, inputs["p"]).mean()
        return (loss, torch.stack([r_a, r_b], -1)) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss, out = self.compute_loss(model, inputs, return_outputs=True)
        return loss.detach(), out.detach(), inputs["p"]


def pair_accuracy(eval_pred) -> dict[str, float]:
    """Fraction of pairs where the reward model ranks a above b exactly when the label says p > 1/2."""
    scores, p = eval_pred
    d = scores[:, 0] - scores[:, 1]
    keep = p != 0.5
    return {"pair_accuracy": float(((d[keep] > 0) == (p[keep] > 0.5)).mean()) if keep.any() else float("nan")}


def train_reward_model(records: Sequence[dict[str, Any]], base: str, out_dir: str | Path,
                       cfg: RMConfig | None = None, model=None, tokenizer=None) -> dict[str, Any]:
    """Train and save a reward model; returns metrics (train/eval pair accuracy, losses, sizes)."""
    from datasets import Dataset
    from transformers import TrainingArguments

    cfg = cfg or RMConfig()
    pairs = training_pairs(records, cfg.label_source, cfg.min_confidence)
    if len(pairs) < 2:
        raise RlaifError(f"only {len(pairs)} usable pairs for label source '{cfg.label_source}'")
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(pairs))
    n_eval = int(round(cfg.eval_fraction * len(pairs)))
    train = [pairs[i] for i in order[n_eval:]]
    evals = [pairs[i] for i in order[:n_eval]]
    if model is None:
        tokenizer, model = load_base(base)
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, target_modules="all-linear"))
    args = TrainingArguments(output_dir=str(out_dir), per_device_train_batch_size=cfg.batch_size,
                             per_device_eval_batch_size=cfg.batch_size, num_train_epochs=cfg.epochs,
                             learning_rate=cfg.lr, logging_steps=5, eval_strategy="epoch" if evals else "no",
                             save_strategy="no", report_to="none", remove_unused_columns=False, seed=cfg.seed,
                             use_cpu=not torch.cuda.is_available(), disable_tqdm=not sys.stderr.isatty())
    trainer = SoftRewardTrainer(model=model, args=args, train_dataset=Dataset.from_list(train),
                                eval_dataset=Dataset.from_list(evals) if evals else None,
                                data_collator=PairCollator(tokenizer, cfg.max_length), compute_metrics=pair_accuracy)
    before = trainer.evaluate(Dataset.from_list(train), metric_key_prefix="train_before")
    trainer.train()
    after = trainer.evaluate(Dataset.from_list(train), metric_key_prefix="train")
    metrics = {**before, **after, "train_pairs": len(train), "eval_pairs": len(evals), "label_source": cfg.label_source}
    if evals:
        metrics.update(trainer.evaluate())
    final = trainer.model.merge_and_unload() if cfg.lora else trainer.model
    final.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    (Path(out_dir) / "rlaif_rm.json").write_text(RMConfig.model_validate(cfg).model_dump_json(indent=2))
    return metrics


class RewardModelScorer:
    """A saved reward model: ``scores(prompts, responses)`` and TRL's reward-function contract."""

    __name__ = "rlaif_reward_model"

    def __init__(self, model_dir: str | Path, max_length: int = 384, batch_size: int = 16):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if not (Path(model_dir) / "config.json").is_file():
            raise RlaifError(f"{model_dir}: not a reward model directory (no config.json; make one with 'rlaif train-rm')")
        self.tok = AutoTokenizer.from_pretrained(str(model_dir))
        self.tok.truncation_side = "left"
        self.model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
        self.max_length, self.batch_size = max_length, batch_size

    @torch.no_grad()
    def scores(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        out: list[float] = []
        texts = [policy_text(p, r) for p, r in zip(prompts, responses)]
        for s in range(0, len(texts), self.batch_size):
            e = self.tok(texts[s:s + self.batch_size], truncation=True, max_length=self.max_length, padding=True,
                         return_tensors="pt")
            out.extend(self.model(**e).logits[:, 0].tolist())
        return out

    def accuracy_vs_humans(self, records: Sequence[dict[str, Any]]) -> tuple[float, tuple[float, float]]:
        """Pairwise accuracy (ties count half) against ``human_label``, with a bootstrap 95% interval."""
        from rlaif.evaluation import metrics as M

        prompts = [r["prompt"] for r in records]
        ra = np.array(self.scores(prompts, [r["response_a"] for r in records]))
        rb = np.array(self.scores(prompts, [r["response_b"] for r in records]))
        p = np.where(ra == rb, 0.5, (ra > rb).astype(float))
        y = np.array([float(r["human_label"]) for r in records])
        return M.accuracy(p, y), M.bootstrap_ci(M.accuracy, p, y)

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        return self.scores([as_text(p) for p in prompts], [as_text(c) for c in completions])
