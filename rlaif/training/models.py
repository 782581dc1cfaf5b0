"""Loading local models for training (never from a hub): directories, or GGUF files dequantised by
transformers. A GGUF-loaded model is plain fp32 weights but still carries a GGUF quantisation marker
that makes ``Trainer`` refuse it; ``load_trainable`` rebuilds it as an ordinary model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rlaif.core.errors import RlaifError


def resolve(base: str) -> tuple[str, dict[str, Any]]:
    """(directory, from_pretrained kwargs) for a local dir, a GGUF file, or 'embedded'."""
    if base == "embedded":
        from rlaif.judges import embedded_gguf

        base = str(embedded_gguf())
    p = Path(base)
    if not p.exists():
        raise RlaifError(f"base model {base}: not a local directory or GGUF file (nothing is downloaded)")
    if p.suffix == ".gguf":
        return str(p.parent), {"gguf_file": p.name}
    return str(p), {}


def load_trainable(auto_cls: Any, base: str, **kw: Any) -> tuple[Any, Any]:
    """Tokenizer and fp32 model of class ``auto_cls`` (e.g. AutoModelForCausalLM) ready for training."""
    from transformers import AutoTokenizer

    path, extra = resolve(base)
    tok = AutoTokenizer.from_pretrained(path, **extra)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = auto_cls.from_pretrained(path, dtype=torch.float32, **extra, **kw)
    if getattr(model, "hf_quantizer", None) is not None and "gguf_file" in extra:
        cfg = model.config
        if hasattr(cfg, "quantization_config"):
            del cfg.quantization_config
        plain = auto_cls.from_config(cfg, dtype=torch.float32)
        plain.load_state_dict(model.state_dict())
        model = plain
    model.config.pad_token_id = tok.pad_token_id
    return tok, model
