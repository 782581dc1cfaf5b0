"""Pure request building and parsing for the OpenAI-compatible and vLLM backends (no network, no GPU)."""

import inspect
import math
from types import SimpleNamespace as NS

import pytest

from rlaif.judges import openai_payloads as P
from rlaif.judges.vllm_backend import parse_label_logprobs, sampling_kwargs

MSGS = [{"role": "user", "content": "1 or 2?"}]


def test_chat_payload_shapes():
    kw = P.chat_payload("m", MSGS)
    assert kw == {"model": "m", "messages": MSGS, "max_tokens": 1, "temperature": 0, "logprobs": True, "top_logprobs": 20}
    kw = P.chat_payload("m", MSGS, logprob_token_ids=[33, 34], continuation="1")
    assert kw["extra_body"] == {"logprob_token_ids": [33, 34], "return_tokens_as_token_ids": True,
                                "continue_final_message": True, "add_generation_prompt": False}
    assert kw["messages"][-1] == {"role": "assistant", "content": "1"} and MSGS == [{"role": "user", "content": "1 or 2?"}]
    c = P.completion_payload("m", "text", top_logprobs=5)
    assert c == {"model": "m", "prompt": "text", "max_tokens": 1, "temperature": 0, "logprobs": 5,
                 "extra_body": {"add_special_tokens": False}}  # the rendered prompt carries the template's BOS
    assert "extra_body" not in P.completion_payload("m", "text", openai_api=True)  # OpenAI rejects unknown fields


def test_openai_client_signatures_accept_every_payload():
    """The openai client's typed ``create`` methods take each keyword we pass (a misspelt one is a TypeError)."""
    import inspect

    import openai

    from rlaif.judges.sampling import Sampling

    client = openai.OpenAI(api_key="x", base_url="http://127.0.0.1:9/v1")
    chat = set(inspect.signature(client.chat.completions.create).parameters)
    comp = set(inspect.signature(client.completions.create).parameters)
    for kw in (P.chat_payload("m", MSGS, logprob_token_ids=[1], continuation="1"), P.generate_payload("m", MSGS, 8),
               P.sample_payload("m", MSGS, Sampling(), 3)):
        assert set(kw) <= chat, set(kw) - chat
    assert set(P.completion_payload("m", "t", logprob_token_ids=[1])) <= comp
    assert {"bogus"} - chat == {"bogus"}  # the check can fail: the signatures are explicit, no **kwargs


def test_retry_after_headers():
    import email.utils

    now = 1_700_000_000.0
    assert P.retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}, now) == 0.25  # OpenAI's ms first
    assert P.retry_after_seconds({"Retry-After": "3"}, now) == 3.0
    date = email.utils.formatdate(now + 7, usegmt=True)  # an HTTP date 7 s ahead
    assert P.retry_after_seconds({"retry-after": date}, now) == pytest.approx(7.0)
    assert P.retry_after_seconds({"retry-after": email.utils.formatdate(now - 60, usegmt=True)}, now) == 0.0
    assert P.retry_after_seconds({"retry-after": "soon"}, now) is None and P.retry_after_seconds({}, now) is None
    assert P.retry_after_seconds({"retry-after-ms": "x", "retry-after": "2"}, now) == 2.0


def test_reasoning_models_and_openai_limits_stop_or_cap_at_once():
    from rlaif.core.errors import RlaifError
    from rlaif.judges import load_judge
    from rlaif.judges.sampling import Sampling
    from rlaif.judges.thinking import Reasoning

    for name in ("o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5-mini", "gpt-5.1", "openai/o3"):
        assert P.reasoning_model_error(name) is not None, name
    for name in ("gpt-4o-mini", "gpt-4.1-mini", "smollm2", "Qwen/Qwen2.5-7B-Instruct", "olmo-2", "gpt-4o"):
        assert P.reasoning_model_error(name) is None, name
    o3 = load_judge("openai:o3-mini", api_key="x")  # a reasoning model judges with sampled answers only
    one_line = r"^openai judge: 'o3-mini' is a reasoning model .* --method sample --reasoning openai [^\n]*$"
    for ask in (lambda: o3.label_logprobs([MSGS], ["1", "2"]), lambda: o3.generate([MSGS], 8),
                lambda: o3.sample([MSGS], Sampling()), lambda: o3.reason([MSGS], Reasoning(format="think"))):
        with pytest.raises(RlaifError, match=one_line):
            ask()
    with pytest.raises(RlaifError, match="samples at temperature 1 only"):
        o3.sample_reasoning([MSGS], Sampling(temperature=0.7), Reasoning(format="openai"))
    assert load_judge("openai:gpt-4o-mini", api_key="x", top_logprobs=50).top_logprobs == 20  # OpenAI's chat limit
    assert load_judge("openai:m", base_url="http://127.0.0.1:9/v1", top_logprobs=50).top_logprobs == 50
    with pytest.raises(RlaifError, match="--exact-label-ids needs a vLLM server"):
        load_judge("openai:gpt-4o-mini", api_key="x", exact_label_ids=True, tokenizer=None)
    judge = load_judge("openai:gpt-4o-mini", api_key="x")
    with pytest.raises(RlaifError, match="OpenAI's API cannot continue an assistant reply"):
        judge.label_logprobs([MSGS, MSGS], ["0", "1"], continuations=["", "1"])


def test_reasoning_payloads_fit_the_openai_clients_types():
    """Reasoning requests: OpenAI's reasoning models get ``max_completion_tokens`` and ``reasoning_effort`` and
    nothing they reject; every key is a field of the client's ``CompletionCreateParamsNonStreaming`` (and
    ``ReasoningEffort``'s values ours); the server's ``completion_tokens_details.reasoning_tokens`` is read from
    the client's own response type."""
    import typing

    import openai
    from openai.types.chat import ChatCompletion
    from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
    from openai.types.shared.reasoning_effort import ReasoningEffort

    from rlaif.judges.sampling import Sampling
    from rlaif.judges.thinking import Effort, Reasoning

    keys = set(typing.get_type_hints(CompletionCreateParamsNonStreaming))
    assert set(typing.get_args(Effort)) == set(typing.get_args(typing.get_args(ReasoningEffort)[0]))
    r = Reasoning(format="openai", budget=1000, effort="high")
    o3 = P.reasoning_sample_payload("o3-mini", MSGS, Sampling(n=5, temperature=1.0, max_new_tokens=8), r, 7, True)
    assert o3 == {"model": "o3-mini", "messages": MSGS, "n": 5, "max_completion_tokens": 1008,
                  "reasoning_effort": "high"} and set(o3) <= keys
    served = P.reasoning_sample_payload("qwen3", MSGS, Sampling(n=5, temperature=0.6, max_new_tokens=8), r, 7, False)
    assert served["max_tokens"] == 1008 and served["temperature"] == 0.6 and set(served) <= keys
    think = P.think_chat_payload("qwen3", MSGS, 256, "low")
    assert think == {"model": "qwen3", "messages": MSGS, "max_tokens": 256, "temperature": 0, "reasoning_effort": "low"}
    comp = P.think_completion_payload("qwen3", "<|im_start|>assistant\n<think>\n", 256, "</think>")
    client = openai.OpenAI(api_key="x", base_url="http://127.0.0.1:9/v1")
    assert set(think) <= keys and set(comp) <= set(inspect.signature(client.completions.create).parameters)
    resp = ChatCompletion.model_validate({
        "id": "x", "object": "chat.completion", "created": 0, "model": "o3-mini",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "1"}}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 300, "total_tokens": 340,
                  "completion_tokens_details": {"reasoning_tokens": 288}}})
    assert P.reasoning_tokens_of(resp) == 288 and P.usage_of(resp) == (40, 300)
    assert P.reasoning_tokens_of({"usage": {"prompt_tokens": 1, "completion_tokens": 1}}) is None


def chat_response(top, chosen=("1", -0.1)):
    return {"choices": [{"logprobs": {"content": [{"token": chosen[0], "logprob": chosen[1],
                                                   "top_logprobs": [{"token": t, "logprob": v} for t, v in top]}]}}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 1}}


def test_parse_chat_sums_tokenizer_variants_and_reports_missing():
    resp = chat_response([("1", math.log(0.5)), (" 1", math.log(0.1)), ("2", math.log(0.2)), ("The", -3.0)])
    got = P.label_logprobs_from_candidates(P.candidates_from_chat(resp), ["1", "2"], 20)
    assert got.missing_reason is None
    assert math.exp(got.logprobs["1"]) == pytest.approx(0.6) and math.exp(got.logprobs["2"]) == pytest.approx(0.2)
    # SDK objects (attributes rather than keys) parse the same way
    obj = NS(choices=[NS(logprobs=NS(content=[NS(token="2", logprob=-0.5, top_logprobs=[NS(token="2", logprob=-0.5)])]))])
    miss = P.label_logprobs_from_candidates(P.candidates_from_chat(obj), ["1", "2"], 20)
    assert "1" not in miss.logprobs and miss.missing_reason == "label(s) ['1'] not among the top-20 log-probs"
    none = P.label_logprobs_from_candidates(P.candidates_from_chat({"choices": [{"logprobs": None}]}), ["1", "2"], 20)
    assert none.logprobs == {} and "no log-probs" in none.missing_reason
    assert P.usage_of(resp) == (50, 1)


def test_parse_completions_and_cost():
    resp = {"choices": [{"logprobs": {"top_logprobs": [{" 1": -0.2, "2": -2.0}]}}]}
    got = P.label_logprobs_from_candidates(P.candidates_from_completion(resp), ["1", "2"], 20)
    assert got.logprobs == {"1": -0.2, "2": -2.0}
    assert P.estimate_cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert P.estimate_cost("local-model", 10, 10) is None
    assert P.estimate_cost("x", 2_000_000, 0, price=(1.0, 3.0)) == pytest.approx(2.0)


def vllm_output(entries):
    """Stand-in shaped like vllm.RequestOutput: outputs[0].logprobs[0] = {token_id: Logprob}."""
    return NS(outputs=[NS(logprobs=[{tid: NS(logprob=lp, decoded_token=t) for tid, t, lp in entries}])])


def test_exact_ids_parse_and_a_server_that_ignored_them():
    ids = {"1": [33], "2": [34, 216]}
    resp = chat_response([("token_id:33", math.log(0.5)), ("token_id:34", math.log(0.2)), ("token_id:216", -9999.0)],
                         chosen=("token_id:33", math.log(0.5)))
    got = P.label_logprobs_from_ids(P.candidates_from_chat(resp), ids, 20)
    assert math.exp(got.logprobs["1"]) == pytest.approx(0.5) and math.exp(got.logprobs["2"]) == pytest.approx(0.2)
    top_text = chat_response([("1", -0.1), ("2", -2.0)])  # the top-k as text: the ids were ignored
    assert P.label_logprobs_from_ids(P.candidates_from_chat(top_text), ids, 20) is None
    some_ids = chat_response([("token_id:33", -0.1), ("token_id:34", -2.0)])  # top-k as ids, 216 not among them
    assert P.label_logprobs_from_ids(P.candidates_from_chat(some_ids), ids, 20) is None


def test_greedy_sampling_asks_one_reply_and_repeats_it():
    """vLLM rejects n > 1 at temperature 0 (tests/vllm_contracts.py); greedy replies are all equal anyway."""
    from rlaif.judges.sampling import Sampling, repeat_greedy
    from rlaif.judges.vllm_backend import capped_logprobs, sample_params

    greedy, hot = Sampling(n=4, temperature=0.0), Sampling(n=4, temperature=0.7)
    assert sample_params(greedy, 1)["n"] == 1 and P.sample_payload("m", MSGS, greedy, 1)["n"] == 1
    assert sample_params(hot, 1)["n"] == 4 and P.sample_payload("m", MSGS, hot, 1)["n"] == 4
    assert repeat_greedy(["x"], greedy) == ["x"] * 4 and repeat_greedy(["x", "y"], hot) == ["x", "y"]
    assert capped_logprobs(50, 20) == 20 and capped_logprobs(5, 20) == 5 and capped_logprobs(50, -1) == 50


def test_vllm_request_and_parse():
    assert sampling_kwargs([33, 34]) == {"max_tokens": 1, "temperature": 0.0, "logprobs": 20}
    assert sampling_kwargs([33, 34], exact=True) == {"max_tokens": 1, "temperature": 0.0, "logprob_token_ids": [33, 34]}
    ids = {"1": [33], "2": [34]}
    got = parse_label_logprobs(vllm_output([(33, "1", -0.3), (34, "2", -1.5), (5, "x", -4.0)]), ids, 20)
    assert got.logprobs == {"1": -0.3, "2": -1.5} and got.missing_reason is None
    miss = parse_label_logprobs(vllm_output([(33, "1", -0.3)]), ids, 20)
    assert miss.logprobs == {"1": -0.3} and "['2']" in miss.missing_reason
    assert parse_label_logprobs(NS(outputs=[NS(logprobs=None)]), ids, 20).missing_reason.startswith("vLLM returned no")


def test_vllm_missing_gives_clear_error():
    pytest.importorskip("rlaif")
    try:
        import vllm  # noqa: F401
        pytest.skip("vLLM is installed here")
    except ImportError:
        pass
    from rlaif.core.errors import RlaifError
    from rlaif.judges import load_judge

    with pytest.raises(RlaifError, match=r"pip install 'rlaif\[vllm\]'"):
        load_judge("vllm:Qwen/Qwen2.5-7B-Instruct")


def test_unreachable_server_gives_up_with_one_line_and_errors_cross_threads():
    import asyncio

    from rlaif.core.errors import RlaifError
    from rlaif.judges import load_judge

    judge = load_judge("openai:m", base_url="http://127.0.0.1:9/v1", max_retries=1, max_wait=0.01, timeout=1.0)
    with pytest.raises(RlaifError, match=r"at http://127.0.0.1:9/v1: cannot connect \(ConnectError.*re-run to resume"):
        judge.label_logprobs([MSGS], ["1", "2"])
    assert judge.usage.retries == 1

    async def inside_a_running_loop():  # the sync API called from async code runs in a worker thread
        return judge.label_logprobs([MSGS], ["1", "2"])
    with pytest.raises(RlaifError, match="cannot connect"):
        asyncio.run(inside_a_running_loop())


def test_backoff_without_retry_after_grows_from_half_a_second_with_jitter():
    """The installed tenacity's real wait strategy (``multiplier=`` exists from tenacity 9.2: the pin)."""
    from tenacity import RetryCallState

    from rlaif.judges import load_judge

    judge = load_judge("openai:m", base_url="http://127.0.0.1:9/v1", max_wait=3.0)
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
    state.set_exception((RuntimeError, RuntimeError("500 from the server"), None))
    for attempt, low in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0)):
        state.attempt_number = attempt
        waits = [judge._wait(state) for _ in range(20)]
        assert all(low <= w <= min(low + 0.5, 3.0) for w in waits), (attempt, waits)
