"""vLLM in-process judge (GPU). Optional: ``pip install 'rlaif[vllm]'``, imported lazily.

Request building (``sampling_kwargs``, ``sample_params``, ``token_prompts``) and output parsing
(``parse_label_logprobs``) are pure functions; every keyword set goes through vLLM 0.33's real
``SamplingParams`` in tests/test_vllm_contract.py. Prompts are passed as token ids rendered here
(``LLM.generate`` would tokenize text with ``add_special_tokens=True``: a second BOS after a chat template's
own). ``out.outputs[0].logprobs[0]`` is a ``{token_id: Logprob(logprob=..., decoded_token=...)}`` mapping
for the first generated position.
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

from pydantic import BaseModel, Field

from rlaif.core.errors import RlaifError
from rlaif.judges.base import LabelLogprobs, Messages, Usage, merge_label_logprobs
from rlaif.judges.chat import label_token_ids, render_chat
from rlaif.judges.registry import JudgeKind
from rlaif.judges.sampling import Sampling, prompt_seed, repeat_greedy, request_n
from rlaif.judges.thinking import Reasoning, Thought, from_generated, opening_for, think_format

DEFAULT_MAX_LOGPROBS = 20  # vLLM's ModelConfig.max_logprobs default (0.33): more is rejected by the engine


def sampling_kwargs(label_ids: Sequence[int] | None, top_logprobs: int = 20, exact: bool = False,
                    max_tokens: int = 1) -> dict[str, Any]:
    """Keyword arguments for ``vllm.SamplingParams``: one greedy token with its log-probs.

    With ``exact`` (vLLM versions whose SamplingParams has ``logprob_token_ids``) the label ids'
    log-probs are returned whatever their rank; otherwise the top ``top_logprobs`` (at most the engine's
    ``max_logprobs``, see ``VLLMJudge``).
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
        self.top_logprobs = capped_logprobs(top_logprobs, getattr(self.llm.llm_engine.model_config, "max_logprobs",
                                                                  DEFAULT_MAX_LOGPROBS))
        self.exact = "logprob_token_ids" in inspect.signature(vllm.SamplingParams).parameters
        self.usage = Usage()

    def count_tokens(self, messages: Messages) -> int:
        return len(self.tok(render_chat(self.tok, messages), add_special_tokens=False)["input_ids"])

    def label_logprobs(self, prompts: Sequence[Messages], labels: Sequence[str],
                       continuations: Sequence[str] | None = None) -> list[LabelLogprobs]:
        ids = {lab: label_token_ids(lambda s: self.tok.encode(s, add_special_tokens=False), lab) for lab in labels}
        conts = continuations or [""] * len(prompts)
        texts = token_prompts(self.tok, [render_chat(self.tok, m) + c for m, c in zip(prompts, conts)])
        params = self._vllm.SamplingParams(**sampling_kwargs([i for v in ids.values() for i in v],
                                                             self.top_logprobs, self.exact))
        outs = self.llm.generate(texts, params, use_tqdm=False)
        self.usage.add(requests=len(texts), prompt_tokens=sum(len(o.prompt_token_ids or []) for o in outs))
        return [parse_label_logprobs(o, ids, self.top_logprobs) for o in outs]

    def generate(self, prompts: Sequence[Messages], max_new_tokens: int) -> list[str]:
        texts = token_prompts(self.tok, [render_chat(self.tok, m) for m in prompts])
        outs = self.llm.generate(texts, self._vllm.SamplingParams(**generate_params(max_new_tokens)), use_tqdm=False)
        self.usage.add(completion_tokens=sum(len(o.outputs[0].token_ids) for o in outs))
        return [o.outputs[0].text.strip() for o in outs]

    def reason(self, prompts: Sequence[Messages], reasoning: Reasoning) -> list[Thought]:
        """Greedy reasoning after each prompt and the opening tag (``thinking.opening_for``), at most
        ``reasoning.budget`` tokens, stopped at the closing tag (kept in the text: ``reason_params``)."""
        fmt = think_format(reasoning, self.judge_id)
        rendered = [render_chat(self.tok, m) for m in prompts]
        opened = [opening_for(t, fmt) for t in rendered]
        texts = token_prompts(self.tok, [t + o for t, o in zip(rendered, opened)])
        outs = self.llm.generate(texts, self._vllm.SamplingParams(**reason_params(reasoning.budget, fmt.closing)),
                                 use_tqdm=False)
        n = sum(len(o.outputs[0].token_ids) for o in outs)
        self.usage.add(completion_tokens=n, reasoning_tokens=n)
        return [from_generated(o.outputs[0].text, fmt, op) for o, op in zip(outs, opened)]

    def sample(self, prompts: Sequence[Messages], sampling: Sampling) -> list[list[str]]:
        """n replies per prompt from one request each (``SamplingParams(n=...)``), seeded per prompt."""
        texts = token_prompts(self.tok, [render_chat(self.tok, m) for m in prompts])
        params = [self._vllm.SamplingParams(**sample_params(sampling, prompt_seed(sampling.seed, m))) for m in prompts]
        outs = self.llm.generate(texts, params, use_tqdm=False)
        self.usage.add(completion_tokens=sum(len(c.token_ids) for o in outs for c in o.outputs))
        return [repeat_greedy([c.text.strip() for c in o.outputs], sampling) for o in outs]


def token_prompts(tok: Any, texts: Sequence[str]) -> list[dict[str, list[int]]]:
    """vLLM ``TokensPrompt``s of chat-rendered texts, tokenized without added special tokens (the template
    wrote its own)."""
    return [{"prompt_token_ids": list(tok(t, add_special_tokens=False)["input_ids"])} for t in texts]


def capped_logprobs(top_logprobs: int, max_logprobs: int | None) -> int:
    """``top_logprobs`` within the engine's ``max_logprobs`` (-1: no limit)."""
    return top_logprobs if max_logprobs in (None, -1) else min(top_logprobs, max_logprobs)


def generate_params(max_new_tokens: int) -> dict:
    """vLLM ``SamplingParams`` keyword arguments for a greedy reply."""
    return {"max_tokens": max_new_tokens, "temperature": 0.0}


def reason_params(budget: int, closing: str) -> dict:
    """vLLM ``SamplingParams`` keyword arguments for a greedy reasoning: at most ``budget`` tokens, stopped at the
    closing tag, which stays in the text, control tokens shown (harmony's tags are control tokens)."""
    return {"max_tokens": budget, "temperature": 0.0, "stop": [closing], "include_stop_str_in_output": True,
            "skip_special_tokens": False}


def sample_params(sampling: Sampling, seed: int) -> dict:
    """vLLM ``SamplingParams`` keyword arguments for one prompt's candidates (greedy: one, see
    ``request_n``)."""
    return {"n": request_n(sampling), "temperature": sampling.temperature, "top_p": sampling.top_p,
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
