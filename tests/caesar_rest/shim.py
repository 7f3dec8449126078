"""Imports the real caesar-rest (SKA-INAF, not on PyPI: its snapshot sits in ``shared/upstream/caesar-rest``
beside the checkout, or at ``CAESAR_REST_DIR``) on Python 3.11 with today's packages, without editing it.

caesar-rest imports three names that no longer exist in any version that installs on 3.11, so they are put
back before it is imported (each is imported, and at most used as shown):

- ``flask.safe_join`` (gone in Flask 2.1; imported, never used) → werkzeug's;
- ``celery.task.control.revoke`` (``celery.task`` is gone in Celery 5) → the Celery app's ``control.revoke``;
- ``regions.DS9Parser`` / ``regions.read_ds9`` (gone in regions 0.6; only the Celery worker's plot uses
  ``read_ds9``) → ``Regions.read(format="ds9")``;

``flask_oidc_ex`` cannot be imported with Flask ≥ 2.3: a stand-in whose ``validate_token`` is False (auth is
off in these tests, as in caesar-rest's default) keeps its decorator working. caesar-rest's MongoDB is
mongomock (``pymongo.MongoClient`` and Flask-PyMongo's, one in-memory server for the app and its job monitor):
the one fake here, standing in for a database server that cannot run on this machine.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def caesar_rest_dir() -> Path | None:
    """caesar-rest's source tree, if this machine has it."""
    given = os.environ.get("CAESAR_REST_DIR")
    path = Path(given) if given else ROOT.parent / "shared" / "upstream" / "caesar-rest"
    return path if (path / "caesar_rest" / "__init__.py").is_file() else None


def install(source: Path) -> Any:
    """Apply the pre-import patches and put ``source`` on ``sys.path``; returns the mongomock server store."""
    import flask
    import flask_pymongo
    import mongomock
    import mongomock.store
    import pymongo
    import regions
    import werkzeug.utils

    sys.dont_write_bytecode = True  # caesar-rest's tree is read-only in CI: no __pycache__ there
    if str(source) not in sys.path:
        sys.path.insert(0, str(source))
    if not hasattr(flask, "safe_join"):
        vars(flask)["safe_join"] = vars(werkzeug.utils)["safe_join"]
    control = types.ModuleType("celery.task.control")
    vars(control)["revoke"] = lambda task_id, **kw: __import__("caesar_rest").celery.control.revoke(task_id, **kw)
    sys.modules.setdefault("celery.task", types.ModuleType("celery.task"))
    sys.modules.setdefault("celery.task.control", control)
    if not hasattr(regions, "DS9Parser"):
        vars(regions)["DS9Parser"] = None
    if not hasattr(regions, "read_ds9"):
        vars(regions)["read_ds9"] = lambda path: regions.Regions.read(path, format="ds9")
    try:
        import flask_oidc_ex  # noqa: F401
    except ImportError:
        stand_in = types.ModuleType("flask_oidc_ex")
        vars(stand_in)["OpenIDConnect"] = type(
            "OpenIDConnect",
            (),
            {
                "__init__": lambda self, *a, **k: None,
                "init_app": lambda self, app: None,
                "validate_token": lambda self, token, scopes_required=None: False,
            },
        )
        sys.modules["flask_oidc_ex"] = stand_in
    store = mongomock.store.ServerStore()  # type: ignore[no-untyped-call]

    def client(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop("driver", None)
        return mongomock.MongoClient(*args, _store=store, **kwargs)

    vars(flask_pymongo)["MongoClient"] = client
    vars(pymongo)["MongoClient"] = client
    return store
