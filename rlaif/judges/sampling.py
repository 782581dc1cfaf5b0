"""Sampled generation (a judge's model used as a policy): the settings, a per-prompt seed that does not
depend on batching, and the pure sampling step (temperature, then nucleus top-p; Holtzman et al. 2020)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
from pydantic import BaseModel, Field


class Sampling(BaseModel):
    """How candidates are sampled from a policy."""

    n: int = Field(4, ge=1, description="Responses sampled per prompt.")
    temperature: float = Field(0.8, ge=0, description="Softmax temperature; 0 is greedy (then all n are equal).")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling: keep the most likely tokens whose "
                         "probabilities sum to top_p.")
    max_new_tokens: int = Field(256, ge=1, description="Longest response, in tokens.")
    seed: int = Field(0, description="Base seed; each prompt's seed is derived from it and the prompt text.")


def request_n(sampling: Sampling) -> int:
    """Replies to ask an engine for: greedy decoding (T = 0) gives n equal replies, so one is asked for
    and repeated (``repeat_greedy``); vLLM rejects ``n > 1`` at temperature 0."""
    return 1 if sampling.temperature == 0 else sampling.n


def repeat_greedy(texts: list[str], sampling: Sampling) -> list[str]:
    """The n replies of one prompt from what ``request_n`` asked for."""
    return texts * sampling.n if sampling.temperature == 0 and len(texts) == 1 else texts


def prompt_seed(seed: int, messages: Any, k: int = 0) -> int:
    """A 63-bit seed for sample ``k`` of one prompt: the same for the same prompt on every run, whatever
    chunk or batch the prompt falls in, so a resumed or re-run job samples the same responses."""
    blob = json.dumps([seed, k, messages], sort_keys=True, ensure_ascii=False).encode("utf-8")
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big") >> 1


def nucleus(logits: np.ndarray, temperature: float, top_p: float) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, probabilities) to draw from: p = softmax(logits / T), then the smallest set of the most
    likely tokens whose mass reaches ``top_p``, renormalised. T = 0 keeps the argmax alone."""
    if temperature == 0:
        return np.array([int(np.argmax(logits))]), np.array([1.0])
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    keep = int(np.searchsorted(np.cumsum(p[order]), top_p - 1e-12)) + 1  # tolerance: mass summed in floats
    ids = order[:keep]
    return ids, p[ids] / p[ids].sum()


def sample_token(logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator) -> int:
    """One token drawn from ``nucleus(logits, temperature, top_p)`` with ``rng``."""
    return draw(*nucleus(logits, temperature, top_p), rng)


def draw(ids: np.ndarray, probs: np.ndarray, rng: np.random.Generator) -> int:
    """One token of a nucleus (``nucleus``'s ids and probabilities) drawn with ``rng``: several draws from one
    distribution need its nucleus once."""
    return int(ids[0]) if len(ids) == 1 else int(rng.choice(ids, p=probs))
