"""The CPU is read from /proc/cpuinfo, and on an Intel AMX CPU the llama.cpp judge loads its model without ggml-cpu's
extra buffer types (whose AMX matmul dies with an illegal instruction there); elsewhere they stay on."""

import pytest

from rlaif.core import cpu
from rlaif.judges.llamacpp import safe_model_params

# /proc/cpuinfo of a 2-vCPU Intel Sapphire Rapids VM (flags cut to those that matter here) and of this project's
# AMD EPYC Zen 4 machine
SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse2 avx avx2 avx512f avx512_vnni avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
"""
ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx avx2 avx512f avx512_vnni avx512_bf16 vaes
"""


def test_cpu_description_names_the_model_and_kernel_flags():
    assert cpu.cpu_model(SAPPHIRE_RAPIDS) == "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz (family 6, model 143)"
    line = cpu.describe_cpu(SAPPHIRE_RAPIDS)
    assert "2 logical cores" in line and "amx_tile+" in line and "avx512_fp16+" in line
    line = cpu.describe_cpu(ZEN4)
    assert "AMD EPYC (family 25, model 17), 1 logical cores" in line
    assert "avx512_bf16+" in line and "avx512_fp16-" in line and "amx_int8-" in line
    assert cpu.describe_cpu("").startswith("CPU: unknown CPU, 0 logical cores")
    assert cpu.read_cpuinfo(cpu.Path("/nonexistent/cpuinfo")) == ""


def test_extra_buffer_types_are_off_only_on_amx_cpus():
    assert cpu.has_amx(cpu.cpu_flags(SAPPHIRE_RAPIDS)) and not cpu.has_amx(cpu.cpu_flags(ZEN4))
    assert safe_model_params(cpu.cpu_flags(SAPPHIRE_RAPIDS)) == {"use_extra_bufts": False}
    assert safe_model_params(cpu.cpu_flags(ZEN4)) == {}
    assert safe_model_params(frozenset({"amx_tile"})) == {"use_extra_bufts": False}  # any AMX flag


@pytest.mark.slow
@pytest.mark.parametrize("weights", ["stored", "bf16"])
def test_llamacpp_judge_passes_the_guard_to_llama_cpp(tmp_path, monkeypatch, weights):
    """The model params llama.cpp received: extra buffer types off for a faked AMX cpuinfo, llama.cpp's default
    (on) for a Zen 4 one, and the library's own defaults untouched afterwards."""
    import llama_cpp

    from rlaif.judges import load_judge

    fake = tmp_path / "cpuinfo"
    monkeypatch.setattr(cpu, "CPUINFO", fake)
    for text, extra in ((SAPPHIRE_RAPIDS, False), (ZEN4, True)):
        fake.write_text(text)
        judge = load_judge("llamacpp:embedded", weights=weights)
        assert [llm.model_params.use_extra_bufts for llm in judge.contexts] == [extra] * len(judge.contexts)
        for llm in judge.contexts:
            llm.close()
    assert llama_cpp.llama_model_default_params().use_extra_bufts is True
