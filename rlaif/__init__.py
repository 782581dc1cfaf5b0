"""rlaif: turn a judge LLM into soft preference labels (RLAIF).

``rlaif.label``, ``rlaif.score``, ``rlaif.compare`` and ``rlaif.load_judge`` (see ``rlaif.api``) are imported on
first use, so ``import rlaif`` stays light (no torch, no model code)."""

__version__ = "0.1.0"

_API = ("compare", "label", "load_judge", "score")
__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    if name in _API:
        from rlaif import api

        return getattr(api, name)
    raise AttributeError(f"module 'rlaif' has no attribute '{name}'")
