"""The Python API for notebooks and programs: ``label``, ``score``, ``compare`` and ``load_judge`` on rows in
memory or a Hugging Face ``datasets.Dataset`` (the same row normalisers, labeler and scorer as ``rlaif label``
and ``rlaif score``, without files). ``import rlaif`` imports this module on first use."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from pydantic import BaseModel, ValidationError

from rlaif.core.errors import RlaifError, first_error, where
from rlaif.judges.base import JudgeBackend


def load_judge(spec: str | None = None, **options: Any) -> JudgeBackend:
    """A judge from a spec (``None``/``"embedded"``, ``"llamacpp:PATH"``, ``"openai:MODEL"``, ...) and its backend's
    options (``base_url=...``, ``n_ctx=...``); load it once and pass it to ``label``/``score`` to reuse it."""
    from rlaif.judges.registry import load_judge as load

    return load(spec, **options)


def _judge(judge: JudgeBackend | str | None, options: dict[str, Any] | None) -> JudgeBackend:
    if judge is None or isinstance(judge, str):
        return load_judge(judge, **(options or {}))
    if options:
        raise RlaifError("judge_options apply to a judge spec, not to a loaded judge")
    return judge


def _settings(model: type[BaseModel], settings: dict[str, Any]) -> Any:
    try:
        return model(**settings)
    except ValidationError as e:
        loc, msg = first_error(e.errors())
        raise RlaifError(f"{loc or model.__name__}: {msg}") from None


def _rows(data: Any) -> list[dict[str, Any]]:
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
        return data.to_dict("records")
    return [dict(r) for r in data]


def _records(data: Any, normalise: Callable, invalid: Callable[[str, str], dict] | None) -> list[dict[str, Any]]:
    """The rows as records; a bad row raises one line naming it, or with ``invalid`` becomes its error record."""
    from rlaif.data.sources import invalid_id, row_bytes

    out: list[dict[str, Any]] = []
    for i, row in enumerate(_rows(data)):
        try:
            made = normalise(row, i, where("rows", i + 1))
        except ValueError as e:
            if invalid is None:
                raise RlaifError(f"{e} (skip_invalid=True labels the other rows)") from None
            out.append(invalid(invalid_id(row_bytes(row)), str(e)))
            continue
        out.extend(made if isinstance(made, list) else [made])
    return out


def _like(data: Any, records: list[dict[str, Any]]):
    """A ``datasets.Dataset`` for a Dataset given, else the list of records."""
    if type(data).__module__.startswith("datasets"):
        from datasets import Dataset

        return Dataset.from_list(records)
    return records


def label(data: Iterable[dict[str, Any]] | Any, judge: JudgeBackend | str | list | None = None, *,
          judge_options: dict[str, Any] | None = None, calibration: Any = None, pairs: str | None = None,
          pair_seed: int = 0, skip_invalid: bool = False, **settings: Any):
    """Soft labels for preference pairs: rows of any shape ``rlaif label`` reads (``prompt, response_a,
    response_b``; ``prompt, chosen, rejected``; HH-RLHF transcripts; candidate rows with ``pairs=``), as a list
    of dicts, a pandas DataFrame or a ``datasets.Dataset``. ``settings`` are ``LabelerConfig`` fields
    (``constitution``, ``principles``, ``method``, ``sampling={...}``, ...). ``judge`` a list: a panel of judges
    (``calibration`` then one per judge, or None). Returns the label records (a Dataset when given one)."""
    from rlaif.data.candidates import pair_normaliser
    from rlaif.evaluation.calibration import Calibration
    from rlaif.labeling.labeler import Labeler
    from rlaif.labeling.panel import PanelLabeler
    from rlaif.labeling.settings import LabelerConfig

    cfg = _settings(LabelerConfig, settings)
    if isinstance(judge, (list, tuple)):  # a panel: calibration, if given, is one per judge
        if judge_options:
            raise RlaifError("judge_options apply to one judge spec; load a panel's judges with load_judge")
        cals = [Calibration.load(c) if isinstance(c, str) else c for c in (calibration or [None] * len(judge))]
        labeler = PanelLabeler([_judge(j, None) for j in judge], cfg, cals)
    else:
        cal = Calibration.load(calibration) if isinstance(calibration, str) else calibration
        labeler = Labeler(_judge(judge, judge_options), cfg, calibration=cal)
    recs = _records(data, pair_normaliser(pairs, pair_seed), labeler.invalid_record if skip_invalid else None)
    todo = [r for r in recs if "p_a" not in r]
    done = iter(labeler.label(todo))
    return _like(data, [r if "p_a" in r else next(done) for r in recs])


def score(data: Iterable[dict[str, Any]] | Any, judge: JudgeBackend | str | None = None, *,
          judge_options: dict[str, Any] | None = None, skip_invalid: bool = False, **settings: Any):
    """1-10 scores and rewards in [-1, 1] for rows with a prompt and a response (or completion), as ``rlaif score``;
    ``settings`` are ``ScorerConfig`` fields (``constitution``, ``template``, ``max_prompt_tokens``)."""
    from rlaif.data.candidates import single_normaliser
    from rlaif.data.normalise import normalise_single
    from rlaif.labeling.scorer import Scorer
    from rlaif.labeling.settings import ScorerConfig

    scorer = Scorer(_judge(judge, judge_options), _settings(ScorerConfig, settings))
    recs = _records(data, single_normaliser(normalise_single), scorer.invalid_record if skip_invalid else None)
    todo = [r for r in recs if "reward" not in r]
    done = iter(scorer.score_records(todo))
    return _like(data, [r if "reward" in r else next(done) for r in recs])


def compare(labels: Any, human: str | None = None, *, n_boot: int = 2000, against: Any = None,
            self_source: str | None = None) -> dict[str, Any]:
    """The figures of ``rlaif compare`` (agreement with humans and its interval, kappa, ECE, position and length
    bias, the audit) for label records: those ``label`` returned, a Dataset of them, or a file; ``human``: a file
    of ``id, human_label`` rows; ``against``: labels of the same pairs by another judge or template;
    ``self_source``: the source name of the judge's own responses (self-preference; default: the judge id)."""
    from rlaif.evaluation.compare import compute, join_human, load_for_compare

    def records(x: Any) -> list[dict[str, Any]]:
        return load_for_compare(x, human) if isinstance(x, str) else join_human(_rows(x), human)

    return compute(records(labels), n_boot=n_boot, against=records(against) if against is not None else None,
                   self_source=self_source)
