"""Flags generated from the config models, backend options validated by the chosen backend, recipes
(``--config``), the lazy judge registry (registration, entry points) and a light ``--help``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from pydantic import BaseModel, Field

from conftest import ScriptedJudge, write_jsonl
from rlaif.cli import main
from rlaif.judges import registry

HEAVY = ("torch", "transformers", "llama_cpp")


def modules_after(*argv: str) -> dict:
    """Run ``rlaif ARGV`` in a fresh interpreter; which heavy modules and backends it imported."""
    code = textwrap.dedent(f"""
        import json, sys
        from rlaif.cli import main
        try:
            main({list(argv)!r})
        except SystemExit as e:
            code = e.code
        print(json.dumps({{"code": code, "loaded": sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}
                                                      or m.startswith('rlaif.judges.'))}}))""")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["label", "--help"], ["score", "--help"], ["generate", "--help"],
                                  ["serve", "--help"]])
def test_help_imports_no_model_code(argv):
    out = modules_after(*argv)
    assert out["code"] == 0
    assert not [m for m in out["loaded"] if m.split(".")[0] in HEAVY], out["loaded"]
    backends = {w.partition(":")[0] for w in registry.BUILTIN.values()}
    assert not backends & set(out["loaded"]), out["loaded"]


def test_help_of_a_chosen_judge_lists_only_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["label", "--judge", "openai:m", "--help"])
    text = capsys.readouterr().out
    assert "options of judge kind 'openai'" in text and "--base-url" in text and "--n-ctx" not in text


class FakeOptions(BaseModel):
    strength: float = Field(2.0, gt=0, description="fake judges: logit of a GOOD response")
    bias: float = Field(0.0, description="fake judges: extra logit of label 1")


FAKE = registry.JudgeKind("fake", "NAME", "the controlled ScriptedJudge", FakeOptions,
                          lambda arg, o: ScriptedJudge(strength=o.get("strength", 2.0), position_bias=o.get("bias", 0.0)))


@pytest.fixture
def fake():
    registry.register("fake", FAKE)
    yield
    registry.unregister("fake")


@pytest.fixture
def pairs(tmp_path):
    return write_jsonl(tmp_path / "in.jsonl", [{"prompt": "hi", "response_a": "a GOOD one", "response_b": "a BAD one"},
                                                {"prompt": "yo", "response_a": "plain", "response_b": "a GOOD one"}])


def rows(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_registered_judge_with_namespaced_and_flat_options(fake, pairs, tmp_path, capsys):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert main(["label", str(pairs), "-o", str(a), "--judge", "fake:x", "--judge-opt", "strength=1.0",
                 "--judge-opt", "bias=0.5", "--no-progress"]) == 0
    assert main(["label", str(pairs), "-o", str(b), "--judge", "fake:x", "--strength", "1", "--bias", "0.5",
                 "--no-progress"]) == 0
    assert rows(a) == rows(b)
    want = ScriptedJudge(strength=1.0, position_bias=0.5)
    from rlaif.labeling.labeler import Labeler

    assert [r["p_a"] for r in rows(a)] == [r["p_a"] for r in Labeler(want).label(
        [{"id": f"row-{i}", **r, "human_label": None} for i, r in enumerate(map(json.loads, pairs.read_text().splitlines()))])]
    capsys.readouterr()
    for opt, msg in [("strength=-1", "judge option 'strength': Input should be greater than 0"),
                     ("colour=red", "judge option 'colour' does not apply to judge 'fake:x' (its options: strength, bias)"),
                     ("strength", "--judge-opt 'strength': expected KEY=VALUE")]:
        assert main(["label", str(pairs), "-o", str(tmp_path / "c.jsonl"), "--judge", "fake:x", "--judge-opt", opt]) == 2
        err = capsys.readouterr().err
        assert err == f"rlaif: error: {msg}\n"


def test_flag_defaults_are_the_models_defaults(fake, pairs, tmp_path):
    """A command with no settings builds the specs' own defaults (so config_hash is unchanged)."""
    import argparse

    from rlaif.cli.jobs import label_args, score_args
    from rlaif.cli.options import build, judge_spec, run_options
    from rlaif.cli.sample_options import sample_settings
    from rlaif.jobs.spec import LabelJob, RunOptions
    from rlaif.labeling.settings import LabelerConfig, ScorerConfig

    p = argparse.ArgumentParser()
    label_args(p)
    args = p.parse_args([str(pairs), "-o", "o.jsonl"])
    cfg = build(LabelerConfig, args, "labeler", sampling=sample_settings(args))
    assert cfg == LabelerConfig() and run_options(args) == RunOptions(input=str(pairs), output="o.jsonl")
    assert build(LabelJob, args, "job", run=run_options(args), judge=judge_spec(args)) == LabelJob(run=run_options(args))
    p = argparse.ArgumentParser()
    score_args(p)
    assert build(ScorerConfig, p.parse_args(["x", "-o", "y"]), "scorer") == ScorerConfig()


def test_recipe_fills_what_the_command_line_does_not_say(fake, pairs, tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("judge: fake:x\njudge_options: {strength: 1.0, bias: 0.5}\nconstitution: helpful\n"
                      "principles: all\nshots: 1\n")
    out = tmp_path / "o.jsonl"
    assert main(["label", str(pairs), "-o", str(out), "--config", str(recipe), "--shots", "0", "--judge-opt", "bias=0",
                 "--no-progress"]) == 0
    from rlaif.labeling.labeler import Labeler
    from rlaif.labeling.settings import LabelerConfig

    want = Labeler(ScriptedJudge(strength=1.0), LabelerConfig(constitution="helpful", principles="all", shots=0))
    got = rows(out)
    assert {r["config_hash"] for r in got} == {want.config_hash} and got[0]["constitution"] == "helpful"
    capsys.readouterr()
    for text, msg in [("colour: red\n", "unknown key 'colour' (keys: "), ("shots: -2\n", "key 'shots': Input should be"),
                      ("- a list\n", "a recipe is a mapping")]:
        recipe.write_text(text)
        assert main(["label", str(pairs), "-o", str(tmp_path / "x.jsonl"), "--config", str(recipe)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"rlaif: error: {recipe}: ") and msg in err and err.count("\n") == 1


def test_an_entry_point_adds_a_backend(tmp_path):
    """Another package declares a backend in the ``rlaif.judges`` entry-point group; ``rlaif judges`` lists it
    and a spec loads it, without any registration code."""
    (tmp_path / "plugin_judge.py").write_text(textwrap.dedent("""
        from pydantic import BaseModel
        from rlaif.judges.registry import JudgeKind

        class Echo:
            judge_id = "echo:test"
            context_length = None

        class NoOptions(BaseModel):
            pass

        KIND = JudgeKind("echo", "NAME", "a judge from another package", NoOptions, lambda arg, options: Echo())
        """))
    info = tmp_path / "plugin_judge-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-judge\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[rlaif.judges]\necho = plugin_judge:KIND\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from rlaif.cli import main; main(['judges']); "
            "from rlaif.judges import load_judge; print(load_judge('echo:x').judge_id)")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "echo:NAME" in res.stdout and "a judge from another package" in res.stdout
    assert res.stdout.strip().splitlines()[-1] == "echo:test"


def test_a_registration_wins_and_unregister_restores():
    registry.register("llamacpp", FAKE.__class__("llamacpp", "X", "fake", FakeOptions, FAKE.build))
    try:
        assert isinstance(registry.load_judge(None, strength=3.0), ScriptedJudge)  # 'embedded' is this engine
    finally:
        registry.unregister("llamacpp")
    assert registry.declared()["llamacpp"] == registry.BUILTIN["llamacpp"]
    with pytest.raises(ValueError):
        registry.register("other", FAKE)


def test_serve_flags_and_recipe_build_the_serve_config(tmp_path):
    from rlaif.cli import build_parser
    from rlaif.cli.options import build, judge_spec
    from rlaif.cli.recipe import apply_recipe
    from rlaif.core.errors import RlaifError
    from rlaif.service.config import ServeConfig

    recipe = tmp_path / "s.yaml"
    recipe.write_text("judge: openai:m\njudge_options: {base_url: 'http://127.0.0.1:9/v1'}\nport: 9000\nmax_batch: 8\n")
    argv = ["serve", "--config", str(recipe), "--max-batch", "4", "--concurrency", "3"]
    args = build_parser(argv).parse_args(argv)
    apply_recipe(args)
    want = ServeConfig(port=9000, max_batch=4, judge={"spec": "openai:m",
                                                      "options": {"base_url": "http://127.0.0.1:9/v1", "concurrency": 3}})
    assert build(ServeConfig, args, "serve", judge=judge_spec(args)) == want
    argv = ["serve", "--no-auth", "--host", "0.0.0.0"]
    with pytest.raises(RlaifError, match="^--no-auth is only allowed on a loopback address, not 0.0.0.0$"):
        build(ServeConfig, build_parser(argv).parse_args(argv), "serve")
