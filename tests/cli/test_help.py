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
    ["options"],
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


def test_options_says_what_this_engine_does_with_each_caesar_option() -> None:
    result = CliRunner().invoke(app, ["options"], terminal_width=250)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "applied" in lines["seedthr"] and "applied" in lines["fit-freebkg"]
    assert "WT-THRESH" in lines["extsfinder"] and "ACTIVE-CONTOUR" in lines["extsfinder"]
    assert "map output" in lines["save-rmsmap"]
    assert "no effect on results" in lines["nthreads"]
    assert "not implemented" in lines["activecontour"] and "not implemented" in lines["fit-minimizer"]
    only = CliRunner().invoke(app, ["options", "--unapplied"], terminal_width=250)
    assert "activecontour" in only.output and "seedthr" not in only.output and "fit-freebkg" not in only.output


def test_caesars_tile_split_tiles_a_cli_extraction(tmp_path: pytest.TempPathFactory) -> None:
    image = tmp_path / "sky.fits"  # type: ignore[operator]
    assert CliRunner().invoke(app, ["simulate", str(image), "--size", "256", "--sources", "20"]).exit_code == 0
    out = tmp_path / "out"  # type: ignore[operator]
    split = CliRunner().invoke(
        app, ["extract", str(image), "--out", str(out), "-O", "tilesplit", "-O", "tilesize=128"], terminal_width=200
    )
    assert split.exit_code == 0, split.output
    assert "4 tile(s) of 128 px" in split.output
    whole = CliRunner().invoke(app, ["extract", str(image), "--out", str(out), "-O", "tilesize=128"])
    assert whole.exit_code == 0 and "tile(s)" not in whole.output  # caesar tiles only with tilesplit
