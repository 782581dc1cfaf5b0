"""Contract tests against vLLM 0.33's own code (no GPU), run by tests/test_vllm_contract.py in a subprocess
that has vLLM on its path: every ``SamplingParams`` keyword set the in-process judge builds goes through the
real ``vllm.SamplingParams`` and its engine-side log-prob check, and every payload the OpenAI-compatible
backend sends (chat and completions; labels, scores, exact label ids, generation, sampling) reaches a loopback
server that validates it with vLLM's ``ChatCompletionRequest`` / ``CompletionRequest`` and
``to_sampling_params`` (tests/vllm_protocol.py), through the real openai client."""

import pytest
import vllm

from rlaif.core.errors import RlaifError
from rlaif.judges import embedded_gguf, load_judge
from rlaif.judges.sampling import Sampling
from rlaif.judges.thinking import FORMATS, Reasoning
from rlaif.judges.vllm_backend import (DEFAULT_MAX_LOGPROBS, capped_logprobs, generate_params, reason_params,
                                       sample_params, sampling_kwargs, token_prompts)
from rlaif.labeling.labeler import Labeler, LabelerConfig
from rlaif.labeling.sampled import SampledLabels
from rlaif.labeling.scorer import Scorer

from vllm_protocol import REASONING, THOUGHT_TOKENS, VLLMProtocolServer, check_sampling

MSGS = [{"role": "user", "content": "1 or 2?"}]
PAIRS = [{"id": "r0", "prompt": "User: hi?", "response_a": "Hello!", "response_b": "Go away."}]


def test_in_process_keyword_sets_are_valid_sampling_params():
    from vllm.config import ModelConfig

    ids = [33, 34, 35]
    sets = [sampling_kwargs(ids, 20, exact=True), sampling_kwargs(ids, capped_logprobs(50, DEFAULT_MAX_LOGPROBS)),
            generate_params(64), sample_params(Sampling(n=4, temperature=0.0), 7),
            sample_params(Sampling(n=4, temperature=0.8, top_p=0.9), 2**63 - 1),
            *(reason_params(256, f.closing) for f in FORMATS.values())]
    for kw in sets:
        check_sampling(vllm.SamplingParams(**kw))
    assert vllm.SamplingParams(**sets[0]).logprob_token_ids == ids  # the judge's exact path exists in 0.33
    # what the judge built before: greedy n=4 and 50 log-probs, both rejected by vLLM
    with pytest.raises(Exception, match="n must be 1 when using greedy sampling"):
        vllm.SamplingParams(n=4, temperature=0.0, max_tokens=8)
    with pytest.raises(Exception, match="greater than max allowed: 20"):
        check_sampling(vllm.SamplingParams(**sampling_kwargs(ids, 50)))
    # our default limit is the engine's
    default = next(f.default for f in __import__("dataclasses").fields(ModelConfig) if f.name == "max_logprobs")
    assert getattr(default, "default", default) == DEFAULT_MAX_LOGPROBS


def test_prompts_are_token_ids_with_the_templates_bos_only():
    """``LLM.generate`` on text tokenizes with add_special_tokens=True: a second BOS after the template's."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    from vllm.inputs import TokensPrompt

    t = Tokenizer(models.WordLevel({"<s>": 0, "[UNK]": 1, "hi": 2, "there": 3}, unk_token="[UNK]"))
    t.pre_tokenizer = pre_tokenizers.Whitespace()
    t.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    tok = PreTrainedTokenizerFast(tokenizer_object=t, bos_token="<s>", unk_token="[UNK]")
    rendered = "<s>hi there"  # a chat template that writes BOS itself
    assert tok(rendered)["input_ids"] == [0, 0, 2, 3]  # what text tokenization with special tokens gives
    [prompt] = token_prompts(tok, [rendered])
    assert prompt == {"prompt_token_ids": [0, 2, 3]} and set(prompt) <= set(TokensPrompt.__annotations__)


@pytest.fixture(scope="module")
def server():
    srv = VLLMProtocolServer()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def tokenizer_path():
    return str(embedded_gguf())


def bodies(server, kind):
    return [(b, p) for k, b, p in server.seen if k == kind]


def test_every_payload_of_the_openai_backend_is_a_valid_vllm_request(server, tokenizer_path):
    server.seen.clear()
    chat = load_judge("openai:smollm2", base_url=server.url)
    assert Labeler(chat, LabelerConfig()).label(PAIRS)[0]["error"] is None          # labels, chat
    assert Scorer(chat).score([("hi?", "Hello!")])[0]["error"] is None               # scores: continue_final_message
    assert chat.generate([MSGS], 8) == ["reply 0"]                                   # CoT / generation
    assert chat.sample([MSGS], Sampling(n=3, temperature=0.0)) == [["reply 0"] * 3]  # greedy: one asked, repeated
    assert chat.sample([MSGS], Sampling(n=3, temperature=0.7)) == [["reply 0", "reply 1", "reply 2"]]
    sampled = Labeler(chat, LabelerConfig(method="sample", sampling=SampledLabels(samples=3))).label(PAIRS)[0]
    assert sampled["sample_counts"] == {"ab": [1, 1, 1], "ba": [1, 1, 1]}  # "reply 0", "reply 1", "reply 2": n taken
    exact = load_judge("openai:smollm2", base_url=server.url, tokenizer=tokenizer_path, exact_label_ids=True)
    assert Labeler(exact, LabelerConfig()).label(PAIRS)[0]["error"] is None          # exact ids, chat
    assert Scorer(exact).score([("hi?", "Hello!")])[0]["error"] is None              # continuation: completions
    comp = load_judge("openai:smollm2", base_url=server.url, tokenizer=tokenizer_path, endpoint="completions",
                      exact_label_ids=True)
    assert Labeler(comp, LabelerConfig()).label(PAIRS)[0]["error"] is None           # exact ids, completions

    chats, comps = bodies(server, "chat"), bodies(server, "completions")
    conts = [b for b, _ in chats if b.get("continue_final_message")]
    assert conts and all(b["add_generation_prompt"] is False and b["messages"][-1]["role"] == "assistant"
                         for b in conts)
    exact_ids = [p.logprob_token_ids for b, p in chats + comps if b.get("logprob_token_ids")]
    assert len(exact_ids) >= 4 and all(ids for ids in exact_ids)
    assert comps and all(b["add_special_tokens"] is False for b, _ in comps)  # the rendered prompt's BOS only
    assert {p.n for _, p in chats} == {1, 3}  # n=3 only where sampled (T > 0)
    hot = [p for b, p in chats if b.get("temperature")]  # sampled: the whole distribution, not the model's defaults
    assert len(hot) == 3 and all((p.top_k, p.min_p, p.repetition_penalty) == (0, 0.0, 1.0) for p in hot)


def test_server_that_ignores_logprob_token_ids_stops_the_job(tokenizer_path):
    srv = VLLMProtocolServer(honour_ids=False)  # answers its top-k, as older vLLM and other servers do
    try:
        judge = load_judge("openai:smollm2", base_url=srv.url, tokenizer=tokenizer_path, exact_label_ids=True)
        with pytest.raises(RlaifError, match=r"lacks the log-probs of the label token ids .* drop --exact-label-ids"):
            Labeler(judge, LabelerConfig()).label(PAIRS)
    finally:
        srv.close()


def test_reasoning_requests_are_valid_vllm_requests_and_its_reasoning_field_is_read(tokenizer_path):
    """A reasoning judge on a vLLM server with a reasoning parser: the greedy reasoning (chat: the server's model
    reasons, its ``message.reasoning`` is read; with a tokenizer: rendered here and continued on /v1/completions up
    to the budget), the label read after it (``continue_final_message`` / the rendered continuation), and
    sampled replies that reason, with ``reasoning_effort``; reasoning tokens from the server's usage details."""
    srv = VLLMProtocolServer(reasoning=True)
    try:
        think = LabelerConfig(reasoning=Reasoning(format="think", budget=64, effort="low"))
        chat = load_judge("openai:qwen3", base_url=srv.url)
        [row] = Labeler(chat, think).label(PAIRS)
        assert row["error"] is None and row["reasoning"] == [f"{REASONING} 0"] * 2 and row["reasoning_cut"] == 0
        thoughts = [(b, p) for b, p in bodies(srv, "chat") if not b.get("logprobs")]
        assert len(thoughts) == 2 and all(b["reasoning_effort"] == "low" and p.max_tokens == 64 and p.temperature == 0
                                          for b, p in thoughts)
        labels = [b for b, _ in bodies(srv, "chat") if b.get("logprobs")]
        assert len(labels) == 2 and all(b["continue_final_message"] and b["messages"][-1] == {
            "role": "assistant", "content": f"<think>\n{REASONING} 0\n</think>\n\n"} for b in labels)
        assert chat.usage.extra["reasoning_tokens"] == 2 * THOUGHT_TOKENS

        srv.seen.clear()
        rendered = load_judge("openai:qwen3", base_url=srv.url, tokenizer=tokenizer_path)
        [row] = Labeler(rendered, think).label(PAIRS)
        assert row["error"] is None and row["reasoning"] == [REASONING] * 2 and row["reasoning_cut"] == 0
        comps = bodies(srv, "completions")
        opened = [(b, p) for b, p in comps if not b.get("logprobs")]
        assert len(opened) == 2 and all(b["prompt"].endswith("<|im_start|>assistant\n<think>\n") and
                                        p.max_tokens == 64 and p.skip_special_tokens is False for b, p in opened)
        after = [b for b, _ in comps if b.get("logprobs")]
        assert len(after) == 2 and all(b["prompt"].endswith(f"<think>\n{REASONING}\n</think>\n\n") for b in after)

        srv.seen.clear()
        sampled = LabelerConfig(method="sample", sampling=SampledLabels(samples=3, temperature=0.7),
                                reasoning=Reasoning(format="openai", budget=100, effort="high"))
        [row] = Labeler(chat, sampled).label(PAIRS)
        assert row["sample_counts"] == {"ab": [2, 1, 0], "ba": [2, 1, 0]} and row["reasoning"] == [f"{REASONING} 0"] * 2
        assert all(p.n == 3 and p.max_tokens == 108 and b["reasoning_effort"] == "high" for b, p in bodies(srv, "chat"))
    finally:
        srv.close()
