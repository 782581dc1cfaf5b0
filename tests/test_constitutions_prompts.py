import pytest

from rlaif.labeling.constitutions import available, load_constitution
from rlaif.core.errors import RlaifError
from rlaif.labeling.prompts import load_template


def test_shipped_constitutions_load():
    assert {"helpful", "harmless", "summarization"} <= set(available())
    for name in available():
        c = load_constitution(name)
        assert c.preamble and len(c.principles) >= 3


def test_bad_constitutions_name_file_and_field(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\npreamble: hi\nprinciples: []\n")
    with pytest.raises(RlaifError, match=r"c\.yaml: field 'principles'"):
        load_constitution(str(p))
    p.write_text("name: x\npreamble: hi\nprinciples:\n  - {name: a, text: t}\n  - {name: a, text: u}\n")
    with pytest.raises(RlaifError, match=r"c\.yaml: field 'principles': principle names repeat: \['a'\]$"):
        load_constitution(str(p))  # one line, without pydantic's "Value error, " (core.errors.first_error)
    p.write_text("name: x\nprinciples:\n  - {name: a, text: t}\n")
    with pytest.raises(RlaifError, match="field 'preamble'"):
        load_constitution(str(p))
    p.write_text("name: [unclosed\n")
    with pytest.raises(RlaifError, match="not valid YAML"):
        load_constitution(str(p))
    with pytest.raises(RlaifError, match="unknown constitution 'nope'.*harmless"):
        load_constitution("nope")


def test_principle_selection_is_seeded_and_reproducible():
    c = load_constitution("harmless")
    picks = [c.select("sample", f"row-{i}", seed=0)[0].name for i in range(40)]
    assert picks == [c.select("sample", f"row-{i}", seed=0)[0].name for i in range(40)]
    assert len(set(picks)) > 2  # it does vary across rows
    assert picks != [c.select("sample", f"row-{i}", seed=1)[0].name for i in range(40)]
    assert [p.name for p in c.select("all", "r")] == [p.name for p in c.principles]
    k2 = c.select("all", "row-3", k=2)
    assert len(k2) == 2 and k2 == c.select("all", "row-3", k=2)
    assert c.select("respectful", "r")[0].name == "respectful"
    with pytest.raises(RlaifError, match="no principle 'kind'"):
        c.select("kind", "r")


def test_template_renders_exemplars_with_balanced_slots_and_cot():
    t = load_template("pairwise")
    ex = t.exemplars_for("harmless", 4)
    assert sorted(e.preferred for e in ex) == [1, 1, 2, 2]
    msgs = t.render(preamble="P", principle="be kind", context="User: hi", response_1="A", response_2="B", exemplars=ex[:2])
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert [msgs[2]["content"], msgs[4]["content"]] == ["1", "2"]
    assert "Response 1:\nA" in msgs[-1]["content"] and "be kind" in msgs[-1]["content"]
    cot = t.render(preamble="P", principle="x", context="c", response_1="A", response_2="B", cot=True)
    assert "step by step" in cot[-1]["content"]
    follow = t.cot_followup(cot, "because")
    assert follow[-2] == {"role": "assistant", "content": "because"} and follow[-1]["content"] == t.cot_answer
    with pytest.raises(RlaifError, match="--shots 9"):
        t.exemplars_for("harmless", 9)


def test_bad_templates(tmp_path):
    (tmp_path / "t.txt").write_text("{principle} {context} {response_1}")
    (tmp_path / "t.yaml").write_text("name: t\nversion: '1'\ntemplate_file: t.txt\n")
    with pytest.raises(RlaifError, match=r"t\.yaml: placeholders.*missing \['response_2'\]"):
        load_template(str(tmp_path / "t.yaml"))
    (tmp_path / "t.yaml").write_text("name: t\nversion: '1'\ntemplate_file: gone.txt\n")
    with pytest.raises(RlaifError, match="field 'template_file': file .*gone.txt not found"):
        load_template(str(tmp_path / "t.yaml"))
    with pytest.raises(RlaifError, match="unknown template 'zzz'"):
        load_template("zzz")


def test_cut_left_keeps_the_longest_fitting_suffix():
    from rlaif.labeling.prompts import TRUNCATION_MARK, cut_left

    fits = lambda s: len(s) <= 12  # noqa: E731
    assert cut_left("short", fits) == ("short", False)
    text, cut = cut_left("0123456789abcdefghij", fits)
    assert cut and text == TRUNCATION_MARK + "efghij" and not fits(TRUNCATION_MARK + "defghij")
    assert cut_left("anything", lambda s: len(s) <= 3) is None
