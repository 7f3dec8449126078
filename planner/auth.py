"""Bearer-token authentication and the owner rules of offer sets and sessions.

Tokens come from settings (a list, or a file of ``<owner> <token>`` lines) and are kept only as
SHA-256 digests; neither a token nor its digest is ever logged. With no token configured, auth is
off: everything is open and owned by nobody, which is allowed only on a loopback interface.

Rules when auth is on: every POST needs a known token (401 otherwise); only the owner may change a
session (403); GETs follow ``read_policy``: ``owner`` (default), ``authenticated`` or ``public``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from planner.errors import PlannerError

logger = logging.getLogger(__name__)
ReadPolicy = Literal["owner", "authenticated", "public"]


class AuthRequiredError(PlannerError):
    code = "auth-required"
    status = 401
    title = "Authentication required"


class ForbiddenError(PlannerError):
    code = "forbidden"
    status = 403
    title = "Forbidden"


class InsecureExposureError(PlannerError):
    """The broker would listen beyond loopback without authentication."""

    code = "insecure-exposure"
    status = 500
    title = "Refusing to serve without authentication"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def read_token_file(path: Path) -> dict[str, str]:
    """``token → owner`` from a file of ``<owner> <token>`` lines; ``#`` starts a comment.

    Raises
    ------
    ValueError
        When a line does not have exactly two fields (the line number is given, the token is not).
    """
    tokens: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 2:
            raise ValueError(f"{path}:{number}: expected '<owner> <token>'")
        tokens[fields[1]] = fields[0]
    return tokens


@dataclass(frozen=True)
class Caller:
    """Who is calling: ``owner`` is None for an anonymous caller."""

    owner: str | None


class Authenticator:
    """Identifies callers from ``Authorization: Bearer <token>`` and applies the owner rules."""

    def __init__(self, tokens: Mapping[str, str], read_policy: ReadPolicy = "owner") -> None:
        self._owners = {_digest(token): owner for token, owner in tokens.items()}
        self.read_policy = read_policy

    @property
    def enabled(self) -> bool:
        return bool(self._owners)

    def identify(self, authorization: str | None) -> Caller:
        """The caller of a request; a bad or unknown token is a 401 even where anonymous is fine.

        Raises
        ------
        AuthRequiredError
            When a token is presented but is malformed or unknown.
        """
        if not self.enabled or not authorization:
            return Caller(None)
        scheme, _, token = authorization.partition(" ")
        owner = self._owners.get(_digest(token.strip())) if scheme.lower() == "bearer" else None
        if owner is None:
            raise AuthRequiredError("the bearer token is not valid (use Authorization: Bearer <token>)")
        return Caller(owner)

    def require(self, caller: Caller) -> None:
        """Raise unless an identified caller is present (auth on) — for POSTs."""
        if self.enabled and caller.owner is None:
            raise AuthRequiredError("this broker needs a bearer token (Authorization: Bearer <token>)")

    def check_read(self, caller: Caller, owner: str | None, what: str) -> None:
        """Apply the read policy to ``what``, owned by ``owner``."""
        if not self.enabled or self.read_policy == "public":
            return
        self.require(caller)
        if self.read_policy == "owner" and owner is not None and caller.owner != owner:
            raise ForbiddenError(f"{what} belongs to another owner")

    def check_write(self, caller: Caller, owner: str | None, what: str) -> None:
        """Only the owner may change ``what``."""
        if not self.enabled:
            return
        self.require(caller)
        if owner is not None and caller.owner != owner:
            raise ForbiddenError(f"{what} belongs to another owner; only its owner may change it")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, authenticator: Authenticator) -> None:
    """Refuse to serve beyond loopback without auth; warn when serving open on loopback.

    Raises
    ------
    InsecureExposureError
        When ``host`` is not a loopback address and no token is configured.
    """
    if authenticator.enabled:
        return
    if not is_loopback(host):
        raise InsecureExposureError(
            f"the broker would listen on {host} without authentication; configure bearer tokens "
            "(CIRASA_BROKER_AUTH_TOKENS or CIRASA_BROKER_AUTH_TOKENS_FILE) or listen on 127.0.0.1"
        )
    logger.warning("broker is OPEN: no authentication, listening on loopback %s only", host)
