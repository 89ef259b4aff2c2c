"""Errors of the object store and the model registry; each message names the object and the problem."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every storage error."""


class InvalidKey(StoreError, ValueError):
    """A key (or a ticker / version id used in one) that could escape its prefix or is malformed."""


class ObjectNotFound(StoreError, KeyError):
    """The object does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "object not found"


class BucketNotFound(StoreError):
    """The S3 bucket does not exist (or is not visible with these credentials)."""


class AccessDenied(StoreError):
    """The server refused the credentials or the request (never carries the secret itself)."""


class StoreUnavailable(StoreError):
    """The store could not be reached (server stopped, network, timeout)."""


class PreconditionFailed(StoreError):
    """A conditional write lost: the object changed (If-Match) or already exists (If-None-Match)."""


class IntegrityError(StoreError):
    """Stored content does not match its recorded sha256 (corrupted or tampered with)."""
