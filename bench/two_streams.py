"""The llama.cpp multi-sequence batch, measured (bench only): a pair's two orders in one llama_decode.

The shared prefix is evaluated once on KV stream 0 and copied to stream 1, then both orders' suffixes go in one
batch, one KV stream each (a non-unified cache keeps each stream's cells where a single prompt would have them).
Labels are exact against the judge's own paths only with 2 output rows everywhere: ggml multiplies a single
row by the output layer with a dot-product kernel, two or more with tinyBLAS (up to 3.2e-4 apart in p), so this
wrapper reads 2 rows on every decode. On this machine it is slower than the judge's one-prompt-at-a-time
prefix reuse (README, Throughput), which is why it stays here and not in rlaif.
"""

from __future__ import annotations

from typing import Any, Sequence

import llama_cpp
import numpy as np
from llama_cpp import _internals

from rlaif.judges.base import LabelLogprobs
from rlaif.judges.llamacpp import MIN_ROWS, LlamaCppJudge, log_softmax
from rlaif.judges.prefix_units import common_prefix


class _Streams:
    """One llama.cpp context with two KV streams on the judge's model, and the tokens stream 0 holds."""

    def __init__(self, judge: LlamaCppJudge):
        params = judge.llm.context_params
        params.n_seq_max, params.kv_unified = 2, False
        params.n_ctx = params.n_batch = params.n_ubatch = 2 * judge.context_length
        self.ctx = _internals.LlamaContext(model=judge.llm._model, params=params, verbose=False)
        self.batch = _internals.LlamaBatch(n_tokens=params.n_batch, embd=0, n_seq_max=2, verbose=False)
        self.mem = llama_cpp.llama_get_memory(self.ctx.ctx)
        self.held: list[int] = []
        self.n_vocab = judge._n_vocab

    def decode(self, parts: list[tuple[int, list[int], int]]) -> list[np.ndarray]:
        """Evaluate (stream, tokens, first position) parts in one batch; log-probs after each part's last token."""
        b, n, last = self.batch.batch, 0, []
        for seq, toks, pos in parts:
            for k, tok in enumerate(toks):
                b.token[n], b.pos[n], b.n_seq_id[n], b.logits[n] = tok, pos + k, 1, False
                b.seq_id[n][0] = seq
                n += 1
            last.append(n - 1)
        rows = last if len(last) > 1 else [n - 2, n - 1]  # 2 output rows: see the module docstring
        for i in rows:
            b.logits[i] = True
        b.n_tokens = n
        self.ctx.decode(self.batch)
        return [log_softmax(np.ctypeslib.as_array(self.ctx.get_logits_ith(i), shape=(self.n_vocab,))) for i in last]

    def keep(self, seq: int, n: int) -> None:
        llama_cpp.llama_memory_seq_rm(self.mem, seq, n, -1)

    def pair(self, a: list[int], b: list[int]) -> tuple[np.ndarray, np.ndarray, int]:
        """Both orders' log-probs and the tokens evaluated. Each stream evaluates its last m >= MIN_ROWS tokens."""
        m = max(MIN_ROWS, len(a) - common_prefix(a, b), len(b) - common_prefix(a, b))
        sa, sb = len(a) - m, len(b) - m
        top = max(sa, sb)
        kept = min(common_prefix(self.held, a), top)
        if 0 < top - kept < MIN_ROWS:
            kept = max(0, top - MIN_ROWS)
        if min(sa, sb) < 0 or 0 < top - kept < MIN_ROWS:
            return (*[self.whole(x) for x in (a, b)], len(a) + len(b))
        self.keep(0, kept)
        if top > kept:
            self.decode([(0, a[kept:top], kept)])
        self.keep(1, 0)
        llama_cpp.llama_memory_seq_cp(self.mem, 0, 1, -1, -1)
        self.keep(0, sa)
        self.keep(1, sb)
        lp_a, lp_b = self.decode([(0, a[sa:], sa), (1, b[sb:], sb)])
        self.keep(0, min(sa, sb))
        self.held = a[:min(sa, sb)]
        return lp_a, lp_b, top - kept + 2 * m

    def whole(self, x: list[int]) -> np.ndarray:
        self.keep(0, 0)
        self.held = list(x)
        return self.decode([(0, x, 0)])[0]


class TwoStreamJudge:
    """A LlamaCppJudge whose label_logprobs evaluates each pair's two orders in one llama_decode."""

    def __init__(self, judge: LlamaCppJudge):
        self.judge = judge
        self.streams = {id(llm): _Streams(judge) for llm in judge.contexts}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.judge, name)

    def label_logprobs(self, prompts: Sequence, labels: Sequence[str], continuations=None) -> list[LabelLogprobs]:
        j = self.judge
        tokens = [j._tokens(j.render(m)) for m in prompts]  # the labeller asks a pair's two orders one after the other
        assert len(tokens) % 2 == 0 and not continuations, "pairs of orders only"
        ids = {lab: j._ids(lab) for lab in labels}
        res: list[Any] = [None] * len(tokens)

        def one(llm: Any, k: int) -> None:
            s = self.streams[id(llm)]
            threads = llama_cpp.llama_n_threads(llm._ctx.ctx)  # as the judge's _spread set it for this context
            s.ctx.set_n_threads(threads, threads)
            lp_a, lp_b, evaluated = s.pair(tokens[2 * k], tokens[2 * k + 1])
            j.usage.add(prompt_tokens=len(tokens[2 * k]) + len(tokens[2 * k + 1]), prompt_tokens_evaluated=evaluated,
                        requests=2)
            for i, lp in ((2 * k, lp_a), (2 * k + 1, lp_b)):
                res[i] = LabelLogprobs({lab: float(np.logaddexp.reduce(lp[t])) for lab, t in ids.items()})

        # pairs in the order of their first prompt, so pairs sharing a principle run one after the other
        j._spread([[k] for k in sorted(range(len(tokens) // 2), key=lambda k: tokens[2 * k])], one)
        return res
