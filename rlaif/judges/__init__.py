"""Judges: the backend protocol (``base``), the registry that builds one from a spec string
(``embedded``, ``llamacpp:PATH``, ``hf:PATH``, ``openai:MODEL``, ``vllm:MODEL``), and the backends."""

from rlaif.judges.base import JudgeBackend, LabelLogprobs, Messages, Usage, metered
from rlaif.judges.embedded import EMBEDDED_ENGINE, embedded_gguf
from rlaif.judges.registry import judge_id, listing, load_judge

__all__ = ["EMBEDDED_ENGINE", "JudgeBackend", "LabelLogprobs", "Messages", "Usage", "embedded_gguf", "judge_id", "listing",
           "load_judge", "metered"]
