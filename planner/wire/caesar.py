"""caesar-rest application options: the schema of every app and the checks caesar-rest makes.

The schema is ``caesar_app_options.json`` beside this module, a copy of the ``describe`` output of
each caesar-rest app configurator (SKA-INAF/caesar-rest; see the ``_source`` note inside it).
:func:`check_options` returns one problem per unknown option or bad value, never raises.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

OPTIONS_FILE = "caesar_app_options.json"


@dataclass(frozen=True)
class OptionProblem:
    """One message item's worth: kind, template with ``${name}`` placeholders, and values."""

    kind: str
    template: str
    values: dict[str, str] = field(default_factory=dict)


@cache
def app_schemas() -> dict[str, Any]:
    """Every app's entry (``cmd``, ``default_args``, ``describe``...), keyed by app name."""
    text = resources.files("planner.wire").joinpath(OPTIONS_FILE).read_text(encoding="utf-8")
    apps: dict[str, Any] = json.loads(text)["apps"]
    return apps


# Options of ours, not caesar's: where the job writes its products.
OWN_OPTIONS = frozenset({"output_dir"})


def _bad(option: str, value: Any, expected: str) -> OptionProblem:
    return OptionProblem(
        "urn:invalid-value",
        "Option [${option}] has the bad value [${value}]; expected ${expected}",
        {"option": option, "value": str(value), "expected": expected},
    )


def _coerce(kind: str, value: Any) -> Any:
    """The value as caesar-rest types it; strings from XML or forms are converted. Raises ValueError."""
    if kind == "int":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        return int(value)
    if kind == "float":
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value)
    if kind == "none":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(value)
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(value)
    return str(value)


EXPECTED = {"int": "an integer", "float": "a number", "none": "true or false (a flag)", "str": "a string"}


def check_options(app: str, options: dict[str, Any]) -> list[OptionProblem]:
    """Check ``options`` of ``app`` as caesar-rest's ``validate_options`` does, plus types and enums."""
    apps = app_schemas()
    if app not in apps:
        return [
            OptionProblem(
                "urn:invalid-value",
                "Unknown caesar-rest app [${app}]; known apps: ${known}",
                {"app": app, "known": ", ".join(sorted(apps))},
            )
        ]
    describe: dict[str, Any] = apps[app]["describe"]
    problems: list[OptionProblem] = []
    for name in sorted(set(options) - set(describe) - OWN_OPTIONS):
        problems.append(
            OptionProblem(
                "urn:invalid-value",
                "Unknown option [${option}] for app [${app}]",
                {"option": name, "app": app},
            )
        )
    for name, spec in describe.items():
        if name not in options:
            if spec.get("mandatory"):
                problems.append(
                    OptionProblem(
                        "urn:missing-required-value",
                        "Option [${option}] is required by app [${app}]",
                        {"option": name, "app": app},
                    )
                )
            continue
        try:
            value = _coerce(spec["type"], options[name])
        except (TypeError, ValueError):
            problems.append(_bad(name, options[name], EXPECTED.get(spec["type"], spec["type"])))
            continue
        allowed = spec.get("allowed_values")
        if spec.get("enum") and allowed and value not in allowed:
            problems.append(_bad(name, options[name], "one of " + ", ".join(str(a) for a in allowed)))
    return problems
