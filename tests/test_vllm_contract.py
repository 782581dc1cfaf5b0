"""The vLLM 0.33 contract tests (tests/vllm_contracts.py) in a subprocess whose path has vLLM, installed
``--no-deps`` with the few small modules its protocol imports into ``.contracts/vllm`` by .ci/run; vLLM is
kept off every other test's path (an importable vLLM changes what TRL imports). Outside CI the test skips
when that folder is missing; in CI it must run."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
VLLM_PATH = TESTS.parent / ".contracts" / "vllm"


@pytest.mark.slow
def test_vllm_contracts():
    if not (VLLM_PATH / "vllm").is_dir():
        msg = f"vLLM not installed at {VLLM_PATH}: run the vLLM line of .ci/run"
        pytest.fail(msg) if os.environ.get("CI") else pytest.skip(msg)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(VLLM_PATH), str(TESTS.parent), str(TESTS),
                                                        os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning",
           str(TESTS / "vllm_contracts.py")]
    res = subprocess.run(cmd, env=env, cwd=TESTS.parent, capture_output=True, text=True, timeout=900)
    summary = (res.stdout.strip().splitlines() or [""])[-1]
    print(f"\nvLLM contracts: {summary}")
    assert res.returncode == 0 and " passed" in summary and "skipped" not in summary, \
        res.stdout[-6000:] + res.stderr[-2000:]
