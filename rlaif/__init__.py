"""rlaif: turn a judge LLM into soft preference labels (RLAIF)."""

__version__ = "0.1.0"
