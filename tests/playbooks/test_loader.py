"""The playbook loader: every validation rule has an invalid fixture that must fail with its
message at the right line and column; valid playbooks load."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.errors import PlaybookInvalid
from bot.playbooks.loader import Problem, check_playbook, load_playbook
from bot.steps import default_registry
from tests.playbooks.fake_steps import fake_registry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "playbooks"
INVALID = FIXTURES / "invalid"

EXPECTED = {
    "yaml-syntax.yaml": "6:1: invalid YAML: expected ',' or '}', but got '<stream end>' "
    "(while parsing a flow mapping on line 5)",
    "duplicate-yaml-key.yaml": "6:5: duplicate key `uses` (first given on line 4)",
    "unknown-top-level-key.yaml": "2:1: unknown key `descripton` at the top level of the "
    "playbook; did you mean `description`?",
    "unknown-step-key.yaml": "5:5: unknown key `wehn` in step `probe`; did you mean `when`?",
    "missing-steps.yaml": "1:1: the playbook is missing `steps`",
    "missing-uses.yaml": "3:5: step `probe` is missing `uses`",
    "bad-playbook-name.yaml": "1:7: playbook name `ALB_errors` should be lowercase",
    "bad-duration.yaml": "5:14: `timeout` in step `probe`: '10 secs' is not a duration",
    "unknown-step-type.yaml": "4:11: unknown step type `test.prob`. Did you mean `test.probe`?",
    "unknown-with-param.yaml": "7:7: unknown parameter `cuont` for `test.probe` in step `probe`; "
    "did you mean `count`?",
    "mistyped-with-value.yaml": "7:14: `count` in step `probe` should be a whole number",
    "bad-duration-in-with.yaml": "5:35: `lookback` in step `probe`: 'since lunch' is not a "
    "duration",
    "missing-required-step-param.yaml": "5:5: step `probe` is missing required parameter "
    "`target` of `test.probe`",
    "mutating-not-declared.yaml": "4:11: step `restart` uses `test.reboot`, which changes AWS; "
    "add `mutating: true` to the playbook",
    "duplicate-step-id.yaml": "6:9: duplicate step id `probe` (first used on line 3)",
    "needs-missing-step.yaml": "8:13: step `db` needs `webb`, but there is no step `webb`; "
    "did you mean `web`?",
    "needs-cycle.yaml": "8:5: dependency cycle: second → third → second",
    "undefined-param.yaml": "9:17: `params.lookbak` is not a parameter of this playbook; "
    "did you mean `lookback`?",
    "step-not-in-needs.yaml": "8:11: step `db` reads steps.web but does not list `web` in needs",
    "unknown-template-name.yaml": "6:15: unknown name `alram` in template; "
    "use alarm, params, steps or now",
    "unknown-alarm-field.yaml": "6:15: `alarm.dimension` is not an alarm field; "
    "did you mean `dimensions`?",
    "template-syntax-error.yaml": "6:15: template syntax error: unexpected '}'",
    "bad-param-default.yaml": "3:39: the default of `lookback`: 'an hour' is not a duration",
    "param-default-choices.yaml": "3:33: the default of `tier` is `gold`, which is not one of "
    "its choices (`web`, `db`)",
    "param-default-reads-steps.yaml": "3:21: the default of `target` reads `steps`, but "
    "parameters are worked out before any step runs",
}
"""Fixture file → the one problem it must produce, as ``line:col: message`` (a prefix)."""


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in INVALID.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_fixture_fails_with_its_message(name: str) -> None:
    path = INVALID / name
    playbook, problems = check_playbook(path, fake_registry())
    assert playbook is None
    rendered = [str(problem) for problem in problems]
    assert len(rendered) == 1, rendered
    assert rendered[0].startswith(f"{path}:{EXPECTED[name]}"), rendered


def test_load_playbook_raises_with_every_problem_rendered() -> None:
    path = INVALID / "needs-cycle.yaml"
    with pytest.raises(PlaybookInvalid) as caught:
        load_playbook(path, fake_registry())
    assert caught.value.problems == [f"{path}:8:5: dependency cycle: second → third → second"]
    assert caught.value.user_message == caught.value.problems[0]


def test_valid_playbook_loads() -> None:
    path = FIXTURES / "valid" / "alb-errors.yaml"
    playbook = load_playbook(path, fake_registry())
    assert playbook.name == "alb-errors"
    assert playbook.source == str(path)
    assert playbook.timeout == timedelta(seconds=60)
    assert [s.id for s in playbook.steps] == ["targets", "changes", "errors", "summary"]
    assert playbook.step("changes").timeout == timedelta(seconds=20)
    assert playbook.step("errors").needs == ("targets",)
    assert playbook.params["lookback"].type == "duration"


def test_all_problems_are_collected_not_just_the_first(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        "name: many\n"
        "titel: Many problems\n"
        "steps:\n"
        "  - id: a\n"
        "    uses: test.probe\n"
        "    with: {target: web, count: lots}\n"
        "  - id: b\n"
        "    uses: test.prob\n"
        "    needs: [a, zz]\n"
        "  - id: c\n"
        "    uses: test.probe\n"
        '    when: "{{ steps.b.hits > params.x }}"\n'
        "    with: {}\n"
    )
    _, problems = check_playbook(path, fake_registry())
    assert [(p.line, p.col) for p in problems] == sorted((p.line, p.col) for p in problems)
    messages = [f"{p.line}:{p.col}: {p.message}" for p in problems]
    assert messages == [
        "2:1: unknown key `titel` at the top level of the playbook; did you mean `title`?",
        "6:32: `count` in step `a` should be a whole number",
        "8:11: unknown step type `test.prob`. Did you mean `test.probe`?",
        "9:16: step `b` needs `zz`, but there is no step `zz`",
        "12:11: `params.x` is not a parameter of this playbook; it declares no params",
        "12:11: step `c` reads steps.b but does not list `b` in needs",
        "13:5: step `c` is missing required parameter `target` of `test.probe`",
    ]


def test_steps_read_through_needs_transitively(tmp_path: Path) -> None:
    path = tmp_path / "chain.yaml"
    path.write_text(
        "name: chain\n"
        "steps:\n"
        "  - {id: a, uses: test.probe, with: {target: x}}\n"
        "  - {id: b, uses: test.probe, needs: [a], with: {target: x}}\n"
        "  - {id: c, uses: test.probe, needs: [b], with: {target: '{{ steps.a.hits }}'}}\n"
    )
    playbook, problems = check_playbook(path, fake_registry())
    assert problems == []
    assert playbook is not None


def test_self_need_is_a_cycle(tmp_path: Path) -> None:
    path = tmp_path / "self.yaml"
    path.write_text("name: self\nsteps:\n  - {id: a, uses: test.probe, needs: [a], with: {x: 1}}\n")
    _, problems = check_playbook(path, fake_registry())
    assert [p.message for p in problems] == [
        "dependency cycle: a → a",
        "step `a` is missing required parameter `target` of `test.probe`",
        "unknown parameter `x` for `test.probe` in step `a`; "
        "it takes `target`, `count`, `lookback`",
    ]


def test_sandbox_escape_is_not_a_check_time_error(tmp_path: Path) -> None:
    """The sandbox refuses it when rendering; `check` cannot know the values, so it passes."""
    path = tmp_path / "escape.yaml"
    path.write_text(
        "name: escape\n"
        "steps:\n"
        "  - id: a\n"
        "    uses: test.probe\n"
        "    with: {target: \"{{ ''.__class__.__mro__[1].__subclasses__() }}\"}\n"
    )
    playbook, problems = check_playbook(path, fake_registry())
    assert problems == []
    assert playbook is not None


def test_param_default_may_read_earlier_params_only(tmp_path: Path) -> None:
    path = tmp_path / "order.yaml"
    path.write_text(
        "name: order\n"
        "params:\n"
        '  first: {default: "{{ params.second }}"}\n'
        "  second: {default: web}\n"
        '  third: {default: "{{ params.second }}-x"}\n'
        "steps:\n"
        "  - {id: a, uses: test.probe, with: {target: '{{ params.third }}'}}\n"
    )
    _, problems = check_playbook(path, fake_registry())
    assert [f"{p.line}:{p.col}: {p.message}" for p in problems] == [
        "3:20: the default of `first` reads `params.second`, which is worked out after it; "
        "declare `second` first"
    ]


def test_unknown_filter_gets_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "filter.yaml"
    path.write_text(
        "name: filter\n"
        "params: {lookback: {type: duration, default: 1h}}\n"
        "steps:\n"
        "  - {id: a, uses: test.probe, with: {target: '{{ params.lookback | durration }}'}}\n"
    )
    _, problems = check_playbook(path, fake_registry())
    assert [p.message for p in problems] == ["unknown filter `durration`; did you mean `duration`?"]


def test_multiline_template_error_names_the_template_line(tmp_path: Path) -> None:
    path = tmp_path / "block.yaml"
    path.write_text(
        "name: block\n"
        "steps:\n"
        "  - id: a\n"
        "    uses: test.probe\n"
        "    with:\n"
        "      target: |\n"
        "        {{ alarm.name }}\n"
        "        {% if alarm.state %}\n"
    )
    _, problems = check_playbook(path, fake_registry())
    assert len(problems) == 1
    assert problems[0].line == 6
    assert "template syntax error" in problems[0].message
    assert "(line 2 of the template)" in problems[0].message


def test_yaml_merge_keys_and_anchors_work(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text(
        "name: merge\n"
        "x-probe: &probe {uses: test.probe, timeout: 5s}\n"
        "steps:\n"
        "  - {<<: *probe, id: a, with: {target: web}}\n"
    )
    _, problems = check_playbook(path, fake_registry())
    # the anchor holder is itself an unknown key; the merge works
    assert [str(p) for p in problems] == [
        f"{path}:2:1: unknown key `x-probe` at the top level of the playbook"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "1:1: the file is empty"),
        ("- a\n- b\n", "1:1: a playbook is a map (name:, steps:, …), not a list"),
        ("name: x\nsteps:\n  - id: Bad-Id\n    uses: test.probe\n", "3:9: step id `Bad-Id`"),
        ("name: x\nsteps: []\n", "2:8: a playbook needs at least one step under `steps`"),
        (
            "name: x\nsource: y\nsteps: [{id: a, uses: test.reboot, with: {instance: i}}]\n"
            "mutating: true\n",
            "2:1: unknown key `source`",
        ),
        (
            "name: x\nsteps:\n  - id: a\n    uses: test.probe\n    needs: a\n",
            "5:12: `needs` in step `a` should be a list",
        ),
        ("name: x\nsteps:\n  - just-a-string\n", "3:5: Step #1 should be a map"),
        (
            "name: x\nparams:\n  n: {type: number}\nsteps: [{id: a, uses: test.reboot}]\n",
            "3:13: `type` of parameter `n` should be one of 'string'",
        ),
    ],
)
def test_shape_problems(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    playbook, problems = check_playbook(path, fake_registry())
    assert playbook is None
    assert any(str(p).startswith(f"{path}:{expected}") for p in problems), problems


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    playbook, problems = check_playbook(path, fake_registry())
    assert playbook is None
    assert [str(p) for p in problems] == [
        f"{path}:1:1: cannot read the playbook: No such file or directory"
    ]


def test_problem_renders_like_a_compiler_message() -> None:
    assert str(Problem("playbooks/a.yaml", 3, 7, "oops")) == "playbooks/a.yaml:3:7: oops"


def test_shipped_step_loads_with_the_default_registry(tmp_path: Path) -> None:
    path = tmp_path / "whoami.yaml"
    path.write_text("name: whoami\nsteps:\n  - id: me\n    uses: sts.caller_identity\n")
    playbook = load_playbook(path, default_registry())
    assert playbook.steps[0].uses == "sts.caller_identity"


def test_keys_are_text_even_when_yaml_would_read_a_boolean(tmp_path: Path) -> None:
    path = tmp_path / "on.yaml"
    path.write_text(
        "name: flags\nsteps:\n  - {id: a, uses: test.probe, with: {target: x, on: 1}}\n"
    )
    _, problems = check_playbook(path, fake_registry())
    assert [p.message for p in problems] == [
        "unknown parameter `on` for `test.probe` in step `a`; it takes `target`, `count`, "
        "`lookback`"
    ]
