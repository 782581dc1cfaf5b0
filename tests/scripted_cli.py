"""Run the real ``rlaif`` CLI in this process with the controlled ScriptedJudge behind every judge spec.

Subprocess tests use it to kill, relaunch and race whole jobs with exact, known labels and no model:
``python tests/scripted_cli.py label IN -o OUT ...``. ``RLAIF_TEST_DELAY`` (seconds per prompt) slows
the judge so that a kill lands mid-job. With ``--engine ray`` it starts a local Ray whose workers install
the same judge.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import ScriptedJudge  # noqa: E402
from pydantic import BaseModel, ConfigDict  # noqa: E402

from rlaif.judges import registry  # noqa: E402
from rlaif.judges.embedded import EMBEDDED_ENGINE  # noqa: E402


class SlowScriptedJudge(ScriptedJudge):
    def __init__(self, delay: float):
        super().__init__(strength=2.0, position_bias=0.5)
        self.delay = delay

    def label_logprobs(self, prompts, labels, continuations=None):
        time.sleep(self.delay * len(prompts))
        return super().label_logprobs(prompts, labels, continuations)

    def sample(self, prompts, sampling):
        time.sleep(self.delay * len(prompts) * sampling.n)  # per reply
        return super().sample(prompts, sampling)


# registered as the embedded judge's engine: ``embedded`` (the default) and ``llamacpp:ANY`` are this judge; it
# takes that engine's options (a Ray worker gives it n_threads) and ignores them
EngineOptions = registry.kind(EMBEDDED_ENGINE).options
SCRIPTED = registry.JudgeKind(EMBEDDED_ENGINE, "ANY", "the controlled ScriptedJudge (tests)", EngineOptions,
                              lambda arg, options: SlowScriptedJudge(float(os.environ.get("RLAIF_TEST_DELAY", "0"))),
                              lambda arg, options: ScriptedJudge.judge_id)


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


def panel_judge(arg: str, options: dict) -> ScriptedJudge:
    """``scripted:STRENGTH[/BIAS]``: a ScriptedJudge of that strength and position bias, with its own judge id
    (members of a panel differ)."""
    strength, _, bias = arg.partition("/")
    judge = ScriptedJudge(strength=float(strength), position_bias=float(bias or 0))
    judge.judge_id = f"scripted:{arg}"
    return judge


PANEL = registry.JudgeKind("scripted", "STRENGTH[/BIAS]", "a ScriptedJudge of that strength (tests)", NoOptions,
                           panel_judge, lambda arg, options: f"scripted:{arg}")


def install() -> None:
    """Register the scripted judge as the embedded judge of this process (also run in each Ray worker), and
    ``scripted:STRENGTH[/BIAS]`` for panels of judges."""
    registry.register(EMBEDDED_ENGINE, SCRIPTED)
    registry.register(PANEL.prefix, PANEL)


def _start_local_ray() -> None:
    """``--engine ray``: a local Ray whose workers install the scripted judge as they start."""
    import ray

    here = str(Path(__file__).resolve().parent)
    env = {"PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]),
           "RLAIF_TEST_DELAY": os.environ.get("RLAIF_TEST_DELAY", "0")}
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": env, "worker_process_setup_hook": "scripted_cli.install"})


if __name__ == "__main__":  # register only in the subprocess this file is run as, never in an importer
    from rlaif.cli import main

    install()
    if "ray" in sys.argv and "--engine" in sys.argv:
        _start_local_ray()
    sys.exit(main(sys.argv[1:]))
