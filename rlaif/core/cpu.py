"""What this machine's CPU is, from /proc/cpuinfo: its model name and the flags that decide which kernels run."""

from __future__ import annotations

from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# Flags that choose matmul kernels for this project's engines (bf16/fp16 dot products, Intel AMX tiles).
KERNEL_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")
AMX_FLAGS = ("amx_tile", "amx_bf16", "amx_int8")


def read_cpuinfo(path: Path | None = None) -> str:
    """The text of /proc/cpuinfo (``path`` if given, ``CPUINFO`` read at call time); '' where there is none."""
    try:
        return (path or CPUINFO).read_text(errors="replace")
    except OSError:
        return ""


def _field(cpuinfo: str, name: str) -> str:
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == name:
            return value.strip()
    return ""


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The first processor's flags (``flags`` on x86, ``Features`` on Arm)."""
    return frozenset((_field(cpuinfo, "flags") or _field(cpuinfo, "Features")).split())


def cpu_model(cpuinfo: str) -> str:
    """The first processor's model name, with family and model numbers where given ('unknown CPU' if none)."""
    name = _field(cpuinfo, "model name") or "unknown CPU"
    family, model = _field(cpuinfo, "cpu family"), _field(cpuinfo, "model")
    return f"{name} (family {family}, model {model})" if family and model else name


def has_amx(flags: frozenset[str]) -> bool:
    """Whether the CPU has Intel AMX tiles (Sapphire Rapids and later Xeons)."""
    return any(f in flags for f in AMX_FLAGS)


def describe_cpu(cpuinfo: str) -> str:
    """One line for a benchmark's figures: the model, the core count and which ``KERNEL_FLAGS`` are present."""
    flags = cpu_flags(cpuinfo)
    cores = sum(1 for line in cpuinfo.splitlines() if line.split(":")[0].strip() == "processor")
    marks = " ".join(f + ("+" if f in flags else "-") for f in KERNEL_FLAGS)
    return f"CPU: {cpu_model(cpuinfo)}, {cores} logical cores; flags {marks}"
