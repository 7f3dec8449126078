"""Idempotent per-image results: each result lives under a key of (image content, options, code).

A result directory is written under a temporary name and renamed into place when complete, so a
reader sees either a whole result or none; a re-run or a resumed survey skips keys already there,
and work recomputed after a lost worker overwrites nothing that was finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from science.extract.params import ExtractionParams

SCIENCE_ROOT = Path(__file__).resolve().parent.parent / "science"


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content (a renamed or copied image keeps its key); streamed through one
    reused buffer (``hashlib.file_digest``), ~10 ms for a 2048² image."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def options_digest(params: ExtractionParams) -> str:
    text = json.dumps(params.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@cache
def code_version() -> str:
    """A digest of the science package's source: changing the algorithm changes every key."""
    digest = hashlib.sha256()
    for path in sorted(SCIENCE_ROOT.rglob("*.py")):
        digest.update(path.relative_to(SCIENCE_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def result_key(image: str | Path, params: ExtractionParams) -> str:
    parts = f"{file_digest(image)}:{options_digest(params)}:{code_version()}"
    return hashlib.sha256(parts.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class ResultStore:
    """Results of one survey output directory: ``<root>/results/<key>/``."""

    root: Path

    def path(self, key: str) -> Path:
        return self.root / "results" / key

    def done(self, key: str) -> bool:
        return (self.path(key) / "result.json").is_file()

    # A stat-keyed index (path, size, mtime, options, code → result key) lets a re-run skip
    # finished images without hashing them again; a changed file simply misses the index.
    def _index_file(self) -> Path:
        return self.root / "results" / "index.json"

    def _index(self) -> dict[str, dict[str, Any]]:
        try:
            index: dict[str, dict[str, Any]] = json.loads(self._index_file().read_text())
        except (OSError, ValueError):
            return {}
        return index

    @staticmethod
    def _entry(image: str | Path, params: ExtractionParams) -> tuple[str, dict[str, int]]:
        stat = os.stat(image)
        name = f"{Path(image).resolve()}|{options_digest(params)}|{code_version()}"
        return name, {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

    def known_key(self, image: str | Path, params: ExtractionParams) -> str | None:
        """The result key of ``image`` from the index, if the file has not changed since."""
        name, stat = self._entry(image, params)
        entry = self._index().get(name)
        if entry and entry.get("size") == stat["size"] and entry.get("mtime_ns") == stat["mtime_ns"]:
            return str(entry["key"])
        return None

    def remember(self, items: list[tuple[str, str]], params: ExtractionParams) -> None:
        """Add ``(image, key)`` pairs to the index (written atomically)."""
        index = self._index()
        for image, key in items:
            name, stat = self._entry(image, params)
            index[name] = {**stat, "key": key}
        self._index_file().parent.mkdir(parents=True, exist_ok=True)
        partial = self._index_file().with_suffix(f".{uuid.uuid4().hex[:8]}.partial")
        partial.write_text(json.dumps(index, indent=1))
        os.replace(partial, self._index_file())

    def read(self, key: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads((self.path(key) / "result.json").read_text())
        return result

    def staging(self, key: str) -> Path:
        """A fresh private directory to write a result into before :meth:`commit`."""
        path = self.root / "results" / f".{key}.{uuid.uuid4().hex[:8]}.partial"
        path.mkdir(parents=True)
        return path

    def commit(self, key: str, staging: Path, result: dict[str, Any]) -> bool:
        """Move a complete result into place; False (and the staging dropped) if one is already there."""
        (staging / "result.json").write_text(json.dumps(result, indent=2))
        try:
            os.rename(staging, self.path(key))
        except OSError:  # another attempt finished first: keep the first, drop ours
            shutil.rmtree(staging, ignore_errors=True)
            return False
        return True
