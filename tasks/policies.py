"""Operational policies of the tasks: which failures are retried, and what may be served from cache.

Retries: only failures a later attempt can fix (a network hiccup, a store that is briefly away,
Yahoo rate limits) are retried, with growing, jittered delays; a bad file, a failed validation
rule or a lost conditional write fails at once, with its own message.

Caching: ``validate`` and ``features`` are pure functions of their inputs, so inputs + task
source (Prefect's ``INPUTS + TASK_SOURCE``, with frames keyed on their content) serve an
unchanged re-run from cache, and a code change invalidates it. ``ingest`` reads the outside world, so its key also holds a fingerprint of what the source
would return now: a local file's size and modification time, the date for Yahoo (one fetch per
day), the package version for the demo data; an ``s3://`` source is never cached (its objects
can change under the same key and only a request would tell).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import http.client
import urllib.error
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from prefect.cache_policies import TASK_SOURCE, CachePolicy
from prefect.utilities.hashing import hash_objects


def content_token(value: Any) -> Any:
    """A JSON-able token that is equal for equal content, even after a pickle round trip.

    Prefect's INPUTS hashes cloudpickle bytes, which differ for equal DataFrames once they went
    through a cached result (block layout, flags); so frames and arrays are reduced to a digest
    of their values, and dataclasses / containers are walked.
    """
    import numpy as np
    import pandas as pd

    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, pd.DataFrame):
        digest = hashlib.sha256(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
        return [
            "frame",
            list(map(str, value.columns)),
            list(map(str, value.dtypes)),
            digest.hexdigest(),
        ]
    if isinstance(value, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return ["array", str(value.dtype), list(value.shape), digest]
    if isinstance(value, (dt.date, dt.datetime, Path)):
        return str(value)
    if isinstance(value, dict):
        return {
            str(k): content_token(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
        }
    if isinstance(value, (list, tuple)):
        return [content_token(v) for v in value]
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return [type(value).__qualname__, content_token(value.model_dump(mode="json"))]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: content_token(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return [type(value).__qualname__, fields]
    return hash_objects(value, raise_on_failure=True)  # anything else: Prefect's own hashing


@dataclass
class ContentInputs(CachePolicy):
    """Like Prefect's ``INPUTS``, but keyed on the content of frames and arrays (see above)."""

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        return hash_objects(content_token(inputs), raise_on_failure=True)


PURE_CACHE = ContentInputs() + TASK_SOURCE
"""Cache policy of deterministic stages (validate, features): same content + same code."""

NETWORK_RETRY_DELAYS = [5, 20, 60]
"""Seconds before the 1st, 2nd and 3rd retry of a network-bound task."""
RETRY_JITTER = 0.5
"""Each delay varies by up to +-50% so parallel runs do not retry in lock-step."""


def _transient_types() -> tuple[type[BaseException], ...]:
    """Exception types a retry can cure; imported lazily so this module stays light."""
    from storage.errors import StoreUnavailable
    from tradeforge.data.errors import YahooUnavailable

    return (
        StoreUnavailable,
        YahooUnavailable,  # not YahooNoData: an unknown ticker stays unknown
        ConnectionError,
        TimeoutError,
        urllib.error.URLError,
        http.client.HTTPException,
    )


def is_transient(exc: BaseException | None) -> bool:
    """True if ``exc`` or anything in its cause/context chain is a network-type failure."""
    transient = _transient_types()
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, transient):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry only failures that another attempt can fix."""
    # The task engine hands over a Failed state whose data is the exception just raised.
    exc = state.data if isinstance(state.data, BaseException) else None
    return is_transient(exc)


STORE_RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": NETWORK_RETRY_DELAYS,
    "retry_jitter_factor": RETRY_JITTER,
    "retry_condition_fn": retry_if_transient,
}
"""``@task(**STORE_RETRIES)``: a task that reads or writes the store retries transient failures
twice (a lost conditional write or a bad file is not transient and fails at once)."""


def source_fingerprint(source: str, today: dt.date | None = None) -> str | None:
    """What identifies the bars ``source`` would return now; None = do not cache.

    A folder source is fingerprinted by every file in it (names, sizes, modification times).
    """
    if source == "demo":
        return f"demo:gym-anytrading=={metadata.version('gym-anytrading')}"
    if source == "yahoo":
        return f"yahoo:{(today or dt.datetime.now(dt.UTC).date()).isoformat()}"
    if source.startswith("s3://"):
        return None
    path = Path(source).expanduser()
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
    else:
        return None  # the task itself reports the missing path
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return hash_objects(stats, raise_on_failure=True)


@dataclass
class SourceCache(CachePolicy):
    """``PURE_CACHE`` (inputs + task source) plus a fingerprint of the task's data source (see module doc).

    The task must take the data section as ``data`` (its ``source`` names the source).
    """

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        data = inputs.get("data")
        if data is None:
            return None
        fingerprint = source_fingerprint(data.source)
        if fingerprint is None:
            return None
        base = PURE_CACHE.compute_key(task_ctx, inputs, flow_parameters, **kwargs)
        return hash_objects(base, fingerprint, raise_on_failure=True)


SOURCE_CACHE = SourceCache()
"""Cache policy of ``ingest``."""
