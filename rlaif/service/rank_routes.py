"""``POST /v1/rank``: each group's responses compared pairwise by the labeler (through the micro-batcher)
and ranked by a soft Bradley-Terry fit: the HTTP face of ``PairwiseGroupReward``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from rlaif.core.text import flatten_messages, is_messages
from rlaif.data.candidates import parse_strategy
from rlaif.data.normalise import text_field
from rlaif.data.records import strict_json
from rlaif.integrations.group_reward import fit_groups, group_rewards, pair_records, plan_group
from rlaif.jobs.kinds import LABEL
from rlaif.service.deps import Service, caller, service

MAX_RESPONSES = 64  # most responses in one group (all pairs of 64 is 2,016 comparisons)
LABEL_FIELDS = ("candidate_a", "candidate_b", "p_a", "p_a_first", "p_a_second", "consistent", "principles", "error")

router = APIRouter()


class RankRequest(BaseModel):
    groups: list[Any] = Field(min_length=1, description="Groups: {'prompt': text or messages, 'responses': [text, ...]}.")
    pairs: str = Field("adjacent", description="Pairs judged per group: adjacent (G), all (G(G-1)/2) or random:K.")
    reward: Literal["centered_bt", "win_rate"] = Field("centered_bt", description="What 'rewards' holds.")
    seed: int = Field(0, description="Seed of random:K.")
    settings: dict[str, Any] = Field(default_factory=dict, description="Labeler settings (LabelerConfig fields).")


def parse_group(row: Any, i: int, max_chars: int) -> tuple[str, list[str]]:
    """(prompt text, responses) of ``groups[i]``; a 422 (413 over ``MAX_RESPONSES``) names the group, the
    response index and the field. Empty responses are allowed: they get no score."""
    loc = f"groups[{i}]"
    if not isinstance(row, dict):
        raise HTTPException(422, f"{loc} must be an object with 'prompt' and 'responses'")
    try:
        value = row.get("prompt")
        prompt = flatten_messages(value) if is_messages(value) else text_field(value, loc, "prompt")
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    resp = row.get("responses")
    if not isinstance(resp, list) or not resp:
        raise HTTPException(422, f"{loc} field 'responses' must be a non-empty list of strings")
    if len(resp) > MAX_RESPONSES:
        raise HTTPException(413, f"{loc} field 'responses': {len(resp)} responses, more than the {MAX_RESPONSES} allowed")
    for j, r in enumerate(resp):
        if not isinstance(r, str):
            raise HTTPException(422, f"{loc} field 'responses[{j}]' must be a string, got {type(r).__name__}")
    for name, text in [("prompt", prompt), *((f"responses[{j}]", r) for j, r in enumerate(resp))]:
        if len(text) > max_chars:
            raise HTTPException(422, f"{loc} field '{name}' is longer than {max_chars} characters")
    return prompt, resp


@router.post("/v1/rank")
async def rank(req: RankRequest, svc: Service = Depends(service), who: str = Depends(caller)) -> dict[str, Any]:
    """Per group: BT ``scores`` and ``ranks`` (1 = best; null for an empty response), ``rewards``
    (``reward``), the pair ``labels`` used and the fit's ``log_likelihood``."""
    if len(req.groups) > svc.cfg.max_items:
        raise HTTPException(413, f"groups: {len(req.groups)} groups, more than the {svc.cfg.max_items} allowed in one request")
    try:
        parse_strategy(req.pairs)
    except ValueError as e:
        raise HTTPException(422, f"pairs: {e}") from None
    groups = [parse_group(row, i, svc.cfg.max_field_chars) for i, row in enumerate(req.groups)]
    plans = [plan_group(p, r, req.pairs, req.seed) for p, r in groups]
    records = pair_records(plans)
    if len(records) > svc.cfg.max_items:
        raise HTTPException(413, f"pairs: {req.pairs} plans {len(records)} comparisons, more than the "
                                 f"{svc.cfg.max_items} allowed in one request")
    lab = svc.worker(LABEL, req.settings)
    labels = await svc.judged(LABEL, req.settings, records)
    out = []
    for fit in fit_groups(plans, labels):
        out.append({"scores": fit["scores"], "ranks": fit["ranks"], "rewards": group_rewards(fit["scores"], req.reward),
                    "log_likelihood": fit["log_likelihood"], "pairs_used": fit["pairs_used"],
                    "labels": [strict_json({k: rec[k] for k in LABEL_FIELDS}) for rec in fit["labels"]]})
    return {"groups": out, **lab.provenance}
