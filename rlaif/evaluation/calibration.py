"""Temperature (and optional bias) scaling of soft labels, fitted on human-labelled pairs.

p' = sigmoid((logit(p) + b) / T)  (Platt/temperature scaling, Guo et al. 2017), fitted by
minimising the log loss on a fit split; evaluated on the held-out split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, Field

from rlaif.evaluation import metrics as M
from rlaif.core.errors import RlaifError

EPS = 1e-6


class Calibration(BaseModel):
    temperature: float = Field(1.0, gt=0, description="Divides the logit; > 1 softens over-confident labels.")
    bias: float = Field(0.0, description="Added to the logit before scaling (shifts toward a or b).")
    judge: str = Field("", description="Judge the calibration was fitted for.")
    fitted_on: int = Field(0, description="Number of human-labelled pairs used to fit.")

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "Calibration":
        try:
            return cls.model_validate_json(Path(path).read_text())
        except FileNotFoundError:
            raise RlaifError(f"{path}: no such calibration file") from None
        except ValueError as e:
            raise RlaifError(f"{path}: not a calibration file ({str(e).splitlines()[0]})") from None


def apply(p: torch.Tensor, temperature: torch.Tensor | float, bias: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Calibrated probabilities sigmoid((logit(p) + bias) / temperature). Shapes (...,) -> (...,); NaN stays NaN."""
    q = p.clamp(EPS, 1 - EPS)
    return torch.sigmoid((torch.log(q) - torch.log1p(-q) + bias) / temperature)


def fit(p: np.ndarray, y: np.ndarray, with_bias: bool = False) -> tuple[float, float]:
    """Fit temperature (and bias) by L-BFGS on the binary log loss; returns (T, b)."""
    pt, yt = torch.tensor(p, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=with_bias)
    opt = torch.optim.LBFGS([log_t] + ([b] if with_bias else []), lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        q = apply(pt, log_t.exp(), b).clamp(1e-12, 1 - 1e-12)
        loss = -(yt * q.log() + (1 - yt) * (1 - q).log()).mean()
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp()), float(b.detach())


def fit_and_evaluate(records: list[dict[str, Any]], fit_fraction: float = 0.5, seed: int = 0,
                     with_bias: bool = False) -> tuple[Calibration, dict[str, Any]]:
    """Split labelled human rows at random, fit on one part, report metrics before/after on the other."""
    rows = [r for r in records if r.get("human_label") in (0, 1) and r.get("p_a") is not None]
    if len(rows) < 10:
        raise RlaifError(f"calibration needs at least 10 labelled rows with human labels, got {len(rows)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    k = max(1, int(round(fit_fraction * len(rows))))
    fit_rows, test_rows = [rows[i] for i in order[:k]], [rows[i] for i in order[k:]]
    p_fit = np.array([r["p_a"] for r in fit_rows]); y_fit = np.array([float(r["human_label"]) for r in fit_rows])
    t, b = fit(p_fit, y_fit, with_bias)
    cal = Calibration(temperature=t, bias=b, judge=str(rows[0].get("judge", "")), fitted_on=len(fit_rows))
    p_te = np.array([r["p_a"] for r in test_rows]); y_te = np.array([float(r["human_label"]) for r in test_rows])
    q_te = apply(torch.tensor(p_te), t, b).numpy()
    report = {"fit_rows": len(fit_rows), "held_out_rows": len(test_rows), "temperature": t, "bias": b,
              "before": {"ece": M.ece(p_te, y_te), "log_loss": M.log_loss(p_te, y_te), "brier": M.brier(p_te, y_te),
                         "accuracy": M.accuracy(p_te, y_te)},
              "after": {"ece": M.ece(q_te, y_te), "log_loss": M.log_loss(q_te, y_te), "brier": M.brier(q_te, y_te),
                        "accuracy": M.accuracy(q_te, y_te)}}
    return cal, report


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2)
