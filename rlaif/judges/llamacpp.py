"""llama.cpp backend (llama-cpp-python): GGUF models on CPU, with KV-cache reuse of shared prefixes."""

from __future__ import annotations

import atexit
import math
import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import copy_context
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
from pydantic import BaseModel, Field

from rlaif.core.cpu import cpu_flags, has_amx, read_cpuinfo
from rlaif.core.errors import RlaifError
from rlaif.judges.base import LabelLogprobs, Messages, Usage
from rlaif.judges.chat import conversation_pieces, label_token_ids, plain_chat
from rlaif.judges.embedded import embedded_gguf, model_path
from rlaif.judges.gguf_weights import STORED, weights_path
from rlaif.judges.prefix_units import common_prefix, prefix_units
from rlaif.judges.registry import JudgeKind
from rlaif.judges.sampling import Sampling, draw, nucleus, prompt_seed, sample_token
from rlaif.judges.thinking import Reasoning, Thought, from_generated, opening_for, think_format


# ggml-cpu's flash attention takes its tiled f32 kernel from GGML_FA_TILE_Q = 64 query rows on and an f16 kernel
# below; a reused prefix leaves at least this many tokens to evaluate, so the answer's logits come from the same
# kernel as when the prompt is evaluated whole (on Q4_1 weights the two kernels differ by up to 0.5 nats).
MIN_ROWS = 64
# Contexts a judge runs side by side at most by default (each holds its own KV cache and compute buffers).
MAX_CONTEXTS = 8


class LlamaCppJudge:
    """Judge on a GGUF file through llama.cpp.

    The judge runs ``contexts`` llama.cpp contexts side by side, ``n_threads // contexts`` threads each (one
    context per core by default, at most ``MAX_CONTEXTS``; on 2 cores, two 1-thread contexts label as fast as
    one 2-thread context, within noise). A call's prompts are sorted and cut into units (``prefix_units``: a
    pair's two orders stay together), which go to whichever context is free; with fewer units than contexts, the busy ones get all
    the threads. Each context evaluates one prompt at a time; with ``reuse_prefix`` a prompt keeps the KV
    cache of its common prefix with the context's previous prompt (preamble, question, principle, a pair's
    conversation for its second order) and evaluates the rest, at least ``MIN_ROWS`` tokens (never reusing rows
    that a short prompt or a generated token left, which other kernels computed: ``_eval_at``); without it every
    prompt is evaluated whole (the simple path, as ``next_token_logprobs`` does). Labels do not depend on the
    threads or the context a prompt ran on. ``weights`` other than ``stored`` run the GGUF converted by
    llama.cpp's quantizer (``gguf_weights``). Log-probs are the exact log-softmax of the full next-token logits.
    ``extra_bufts`` (ggml-cpu's extra buffer types) is, unless given, what ``safe_model_params`` allows on this CPU.
    """

    def __init__(self, model_path: str | Path, *, n_ctx: int = 4096, n_threads: int | None = None,
                 contexts: int | None = None, judge_id: str | None = None, seed: int = 0, weights: str = STORED,
                 reuse_prefix: bool = True, extra_bufts: bool | None = None):
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError:
            raise RlaifError("llamacpp judge needs llama-cpp-python (pip install llama-cpp-python)") from None
        path = Path(model_path)
        if not path.is_file():
            raise RlaifError(f"llamacpp judge: {path} is not a GGUF file")
        # llama-cpp-python generates on half the cores by default; use them all
        self.n_threads = n_threads or os.cpu_count() or 1
        n_contexts = max(1, min(contexts or min(self.n_threads, MAX_CONTEXTS), self.n_threads))
        file = str(weights_path(path, weights))
        # n_batch = n_ubatch = n_ctx: what a prompt evaluates is one micro-batch (see MIN_ROWS)
        fields = safe_model_params(cpu_flags(read_cpuinfo())) if extra_bufts is None else {"use_extra_bufts": extra_bufts}
        with model_params(**fields):
            self.contexts = [Llama(model_path=file, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, n_threads=self.n_threads,
                                   n_threads_batch=self.n_threads, logits_all=False, flash_attn=True, verbose=False,
                                   seed=seed) for _ in range(n_contexts)]
        self.llm = self.contexts[0]  # tokenizer, metadata
        self._pool = ThreadPoolExecutor(n_contexts, thread_name_prefix="llamacpp") if n_contexts > 1 else None
        self._lock = threading.Lock()  # one call at a time spreads over the contexts
        self._reusable: dict[int, int] = {}  # id(context) -> the leading tokens a later prompt may reuse (_eval_at)
        self.reuse_prefix = reuse_prefix
        for llm in self.contexts:
            atexit.register(llm.close)  # free it before interpreter teardown (avoids noise at exit)
        self.judge_id = judge_id or ident(path, weights)
        self.context_length = n_ctx
        self.usage = Usage()
        self._n_vocab = self.llm.n_vocab()
        template = self.llm.metadata.get("tokenizer.chat_template")
        tok_text = lambda t: self.llm.detokenize([t], special=True).decode("utf-8", "replace")  # noqa: E731
        self._eos = self.llm.token_eos()
        self._fmt = Jinja2ChatFormatter(template=template, eos_token=tok_text(self._eos),
                                        bos_token=tok_text(self.llm.token_bos())) if template else None
        self._label_ids: dict[str, list[int]] = {}
        self._control_texts = control_texts(self.llm)
        self._stop = {self._eos} | {t for t in (self.llm._model.token_eot(),) if t >= 0}
        end = self.llm.tokenize(b"<|im_end|>", add_bos=False, special=True)
        if len(end) == 1:
            self._stop.add(end[0])

    def render(self, messages: Messages, continuation: str = "") -> str:
        text = self._fmt(messages=messages).prompt if self._fmt else plain_chat(messages)
        return text + continuation

    def _tokens(self, text: str, special: bool = True) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def prompt_tokens(self, messages: Messages, continuation: str = "") -> list[int]:
        """The rendered prompt's tokens: the template's and the continuation's control tokens real, the messages'
        text plain (``special=False``: "<|im_end|>" inside a message is text, not the end of its turn). A content without
        control-token text is tokenized with the template text around it, as the whole rendering was."""
        tokens: list[int] = []
        run = ""  # template text and plain contents, tokenized together (BPE merges across them as before)
        for text, conv in conversation_pieces(self.render, messages, continuation):
            if conv and any(c in text for c in self._control_texts):
                tokens += self._tokens(run) + self._tokens(text, special=False)
                run = ""
            else:
                run += text
        return tokens + self._tokens(run)

    def count_tokens(self, messages: Messages) -> int:
        return len(self.prompt_tokens(messages))

    def _ids(self, label: str) -> list[int]:
        if label not in self._label_ids:
            self._label_ids[label] = label_token_ids(
                lambda s: self.llm.tokenize(s.encode("utf-8"), add_bos=False, special=False), label)
        return self._label_ids[label]

    def _eval_to(self, llm: Any, tokens: list[int], reuse: bool = True, min_new: int = 1) -> None:
        """Make context ``llm`` hold exactly ``tokens``, reusing its cached common prefix (``reuse``) as far as it is
        reusable (``_eval_at``) but for at least ``min_new`` tokens, or not."""
        if len(tokens) > self.context_length:
            raise RlaifError(f"llamacpp judge: prompt of {len(tokens)} tokens exceeds n_ctx={self.context_length}")
        cached = min(common_prefix(llm.input_ids[: llm.n_tokens], tokens), self._reusable.get(id(llm), 0))
        n = max(0, min(cached, len(tokens) - min_new)) if reuse else 0
        self._eval_at(llm, n, tokens[n:])
        self.usage.add(prompt_tokens=len(tokens), prompt_tokens_evaluated=len(tokens) - n)

    def _eval_at(self, llm: Any, n: int, batch: list[int]) -> None:
        """Evaluate ``batch`` on context ``llm`` after the first ``n`` tokens it holds (what it held after them is
        dropped), and keep count of its reusable prefix: the rows computed in evaluations of at least ``MIN_ROWS``
        rows after a reusable prefix, as a long prompt evaluated whole computes them. A shorter evaluation (a
        short prompt, a generated token) is computed by other kernels, so a later prompt never reuses its rows."""
        llm.n_tokens = n
        llm.eval(batch)
        reusable = self._reusable.get(id(llm), 0)
        self._reusable[id(llm)] = n + len(batch) if len(batch) >= MIN_ROWS and reusable >= n else min(reusable, n)

    def _logprobs(self, llm: Any, tokens: list[int], reuse: bool) -> np.ndarray:
        self._eval_to(llm, tokens, reuse=reuse, min_new=MIN_ROWS)
        self.usage.add(requests=1)
        return log_softmax(self._last_logits(llm))

    def next_token_logprobs(self, text: str, reuse: bool = False) -> np.ndarray:
        """Log-softmax of the next-token logits after ``text``: evaluated whole (the simple path), or with ``reuse``
        the first context's previous prompt's common prefix kept. Shape: (vocab,)."""
        with self._lock:
            return self._logprobs(self.llm, self._tokens(text), reuse)

    def _spread(self, units: list[list[int]], work: Callable[[Any, int], Any]) -> list[Any]:
        """``work(context, i)`` for every index in ``units``: each unit on one context, in its order; the units go
        to whichever context is free, the threads split evenly over the contexts in use."""
        out: list[Any] = [None] * sum(map(len, units))
        todo = deque(units)
        active = self.contexts[:max(1, min(len(self.contexts), len(units)))]
        threads = max(1, self.n_threads // len(active))

        def drain(llm: Any) -> None:
            llm._ctx.set_n_threads(threads, threads)
            while True:
                try:
                    unit = todo.popleft()
                except IndexError:
                    return
                for i in unit:
                    out[i] = work(llm, i)

        with self._lock:
            if len(active) == 1:
                drain(active[0])
            else:  # every drain runs in a copy of this context, so usage still counts into the caller's meter
                for f in [self._pool.submit(copy_context().run, drain, llm) for llm in active]:
                    f.result()
        return out

    def label_logprobs(self, prompts: Sequence[Messages], labels: Sequence[str],
                       continuations: Sequence[str] | None = None) -> list[LabelLogprobs]:
        conts = continuations or [""] * len(prompts)
        ids = {lab: self._ids(lab) for lab in labels}
        tokens = [self.prompt_tokens(m, c) for m, c in zip(prompts, conts)]

        def one(llm: Any, i: int) -> LabelLogprobs:
            lp = self._logprobs(llm, tokens[i], self.reuse_prefix)
            return LabelLogprobs({lab: float(np.logaddexp.reduce(lp[ids[lab]])) for lab in labels})

        return self._spread(prefix_units(tokens, share=self.reuse_prefix), one)

    def _decode(self, llm: Any, tokens: list[int], max_new_tokens: int, pick, until: str | None = None) -> str:
        """Evaluate ``tokens`` on context ``llm`` as ``label_logprobs`` does (reusing its cached prefix, at least
        ``MIN_ROWS`` tokens evaluated), then add tokens chosen by ``pick(logits)`` (``_continue``)."""
        self._eval_to(llm, tokens, min_new=MIN_ROWS)
        self.usage.add(requests=1)
        return self._continue(llm, len(tokens), pick(self._last_logits(llm)), max_new_tokens, pick, until)

    def _continue(self, llm: Any, n_prompt: int, nxt: int, max_new_tokens: int, pick, until: str | None = None) -> str:
        """A reply after the prompt that ``llm`` holds as its first ``n_prompt`` tokens (what it holds after them is
        dropped): ``nxt`` its first token, drawn from the logits after the prompt; each token is evaluated (the last
        one is not) and the next one is ``pick(logits)``. With ``until`` (a reasoning's closing tag) it stops once the
        text ends with it and returns the text unstripped, control tokens shown, its tokens counted as reasoning."""
        new: list[int] = []
        text = lambda toks: self.llm.detokenize(toks, special=until is not None).decode("utf-8", "replace")  # noqa: E731
        while nxt not in self._stop and len(new) < max_new_tokens:
            new.append(nxt)
            if len(new) == max_new_tokens or n_prompt + len(new) >= self.context_length or (
                    until and until in text(new[-16:])):
                break
            self._eval_at(llm, n_prompt + len(new) - 1, [nxt])
            nxt = pick(self._last_logits(llm))
        self.usage.add(completion_tokens=len(new), **({"reasoning_tokens": len(new)} if until else {}))
        return text(new) if until else text(new).strip()

    def _last_logits(self, llm: Any) -> np.ndarray:
        """The logits after the last token ``llm`` evaluated (a view of llama.cpp's buffer: the next ``eval``
        overwrites it)."""
        return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(self._n_vocab,))

    def generate(self, prompts: Sequence[Messages], max_new_tokens: int) -> list[str]:
        tokens = [self.prompt_tokens(m) for m in prompts]
        greedy = lambda lg: int(lg.argmax())  # noqa: E731
        return self._spread(prefix_units(tokens), lambda llm, i: self._decode(llm, tokens[i], max_new_tokens, greedy))

    def reason(self, prompts: Sequence[Messages], reasoning: Reasoning) -> list[Thought]:
        """Greedy reasoning after each prompt and the opening tag (``thinking.opening_for``), at most
        ``reasoning.budget`` tokens, up to the closing tag the judge writes."""
        fmt = think_format(reasoning, self.judge_id)
        opened = [opening_for(self.render(m), fmt) for m in prompts]
        tokens = [self.prompt_tokens(m, o) for m, o in zip(prompts, opened)]
        greedy = lambda lg: int(lg.argmax())  # noqa: E731
        return self._spread(prefix_units(tokens), lambda llm, i: from_generated(
            self._decode(llm, tokens[i], reasoning.budget, greedy, until=fmt.closing), fmt, opened[i]))

    def sample(self, prompts: Sequence[Messages], sampling: Sampling) -> list[list[str]]:
        """n replies per prompt. The prompt is evaluated once, as ``label_logprobs`` evaluates it (at least
        ``MIN_ROWS`` rows, so its logits do not depend on what the context held before); every reply draws its first
        token from those logits (with ``max_new_tokens=1`` nothing else is evaluated) and its next tokens after it,
        reply k with its own numpy generator seeded by ``prompt_seed(seed, prompt, k)``."""
        tokens = [self.prompt_tokens(m) for m in prompts]

        def replies(llm: Any, i: int) -> list[str]:
            self._eval_to(llm, tokens[i], min_new=MIN_ROWS)
            self.usage.add(requests=1)
            first = nucleus(self._last_logits(llm), sampling.temperature, sampling.top_p)  # the same for all n
            out = []
            for k in range(sampling.n):
                rng = np.random.default_rng(prompt_seed(sampling.seed, prompts[i], k))
                pick = lambda lg, rng=rng: sample_token(lg, sampling.temperature, sampling.top_p, rng)  # noqa: E731
                out.append(self._continue(llm, len(tokens[i]), draw(*first, rng), sampling.max_new_tokens, pick))
            return out

        return self._spread([[i] for i in range(len(prompts))], replies)


def control_texts(llm: Any) -> list[str]:
    """The text of every control token (shown by ``detokenize`` only with ``special=True``): what
    ``tokenize(special=True)`` reads as one token. A scan of the vocabulary (~1 s for 49k tokens here)."""
    texts = (llm.detokenize([t], special=True) for t in range(llm.n_vocab()))
    return sorted({s.decode("utf-8", "replace") for t, s in enumerate(texts) if s and s != llm.detokenize([t])})


def safe_model_params(flags: frozenset[str]) -> dict[str, Any]:
    """llama_model_params fields that keep llama.cpp off kernels that fault on a CPU with these flags: on Intel AMX
    CPUs, ggml-cpu's AMX "extra buffer type" (its Q4_0/Q4_1/Q8_0/F16 matmuls) dies with an illegal instruction
    (``tileloadd``) in the VMs measured, so extra buffer types stay off there; elsewhere they are ggml's "repack"
    kernels, kept (README *Throughput*)."""
    return {"use_extra_bufts": False} if has_amx(flags) else {}


_PARAMS_LOCK = threading.Lock()


@contextmanager
def model_params(**fields: Any):
    """While open, the llama_model_params that llama-cpp-python's ``Llama`` starts from carry ``fields`` (it has
    no argument for some of them, e.g. ``use_extra_bufts``); the field must exist in the installed version."""
    import llama_cpp.llama_cpp as lib

    missing = [f for f in fields if f not in dict(lib.llama_model_params._fields_)]
    if missing:
        raise RlaifError(f"llamacpp judge: this llama-cpp-python has no llama_model_params.{missing[0]} "
                         "(needed on this CPU); upgrade llama-cpp-python")
    default = lib.llama_model_default_params

    def params():
        p = default()
        for name, value in fields.items():
            setattr(p, name, value)
        return p

    with _PARAMS_LOCK:
        lib.llama_model_default_params = params
        try:
            yield
        finally:
            lib.llama_model_default_params = default


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log p = z - log Σ exp z, in float64."""
    z = logits.astype(np.float64)
    m = z.max()
    return z - (m + math.log(np.exp(z - m).sum()))


def ident(path: Path, weights: str) -> str:
    """The judge id: the GGUF's name, and the weights' format when converted (labels differ between formats)."""
    return f"llamacpp:{path.stem}" + ("" if weights == STORED else f"@{weights}")


# The embedded model's weights on llama.cpp: bf16 is ~3x faster than the stored Q4_1 here and nearer the
# stored weights' exact values (bench/bench_throughput.py, README *Throughput*).
EMBEDDED_WEIGHTS = "bf16"


def embedded_file(weights: str = EMBEDDED_WEIGHTS) -> Path:
    """The GGUF file the embedded judge runs (its bf16 copy by default, converted once and cached): what to serve
    with llama.cpp's server, whose model has no option to keep off the kernels ``safe_model_params`` avoids."""
    return weights_path(embedded_gguf(), weights)


class LlamaCppOptions(BaseModel):
    n_ctx: int | None = Field(None, ge=256, description="llamacpp judges: context window in tokens (default 4096)")
    n_threads: int | None = Field(None, ge=1, description="llamacpp judges: CPU threads in all (default: all cores)")
    contexts: int | None = Field(None, ge=1, description="llamacpp judges: contexts labelling side by side, sharing "
                                 f"the threads (default: one per thread, at most {MAX_CONTEXTS})")
    weights: Literal["stored", "bf16", "f16", "f32", "q8_0", "q4_0"] | None = Field(
        None, description="llamacpp judges: run the GGUF's weights as stored, or converted once by llama.cpp's "
        f"quantizer and cached (default: {EMBEDDED_WEIGHTS} for the embedded model, stored for other files)")
    reuse_prefix: bool | None = Field(None, description="llamacpp and hf judges: keep the KV cache of a prefix prompts "
                                      "share (default: on for llamacpp, for hf in float32; off: evaluate every prompt whole)")


def _weights(arg: str, options: dict) -> str:
    return options.get("weights") or (EMBEDDED_WEIGHTS if arg == "embedded" else STORED)


def _ident(arg: str, options: dict) -> str:
    return ident(model_path(arg), _weights(arg, options))


def _build(arg: str, options: dict) -> LlamaCppJudge:
    opts = {**options, "weights": _weights(arg, options)}
    return LlamaCppJudge(model_path(arg), judge_id=_ident(arg, opts), **opts)


KIND = JudgeKind("llamacpp", "PATH", "a GGUF file through llama.cpp on CPU ('llamacpp:embedded' for the shipped model)",
                 LlamaCppOptions, _build, _ident)
