"""The fast paths of the embedded judge give the simple path's log-probs: prefix reuse on several llama.cpp contexts
vs every prompt evaluated whole on one, and transformers' shared-prefix KV cache vs whole prompts (pairs of different
lengths, truncated contexts); converted weights are cached and named in the judge id."""

import numpy as np
import pytest

from rlaif.core.errors import RlaifError
from rlaif.judges import embedded_gguf, judge_id, load_judge
from rlaif.judges.gguf_weights import weights_path
from rlaif.labeling.labeler import Labeler, LabelerConfig

pytestmark = pytest.mark.slow


def rows(hh_rows, idx):
    from rlaif.data import normalise_row

    return [normalise_row(hh_rows[i], i, f"hh:{i}") for i in idx]


@pytest.fixture(scope="module")
def simple_judge():
    return load_judge("llamacpp:embedded", reuse_prefix=False, contexts=1)


def hard_rows(hh_rows):
    """The shortest and longest two of the first 40 pairs."""
    lengths = [len(r["chosen"]) + len(r["rejected"]) for r in hh_rows[:40]]
    idx = sorted(range(40), key=lengths.__getitem__)
    return rows(hh_rows, idx[:2] + idx[-2:])


def label_logprobs(judge, lab, recs):
    """Every prompt the labeler asks for these records, and the judge's log-probs of its labels."""
    _, jobs = lab._plan(recs)
    prompts = [m for *_, m in jobs]
    return prompts, np.array([[r.logprobs[x] for x in ("1", "2")] for r in judge.label_logprobs(prompts, ["1", "2"])])


@pytest.mark.parametrize("max_prompt_tokens", [None, 400])
def test_prefix_reuse_gives_the_simple_paths_logprobs(llamacpp_judge, simple_judge, hh_rows, max_prompt_tokens):
    """Pairs of very different lengths (shortest and longest of the first 40), both orders; with a 400-token
    budget the two long ones have their contexts cut from the left. Reuse must have skipped tokens, both contexts
    must have worked, and nothing changed."""
    assert len(llamacpp_judge.contexts) == 2 and len(simple_judge.contexts) == 1  # 2 cores: two 1-thread contexts
    recs = hard_rows(hh_rows)
    cfg = LabelerConfig(principles="all", ensemble_k=2, max_prompt_tokens=max_prompt_tokens)
    lab = Labeler(llamacpp_judge, cfg)
    if max_prompt_tokens:
        out = lab.label(recs)
        assert sum(r["truncated"] for r in out) >= 2 and all(r["error"] is None for r in out)
    before = dict(llamacpp_judge.usage.extra), llamacpp_judge.usage.prompt_tokens
    prompts, fast = label_logprobs(llamacpp_judge, lab, recs)
    evaluated = llamacpp_judge.usage.extra["prompt_tokens_evaluated"] - before[0].get("prompt_tokens_evaluated", 0)
    assert evaluated < 0.8 * (llamacpp_judge.usage.prompt_tokens - before[1])  # the prefixes were reused
    assert all(llm.n_tokens > 0 for llm in llamacpp_judge.contexts)  # the units went to both contexts
    _, simple = label_logprobs(simple_judge, Labeler(simple_judge, cfg), recs)
    assert np.abs(fast - simple).max() <= 1e-4
    # and the simple path is a prompt evaluated whole in a fresh context, whatever came before it
    whole = simple_judge.next_token_logprobs(simple_judge.render(prompts[0]))
    assert abs(float(np.logaddexp.reduce(whole[simple_judge._ids("1")])) - simple[0, 0]) <= 1e-6


def test_transformers_shared_prefix_cache_gives_the_whole_prompts_logprobs(hh_rows):
    """float32 (where the option is on by default): each unit's prefix once, its suffixes as one padded batch;
    a 400-token budget cuts the long pairs' contexts and leaves the short ones whole."""
    fast = load_judge("hf:embedded", dtype="float32")
    assert fast.reuse_prefix
    cfg = LabelerConfig(principles="all", ensemble_k=2, max_prompt_tokens=400)
    recs = hard_rows(hh_rows)
    prompts, shared = label_logprobs(fast, Labeler(fast, cfg), recs)
    assert fast.usage.extra["prompt_tokens_evaluated"] < 0.8 * fast.usage.prompt_tokens
    whole = fast.next_token_logprobs([fast.render(m) for m in prompts])  # the simple path: batches of whole prompts
    ids = {x: fast._ids(x) for x in ("1", "2")}
    simple = np.array([[float(row[ids[x]].logsumexp(0)) for x in ("1", "2")] for row in whole])
    assert np.abs(shared - simple).max() <= 1e-4


def test_converted_weights_are_cached_and_named(tmp_path):
    src = embedded_gguf()
    assert weights_path(src, "stored") == src
    first = weights_path(src, "bf16", folder=tmp_path)
    stamp = first.stat().st_mtime_ns
    assert first.parent == tmp_path and first.stat().st_size > 2 * src.stat().st_size  # 16-bit vs 4.5-bit weights
    assert weights_path(src, "bf16", folder=tmp_path) == first and first.stat().st_mtime_ns == stamp  # not redone
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary file left behind
    with pytest.raises(RlaifError, match="unknown weights 'q3'"):
        weights_path(src, "q3", folder=tmp_path)
    # labels differ between formats, so the judge id (in config_hash) names the format
    assert judge_id("embedded") == "llamacpp:SmolLM2-135M-Instruct.Q4_1@bf16"
    assert judge_id("llamacpp:embedded", {"weights": "stored"}) == "llamacpp:SmolLM2-135M-Instruct.Q4_1"
    assert judge_id(f"llamacpp:{src}") == "llamacpp:SmolLM2-135M-Instruct.Q4_1"  # a user's file runs as stored
    with pytest.raises(RlaifError, match="weights"):
        judge_id("embedded", {"weights": "q3"})
    assert judge_id("hf:embedded", {"dtype": "float32"}) == "hf:SmolLM2-135M-Instruct.Q4_1"
    assert judge_id("hf:embedded", {"dtype": "bfloat16"}) == "hf:SmolLM2-135M-Instruct.Q4_1@bfloat16"
    # compiled kernels round differently in bf16 (up to 1.9e-2 on HH pairs): another judge id
    assert judge_id("hf:embedded", {"dtype": "bfloat16", "compile": True}) == "hf:SmolLM2-135M-Instruct.Q4_1@bfloat16+compile"
    assert judge_id("hf:embedded", {"dtype": "bfloat16", "compile": False}) == "hf:SmolLM2-135M-Instruct.Q4_1@bfloat16"
    with pytest.raises(RlaifError, match="judge option 'dtype': 'float16x' is not a torch dtype"):
        judge_id("hf:embedded", {"dtype": "float16x"})


def test_transformers_judge_loads_a_gguf_from_its_cache_with_the_same_labels(hh_rows, tmp_path, monkeypatch):
    """The first load dequantises the GGUF and saves it to the cache of converted weights; the next load reads the
    cache, and its labels are those of the model transformers builds from the GGUF itself, bit for bit."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlaif.judges.hf import HFJudge

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    load_judge("hf:embedded", dtype="bfloat16")
    [folder] = (tmp_path / "rlaif" / "hf").iterdir()
    assert folder.name.startswith("SmolLM2-135M-Instruct.Q4_1.bfloat16.") and (folder / "config.json").is_file()
    stamp = folder.stat().st_mtime_ns
    cached = load_judge("hf:embedded", dtype="bfloat16")
    assert cached.model.name_or_path == str(folder) and folder.stat().st_mtime_ns == stamp  # read, not redone
    src = embedded_gguf()
    direct = HFJudge(AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name, dtype=torch.bfloat16),
                     AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name), "direct")
    cfg = LabelerConfig(principles="all")
    recs = hard_rows(hh_rows)
    prompts, from_cache = label_logprobs(cached, Labeler(cached, cfg), recs)
    assert [cached.render(m) for m in prompts] == [direct.render(m) for m in prompts]
    assert all(cached.tok.encode(cached.render(m)) == direct.tok.encode(direct.render(m)) for m in prompts)
    _, from_gguf = label_logprobs(direct, Labeler(direct, cfg), recs)
    assert np.array_equal(from_cache, from_gguf)


def test_sampling_and_generation_leave_later_labels_exact(llamacpp_judge, hh_rows):
    """Prefix reuse after sampling and generation: labels of a fixed set are identical (1e-6) before and after sampled
    replies (one answer token, and longer) and greedy replies in the same contexts. A short prompt (under MIN_ROWS
    tokens) shares its first tokens ("<|im_start|>system\nYou are") with the labeller's prompts, but its rows, and the
    generated tokens', come from other kernels than a long prompt evaluated whole: a later prompt never reuses them."""
    from rlaif.judges.sampling import Sampling

    judge = llamacpp_judge
    short = [[{"role": "user", "content": "Name a fruit."}],
             [{"role": "user", "content": "Give me one tip for sleeping."}]]
    assert all(len(judge.prompt_tokens(m)) < 64 for m in short)
    lab, recs = Labeler(judge, LabelerConfig(principles="least-harmful")), rows(hh_rows, [0, 1])

    def reset():
        for llm in judge.contexts:
            llm.reset()  # every context empty, as after loading

    reset()
    prompts, before = label_logprobs(judge, lab, recs)
    reset()
    judge.sample(short, Sampling(n=4, temperature=1.0, top_p=1.0, max_new_tokens=1))
    judge.sample(short, Sampling(n=2, max_new_tokens=6, seed=3))
    judge.generate(short, 5)
    assert np.abs(label_logprobs(judge, lab, recs)[1] - before).max() <= 1e-6
    # the labeller's own prompts sampled (as the convergence test does), then labelled again
    judge.sample(prompts, Sampling(n=3, max_new_tokens=4))
    assert np.abs(label_logprobs(judge, lab, recs)[1] - before).max() <= 1e-6
