"""vLLM in-process judge (GPU). Optional: ``pip install 'rlaif[vllm]'``, imported lazily.

Request building (``sampling_kwargs``) and output parsing (``parse_label_logprobs``) are pure
functions, tested here on output objects shaped like vLLM's ``RequestOutput``:
``out.outputs[0].logprobs[0]`` is a ``{token_id: Logprob(logprob=..., decoded_token=...)}`` mapping for
the first generated position.
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

from pydantic import BaseModel, Field

from rlaif.core.errors import RlaifError
from rlaif.judges.base import LabelLogprobs, Messages, Usage, merge_label_logprobs
from rlaif.judges.chat import label_token_ids, render_chat
from rlaif.judges.registry import JudgeKind
from rlaif.judges.sampling import Sampling, prompt_seed


def sampling_kwargs(label_ids: Sequence[int] | None, top_logprobs: int = 20, exact: bool = False,
                    max_tokens: int = 1) -> dict[str, Any]:
    """Keyword arguments for ``vllm.SamplingParams``: one greedy token with its log-probs.

    With ``exact`` (vLLM versions whose SamplingParams has ``logprob_token_ids``) the label ids'
    log-probs are returned whatever their rank; otherwise the top ``top_logprobs``.
    """
    kw: dict[str, Any] = {"max_tokens": max_tokens, "temperature": 0.0}
    if exact and label_ids:
        kw["logprob_token_ids"] = list(label_ids)
    else:
        kw["logprobs"] = top_logprobs
    return kw


def parse_label_logprobs(output: Any, label_ids: dict[str, list[int]], top_k: int) -> LabelLogprobs:
    """Label log-probs from one ``RequestOutput``; a label none of whose ids is present is left out."""
    comps = getattr(output, "outputs", None) or []
    steps = getattr(comps[0], "logprobs", None) if comps else None
    if not steps:
        return LabelLogprobs({}, "vLLM returned no log-probs for the first token")
    first = steps[0]
    found = {lab: [float(getattr(first[i], "logprob", first[i])) for i in ids if i in first]
             for lab, ids in label_ids.items()}
    return merge_label_logprobs(found, list(label_ids), top_k)


class VLLMJudge:
    """Judge on ``vllm.LLM`` with prefix caching; one batched ``generate`` per call."""

    def __init__(self, model: str, *, top_logprobs: int = 20, **llm_kwargs: Any):
        try:
            import vllm
        except ImportError:
            raise RlaifError("vllm judge needs vLLM and a GPU: pip install 'rlaif[vllm]'") from None
        self._vllm = vllm
        self.llm = vllm.LLM(model=model, enable_prefix_caching=True, **llm_kwargs)
        self.tok = self.llm.get_tokenizer()
        self.judge_id = f"vllm:{model}"
        self.context_length = getattr(self.llm.llm_engine.model_config, "max_model_len", None)
        self.top_logprobs = top_logprobs
        self.exact = "logprob_token_ids" in inspect.signature(vllm.SamplingParams).parameters
        self.usage = Usage()

    def count_tokens(self, messages: Messages) -> int:
        return len(self.tok(render_chat(self.tok, messages), add_special_tokens=False)["input_ids"])

    def label_logprobs(self, prompts: Sequence[Messages], labels: Sequence[str],
                       continuations: Sequence[str] | None = None) -> list[LabelLogprobs]:
        ids = {lab: label_token_ids(lambda s: self.tok.encode(s, add_special_tokens=False), lab) for lab in labels}
        conts = continuations or [""] * len(prompts)
        texts = [render_chat(self.tok, m) + c for m, c in zip(prompts, conts)]
        params = self._vllm.SamplingParams(**sampling_kwargs([i for v in ids.values() for i in v],
                                                             self.top_logprobs, self.exact))
        outs = self.llm.generate(texts, params, use_tqdm=False)
        self.usage.add(requests=len(texts), prompt_tokens=sum(len(o.prompt_token_ids or []) for o in outs))
        return [parse_label_logprobs(o, ids, self.top_logprobs) for o in outs]

    def generate(self, prompts: Sequence[Messages], max_new_tokens: int) -> list[str]:
        texts = [render_chat(self.tok, m) for m in prompts]
        outs = self.llm.generate(texts, self._vllm.SamplingParams(max_tokens=max_new_tokens, temperature=0.0),
                                 use_tqdm=False)
        self.usage.add(completion_tokens=sum(len(o.outputs[0].token_ids) for o in outs))
        return [o.outputs[0].text.strip() for o in outs]

    def sample(self, prompts: Sequence[Messages], sampling: Sampling) -> list[list[str]]:
        """n replies per prompt from one request each (``SamplingParams(n=...)``), seeded per prompt."""
        texts = [render_chat(self.tok, m) for m in prompts]
        params = [self._vllm.SamplingParams(**sample_params(sampling, prompt_seed(sampling.seed, m))) for m in prompts]
        outs = self.llm.generate(texts, params, use_tqdm=False)
        self.usage.add(completion_tokens=sum(len(c.token_ids) for o in outs for c in o.outputs))
        return [[c.text.strip() for c in o.outputs] for o in outs]


def sample_params(sampling: Sampling, seed: int) -> dict:
    """vLLM ``SamplingParams`` keyword arguments for one prompt's n candidates."""
    return {"n": sampling.n, "temperature": sampling.temperature, "top_p": sampling.top_p,
            "max_tokens": sampling.max_new_tokens, "seed": seed}


class VLLMOptions(BaseModel):
    top_logprobs: int | None = Field(None, ge=2, description="openai/vllm judges: log-probs asked for per "
                                     "position (default 20)")
    tensor_parallel_size: int | None = Field(None, ge=1, description="vllm judges: GPUs per model (tensor parallel)")
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1, description="vllm judges: share of GPU memory "
                                                 "vLLM may take (default 0.9)")
    max_model_len: int | None = Field(None, ge=64, description="vllm judges: context length to allocate for")
    dtype: str | None = Field(None, description="hf/vllm judges: weights dtype, e.g. bfloat16")


KIND = JudgeKind("vllm", "MODEL", "vLLM in-process on a GPU (pip install 'rlaif[vllm]')", VLLMOptions,
                 lambda model, options: VLLMJudge(model, **options))
