"""What a client's settings may ask of the service's judge: at most ``--max-samples`` sampled answers or
candidates per prompt and at most ``--max-new-tokens`` tokens in any one generated text (a sampled answer, a
rationale, a reasoning, a candidate), and no text setting (a system message, a principle's name) over
``--max-field-chars``. Without these caps one request (``"sampling": {"samples": 10**9}``) holds the judge's one
worker, and its memory, for ever. A setting over its cap is a 422 naming it and the flag."""

from __future__ import annotations

from pydantic import BaseModel

from rlaif.judges.sampling import Sampling
from rlaif.judges.thinking import Reasoning
from rlaif.labeling.sampled import SampledLabels
from rlaif.labeling.settings import LabelerConfig
from rlaif.service.assets import SETTINGS as ASSETS  # names checked against the registry (resolved to paths by now)


def _always(settings: BaseModel) -> bool:
    return True


# (settings model, field) -> (the ServeConfig field that caps it, whether the field is used by those settings)
CAPPED = {(SampledLabels, "samples"): ("max_samples", _always),
          (SampledLabels, "auto_max"): ("max_samples", lambda s: s.samples == "auto"),
          (Sampling, "n"): ("max_samples", _always),
          (SampledLabels, "max_new_tokens"): ("max_new_tokens", _always),
          (Sampling, "max_new_tokens"): ("max_new_tokens", _always),
          (Reasoning, "budget"): ("max_new_tokens", _always),
          (LabelerConfig, "cot_max_tokens"): ("max_new_tokens", lambda s: s.cot)}


def over_cap(settings: BaseModel, caps: BaseModel, loc: str = "settings") -> str | None:
    """The first setting of ``settings`` (nested models too) over its cap in ``caps`` (a ``ServeConfig``), as one
    line naming it; None when all are within."""
    for name, value in settings:
        where = f"{loc}.{name}"
        if isinstance(value, BaseModel):
            if (found := over_cap(value, caps, where)) is not None:
                return found
            continue
        if isinstance(value, str) and name not in ASSETS and len(value) > caps.max_field_chars:
            return f"{where}: {len(value)} characters, over this service's cap of {caps.max_field_chars} " \
                   "(--max-field-chars)"
        cap, used = CAPPED.get((type(settings), name), (None, None))
        if cap is not None and isinstance(value, int) and used(settings) and value > getattr(caps, cap):
            flag = "--" + cap.replace("_", "-")
            return f"{where}: {value} is over this service's cap of {getattr(caps, cap)} ({flag})"
    return None
