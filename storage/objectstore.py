"""One object-store API over two backends: a local directory (the embedded default) and S3.

Keys are '/'-separated relative paths. Both backends give the same guarantees the registry
relies on: a reader never sees a half-written object (local: temp file + rename; S3: PUT is
atomic), and conditional writes (``if_match`` / ``if_none_match``) are compare-and-swap, so of
two racing writers exactly one wins (local: an exclusive ``flock`` around check-and-rename;
S3: the server evaluates If-Match / If-None-Match on PutObject).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.errors import (
    AccessDenied,
    BucketNotFound,
    InvalidKey,
    ObjectNotFound,
    PreconditionFailed,
    StoreError,
    StoreUnavailable,
)

MAX_KEY_LENGTH = 1024
# Local-store bookkeeping lives under names no valid key can take (segments never start with '.').
_LOCK_DIR = ".locks"
_TMP_PREFIX = ".tmp-"
_LOCK_STRIPES = 256
_SEGMENT = re.compile(r"^[A-Za-z0-9_\-=+@,:~^][A-Za-z0-9_\-=+@,:~^.]*$")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise ``InvalidKey`` saying why.

    Rejected: empty keys, absolute paths, backslashes, empty / ``.`` / ``..`` segments, segments
    starting with '.', and characters outside ``[A-Za-z0-9_-=+@,:~^.]`` (so nothing can escape
    the store's prefix or be read differently by a filesystem and an S3 server).
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey(f"key {key!r}: must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"key {key[:60]!r}...: longer than {MAX_KEY_LENGTH} characters")
    if "\\" in key:
        raise InvalidKey(f"key {key!r}: backslashes are not allowed")
    if key.startswith("/"):
        raise InvalidKey(f"key {key!r}: must be relative (no leading '/')")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey(f"key {key!r}: empty, '.' or '..' path segment")
        if not _SEGMENT.match(segment):
            raise InvalidKey(
                f"key {key!r}: segment {segment!r} must not start with '.' and may only use "
                "letters, digits and _-=+@,:~^."
            )
    return key


def _validate_prefix(prefix: str) -> str:
    """A list prefix: '' or a key, optionally ending in '/'."""
    if prefix == "":
        return prefix
    validate_key(prefix.rstrip("/") if prefix.endswith("/") else prefix)
    return prefix


def md5_etag(data: bytes) -> str:
    """The local store's ETag: the md5 hex digest of the content (as S3 gives for one-part PUTs)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


#: Lifetime of a presigned link: SigV4's maximum, seven days.
LINK_EXPIRY_S = 7 * 24 * 3600


class ObjectStore(ABC):
    """Bytes under keys, with atomic and conditional writes. See ``open_store``."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The object's content; raises ``ObjectNotFound``."""

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        """The content and the ETag of that same content (for a later ``if_match``)."""
        data = self.get_bytes(key)
        return data, md5_etag(data)

    @abstractmethod
    def put_bytes(
        self, key: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False
    ) -> str:
        """Write atomically and return the new ETag.

        ``if_none_match=True`` writes only if the key does not exist; ``if_match=etag`` only if
        the current object has that ETag. A failed condition raises ``PreconditionFailed``.
        """

    @abstractmethod
    def head(self, key: str) -> str | None:
        """The object's ETag, or None when it does not exist."""

    def exists(self, key: str) -> bool:
        """True when the object exists."""
        return self.head(key) is not None

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Sorted keys starting with ``prefix`` (a plain string prefix, as in S3)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error (as in S3)."""

    @abstractmethod
    def uri_for(self, key: str) -> str:
        """Where the object lives, for people and logs (a path or ``s3://bucket/key``)."""

    @property
    @abstractmethod
    def uri(self) -> str:
        """The store's own URI (what ``open_store`` was given, normalised)."""

    @abstractmethod
    def ensure_conditional_writes(self) -> None:
        """Raise ``StoreError`` unless conditional writes are really enforced by this store."""

    @abstractmethod
    def browser_url(
        self, key: str, *, content_type: str | None = None, expires_s: int = LINK_EXPIRY_S
    ) -> str:
        """A URL a browser can open to read the object without the store's credentials.

        Local: a ``file://`` URL. S3: a presigned GET valid ``expires_s`` seconds (at most seven
        days), served as ``content_type`` when given (e.g. ``text/html`` for a page to render
        rather than download). For links in Prefect artifacts (the GX Data Docs page).
        """


# -- local directory ----------------------------------------------------------------------------


class LocalStore(ObjectStore):
    """A directory on the local filesystem. Safe across processes on one machine."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"local store {self.root}: exists and is not a directory")

    @property
    def uri(self) -> str:
        return str(self.root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        path = self.root / validate_key(key)
        # Belt and braces: validation already forbids '..', but a symlink inside the store
        # could still point out of it.
        resolved = path.resolve()
        if resolved != path and not resolved.is_relative_to(self.root):
            raise InvalidKey(f"key {key!r}: resolves outside the store ({resolved})")
        return path

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(f"{self.uri_for(key)}: no such object") from None

    def head(self, key: str) -> str | None:
        path = self._path(key)
        if not path.is_file():
            return None
        return md5_etag(path.read_bytes())

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        """An exclusive cross-process lock for one key (flock on a sidecar file)."""
        lock_dir = self.root / _LOCK_DIR
        lock_dir.mkdir(parents=True, exist_ok=True)
        # A fixed set of lock stripes: bounded files however many keys, rare false sharing.
        stripe = int.from_bytes(hashlib.sha256(key.encode()).digest()[:2], "big") % _LOCK_STRIPES
        name = f"{stripe:03d}.lock"
        with (lock_dir / name).open("a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def put_bytes(
        self, key: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False
    ) -> str:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"put_bytes({key!r}): data must be bytes, not {type(data).__name__}")
        path = self._path(key)
        tmp = path.parent / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            for attempt in range(3):
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with tmp.open("wb") as fh:
                        fh.write(data)
                        fh.flush()
                        os.fsync(fh.fileno())
                    break
                except FileNotFoundError:  # a delete() pruned the folder in between: again
                    if attempt == 2:
                        raise
            with self._locked(key):
                current = self.head(key)
                if if_none_match and current is not None:
                    raise PreconditionFailed(
                        f"{self.uri_for(key)}: already exists (If-None-Match: *)"
                    )
                if if_match is not None and current != _unquote(if_match):
                    found = "no object" if current is None else f"ETag {current}"
                    raise PreconditionFailed(
                        f"{self.uri_for(key)}: changed since read (If-Match {if_match}, found {found})"
                    )
                os.replace(tmp, path)  # atomic: readers see the old or the new file, never half
        finally:
            tmp.unlink(missing_ok=True)
        return md5_etag(bytes(data))

    def list(self, prefix: str = "") -> list[str]:
        _validate_prefix(prefix)
        if not self.root.is_dir():
            return []
        keys = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel_dir = Path(dirpath).relative_to(self.root)
            for name in filenames:
                if name.startswith("."):
                    continue
                key = (rel_dir / name).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        path = self._path(key)
        with self._locked(key):
            path.unlink(missing_ok=True)
        # As in S3, a "folder" exists only while it holds objects: prune the empty ones left.
        for parent in path.parents:
            if parent == self.root or self.root not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:  # not empty (or already gone): the folders above are not empty
                break

    def uri_for(self, key: str) -> str:
        return str(self.root / validate_key(key))

    def ensure_conditional_writes(self) -> None:
        """Nothing to check: this class enforces the conditions itself (flock + rename)."""
        return None

    def browser_url(
        self, key: str, *, content_type: str | None = None, expires_s: int = LINK_EXPIRY_S
    ) -> str:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(f"{path}: no such object")
        return path.as_uri()


def _unquote(etag: str) -> str:
    return etag.strip().strip('"')


# -- S3 -----------------------------------------------------------------------------------------


_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_DENIED = {
    "AccessDenied",
    "403",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
}
_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``; raises ``InvalidKey``."""
    if not uri.startswith("s3://"):
        raise InvalidKey(f"{uri!r}: not an s3:// URI")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket):
        raise InvalidKey(f"{uri!r}: {bucket!r} is not a valid S3 bucket name")
    prefix = prefix.strip("/")
    if prefix:
        validate_key(prefix)
    return bucket, prefix


class S3Store(ObjectStore):
    """A bucket and prefix on any S3-compatible server, via boto3.

    Credentials come from boto3's standard chain (environment, shared files, instance roles);
    ``endpoint_url`` (or ``$AWS_ENDPOINT_URL``) selects a non-AWS server such as SeaweedFS.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        client: Any | None = None,
        max_attempts: int = 3,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        self._client = client
        self._conditional_checked = False
        self._client_options = dict(
            max_attempts=max_attempts, connect_timeout=connect_timeout, read_timeout=read_timeout
        )

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def __repr__(self) -> str:
        return f"S3Store({self.uri!r}, endpoint_url={self.endpoint_url!r})"

    @property
    def client(self) -> Any:
        """The boto3 client, created on first use (boto3 clients are thread-safe)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            opts = self._client_options
            config = Config(
                retries={"max_attempts": opts["max_attempts"], "mode": "standard"},
                connect_timeout=opts["connect_timeout"],
                read_timeout=opts["read_timeout"],
                # Path-style addressing: S3-compatible servers on 127.0.0.1 have no bucket DNS.
                s3={"addressing_style": "path"},
                # Explicit, so presigned links are SigV4 too (botocore presigns with SigV2 for
                # us-east-1 otherwise, which SeaweedFS refuses with response-content-type).
                signature_version="s3v4",
            )
            self._client = boto3.session.Session().client(
                "s3", endpoint_url=self.endpoint_url, config=config
            )
        return self._client

    def ensure_conditional_writes(self) -> None:
        """Prove once per store object that the server enforces If-None-Match on PutObject.

        A server that ignores the header would let two racing promotions both "win"; the probe
        writes a fresh key twice with If-None-Match and requires the second write to fail.
        """
        if self._conditional_checked:
            return
        probe = f"_conditional-probe/{uuid.uuid4().hex}"
        self.put_bytes(probe, b"1", if_none_match=True)
        try:
            self.put_bytes(probe, b"2", if_none_match=True)
        except PreconditionFailed:
            self._conditional_checked = True
            return
        finally:
            self.delete(probe)
        raise StoreError(
            f"{self.uri}: the S3 server{f' at {self.endpoint_url}' if self.endpoint_url else ''} "
            "ignored If-None-Match on PutObject; conditional writes are required for safe "
            "promotions (use a server that supports them, e.g. AWS S3, SeaweedFS >= 4, MinIO)"
        )

    def browser_url(
        self, key: str, *, content_type: str | None = None, expires_s: int = LINK_EXPIRY_S
    ) -> str:
        if not 1 <= expires_s <= LINK_EXPIRY_S:
            raise ValueError(f"expires_s={expires_s}: a presigned link lasts 1 s to 7 days")
        if self.head(key) is None:
            raise ObjectNotFound(f"{self.uri_for(key)}: no such object")
        params = {"Bucket": self.bucket, "Key": self._full(key)}
        if content_type:
            params["ResponseContentType"] = content_type
        return self._call(
            "link",
            key,
            self.client.generate_presigned_url,
            ClientMethod="get_object",
            Params=params,
            ExpiresIn=expires_s,
        )

    def _full(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    def _error(self, exc: Exception, action: str, key: str | None) -> StoreError:
        """Translate a botocore exception into a ``StoreError`` (never including credentials)."""
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
        )

        where = self.uri_for(key) if key is not None else self.uri
        server = f" at {self.endpoint_url}" if self.endpoint_url else ""
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket":
                return BucketNotFound(f"{action} {where}: bucket {self.bucket!r} does not exist")
            if code in _NOT_FOUND or status == 404:
                return ObjectNotFound(f"{where}: no such object")
            if code in _PRECONDITION or status in (409, 412):
                return PreconditionFailed(f"{action} {where}: precondition failed ({code})")
            if code in _DENIED or status == 403:
                return AccessDenied(
                    f"{action} {where}: access denied{server} ({code or status}); check the "
                    "credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS profile) "
                    "and the bucket policy"
                )
            return StoreError(f"{action} {where}: S3 error {code or status}: {err.get('Message')}")
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return AccessDenied(
                f"{action} {where}: no S3 credentials found (set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or an AWS profile)"
            )
        if isinstance(
            exc,
            EndpointConnectionError
            | ConnectionClosedError
            | ConnectTimeoutError
            | ReadTimeoutError,
        ):
            return StoreUnavailable(
                f"{action} {where}: S3 server{server or ' (AWS)'} unreachable: {type(exc).__name__}"
            )
        return StoreError(f"{action} {where}: {type(exc).__name__}: {exc}")

    def _call(self, action: str, key: str | None, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, action, key) from None

    def get_bytes(self, key: str) -> bytes:
        return self.get_with_etag(key)[0]

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        full = self._full(key)
        resp = self._call("read", key, self.client.get_object, Bucket=self.bucket, Key=full)
        try:
            body = resp["Body"].read()
        except Exception as exc:  # a connection dropped mid-body
            raise StoreUnavailable(f"read {self.uri_for(key)}: body interrupted: {exc}") from None
        return body, str(resp["ETag"])

    def put_bytes(
        self, key: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False
    ) -> str:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"put_bytes({key!r}): data must be bytes, not {type(data).__name__}")
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._full(key),
            "Body": bytes(data),
        }
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        if if_match is not None:
            kwargs["IfMatch"] = if_match if if_match.startswith('"') else f'"{if_match}"'
        resp = self._call("write", key, self.client.put_object, **kwargs)
        return str(resp["ETag"])

    def head(self, key: str) -> str | None:
        full = self._full(key)
        try:
            resp = self._call("head", key, self.client.head_object, Bucket=self.bucket, Key=full)
        except ObjectNotFound:
            return None
        return str(resp["ETag"])

    def list(self, prefix: str = "") -> list[str]:
        _validate_prefix(prefix)
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix):
                keys.extend(obj["Key"][len(base) :] for obj in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "list", None) from None
        return sorted(keys)

    def delete(self, key: str) -> None:
        full = self._full(key)
        self._call("delete", key, self.client.delete_object, Bucket=self.bucket, Key=full)


# -- entry point --------------------------------------------------------------------------------


def open_store(uri: str, *, endpoint_url: str | None = None) -> ObjectStore:
    """Open the store named by ``uri``: ``s3://bucket/prefix`` or a local directory path.

    No request is made here; the first operation reports a missing bucket, refused credentials
    or an unreachable server with a ``StoreError`` naming the URI.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise StoreError(f"store {uri!r}: expected a local directory or s3://bucket/prefix")
    if uri.startswith("s3://"):
        bucket, prefix = parse_s3_uri(uri)
        return S3Store(bucket, prefix, endpoint_url=endpoint_url)
    if "://" in uri:
        raise StoreError(f"store {uri!r}: unsupported scheme (use s3:// or a local path)")
    return LocalStore(uri)


@dataclass(frozen=True)
class StoreRef:
    """Where a store lives (a local directory or ``s3://bucket/prefix``, and its S3 endpoint).

    Small and picklable, so it travels between Prefect tasks; ``open()`` gives the store itself.
    The one place a run's configuration is turned into a store.
    """

    uri: str
    endpoint_url: str | None = None

    def open(self) -> ObjectStore:
        """The ``ObjectStore`` at ``uri``."""
        return open_store(self.uri, endpoint_url=self.endpoint_url)

    def registry(self) -> Any:
        """The ``ModelRegistry`` on this store."""
        from storage.registry import ModelRegistry

        return ModelRegistry(self.open())
