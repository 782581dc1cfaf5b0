"""A GGUF's weights in another format, converted once by llama.cpp's own quantizer and cached on disk.

The embedded model ships as Q4_1, whose llama.cpp kernels on x86 are slow and quantise every
activation to 8 bits; BF16 weights (the stored values rounded to bf16) run ~3x faster on CPUs with
bf16 dot products and stay closer to the stored weights (README, *Throughput*).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from rlaif.core.errors import RlaifError

# weights option -> llama.cpp file type constant (llama_cpp.LLAMA_FTYPE_*)
FILE_TYPES = {"bf16": "LLAMA_FTYPE_MOSTLY_BF16", "f16": "LLAMA_FTYPE_MOSTLY_F16", "f32": "LLAMA_FTYPE_ALL_F32",
              "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0"}
STORED = "stored"


def cache_dir(engine: str = "gguf") -> Path:
    """Where converted weights go: ``$XDG_CACHE_HOME/rlaif/ENGINE`` (default ``~/.cache/rlaif/ENGINE``; ``gguf``
    for llama.cpp's files, ``hf`` for transformers' folders), read at call time."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rlaif" / engine


def converted_name(source: Path, weights: str, engine_version: str, suffix: str = ".gguf") -> str:
    """Name of ``source`` converted to ``weights``: a new source file, size or engine version gives a new name."""
    st = source.stat()
    key = f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}|{engine_version}|{weights}"
    return f"{source.stem}.{weights}.{hashlib.sha256(key.encode()).hexdigest()[:12]}{suffix}"


def weights_path(source: Path, weights: str, folder: Path | None = None) -> Path:
    """``source`` itself for ``stored``; else its converted copy, made now if not cached (temporary file + rename,
    so concurrent loaders never see half a file)."""
    if weights == STORED:
        return source
    if weights not in FILE_TYPES:
        raise RlaifError(f"llamacpp judge: unknown weights '{weights}' (use {STORED}, {', '.join(FILE_TYPES)})")
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    folder = folder or cache_dir()
    target = folder / converted_name(source, weights, llama_cpp.__version__)
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{target.name}.{os.getpid()}.tmp"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, FILE_TYPES[weights])
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    with suppress_stdout_stderr(disable=False):  # the quantizer prints a line per tensor
        rc = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params)
    if rc != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise RlaifError(f"llamacpp judge: converting {source.name} to {weights} failed (llama.cpp code {rc})")
    os.replace(tmp, target)
    return target
