"""transformers backend: any causal LM on CPU or GPU, batched with left padding and attention masks, a shared
prefix's KV cache reused across the prompts that share it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Sequence

import torch
from pydantic import BaseModel, Field

from rlaif.core.errors import RlaifError
from rlaif.judges.base import LabelLogprobs, Messages, Usage
from rlaif.judges.chat import label_token_ids, render_chat
from rlaif.judges.embedded import model_path
from rlaif.judges.gguf_weights import cache_dir, converted_name
from rlaif.judges.prefix_units import common_prefix, prefix_units
from rlaif.judges.registry import JudgeKind
from rlaif.judges.sampling import Sampling, prompt_seed
from rlaif.judges.thinking import Reasoning, Thought, from_generated, opening_for, think_format


class HFJudge:
    """Judge on a ``transformers`` causal LM.

    Build it from a local model directory (``HFJudge.from_pretrained``; a GGUF file loads through
    ``gguf_file=``, its dense weights cached after the first load: ``load_gguf_cached``) or from an in-memory
    model and tokenizer (tests build tiny random models). Prompts are batched in order of length
    (``length_batches``; ``max_padding`` caps a batch's padding, off by default: in bf16 it moves labels). With
    ``reuse_prefix``, prompts that share a prefix (a pair's two orders) evaluate it once and their suffixes
    continue from its KV cache, as one left-padded batch; without it, prompts are evaluated whole in batches.
    ``compile`` runs the model through ``torch.compile`` (README *Throughput*: ~1.4x on an AMX CPU in bf16).
    """

    def __init__(self, model: Any, tokenizer: Any, judge_id: str, batch_size: int = 8,
                 context_length: int | None = None, reuse_prefix: bool = False, max_padding: float = 1.0,
                 compile: bool = False):
        self.model = model.eval()
        if compile:  # fused kernels (torch inductor); shapes vary per batch, so one graph with dynamic shapes
            self.model.forward = torch.compile(self.model.forward, dynamic=True)
        self.tok = tokenizer
        self.judge_id = judge_id
        self.batch_size = batch_size
        self.reuse_prefix = reuse_prefix
        self.max_padding = max_padding
        self.context_length = context_length or getattr(model.config, "max_position_embeddings", None)
        self.usage = Usage()
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token
        self.device = next(model.parameters()).device
        self._label_ids: dict[str, list[int]] = {}

    @classmethod
    def from_pretrained(cls, path: str, *, gguf_file: str | None = None, device: str | None = None,
                        dtype: str = "auto", batch_size: int = 8, judge_id: str | None = None,
                        reuse_prefix: bool | None = None, compile: bool = False) -> "HFJudge":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        p = Path(path)
        if p.is_file() and p.suffix == ".gguf":
            p, gguf_file = p.parent, p.name
        if not p.exists():
            raise RlaifError(f"hf judge: {p} is not a local model directory (nothing is downloaded)")
        device = device or default_device()
        torch_dtype = resolve_dtype(dtype, device)
        try:
            if gguf_file:
                tok, model = load_gguf_cached(p / gguf_file, torch_dtype)
            else:
                tok = AutoTokenizer.from_pretrained(str(p))
                model = AutoModelForCausalLM.from_pretrained(str(p), dtype=torch_dtype)
            model = model.to(device)
        except (OSError, ValueError) as e:
            raise RlaifError(f"hf judge: cannot load {p}: {str(e).splitlines()[0]}") from None
        name = gguf_file.removesuffix(".gguf") if gguf_file else p.name
        exact = torch_dtype == torch.float32  # bf16 rounding makes the prefix path differ (see reuse_prefix)
        return cls(model, tok, judge_id or f"hf:{name}", batch_size=batch_size,
                   reuse_prefix=exact if reuse_prefix is None else reuse_prefix, compile=compile)

    def render(self, messages: Messages, continuation: str = "") -> str:
        return render_chat(self.tok, messages) + continuation

    def count_tokens(self, messages: Messages) -> int:
        return len(self.tok(self.render(messages), add_special_tokens=False)["input_ids"])

    def _ids(self, label: str) -> list[int]:
        if label not in self._label_ids:
            self._label_ids[label] = label_token_ids(lambda s: self.tok.encode(s, add_special_tokens=False), label)
        return self._label_ids[label]

    def _batches(self, texts: list[str]):
        """Yield (indices, encoded batch) with similar lengths together to limit padding (``length_batches``)."""
        enc = [self.tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        for idx in length_batches([len(e) for e in enc], self.batch_size, self.max_padding):
            ids, mask = left_pad([enc[i] for i in idx], self.tok.pad_token_id)
            self.usage.add(prompt_tokens=int(mask.sum()), requests=len(idx))
            yield idx, ids.to(self.device), mask.to(self.device)

    @torch.no_grad()
    def next_token_logprobs(self, texts: list[str], reuse: bool = False) -> torch.Tensor:
        """Log-softmax of the next-token logits after each text, evaluated whole in batches (the simple path) or,
        with ``reuse``, each shared prefix once. Shape: (len(texts), vocab)."""
        if reuse:
            return self._shared_prefix_logprobs(texts)
        out: list[torch.Tensor | None] = [None] * len(texts)
        for idx, ids, mask in self._batches(texts):
            pos = (mask.cumsum(-1) - 1).clamp_min(0)
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=1).logits
            lp = torch.log_softmax(logits[:, -1, :].float(), dim=-1).cpu()
            for r, i in enumerate(idx):
                out[i] = lp[r]
        return torch.stack(out) if out else torch.empty(0)

    def _shared_prefix_logprobs(self, texts: list[str]) -> torch.Tensor:
        """Per unit of prompts sharing a prefix (``prefix_units``): one forward pass over the prefix, then the
        suffixes as one batch continuing from its KV cache (left-padded between prefix and suffix, positions
        counted from the prefix's end)."""
        enc = [self.tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        out: list[torch.Tensor | None] = [None] * len(texts)
        for unit in prefix_units(enc):
            n = min(common_prefix(enc[unit[0]], enc[i]) for i in unit) if len(unit) > 1 else 0
            n = min([n] + [len(enc[i]) - 1 for i in unit])  # every prompt keeps >= 1 token to evaluate
            suffixes = [enc[i][n:] for i in unit]
            cache = None
            if n:
                cache = self.model(input_ids=torch.tensor([enc[unit[0]][:n]], device=self.device), use_cache=True,
                                   logits_to_keep=1).past_key_values
                cache.batch_repeat_interleave(len(unit))
            ids, mask = left_pad(suffixes, self.tok.pad_token_id)
            pos = (mask.cumsum(-1) - 1).clamp_min(0) + n
            mask = torch.cat([torch.ones((len(unit), n), dtype=torch.long), mask], dim=1)
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                position_ids=pos.to(self.device), past_key_values=cache, logits_to_keep=1).logits
            lp = torch.log_softmax(logits[:, -1, :].float(), dim=-1).cpu()
            for r, i in enumerate(unit):
                out[i] = lp[r]
            self.usage.add(prompt_tokens=sum(map(len, (enc[i] for i in unit))), requests=len(unit),
                           prompt_tokens_evaluated=n + sum(map(len, suffixes)))
        return torch.stack(out) if out else torch.empty(0)

    def label_logprobs(self, prompts: Sequence[Messages], labels: Sequence[str],
                       continuations: Sequence[str] | None = None) -> list[LabelLogprobs]:
        conts = continuations or [""] * len(prompts)
        ids = {lab: self._ids(lab) for lab in labels}  # raises for a multi-token label before any work
        lp = self.next_token_logprobs([self.render(m, c) for m, c in zip(prompts, conts)], self.reuse_prefix)
        return [LabelLogprobs({lab: float(torch.logsumexp(row[ids[lab]], 0)) for lab in labels}) for row in lp]

    @torch.no_grad()
    def generate(self, prompts: Sequence[Messages], max_new_tokens: int) -> list[str]:
        texts = [self.render(m) for m in prompts]
        out: list[str] = [""] * len(texts)
        for idx, ids, mask in self._batches(texts):
            gen = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                      do_sample=False, pad_token_id=self.tok.pad_token_id)
            new = gen[:, ids.shape[1]:]
            for r, i in enumerate(idx):
                self.usage.add(completion_tokens=int((new[r] != self.tok.pad_token_id).sum()))
                out[i] = self.tok.decode(new[r], skip_special_tokens=True).strip()
        return out

    @torch.no_grad()
    def reason(self, prompts: Sequence[Messages], reasoning: Reasoning) -> list[Thought]:
        """Greedy reasoning after each prompt and the opening tag (``thinking.opening_for``), at most
        ``reasoning.budget`` tokens, up to the closing tag the judge writes (``stop_strings``), in batches."""
        fmt = think_format(reasoning, self.judge_id)
        opened = [opening_for(self.render(m), fmt) for m in prompts]
        out: list[Thought | None] = [None] * len(prompts)
        ends = {self.tok.pad_token_id, self.tok.eos_token_id}
        for idx, ids, mask in self._batches([self.render(m, o) for m, o in zip(prompts, opened)]):
            gen = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=reasoning.budget,
                                      do_sample=False, pad_token_id=self.tok.pad_token_id, stop_strings=[fmt.closing],
                                      tokenizer=self.tok)
            for r, i in enumerate(idx):
                new = gen[r, ids.shape[1]:].tolist()
                new = new[:next((k for k, t in enumerate(new) if t in ends), len(new))]  # up to its end of text
                self.usage.add(completion_tokens=len(new), reasoning_tokens=len(new))
                out[i] = from_generated(self.tok.decode(new, skip_special_tokens=False), fmt, opened[i])
        return out

    def sample(self, prompts: Sequence[Messages], sampling: Sampling) -> list[list[str]]:
        """n replies per prompt in one ``generate`` call (``num_return_sequences``), torch seeded per prompt
        with ``prompt_seed``; no top-k cut besides top-p."""
        out = []
        for msgs in prompts:
            enc = self.tok(self.render(msgs), return_tensors="pt", add_special_tokens=False).to(self.model.device)
            torch.manual_seed(prompt_seed(sampling.seed, msgs))
            greedy = sampling.temperature == 0
            kw = {} if greedy else {"temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": 0}
            with torch.inference_mode():
                gen = self.model.generate(**enc, max_new_tokens=sampling.max_new_tokens, do_sample=not greedy,
                                          num_return_sequences=1 if greedy else sampling.n,
                                          pad_token_id=self.tok.pad_token_id, **kw)
            new = gen[:, enc["input_ids"].shape[1]:]
            new = new.repeat(sampling.n, 1) if greedy else new  # greedy: n copies of the one reply
            self.usage.add(requests=1, prompt_tokens=int(enc["input_ids"].shape[1]),
                           completion_tokens=int((new != self.tok.pad_token_id).sum()))
            out.append([self.tok.decode(row, skip_special_tokens=True).strip() for row in new])
        return out


def load_gguf_cached(gguf: Path, torch_dtype: Any, folder: Path | None = None) -> tuple[Any, Any]:
    """Tokenizer and model of a GGUF file in ``torch_dtype``: transformers dequantises a GGUF at every load (~35 s
    for the embedded model), so the first load saves the result (safetensors) in the cache folder of converted
    weights (``gguf_weights.cache_dir('hf')``, named by ``converted_name``) and later loads read that (temporary
    folder + rename, so concurrent loaders never see half of it)."""
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder = folder or cache_dir("hf")
    tag = torch_dtype if isinstance(torch_dtype, str) else str(torch_dtype).removeprefix("torch.")
    target = folder / converted_name(gguf, tag, transformers.__version__, suffix="")
    if not (target / "config.json").is_file():
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # dense weights, as transformers unpacks them without a GGUF matmul kernel (a model it keeps packed
        # cannot be saved)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch_dtype,
                                                     quantization_config=GgufConfig(dequantize=True))
        tmp = folder / f".{target.name}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another loader finished first
            shutil.rmtree(tmp, ignore_errors=True)
    # sdpa: faster than eager on this shape on CPU (bench/hf_kernels.py), and pinned, since labels move with it
    return (AutoTokenizer.from_pretrained(str(target)),
            AutoModelForCausalLM.from_pretrained(str(target), dtype=torch_dtype, attn_implementation="sdpa"))


def length_batches(lengths: list[int], size: int, max_padding: float = 1.0) -> list[list[int]]:
    """Indices of prompts cut into batches in order of length: at most ``size`` each, and a new batch begins where
    the next prompt would make padding more than ``max_padding`` of its batch (left-padded to its longest)."""
    batches: list[list[int]] = []
    total = 0
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        cur = batches[-1] if batches else None
        if cur is None or len(cur) >= size or (len(cur) + 1) * lengths[i] - total - lengths[i] > (
                max_padding * (len(cur) + 1) * lengths[i]):
            batches.append([i])
            total = lengths[i]
        else:
            cur.append(i)
            total += lengths[i]
    return batches


def left_pad(seqs: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids right-aligned in one batch (pad on the left), and the mask of the real tokens."""
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, width - len(s):] = torch.tensor(s)
        mask[r, width - len(s):] = 1
    return ids, mask


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def fast_bf16_cpu() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX-512 BF16 or AMX): there bf16 labels ~1.8x faster
    than fp32 (README *Throughput*); elsewhere bf16 is emulated and slower."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_dtype(dtype: str, device: str) -> Any:
    """The torch dtype for ``dtype``; 'auto' is bfloat16 on a CPU with fast bf16, else float32 on CPU, and the
    model's own ('auto') on a GPU."""
    if dtype != "auto":
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise RlaifError(f"judge option 'dtype': '{dtype}' is not a torch dtype (e.g. float32, bfloat16, auto)")
        return getattr(torch, dtype)
    if device != "cpu":
        return "auto"
    return torch.bfloat16 if fast_bf16_cpu() else torch.float32


class HFOptions(BaseModel):
    batch_size: int | None = Field(None, ge=1, description="hf judges: prompts per forward pass (default 8)")
    device: str | None = Field(None, description="hf judges: torch device (default: cuda if available, else cpu)")
    dtype: str | None = Field(None, description="hf judges: torch dtype, e.g. bfloat16 (default 'auto': bfloat16 on "
                              "a CPU with AVX-512 BF16 or AMX, else float32 on CPU; the model's own on GPU)")
    compile: bool | None = Field(None, description="hf judges: run the model through torch.compile (fused kernels: "
                                 "faster after a first compile of minutes; labels differ from eager by rounding, so "
                                 "the judge id says '+compile')")
    reuse_prefix: bool | None = Field(None, description="hf judges: evaluate a prefix shared by prompts once and "
                                      "continue from its KV cache (default: in float32 only, where it gives the "
                                      "whole-prompt log-probs to 1e-4; bf16 rounding moves them)")


def _ident(arg: str, options: dict) -> str:
    """The judge id: the model's name, the dtype when it is not float32, and '+compile' for compiled kernels (labels
    differ between dtypes and between eager and compiled kernels)."""
    path = model_path(arg)
    dtype = resolve_dtype(options.get("dtype") or "auto", options.get("device") or default_device())
    tag = "" if dtype == torch.float32 else "@" + (dtype if isinstance(dtype, str) else str(dtype).removeprefix("torch."))
    tag += "+compile" if options.get("compile") else ""
    return f"hf:{path.stem if path.suffix == '.gguf' else path.name}{tag}"


def _build(arg: str, options: dict) -> HFJudge:
    return HFJudge.from_pretrained(str(model_path(arg)), judge_id=_ident(arg, options), **options)


KIND = JudgeKind("hf", "PATH", "a local transformers model directory or GGUF file, CPU or GPU ('hf:embedded')",
                 HFOptions, _build, _ident)
