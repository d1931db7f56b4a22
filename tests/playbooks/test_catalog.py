"""The catalog of playbooks, and `triagebot check` over files and directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import PlaybookInvalid, UnknownPlaybook
from bot.playbooks.catalog import check_paths, load_catalog
from tests.playbooks.fake_steps import fake_registry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "playbooks"


def write(path: Path, name: str) -> Path:
    path.write_text(f"name: {name}\nsteps:\n  - {{id: a, uses: test.probe, with: {{target: x}}}}\n")
    return path


def test_load_catalog_reads_yaml_and_yml_sorted(tmp_path: Path) -> None:
    write(tmp_path / "b.yaml", "zeta")
    write(tmp_path / "a.yml", "alpha")
    (tmp_path / "notes.txt").write_text("not a playbook")
    catalog = load_catalog([tmp_path], fake_registry())
    assert len(catalog) == 2
    assert catalog.names() == ["alpha", "zeta"]
    assert [p.name for p in catalog] == ["alpha", "zeta"]
    assert catalog.get("alpha").source == str(tmp_path / "a.yml")
    assert "zeta" in catalog


def test_unknown_playbook_suggests_a_name(tmp_path: Path) -> None:
    write(tmp_path / "alb.yaml", "alb-errors")
    catalog = load_catalog([tmp_path], fake_registry())
    with pytest.raises(UnknownPlaybook) as caught:
        catalog.get("alb-error")
    assert caught.value.user_message == (
        "There is no playbook `alb-error`. Did you mean `alb-errors`? Playbooks: `alb-errors`."
    )


def test_load_catalog_reports_every_problem_of_every_file(tmp_path: Path) -> None:
    write(tmp_path / "ok.yaml", "fine")
    (tmp_path / "bad1.yaml").write_text(
        "name: bad1\ntitel: x\nsteps: [{id: a, uses: test.probe}]\n"
    )
    (tmp_path / "bad2.yaml").write_text("name: bad2\n")
    with pytest.raises(PlaybookInvalid) as caught:
        load_catalog([tmp_path], fake_registry())
    assert caught.value.problems == [
        f"{tmp_path / 'bad1.yaml'}:2:1: unknown key `titel` at the top level of the playbook; "
        "did you mean `title`?",
        f"{tmp_path / 'bad1.yaml'}:3:17: step `a` is missing required parameter `target` "
        "of `test.probe`",
        f"{tmp_path / 'bad2.yaml'}:1:1: the playbook is missing `steps`",
    ]


def test_duplicate_playbook_names_name_both_files(tmp_path: Path) -> None:
    first = write(tmp_path / "one.yaml", "same")
    second = write(tmp_path / "two.yaml", "same")
    with pytest.raises(PlaybookInvalid) as caught:
        load_catalog([tmp_path], fake_registry())
    assert caught.value.problems == [
        f"{second}:1:7: playbook name `same` is already used by {first}"
    ]


def test_duplicates_across_directories(tmp_path: Path) -> None:
    (tmp_path / "shipped").mkdir()
    (tmp_path / "team").mkdir()
    write(tmp_path / "shipped" / "x.yaml", "x")
    write(tmp_path / "team" / "x.yaml", "x")
    problems = check_paths([tmp_path / "shipped", tmp_path / "team"], fake_registry())
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'team' / 'x.yaml'}:1:7: playbook name `x` is already used by "
        f"{tmp_path / 'shipped' / 'x.yaml'}"
    ]


def test_check_paths_takes_files_and_directories(tmp_path: Path) -> None:
    invalid = FIXTURES / "invalid"
    problems = check_paths(
        [invalid / "needs-cycle.yaml", FIXTURES / "valid", tmp_path / "missing"], fake_registry()
    )
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'missing'}:1:1: no such file or directory",
        f"{invalid / 'needs-cycle.yaml'}:8:5: dependency cycle: second → third → second",
    ]


def test_check_paths_on_the_invalid_fixtures_reports_one_problem_per_file() -> None:
    invalid = FIXTURES / "invalid"
    problems = check_paths([invalid], fake_registry())
    assert sorted({p.path for p in problems}) == sorted(str(p) for p in invalid.glob("*.yaml"))
    assert len(problems) == len(list(invalid.glob("*.yaml")))


def test_a_file_named_twice_is_checked_once(tmp_path: Path) -> None:
    path = write(tmp_path / "a.yaml", "a")
    assert check_paths([tmp_path, path], fake_registry()) == []
    assert len(load_catalog([tmp_path, tmp_path], fake_registry())) == 1
