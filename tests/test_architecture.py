"""Rules the architecture depends on, checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _calls(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                inner = func.value
                prefix = inner.attr if isinstance(inner, ast.Attribute) else getattr(inner, "id", "")
                names.add(f"{prefix}.{func.attr}")
            elif isinstance(func, ast.Name):
                names.add(func.id)
    return names


ENGINE_FILES = sorted((ROOT / "planner" / "engine").glob("*.py"))


@pytest.mark.parametrize("path", ENGINE_FILES, ids=lambda p: p.name)
def test_engine_is_pure(path: Path) -> None:
    """No coroutines, no file I/O, no reading the clock: the engine gets `now` passed in."""
    tree = ast.parse(path.read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef)], f"{path.name} has async def"
    calls = _calls(tree)
    forbidden = {"open", "datetime.now", "datetime.utcnow", "time.time", "date.today"} & calls
    assert not forbidden, f"{path.name} calls {sorted(forbidden)}"


def test_engine_files_exist() -> None:
    assert len(ENGINE_FILES) >= 6


@pytest.mark.parametrize(
    "path", sorted(p for p in ROOT.glob("*/**/*.py") if not {".venv", "var"} & set(p.parts)), ids=str
)
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines (limit 400): split it by concept"


def test_extraction_parameters_import_no_stage_libraries() -> None:
    """Flow drivers and the survey's planner pass ExtractionParams around without running a stage: importing
    the parameters must not pull scipy or astropy's WCS (a fresh interpreter, so nothing is preloaded)."""
    import subprocess
    import sys

    code = (
        "import sys, science.extract.params\n"
        "heavy = sorted(m for m in ('scipy', 'scipy.ndimage', 'astropy.wcs', 'astropy.table') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == ""
