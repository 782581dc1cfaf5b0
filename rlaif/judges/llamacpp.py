"""llama.cpp backend (llama-cpp-python): GGUF models on CPU, with KV-cache reuse of shared prefixes."""

from __future__ import annotations

import atexit
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from pydantic import BaseModel, Field

from rlaif.core.errors import RlaifError
from rlaif.judges.base import LabelLogprobs, Messages, Usage
from rlaif.judges.chat import label_token_ids, plain_chat
from rlaif.judges.embedded import model_path
from rlaif.judges.registry import JudgeKind
from rlaif.judges.sampling import Sampling, prompt_seed, sample_token


class LlamaCppJudge:
    """Judge on a GGUF file through llama.cpp.

    Prompts are evaluated one at a time; consecutive prompts that share a prefix (the constitution
    preamble, the two orders of one pair) reuse the KV cache for it. Log-probs are the exact
    log-softmax of the full next-token logits.
    """

    def __init__(self, model_path: str | Path, *, n_ctx: int = 4096, n_threads: int | None = None,
                 judge_id: str | None = None, seed: int = 0):
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError:
            raise RlaifError("llamacpp judge needs llama-cpp-python (pip install llama-cpp-python)") from None
        path = Path(model_path)
        if not path.is_file():
            raise RlaifError(f"llamacpp judge: {path} is not a GGUF file")
        # llama-cpp-python generates on half the cores by default; use them all (CoT, parse baseline)
        threads = n_threads or os.cpu_count() or 1
        self.llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, logits_all=False,
                         verbose=False, seed=seed)
        atexit.register(self.llm.close)  # free it before interpreter teardown (avoids noise at exit)
        self.judge_id = judge_id or f"llamacpp:{path.stem}"
        self.context_length = n_ctx
        self.usage = Usage()
        self._n_vocab = self.llm.n_vocab()
        template = self.llm.metadata.get("tokenizer.chat_template")
        tok_text = lambda t: self.llm.detokenize([t], special=True).decode("utf-8", "replace")  # noqa: E731
        self._eos = self.llm.token_eos()
        self._fmt = Jinja2ChatFormatter(template=template, eos_token=tok_text(self._eos),
                                        bos_token=tok_text(self.llm.token_bos())) if template else None
        self._label_ids: dict[str, list[int]] = {}
        self._stop = {self._eos} | {t for t in (self.llm._model.token_eot(),) if t >= 0}
        end = self.llm.tokenize(b"<|im_end|>", add_bos=False, special=True)
        if len(end) == 1:
            self._stop.add(end[0])

    def render(self, messages: Messages, continuation: str = "") -> str:
        text = self._fmt(messages=messages).prompt if self._fmt else plain_chat(messages)
        return text + continuation

    def _tokens(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def count_tokens(self, messages: Messages) -> int:
        return len(self._tokens(self.render(messages)))

    def _ids(self, label: str) -> list[int]:
        if label not in self._label_ids:
            self._label_ids[label] = label_token_ids(
                lambda s: self.llm.tokenize(s.encode("utf-8"), add_bos=False, special=False), label)
        return self._label_ids[label]

    def _eval_to(self, tokens: list[int]) -> None:
        """Make the context hold exactly ``tokens``, reusing the cached common prefix."""
        if len(tokens) > self.context_length:
            raise RlaifError(f"llamacpp judge: prompt of {len(tokens)} tokens exceeds n_ctx={self.context_length}")
        cached = self.llm.input_ids[: self.llm.n_tokens]
        n = 0
        limit = min(len(cached), len(tokens) - 1)
        while n < limit and cached[n] == tokens[n]:
            n += 1
        self.llm.n_tokens = n
        self.llm.eval(tokens[n:])
        self.usage.add(prompt_tokens=len(tokens), prompt_tokens_evaluated=len(tokens) - n)

    def next_token_logprobs(self, text: str) -> np.ndarray:
        """Log-softmax of the next-token logits after ``text``. Shape: (vocab,)."""
        self._eval_to(self._tokens(text))
        self.usage.add(requests=1)
        logits = np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self._n_vocab,)).astype(np.float64)
        m = logits.max()
        return logits - (m + math.log(np.exp(logits - m).sum()))

    def label_logprobs(self, prompts: Sequence[Messages], labels: Sequence[str],
                       continuations: Sequence[str] | None = None) -> list[LabelLogprobs]:
        conts = continuations or [""] * len(prompts)
        ids = {lab: self._ids(lab) for lab in labels}
        out = []
        for msgs, cont in zip(prompts, conts):
            lp = self.next_token_logprobs(self.render(msgs, cont))
            out.append(LabelLogprobs({lab: float(np.logaddexp.reduce(lp[ids[lab]])) for lab in labels}))
        return out

    def _decode(self, tokens: list[int], max_new_tokens: int, pick) -> str:
        """Evaluate ``tokens`` (reusing the cached prefix), then add tokens chosen by ``pick(logits)``."""
        self._eval_to(tokens)
        self.usage.add(requests=1)
        new: list[int] = []
        for _ in range(max_new_tokens):
            nxt = pick(np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self._n_vocab,)))
            if nxt in self._stop:
                break
            new.append(nxt)
            if len(tokens) + len(new) >= self.context_length:
                break
            self.llm.eval([nxt])
        self.usage.add(completion_tokens=len(new))
        return self.llm.detokenize(new).decode("utf-8", "replace").strip()

    def generate(self, prompts: Sequence[Messages], max_new_tokens: int) -> list[str]:
        return [self._decode(self._tokens(self.render(m)), max_new_tokens, lambda lg: int(lg.argmax()))
                for m in prompts]

    def sample(self, prompts: Sequence[Messages], sampling: Sampling) -> list[list[str]]:
        """n replies per prompt, each drawn with its own numpy generator seeded by ``prompt_seed``; the
        prompt's KV cache is reused between the n replies."""
        out = []
        for msgs in prompts:
            tokens = self._tokens(self.render(msgs))
            replies = []
            for k in range(sampling.n):
                rng = np.random.default_rng(prompt_seed(sampling.seed, msgs, k))
                pick = lambda lg, rng=rng: sample_token(lg, sampling.temperature, sampling.top_p, rng)  # noqa: E731
                replies.append(self._decode(tokens, sampling.max_new_tokens, pick))
            out.append(replies)
        return out


class LlamaCppOptions(BaseModel):
    n_ctx: int | None = Field(None, ge=256, description="llamacpp judges: context window in tokens (default 4096)")
    n_threads: int | None = Field(None, ge=1, description="llamacpp judges: CPU threads (default: all cores)")


def _ident(arg: str) -> str:
    return f"llamacpp:{model_path(arg).stem}"


def _build(arg: str, options: dict) -> LlamaCppJudge:
    return LlamaCppJudge(model_path(arg), judge_id=_ident(arg), **options)


KIND = JudgeKind("llamacpp", "PATH", "a GGUF file through llama.cpp on CPU ('llamacpp:embedded' for the shipped model)",
                 LlamaCppOptions, _build, _ident)
