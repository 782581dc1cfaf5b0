"""Shared fixtures: controlled fake judges (exact, known answers), the real embedded judge, tiny models; and
the fast lane: a test that uses a fixture loading a model, starting a server, Ray or a browser is marked
``slow`` here (``pytest -m "not slow"`` leaves it out)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from rlaif.judges.base import LabelLogprobs, Usage

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HH_DEV = SHARED / "hh-harmless-dev.jsonl"

# fixtures that load the embedded judge or a model, or start a server, Ray or Chromium
SLOW_FIXTURES = {"llamacpp_judge", "hf_judge", "smol_tokenizer", "tiny_lm", "tiny_cls", "simple_judge", "server",
                 "scripted_server", "srv", "local_ray", "browser"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


class ScriptedJudge:
    """A judge with controlled logits: the label logits are ``quality(slot) + bias(slot)``.

    quality = +strength for a response containing "GOOD", -strength for "BAD", else 0;
    ``position_bias`` is added to label "1". So P("1") = sigmoid(q1 - q2 + bias), exactly.
    """

    judge_id = "scripted:test"

    def __init__(self, strength: float = 2.0, position_bias: float = 0.0, drop: str | None = None,
                 context_length: int | None = None, offset: float = -3.0):
        self.strength, self.bias, self.drop, self.offset = strength, position_bias, drop, offset
        self.context_length = context_length
        self.usage = Usage()
        self.seen: list[list[dict]] = []
        self.generated = 0

    def _q(self, text: str) -> float:
        return self.strength * (("GOOD" in text) - ("BAD" in text))

    def count_tokens(self, messages):
        return sum(len(m["content"].split()) for m in messages)

    def label_logprobs(self, prompts, labels, continuations=None):
        out = []
        for msgs in prompts:
            self.seen.append(msgs)
            if not self._compares(msgs):  # a 1-10 rating prompt (direct RLAIF)
                out.append(self._score_logprobs(msgs[-1]["content"], labels))
                continue
            r1, r2 = self._responses(msgs)
            l1, l2 = self._q(r1) + self.bias, self._q(r2)
            # an arbitrary common offset: renormalisation over the two labels must cancel it
            z = math.log(math.exp(l1) + math.exp(l2) + 50.0)
            lp = {labels[0]: l1 - z + self.offset, labels[1]: l2 - z + self.offset}
            if self.drop:
                lp.pop(self.drop)
            out.append(LabelLogprobs(lp, "not in top-20" if self.drop else None))
        return out

    @staticmethod
    def _compares(msgs):
        return any("Response 1" in m["content"] for m in msgs)

    @staticmethod
    def _responses(msgs):
        """The responses in slots 1 and 2 of a comparison prompt."""
        text = msgs[-1]["content"] if msgs[-1]["role"] == "user" and "Response 1" in msgs[-1]["content"] \
            else next(m["content"] for m in reversed(msgs) if "Response 1" in m["content"])
        r1 = re.search(r"Response 1:\n(.*?)\n\nResponse 2:", text, re.S).group(1)
        r2 = re.search(r"Response 2:\n(.*?)(?:\n\n|\n?\Z)", text, re.S).group(1)
        return r1, r2

    @staticmethod
    def _score_logprobs(text, labels):
        """Rating prompts: the judge puts its mass on "9" for a GOOD response, "2" for a BAD one."""
        best = "9" if "GOOD" in text else "2" if "BAD" in text else "5"
        return LabelLogprobs({lab: (-0.1 if lab == best else -6.0) for lab in labels})

    def generate(self, prompts, max_new_tokens):
        self.generated += len(prompts)
        return [f"rationale {i}" for i in range(len(prompts))]

    CANDIDATES = ("a GOOD reply", "a plain reply", "a BAD reply", "another plain reply", "one more GOOD one")

    UNSURE = 0.125  # share of sampled answers to a comparison prompt that name no label

    def sample(self, prompts, sampling):
        """As a policy: n replies per prompt, cycling through CANDIDATES from a seed-dependent start. As a judge
        (a comparison prompt, ``method='sample'``): answer k is "Neither." with probability UNSURE, else "1" with
        probability sigmoid(l1 - l2) (the label logits' odds), drawn with ``prompt_seed(seed, prompt, k)``."""
        self.generated += len(prompts) * sampling.n
        return [[self._answer(msgs, sampling.seed, k) if self._compares(msgs) else
                 self.CANDIDATES[(sampling.seed + k) % len(self.CANDIDATES)] for k in range(sampling.n)]
                for msgs in prompts]

    def _answer(self, msgs, seed, k):
        import random

        from rlaif.judges.sampling import prompt_seed

        r1, r2 = self._responses(msgs)
        u = random.Random(prompt_seed(seed, msgs, k)).random()
        return "Neither." if u < self.UNSURE else "1" if u < self.UNSURE + (1 - self.UNSURE) * sigmoid(
            self._q(r1) + self.bias - self._q(r2)) else "2"


def scripted_panel() -> list[ScriptedJudge]:
    """A panel of two controlled judges with ids of their own: "scripted:2" (strength 2) and "scripted:1/0.5"
    (strength 1, +0.5 on slot 1), as ``scripted_cli``'s ``scripted:STRENGTH[/BIAS]`` specs build them."""
    strong, biased = ScriptedJudge(strength=2.0), ScriptedJudge(strength=1.0, position_bias=0.5)
    strong.judge_id, biased.judge_id = "scripted:2", "scripted:1/0.5"
    return [strong, biased]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@pytest.fixture
def scripted():
    return ScriptedJudge


@pytest.fixture(scope="session")
def llamacpp_judge():
    from rlaif.judges import load_judge

    return load_judge("llamacpp:embedded")


@pytest.fixture(scope="session")
def hf_judge():
    from rlaif.judges import load_judge

    return load_judge("hf:embedded")


@pytest.fixture(scope="session")
def smol_tokenizer():
    from transformers import AutoTokenizer

    from rlaif.judges import embedded_gguf

    p = embedded_gguf()
    return AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)


@pytest.fixture(scope="session")
def tiny_lm(smol_tokenizer):
    """A randomly initialised 2-layer Llama with SmolLM2's tokenizer, built in-process."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(smol_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      pad_token_id=smol_tokenizer.pad_token_id)
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="session")
def hh_rows():
    if not HH_DEV.exists():
        pytest.fail(f"{HH_DEV} is missing: the tests that use HH-RLHF dev pairs need the shared data folder "
                    "../shared/data next to the repository", pytrace=False)
    return [json.loads(line) for line in HH_DEV.open()]


def write_jsonl(path: Path, rows) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    return path


def grpo_train(reward_funcs, model, tokenizer, out_dir, steps: int) -> list[dict]:
    """A real TRL GRPOTrainer on a copy of ``model`` for ``steps`` steps (4 prompts, 2 completions each,
    6 tokens); returns the logged rows that carry a reward."""
    import copy

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": f"Say something kind #{i}"}]} for i in range(4)])
    args = GRPOConfig(output_dir=str(out_dir), per_device_train_batch_size=2, num_generations=2,
                      max_completion_length=6, max_steps=steps, report_to="none", use_cpu=True, logging_steps=1,
                      save_strategy="no", bf16=False)
    trainer = GRPOTrainer(model=copy.deepcopy(model), reward_funcs=reward_funcs, args=args, train_dataset=ds,
                          processing_class=tokenizer)
    trainer.train()
    return [h for h in trainer.state.log_history if "reward" in h]
