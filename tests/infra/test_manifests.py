"""The declarative recipes stay consistent with the code they start: Kubernetes manifests are
well-formed and every CIRASA_* variable they set is a real setting; commands exist in the CLI; the
container recipe installs exactly the lock file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cirasa.main import app
from flows.settings import FlowSettings
from planner.settings import BrokerSettings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "infra" / "kubernetes").glob("*.yaml"))


def documents() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def containers() -> list[dict[str, Any]]:
    return [c for d in documents() if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]]


def test_every_manifest_document_is_a_named_resource() -> None:
    docs = documents()
    assert len(docs) >= 10
    for doc in docs:
        assert doc.get("apiVersion") and doc.get("kind"), doc
        assert doc["metadata"]["name"]
        if doc["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == "cirasa", doc["metadata"]


def test_deployment_selectors_match_their_pods() -> None:
    for doc in documents():
        if doc["kind"] == "Deployment":
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("prefix", ["CIRASA_FLOWS_", "CIRASA_BROKER_"])
def test_environment_variables_are_real_settings(prefix: str) -> None:
    fields = FlowSettings.model_fields if prefix == "CIRASA_FLOWS_" else BrokerSettings.model_fields
    names = {e["name"] for c in containers() for e in c.get("env", []) if e["name"].startswith(prefix)}
    assert names, f"no {prefix} variable in the manifests"
    unknown = sorted(n for n in names if n.removeprefix(prefix).lower() not in fields)
    assert not unknown, f"{unknown} are not fields of the settings"


def test_cirasa_commands_and_options_exist() -> None:
    for container in containers():
        command = container["command"]
        if command[0] != "cirasa":
            continue
        words = [w for w in command[1:] if not w.startswith("-") and "/" not in w and not w[0].isdigit()]
        words = [w for w in words if w not in ("0.0.0.0",)]
        help_text = CliRunner().invoke(app, [*words, "--help"], terminal_width=200).output
        for option in (w for w in command if w.startswith("--")):
            assert option in help_text, f"`{' '.join(command)}`: {option} is not an option of cirasa {' '.join(words)}"


def test_container_recipe_installs_the_lock_and_copies_the_packages() -> None:
    recipe = (ROOT / "infra" / "containers" / "Containerfile").read_text()
    assert "uv pip sync --python .venv/bin/python requirements.lock" in recipe
    copied = set(re.findall(r"^COPY (\w+) ", recipe, flags=re.MULTILINE))
    assert {"planner", "science", "flows", "cirasa", "deployments"} <= copied
    for name in copied:
        assert (ROOT / name).is_dir()
