"""Storage: one object-store API (local directory or S3) and the model registry on top of it.

The only package that imports boto3 (a test enforces it).
"""

from storage.errors import (
    AccessDenied,
    BucketNotFound,
    IntegrityError,
    InvalidKey,
    ObjectNotFound,
    PreconditionFailed,
    StoreError,
    StoreUnavailable,
)
from storage.objectstore import (
    LocalStore,
    ObjectStore,
    S3Store,
    StoreRef,
    open_store,
    validate_key,
)

__all__ = [
    "AccessDenied",
    "BucketNotFound",
    "IntegrityError",
    "InvalidKey",
    "LocalStore",
    "ObjectNotFound",
    "ObjectStore",
    "PreconditionFailed",
    "S3Store",
    "StoreError",
    "StoreRef",
    "StoreUnavailable",
    "open_store",
    "validate_key",
]
