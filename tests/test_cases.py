"""Config cases as data (Telegraf's testcases/ layout): each tests/cases/<name>/ folder holds a
config.yaml and one of: expected.err (the exact problems `check` reports, exit 78; `{drivers}`
stands for the installed drivers),
expected.out (the exact report `check` prints for a valid config: plans, bus load) or
expected.json (what `once --format json` reads). A new case is a folder, not code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sensorpoll.cli import main
from sensorpoll.drivers import registry

CASES = Path(__file__).parent / "cases"
ENV = {"SENSORPOLL_CASE_SUFFIX": "b12"}


def _cases(kind: str) -> list[Path]:
    return sorted(p for p in CASES.iterdir() if (p / kind).exists())


@pytest.fixture
def in_case(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def enter(case: Path) -> None:
        monkeypatch.chdir(case)
        for key, value in ENV.items():
            monkeypatch.setenv(key, value)

    return enter


@pytest.mark.parametrize("case", _cases("expected.err"), ids=lambda p: p.name)
def test_invalid_config_is_reported_with_file_line_and_field(
    case: Path, in_case, capsys: pytest.CaptureFixture[str]
) -> None:
    in_case(case)
    assert main(["check", "-c", "config.yaml"]) == 78
    err = capsys.readouterr().err.splitlines()
    # `{drivers}`: every installed driver, third-party ones too (CI installs the example)
    text = (case / "expected.err").read_text().replace("{drivers}", ", ".join(registry.names()))
    assert err[:-1] == text.splitlines()
    assert err[-1].startswith("configuration invalid:")


@pytest.mark.parametrize("case", _cases("expected.json"), ids=lambda p: p.name)
def test_valid_config_reads_the_expected_values(
    case: Path, in_case, capsys: pytest.CaptureFixture[str]
) -> None:
    in_case(case)
    expected = json.loads((case / "expected.json").read_text())
    assert main(["once", "-c", "config.yaml", "--format", "json"]) == expected["exit"]
    cycle = json.loads(capsys.readouterr().out)
    got = [{k: d[k] for k in ("device", "ok", "error", "values")} for d in cycle["devices"]]
    assert got == expected["devices"]


@pytest.mark.parametrize("case", _cases("expected.out"), ids=lambda p: p.name)
def test_valid_config_check_prints_the_expected_report(
    case: Path, in_case, capsys: pytest.CaptureFixture[str]
) -> None:
    in_case(case)
    assert main(["check", "-c", "config.yaml"]) == 0
    assert capsys.readouterr().out == (case / "expected.out").read_text()
