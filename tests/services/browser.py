"""Debian's Chromium for the real-browser tests, installed with apt when missing (Playwright's own
browser download cannot work offline). Skips without root/apt, except in CI where it fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from tests.services.stack import unavailable

CHROMIUM = "/usr/bin/chromium"


def ensure_chromium() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        unavailable("Chromium is not installed and cannot be installed here (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=300)
    result = subprocess.run(
        ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-q", "chromium"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0 or not os.path.exists(CHROMIUM):
        unavailable(f"apt-get install chromium failed: {result.stderr.strip()[-500:]}")
    return CHROMIUM


@pytest.fixture(scope="session")
def chromium() -> Iterator[str]:
    path = ensure_chromium()
    profile = tempfile.mkdtemp(prefix="cirasa-chromium-")
    os.environ.setdefault("XDG_CONFIG_HOME", profile)  # keep Chromium's crash reports out of $HOME
    os.environ.setdefault("XDG_CACHE_HOME", profile)
    yield path
    shutil.rmtree(profile, ignore_errors=True)
