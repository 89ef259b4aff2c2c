"""Check a store before any expensive work: usable now, or a clear error within seconds.

A run that trains for minutes and only then finds its store is a file, its bucket misspelt or
its credentials wrong wastes that time and leaves staging behind (issue 14). These checks make
one or two cheap requests with short timeouts and one attempt, and raise
:class:`StoreCheckError` (a ``ValueError``) naming the store and what is wrong with it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from storage.errors import (
    InvalidKey,
    ObjectNotFound,
    StoreError,
)
from storage.objectstore import LocalStore, ObjectStore, S3Store, parse_s3_uri

#: Seconds to wait for an S3 server to accept a connection / answer, in a check.
CHECK_TIMEOUT_S = 3.0
PROBE_PREFIX = "_preflight"


class StoreCheckError(StoreError, ValueError):
    """The store named cannot be used; the message names it and says why."""


def open_for_check(
    uri: str, *, endpoint_url: str | None = None, timeout: float = CHECK_TIMEOUT_S
) -> ObjectStore:
    """The store at ``uri`` with fail-fast S3 settings (one attempt, ``timeout`` seconds).

    A malformed URI or bucket name is a :class:`StoreCheckError`; no request is made here.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise StoreCheckError(f"store {uri!r}: expected a local directory or s3://bucket/prefix")
    if not uri.startswith("s3://"):
        if "://" in uri:
            raise StoreCheckError(f"store {uri!r}: unsupported scheme (use s3:// or a local path)")
        _check_local(uri, Path(uri).expanduser().resolve(), write=False)
        return LocalStore(uri)
    try:
        bucket, prefix = parse_s3_uri(uri)
    except InvalidKey as exc:
        raise StoreCheckError(f"store {exc}") from None
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise StoreCheckError(
            f"store {uri!r}: S3 endpoint {endpoint!r} is not an http:// or https:// URL"
        )
    return S3Store(
        bucket,
        prefix,
        endpoint_url=endpoint,
        max_attempts=1,
        connect_timeout=timeout,
        read_timeout=timeout,
    )


def check_store(
    uri: str,
    *,
    endpoint_url: str | None = None,
    write: bool = True,
    timeout: float = CHECK_TIMEOUT_S,
) -> None:
    """Raise :class:`StoreCheckError` unless the store at ``uri`` can be read (and written).

    Local: the path is a directory, or can be created as one, and is writable. S3: the bucket
    name is valid, the endpoint answers within ``timeout`` seconds, the bucket exists, the
    credentials are accepted and (``write``) a probe object can be written and deleted.
    """
    if isinstance(uri, str) and uri.strip() and "://" not in uri:
        _check_local(uri, Path(uri).expanduser().resolve(), write=write)
        return
    store = open_for_check(uri, endpoint_url=endpoint_url, timeout=timeout)
    assert isinstance(store, S3Store)
    _check_s3(uri, store, write=write)


def _check_local(uri: str, root: Path, *, write: bool) -> None:
    existing = root
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise StoreCheckError(
            f"store {uri!r}: {existing} is a file, not a directory (name a folder for the store)"
        )
    if write and not os.access(existing, os.W_OK | os.X_OK):
        what = "the store folder" if existing == root else f"{existing} (to create {root})"
        raise StoreCheckError(f"store {uri!r}: cannot write to {what}: permission denied")


def _check_s3(uri: str, store: S3Store, *, write: bool) -> None:
    server = f" at {store.endpoint_url}" if store.endpoint_url else " (AWS)"
    try:
        store._call("check", None, store.client.head_bucket, Bucket=store.bucket)
    except ObjectNotFound:  # HeadBucket answers a bare 404 for a missing bucket
        raise StoreCheckError(
            f"store {uri!r}: bucket {store.bucket!r} does not exist on the S3 server{server}"
        ) from None
    except StoreError as exc:  # denied, unreachable, ...
        raise StoreCheckError(f"store {uri!r}: {_reason(exc, store.uri)}") from None
    except ValueError as exc:  # botocore: malformed endpoint URL
        raise StoreCheckError(f"store {uri!r}: S3 endpoint{server}: {exc}") from None
    if not write:
        return
    probe = f"{PROBE_PREFIX}/{uuid.uuid4().hex}"
    try:
        store.put_bytes(probe, b"")
        store.delete(probe)
    except StoreError as exc:
        raise StoreCheckError(
            f"store {uri!r}: readable but a test write of {probe} failed: "
            f"{_reason(exc, store.uri_for(probe))}"
        ) from None


def _reason(exc: Exception, where: str) -> str:
    """The store error's message without its ``<action> <where>:`` lead."""
    text = str(exc)
    _, _, rest = text.partition(" ")
    if rest.startswith(where + ":"):
        return rest[len(where) + 1 :].strip()
    if text.startswith(where + ":"):
        return text[len(where) + 1 :].strip()
    return text
