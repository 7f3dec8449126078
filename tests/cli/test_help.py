"""Every command documents itself, with an example."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cirasa.main import app

COMMANDS = [
    ["server", "up"],
    ["server", "down"],
    ["server", "status"],
    ["broker", "serve"],
    ["deploy"],
    ["simulate"],
    ["extract"],
    ["plan"],
    ["demo"],
    ["classify"],
    ["classify", "train"],
]


def test_top_level_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for name in ("server", "broker", "deploy", "simulate", "extract", "plan", "demo", "classify"):
        assert f" {name} " in result.output


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_command_help_has_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Example: " in result.output
    assert f"cirasa {' '.join(command)}" in result.output or "make demo" in result.output


def test_extract_on_a_missing_file_is_a_clear_error(tmp_path: pytest.TempPathFactory) -> None:
    result = CliRunner().invoke(app, ["extract", "/nonexistent/x.fits", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "x.fits" in result.output


def test_broker_refuses_to_listen_beyond_loopback_without_tokens() -> None:
    result = CliRunner().invoke(app, ["broker", "serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "insecure-exposure" in result.output
