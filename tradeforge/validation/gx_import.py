"""Import great-expectations paying only for what the suite uses (pandas checks, Data Docs).

``import great_expectations`` loads every expectation and every backend GX supports: on this
project's 2-core machine that was ~5.9 s of a ~8.5 s ``tradeforge validate FILE`` (measured with
``python -X importtime``). Half of it is third-party code the OHLCV suite never runs:

- ``sqlalchemy`` (SQL datasources) and ``boto3`` (S3 datasources): GX imports them inside
  ``try/except ImportError`` and works without them, so while GX itself imports them they are
  reported missing. Only imports made *by GX modules* are refused, and only while
  :func:`import_gx` runs; anything else (Prefect, ``storage/``) imports them as usual.
- ``scipy.stats`` and ``altair``: imported unconditionally by expectations we do not use
  (KL divergence, KS tests) for maths and charts. A stand-in module takes their place and
  imports the real one on first attribute access, so code that does use them still works.

Nothing is skipped when a module is already imported (a Prefect worker that imported
sqlalchemy pays nothing more and loses nothing).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from types import ModuleType

#: Optional backends GX imports inside try/except ImportError; unused by a pandas suite.
DEFERRED_BACKENDS = ("sqlalchemy", "boto3", "botocore")
#: Modules GX imports unconditionally but uses only in expectations this suite never runs.
LAZY_MODULES = ("scipy.stats", "altair")
#: Set to 1 to import GX the ordinary way (e.g. to rule this module out when debugging).
FULL_IMPORT_ENV = "TRADEFORGE_GX_FULL_IMPORT"

_lock = threading.RLock()


class _RefuseForGX(importlib.abc.MetaPathFinder):
    """Reports :data:`DEFERRED_BACKENDS` as missing to imports made by GX modules."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.partition(".")[0] in DEFERRED_BACKENDS and _importer_is_gx():
            raise ModuleNotFoundError(
                f"{fullname} deferred by tradeforge.validation.gx_import", name=fullname
            )
        return None


def _importer_is_gx() -> bool:
    """True when the module asking for the import (this thread's stack) belongs to GX."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (name.startswith("importlib") or name == __name__):
            return name.startswith("great_expectations")
        frame = frame.f_back
    return False


class _Deferred(ModuleType):
    """Stands in for module ``name`` until one of its attributes is used, then imports it.

    ``importlib.util.LazyLoader`` does not do here: on Python 3.12 the ``import x`` statement
    itself reads ``x.__spec__``, which makes a lazy module load at once.
    """

    def __init__(self, name: str, spec: ModuleSpec) -> None:
        super().__init__(name)
        self.__spec__ = spec  # present, so `import name` finds a module that is not initialising
        self.__loader__ = spec.loader

    def __getattr__(self, attr: str) -> object:
        return getattr(_load_deferred(self), attr)


def _load_deferred(stub: _Deferred) -> ModuleType:
    """Import the real module behind ``stub`` (once) and put it where the stub was."""
    name = stub.__name__
    with _lock:
        if sys.modules.get(name) is stub:
            del sys.modules[name]
        real = importlib.import_module(name)
        parent, _, child = name.rpartition(".")
        if parent and getattr(sys.modules[parent], child, None) is stub:
            setattr(sys.modules[parent], child, real)
    return real


def _defer(name: str) -> None:
    """Put a :class:`_Deferred` stand-in for ``name`` in ``sys.modules`` (no-op if imported)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    stub = _Deferred(name, spec)
    sys.modules[name] = stub
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, stub)


@contextmanager
def _trimmed_imports() -> Iterator[None]:
    finder = _RefuseForGX()
    sys.meta_path.insert(0, finder)
    try:
        for name in LAZY_MODULES:
            _defer(name)
        yield
    finally:
        sys.meta_path.remove(finder)


def import_gx() -> ModuleType:
    """``great_expectations``, imported without the backends and charts the suite never uses."""
    with _lock:
        if "great_expectations" in sys.modules or os.environ.get(FULL_IMPORT_ENV) == "1":
            return importlib.import_module("great_expectations")
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        with _trimmed_imports():
            module = importlib.import_module("great_expectations")
            # What the suite and Data Docs use, imported while the trim is in place.
            importlib.import_module("great_expectations.expectations")
        return module
