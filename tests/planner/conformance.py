"""Helpers of the conformance suite: real uvicorn brokers, a small HTTP client, request builders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from cirasa.services import free_port, wait_healthy
from planner.wire import codecs, kinds

ROOT = Path(__file__).resolve().parents[2]
TOKENS = {"alice": "alice-secret-token", "bob": "bob-secret-token"}
PATHS = {
    "v1.0.5": {"request": "/offersets", "direct": "/sessions"},
    "v1.0.7": {"request": "/requests", "direct": "/direct"},
}
MEDIA = {"json": codecs.JSON, "yaml": codecs.YAML, "xml": codecs.XML}
TERMINAL = {"REJECTED", "EXPIRED", "COMPLETED", "FAILED", "CANCELLED"}


@contextmanager
def serve_broker(tmp: Path, **settings: str) -> Iterator[str]:
    """Run ``tests.planner.broker_app:create`` under uvicorn; yield its base URL; stop it after."""
    port = free_port()
    env = {
        **os.environ,
        "CIRASA_TEST_WORK": str(tmp / "work"),
        "CIRASA_BROKER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'broker.sqlite3'}",
        **{f"CIRASA_BROKER_{k.upper()}": v for k, v in settings.items()},
    }
    argv = [sys.executable, "-m", "uvicorn", "tests.planner.broker_app:create", "--factory"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    log = (tmp / "broker.log").open("ab")
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(f"{url}/healthz", process, timeout_s=30)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"broker did not start ({exc}): {(tmp / 'broker.log').read_text()[-2000:]}") from exc
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def auth_settings() -> dict[str, str]:
    entries = [{"token": token, "owner": owner} for owner, token in TOKENS.items()]
    return {"auth_tokens": json.dumps(entries), "poll_interval_s": "0.2"}


def encode(data: Any, fmt: str) -> tuple[bytes, dict[str, str]]:
    media = MEDIA[fmt]
    return codecs.encode(data, media), {"Content-Type": media, "Accept": media}


def decode(response: httpx.Response) -> Any:
    return codecs.decode(response.content, response.headers.get("content-type"))


@dataclass
class Broker:
    """A client of one broker that remembers what it created, to cancel or reject it afterwards."""

    url: str
    token: str | None = None
    created: list[str] = field(default_factory=list)

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": codecs.JSON}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers | (extra or {})

    def post(self, path: str, data: Any, fmt: str = "json", **kwargs: Any) -> httpx.Response:
        body, headers = encode(data, fmt)
        response = httpx.post(self.url + path, content=body, headers=self.headers(headers), timeout=20, **kwargs)
        if response.status_code in (200, 303, 400) and "json" in response.headers.get("content-type", ""):
            self._remember(response.json())
        return response

    def _remember(self, document: Any) -> None:
        if isinstance(document, dict):
            for offer in document.get("offers") or []:
                self.created.append(offer["meta"]["uuid"])
            uuid = (document.get("meta") or {}).get("uuid")
            if "phase" in document and uuid:
                self.created.append(uuid)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, headers=self.headers(kwargs.pop("headers", None)), timeout=20, **kwargs)

    def offers(self, request: dict[str, Any], path: str = "/requests") -> dict[str, Any]:
        response = self.post(path, request)
        assert response.status_code == 303, response.text
        body: dict[str, Any] = response.json()
        return body

    def set_phase(self, uuid: str, phase: str, path: str = "phase") -> httpx.Response:
        update = {"kind": "uri:enum-value-update", "path": path, "value": phase}
        return httpx.post(f"{self.url}/sessions/{uuid}", json=update, headers=self.headers(), timeout=20)

    def session(self, uuid: str) -> dict[str, Any]:
        response = self.get(f"/sessions/{uuid}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def follow(self, uuid: str, timeout_s: float = 15.0) -> list[str]:
        """Poll a session until it ends; return the distinct phases seen, in order."""
        phases: list[str] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            phase = self.session(uuid)["phase"]
            if not phases or phases[-1] != phase:
                phases.append(phase)
            if phase in TERMINAL:
                return phases
            time.sleep(0.05)
        raise AssertionError(f"session {uuid} did not end in {timeout_s} s: {phases}")

    def clean_up(self) -> None:
        """Release everything this client created (cancel, else reject), ignoring refusals."""
        for uuid in self.created:
            self.set_phase(uuid, "CANCELLED")
        self.created.clear()


def docker(**extra: Any) -> dict[str, Any]:
    return {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": ["docker.io/sriggi/caesar-job:latest"]}, **extra}


def request(cores: tuple[int, int] = (2, 4), memory: tuple[int, int] = (1, 2), **extra: Any) -> dict[str, Any]:
    return {
        "executable": docker(),
        "compute": {
            "kind": kinds.SIMPLE_COMPUTE,
            "cores": {"min": cores[0], "max": cores[1]},
            "memory": {"min": memory[0], "max": memory[1]},
        },
        **extra,
    }


def runner_request(command: list[str], *, duration: str = "PT10S", **extra: Any) -> dict[str, Any]:
    """A request that only the process platform ("runner") can run."""
    executable = docker(command=command, **extra.pop("executable_extra", {}))
    body = request(cores=(1, 1), memory=(1, 1), executable=executable, **extra)
    body["schedule"] = {"requested": {"duration": duration}}
    return body


def yaml_text(data: Any) -> str:
    return yaml.safe_dump(data)
