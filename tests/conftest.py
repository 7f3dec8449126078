"""Shared fixtures: real services started once per test session (see tests/services/)."""

from __future__ import annotations

from tests.services.stack import stack

__all__ = ["stack"]
