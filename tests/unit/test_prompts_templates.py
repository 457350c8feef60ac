"""Templates: Jinja with |||, answer choices, FLAN patterns, the sandbox, and error messages."""

import random

import pytest

from genlab.errors import ConfigError, DataError, GenlabError
from genlab.data import Row
from genlab.prompts import FlanTemplate, JinjaTemplate, load_templates, template_from, templates_from

RATING = ("Given the following review:\n{{review_body}}\npredict the rating\n- {{ answer_choices | join('\\n- ') }}"
          " ||| {{answer_choices[star_rating-1]}}")


def test_jinja_splits_input_and_target_on_separator():
    t = JinjaTemplate("headline", "Describe:\n{{review_body}}\n|||{{review_headline}}")
    assert t.render({"review_body": "Great kettle.", "review_headline": "Love it"}) == ("Describe:\nGreat kettle.", "Love it")


@pytest.mark.parametrize("choices", [["1", "2", "3", "4", "5"], "1 ||| 2 ||| 3 ||| 4 ||| 5"])
def test_answer_choices_list_or_string(choices):
    t = JinjaTemplate("rating", RATING, choices)
    source, target = t.render({"review_body": "Meh.", "star_rating": 3})
    assert target == "3"
    assert source.endswith("- 1\n- 2\n- 3\n- 4\n- 5")
    assert t.choices({}) == ["1", "2", "3", "4", "5"]


def test_answer_choices_may_use_row_fields():
    t = JinjaTemplate("yn", "{{q}} ||| {{answer_choices[label]}}", "no, {{name}} ||| yes, {{name}}")
    assert t.render({"q": "Ok?", "label": 1, "name": "Ann"}) == ("Ok?", "yes, Ann")


@pytest.mark.parametrize("evil", [
    "{{ ''.__class__ }} ||| x",
    "{{ ''.__class__.__mro__ }} ||| x",
    "{{ ''.__class__.__mro__[1].__subclasses__() }} ||| x",
    "{{ review_body.__class__.__init__.__globals__ }} ||| x",
    "{{ cycler.__init__.__globals__.os }} ||| x",
])
def test_sandbox_blocks_python_internals(evil):
    t = JinjaTemplate("evil", evil)
    with pytest.raises(GenlabError) as e:
        t.render({"review_body": "text"})
    assert "evil" in str(e.value)
    assert "sandbox" in str(e.value) or "undefined" in str(e.value)


def test_sandbox_is_immutable():
    t = JinjaTemplate("mutate", "{{ items.append(1) }} ||| x")
    with pytest.raises(GenlabError):
        t.render({"items": []})


def test_missing_field_names_template_field_and_row_location():
    t = JinjaTemplate("samsum-1", "{{dialogue}} ||| {{summary}}")
    with pytest.raises(DataError) as e:
        t.render(Row.at({"dialogue": "A: hi"}, "data/train.jsonl:17"))
    assert str(e.value).startswith('data/train.jsonl:17: missing field "summary" used by template \'samsum-1\'')


def test_jinja_without_separator_or_bad_syntax_is_a_config_error():
    with pytest.raises(ConfigError, match=r"\|\|\|"):
        JinjaTemplate("nosep", "{{a}}")
    with pytest.raises(ConfigError, match="not valid Jinja"):
        JinjaTemplate("broken", "{{ a ||| b")


def test_flan_patterns_sampled_with_seed():
    t = FlanTemplate("samsum", [(f"{{dialogue}}\nAsk {i}", "{summary}") for i in range(7)])
    row = {"dialogue": "A: hi", "summary": "A greets."}
    draw = lambda seed: [t.render(row, rng=rng)[0] for rng in [random.Random(seed)] for _ in range(50)]  # noqa: E731
    assert draw(1) == draw(1)
    assert len(set(draw(1))) == 7  # every phrasing gets used
    assert t.render(row, index=3) == ("A: hi\nAsk 3", "A greets.")


def test_flan_refuses_attribute_paths_and_names_missing_fields():
    with pytest.raises(GenlabError, match="plain field name"):
        FlanTemplate("e", [("{dialogue.__class__}", "x")]).render({"dialogue": "a"})
    with pytest.raises(DataError, match='missing field "summary"'):
        FlanTemplate("s", [("{dialogue}", "{summary}")]).render(Row.at({"dialogue": "a"}, "f.csv:3"))
    assert FlanTemplate("b", [("{{literal}} {x}", "{x}")]).render({"x": "1"}) == ("{literal} 1", "1")


def test_templates_from_yaml_and_python(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "templates:\n"
        "  - name: rating\n"
        "    jinja: \"{{review_body}} ||| {{answer_choices[star_rating-1]}}\"\n"
        "    answer_choices: \"1 ||| 2 ||| 3 ||| 4 ||| 5\"\n"
        "  - name: samsum\n"
        "    patterns:\n"
        "      - [\"{dialogue}\\nBriefly summarize that dialogue.\", \"{summary}\"]\n")
    jt, ft = load_templates(path)
    assert isinstance(jt, JinjaTemplate) and isinstance(ft, FlanTemplate)
    assert jt.render({"review_body": "ok", "star_rating": 5}) == ("ok", "5")
    assert ft.render({"dialogue": "d", "summary": "s"}) == ("d\nBriefly summarize that dialogue.", "s")
    py = templates_from([{"name": "p", "patterns": [["{a}", "{b}"]]}, "{{a}} ||| {{b}}"])
    assert [type(t) for t in py] == [FlanTemplate, JinjaTemplate]
    assert template_from([("{a}", "{b}")]).render({"a": 1, "b": 2}) == ("1", "2")


def test_template_spec_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="unknown template key"):
        template_from({"name": "x", "jinja": "a ||| b", "answr_choices": []})
    with pytest.raises(ConfigError, match="exactly one of"):
        template_from({"name": "x"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("templates: [\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_templates(bad)
