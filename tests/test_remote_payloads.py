"""Pure request building and parsing for the OpenAI-compatible and vLLM backends (no network, no GPU)."""

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
    assert kw["extra_body"] == {"logprob_token_ids": [33, 34], "continue_final_message": True,
                                "add_generation_prompt": False}
    assert kw["messages"][-1] == {"role": "assistant", "content": "1"} and MSGS == [{"role": "user", "content": "1 or 2?"}]
    c = P.completion_payload("m", "text", top_logprobs=5)
    assert c == {"model": "m", "prompt": "text", "max_tokens": 1, "temperature": 0, "logprobs": 5}


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
