"""Labels from a reasoning judge: the judge thinks before its answer, then the label is read after the reasoning
(``ReasoningJudge``); each label record keeps the reasoning, one per prompt, and how many were cut at the budget."""

from __future__ import annotations

from typing import Any, Sequence

from rlaif.core.errors import RlaifError
from rlaif.judges.base import JudgeBackend, LabelLogprobs, Messages
from rlaif.judges.sampling import Sampling
from rlaif.judges.thinking import Reasoning, Thought, answer_prefix, think_format


class ReasoningJudge:
    """The judge as the labeler reads it with reasoning on, for one call's ``prompts``.

    ``label_logprobs``: the judge reasons greedily under the budget (``judge.reason``), and the label tokens'
    log-probs are read after that reasoning, closed (``answer_prefix``): the same assistant turn, continued.
    ``sample``: each sampled reply reasons, then answers (``judge.sample_reasoning``; servers that reason inside
    each request); the answers after the reasoning are what ``sampled`` parses. The thoughts are kept per prompt
    (the first reply's, when sampled) for the records (``fields``).
    """

    def __init__(self, judge: JudgeBackend, reasoning: Reasoning, prompts: Sequence[Messages]):
        self.judge, self.reasoning, self.usage = judge, reasoning, judge.usage
        self._index = {id(m): j for j, m in enumerate(prompts)}
        self._first: dict[int, Thought] = {}
        self._cut: dict[int, int] = {}

    def _method(self, name: str, why: str):
        fn = getattr(self.judge, name, None)
        if fn is None:
            raise RlaifError(f"judge {self.judge.judge_id} cannot {why}")
        return fn

    def _keep(self, prompts: Sequence[Messages], thoughts: Sequence[Sequence[Thought]]) -> None:
        cut = 0
        for msgs, ts in zip(prompts, thoughts):
            j = self._index[id(msgs)]
            self._first.setdefault(j, ts[0])
            n = sum(not t.closed for t in ts)
            self._cut[j] = self._cut.get(j, 0) + n
            cut += n
        self.usage.add(reasoning_cut=cut)

    def label_logprobs(self, prompts: Sequence[Messages], labels: Sequence[str],
                       continuations: Sequence[str] | None = None) -> list[LabelLogprobs]:
        if continuations:
            raise ValueError("a reasoning judge's answer continues its own reasoning, not a given text")
        fmt = think_format(self.reasoning, self.judge.judge_id)
        thoughts = self._method("reason", "reason before its answer (no think-then-answer support)")(
            prompts, self.reasoning)
        self._keep(prompts, [[t] for t in thoughts])
        return self.judge.label_logprobs(prompts, labels, continuations=[answer_prefix(t, fmt) for t in thoughts])

    def sample(self, prompts: Sequence[Messages], sampling: Sampling) -> list[list[str]]:
        replies = self._method("sample_reasoning", "sample replies that reason (an openai judge's server does; "
                               "in-process judges read the answer's log-probs after their reasoning: --method "
                               "logprob)")(prompts, sampling, self.reasoning)
        self._keep(prompts, replies)
        return [[t.answer for t in ts] for ts in replies]

    def fields(self, pairs: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Per pair (``pairs[j]``: prompt j's pair) the record fields ``reasoning`` (one per prompt, in prompt
        order; None where hidden) and ``reasoning_cut`` (reasonings cut at the budget)."""
        out: dict[int, dict[str, Any]] = {}
        for j, ri in enumerate(pairs):
            if j not in self._first:
                continue
            row = out.setdefault(ri, {"reasoning": [], "reasoning_cut": 0})
            row["reasoning"].append(self._first[j].text)
            row["reasoning_cut"] += self._cut.get(j, 0)
        return out
