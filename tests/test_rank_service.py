"""``POST /v1/rank`` over real HTTP (uvicorn in a subprocess, the controlled ScriptedJudge): the same fits as
``PairwiseGroupReward`` in process, ``RemotePairwiseGroupReward``, auth, limits and bad input."""

from __future__ import annotations

import pytest

from scripted_cli import SlowScriptedJudge
from test_service import post, scripted_server  # noqa: F401 (the module's server fixture)

pytestmark = pytest.mark.slow  # starts a server

GROUPS = [{"prompt": "User: q1?", "responses": ["a GOOD one", "plain", "a BAD one", "another plain"]},
          {"prompt": [{"role": "user", "content": "q1?"}], "responses": ["BAD", "BAD ", "", "GOOD"]},
          {"prompt": "User: q1?", "responses": ["only one"]}]


def in_process(groups, pairs="adjacent", reward="centered_bt"):
    from rlaif.core.text import as_text
    from rlaif.integrations.trl import PairwiseGroupReward

    fn = PairwiseGroupReward(judge=SlowScriptedJudge(0.0), pairs=pairs, reward=reward)
    return fn.rank([(as_text(g["prompt"]), g["responses"]) for g in groups])


@pytest.mark.parametrize("pairs", ["adjacent", "all"])
def test_rank_equals_the_in_process_fit(scripted_server, pairs):  # noqa: F811
    r = post(scripted_server, "/v1/rank", {"groups": GROUPS, "pairs": pairs})
    assert r.status_code == 200, r.text
    got, want = r.json()["groups"], in_process(GROUPS, pairs)
    assert len(got) == 3
    for g, w in zip(got, want):
        assert g["scores"] == pytest.approx(w["scores"], abs=1e-12) and g["ranks"] == w["ranks"]
        assert g["log_likelihood"] == pytest.approx(w["log_likelihood"], abs=1e-12)
        assert [x["p_a"] for x in g["labels"]] == pytest.approx([x["p_a"] for x in w["labels"]], abs=1e-12)
        assert [(x["candidate_a"], x["candidate_b"]) for x in g["labels"]] == \
            [(x["candidate_a"], x["candidate_b"]) for x in w["labels"]]
    assert got[0]["ranks"][0] == 1 and got[0]["ranks"][2] == 4  # GOOD first, BAD last
    assert got[0]["pairs_used"] == (4 if pairs == "adjacent" else 6)
    assert got[1]["scores"][0] == got[1]["scores"][1] and got[1]["scores"][2] is None and got[1]["ranks"][2] is None
    assert got[1]["pairs_used"] == 1 and got[2]["scores"] == [0.0] and got[2]["rewards"] == [0.0]
    assert sum(got[0]["rewards"]) == pytest.approx(0, abs=1e-9)
    assert r.json()["judge"] == "scripted:test" and r.json()["config_hash"]


def test_remote_pairwise_group_reward_matches_in_process(scripted_server):  # noqa: F811
    from rlaif.integrations.remote import RemotePairwiseGroupReward
    from rlaif.integrations.trl import PairwiseGroupReward

    prompts = ["User: q?"] * 6
    completions = ["GOOD", "plain", "BAD", "", "GOOD", "BAD"]
    for reward in ("centered_bt", "win_rate"):
        remote = RemotePairwiseGroupReward(scripted_server.url, api_key=scripted_server.keys["bob"], reward=reward,
                                           num_generations=3, pairs="all")
        local = PairwiseGroupReward(judge=SlowScriptedJudge(0.0), reward=reward, num_generations=3, pairs="all")
        got = remote(prompts=prompts, completions=completions)
        assert got == pytest.approx(local(prompts=prompts, completions=completions), abs=1e-12)
        assert got[3] is None and got[0] > got[1] > got[2]


@pytest.mark.parametrize("body, status, where", [
    ({"groups": [GROUPS[0], {"prompt": "p", "responses": ["a", "b", 3]}]}, 422, "groups[1] field 'responses[2]' must be a string"),
    ({"groups": [{"responses": ["a"]}]}, 422, "groups[0] field 'prompt' is missing"),
    ({"groups": [{"prompt": "p", "responses": []}]}, 422, "groups[0] field 'responses' must be a non-empty list"),
    ({"groups": ["x"]}, 422, "groups[0] must be an object"),
    ({"groups": [{"prompt": "p", "responses": ["x" * 1001]}]}, 422, "groups[0] field 'responses[0]' is longer than 1000"),
    ({"groups": [{"prompt": "p", "responses": [f"r{i}" for i in range(65)]}]}, 413, "groups[0] field 'responses': 65"),
    ({"groups": [{"prompt": "p", "responses": ["a", "b"]}] * 65}, 413, "groups: 65 groups, more than the 64"),
    ({"groups": [{"prompt": "p", "responses": [f"r{i}" for i in range(12)]}], "pairs": "all"}, 413, "plans 66 comparisons"),
    ({"groups": GROUPS, "pairs": "best"}, 422, "pairs: --pairs 'best'"),
    ({"groups": GROUPS, "reward": "rank"}, 422, "reward"),
    ({"groups": GROUPS, "settings": {"shots": -1}}, 422, "settings.shots"),
])
def test_rank_bad_input_names_group_response_and_field(scripted_server, body, status, where):  # noqa: F811
    r = post(scripted_server, "/v1/rank", body)
    assert r.status_code == status and where in r.json()["detail"], r.text


def test_rank_needs_a_key(scripted_server):  # noqa: F811
    assert post(scripted_server, "/v1/rank", {"groups": GROUPS}, key=None).status_code == 401
