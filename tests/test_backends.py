"""Local backends: exactness of batching/padding and prefix reuse, and the real embedded judge."""

import math

import pytest
import torch

from rlaif.judges.hf import HFJudge, length_batches
from rlaif.labeling.labeler import Labeler, LabelerConfig

PROMPTS = [
    [{"role": "user", "content": "Is the sky blue? Answer 1 for yes, 2 for no."}],
    [{"role": "system", "content": "You judge."},
     {"role": "user", "content": "A much longer prompt, so that the batch needs left padding: " + "word " * 40}],
    [{"role": "user", "content": "Pick 1 or 2."}],
]


def test_hf_batched_left_padding_matches_one_at_a_time(tiny_lm, smol_tokenizer):
    batched = HFJudge(tiny_lm, smol_tokenizer, "hf:tiny", batch_size=3)
    single = HFJudge(tiny_lm, smol_tokenizer, "hf:tiny", batch_size=1)
    texts = [batched.render(m) for m in PROMPTS]
    lb, ls = batched.next_token_logprobs(texts), single.next_token_logprobs(texts)
    assert lb.shape == (3, len(smol_tokenizer))
    assert torch.allclose(lb, ls, atol=1e-4)
    # and against a plain forward pass with no padding machinery at all
    ids = smol_tokenizer(texts[0], add_special_tokens=False, return_tensors="pt")["input_ids"]
    ref = torch.log_softmax(tiny_lm(input_ids=ids).logits[0, -1], -1)
    assert torch.allclose(lb[0], ref, atol=1e-4)


def test_length_batches_cut_by_count_and_by_padding():
    lengths = [5, 3, 9, 4, 100, 101]
    assert length_batches(lengths, 8) == [[1, 3, 0, 2, 4, 5]]  # count only: shortest first
    assert length_batches(lengths, 2) == [[1, 3], [0, 2], [4, 5]]
    # [3, 4, 5] padded to 9 would be 15/36 padding: 9 starts a batch; 100 after 9 as well
    assert length_batches(lengths, 8, max_padding=0.3) == [[1, 3, 0], [2], [4, 5]]
    assert length_batches([], 8) == []


def test_hf_padding_cap_gives_the_same_logprobs(tiny_lm, smol_tokenizer):
    capped = HFJudge(tiny_lm, smol_tokenizer, "hf:tiny", batch_size=3, max_padding=0.1)
    texts = [capped.render(m) for m in PROMPTS]
    whole = HFJudge(tiny_lm, smol_tokenizer, "hf:tiny", batch_size=3).next_token_logprobs(texts)
    assert torch.allclose(capped.next_token_logprobs(texts), whole, atol=1e-4)
    lengths = [len(smol_tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert len(length_batches(lengths, 3, 0.1)) > 1  # the cap did cut the batch


def test_hf_shared_prefix_cache_matches_whole_prompts(tiny_lm, smol_tokenizer):
    """Two orders of a pair (suffixes of different lengths), a prompt sharing only the preamble, a lone one."""
    judge = HFJudge(tiny_lm, smol_tokenizer, "hf:tiny", batch_size=2)
    base = [{"role": "system", "content": "You judge."}, {"role": "user", "content": "Conversation: hi there. "}]
    pair = [base[:1] + [{"role": "user", "content": base[1]["content"] + a + b}]
            for a, b in (("Response 1: yes. ", "Response 2: no, never, not at all."),
                         ("Response 1: no, never, not at all. ", "Response 2: yes."))]
    texts = [judge.render(m) for m in pair + [base, PROMPTS[2]]]
    shared, whole = judge.next_token_logprobs(texts, reuse=True), judge.next_token_logprobs(texts)
    assert torch.allclose(shared, whole, atol=1e-4)
    assert judge.usage.extra["prompt_tokens_evaluated"] < judge.usage.prompt_tokens / 2  # of both calls' tokens


def test_hf_label_logprobs_sum_over_surface_variants(tiny_lm, smol_tokenizer):
    judge = HFJudge(tiny_lm, smol_tokenizer, "hf:tiny", batch_size=2)
    res = judge.label_logprobs(PROMPTS, ["1", "2"])
    full = judge.next_token_logprobs([judge.render(m) for m in PROMPTS])
    one, space_one = smol_tokenizer.encode("1", add_special_tokens=False), smol_tokenizer.encode(" 1", add_special_tokens=False)
    assert len(one) == 1 and len(space_one) == 2  # SmolLM2 splits " 1" into space + digit: only "1" counts
    for r, row in zip(res, full):
        assert r.logprobs["1"] == pytest.approx(float(row[one[0]]), abs=1e-5)
    gen = judge.generate(PROMPTS[:2], max_new_tokens=3)
    assert len(gen) == 2 and all(isinstance(g, str) for g in gen)


def pair_rows(hh_rows, n):
    from rlaif.data import normalise_row

    return [normalise_row(r, i, f"hh:{i}") for i, r in enumerate(hh_rows[:n])]


def test_embedded_judge_labels_real_pairs_and_swap_symmetry(llamacpp_judge, hh_rows):
    lab = Labeler(llamacpp_judge, LabelerConfig(principles="least-harmful"))
    recs = pair_rows(hh_rows, 4)
    swapped = [{**r, "response_a": r["response_b"], "response_b": r["response_a"], "human_label": 0.0} for r in recs]
    out, out_sw = lab.label(recs), lab.label(swapped)
    for o, s in zip(out, out_sw):
        assert 0.0 <= o["p_a"] <= 1.0 and o["error"] is None
        assert o["p_a"] + s["p_a"] == pytest.approx(1.0, abs=1e-3)
        assert o["p_a_first"] == pytest.approx(1 - s["p_a_second"], abs=1e-3)
    # the known behaviour of this judge: it mostly answers "1" whatever is in slot 1
    assert sum(o["p_a_first"] > 0.5 and o["p_a_second"] < 0.5 for o in out) >= 2


def test_engines_agree_on_embedded_judge(llamacpp_judge, hf_judge, hh_rows):
    """bf16 llama.cpp vs the dequantised fp32 transformers model: same model, close probabilities."""
    cfg = LabelerConfig(principles="least-harmful")
    recs = pair_rows(hh_rows, 3)
    a, b = Labeler(llamacpp_judge, cfg).label(recs), Labeler(hf_judge, cfg).label(recs)
    for x, y in zip(a, b):
        assert abs(x["p_a_first"] - y["p_a_first"]) < 0.1
        assert abs(x["p_a"] - y["p_a"]) < 0.1


@pytest.mark.slow
def test_hf_compiled_model_gives_the_eager_logprobs(tiny_lm, smol_tokenizer):
    """``compile=True`` runs the forward pass through torch.compile (inductor's fused CPU kernels): in fp32 the
    log-probs are eager's to 1e-4, over batches of different shapes (one graph with dynamic shapes)."""
    import copy

    from torch._dynamo.utils import counters

    eager = HFJudge(tiny_lm, smol_tokenizer, "hf:tiny", batch_size=2)
    texts = [eager.render(m) for m in PROMPTS]
    before = counters["stats"]["unique_graphs"]
    compiled = HFJudge(copy.deepcopy(tiny_lm), smol_tokenizer, "hf:tiny+compile", batch_size=2, compile=True)
    got = compiled.next_token_logprobs(texts)
    assert counters["stats"]["unique_graphs"] > before  # the forward pass did go through the compiler
    assert torch.allclose(got, eager.next_token_logprobs(texts), atol=1e-4)
