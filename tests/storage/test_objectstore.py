"""The object-store contract, run on both backends: a local directory and a real SeaweedFS S3."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from storage import (
    AccessDenied,
    BucketNotFound,
    InvalidKey,
    LocalStore,
    ObjectNotFound,
    PreconditionFailed,
    S3Store,
    StoreError,
    StoreUnavailable,
    open_store,
    validate_key,
)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "local":
        return open_store(str(tmp_path / "store"))
    uri = request.getfixturevalue("s3_uri")
    return open_store(uri)


def test_put_get_head_list_delete(store) -> None:
    etag = store.put_bytes("models/SPY/a.bin", b"hello")
    store.put_bytes("models/SPY/b.bin", b"world")
    store.put_bytes("other/c.bin", b"!")
    assert store.get_bytes("models/SPY/a.bin") == b"hello"
    assert store.head("models/SPY/a.bin") == etag
    assert store.exists("models/SPY/b.bin")
    assert store.list("models/") == ["models/SPY/a.bin", "models/SPY/b.bin"]
    assert store.list() == ["models/SPY/a.bin", "models/SPY/b.bin", "other/c.bin"]
    store.delete("models/SPY/a.bin")
    store.delete("models/SPY/a.bin")  # idempotent, as in S3
    assert store.head("models/SPY/a.bin") is None
    with pytest.raises(ObjectNotFound, match=r"models/SPY/a\.bin"):
        store.get_bytes("models/SPY/a.bin")


def test_etag_changes_with_content(store) -> None:
    first = store.put_bytes("k", b"one")
    second = store.put_bytes("k", b"two")
    assert first != second
    assert store.head("k") == second


def test_if_none_match_creates_once(store) -> None:
    store.put_bytes("pointer.json", b"first", if_none_match=True)
    with pytest.raises(PreconditionFailed, match=r"pointer\.json"):
        store.put_bytes("pointer.json", b"second", if_none_match=True)
    assert store.get_bytes("pointer.json") == b"first"


def test_if_match_is_compare_and_swap(store) -> None:
    etag = store.put_bytes("pointer.json", b"v1")
    new = store.put_bytes("pointer.json", b"v2", if_match=etag)
    with pytest.raises(PreconditionFailed):
        store.put_bytes("pointer.json", b"v3", if_match=etag)  # stale ETag loses
    assert store.get_bytes("pointer.json") == b"v2"
    assert store.head("pointer.json") == new
    with pytest.raises(PreconditionFailed):
        store.put_bytes("missing.json", b"x", if_match=etag)  # nothing to match


def test_racing_conditional_writers_exactly_one_wins(store) -> None:
    rounds, writers = 10, 8
    etag = ""
    for r in range(rounds):  # every pointer has the same content, hence the same ETag
        etag = store.put_bytes(f"pointer-{r}.json", b"base")
    barrier = threading.Barrier(writers)
    wins: dict[int, list[int]] = {r: [] for r in range(rounds)}

    def writer(i: int) -> None:
        for r in range(rounds):
            barrier.wait()
            try:
                store.put_bytes(f"pointer-{r}.json", f"writer {i}".encode(), if_match=etag)
                wins[r].append(i)
            except PreconditionFailed:
                pass

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(w) == 1 for w in wins.values()), wins
    for r, (winner,) in wins.items():
        assert store.get_bytes(f"pointer-{r}.json") == f"writer {winner}".encode()


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a\\b", ".hidden", "a/.tmp-x", "a b"],
)
def test_keys_that_could_escape_are_refused(store, key: str) -> None:
    with pytest.raises(InvalidKey):
        store.put_bytes(key, b"x")
    with pytest.raises(InvalidKey):
        store.get_bytes(key)


def test_validate_key_accepts_tickers_and_versions() -> None:
    for key in ("models/BTC-USD/dqn/20260101T000000Z-ab12cd/model.keras", "raw/^GSPC/x.csv"):
        assert validate_key(key) == key


def test_local_store_never_shows_temp_or_lock_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes("a/b", b"1", if_none_match=True)
    assert store.list() == ["a/b"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]  # no temp file left


def test_local_store_refuses_symlink_out_of_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "store"
    root.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(InvalidKey, match="outside the store"):
        LocalStore(root).put_bytes("link/x", b"x")
    assert not (outside / "x").exists()


def test_local_failed_condition_leaves_no_half_written_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes("p", b"old")
    with pytest.raises(PreconditionFailed):
        store.put_bytes("p", b"new" * 1000, if_match="0" * 32)
    assert store.get_bytes("p") == b"old"
    assert [p.name for p in tmp_path.iterdir() if p.name != ".locks"] == ["p"]


def test_open_store_dispatch_and_bad_uris(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    s3 = open_store("s3://my-bucket/some/prefix", endpoint_url="http://127.0.0.1:1")
    assert isinstance(s3, S3Store)
    assert s3.uri_for("a/b") == "s3://my-bucket/some/prefix/a/b"
    for bad in ("s3://Bad_Bucket/x", "s3://ok-bucket/../x", "ftp://host/x", ""):
        with pytest.raises(StoreError):
            open_store(bad)


def test_s3_missing_bucket_is_named(s3_env) -> None:
    store = open_store("s3://no-such-bucket-here/p")
    with pytest.raises(BucketNotFound, match="no-such-bucket-here"):
        store.get_bytes("k")


def test_s3_wrong_credentials_clear_error_without_secret(s3_env, monkeypatch) -> None:
    wrong_secret = "definitely-wrong-secret-0123456789"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong_secret)
    store = open_store(f"s3://{s3_env.bucket}/p")
    with pytest.raises(AccessDenied) as info:
        store.put_bytes("k", b"x")
    message = str(info.value)
    assert "access denied" in message and "credentials" in message
    assert wrong_secret not in message and s3_env.secret_key not in message


def test_s3_unreachable_server_is_named(monkeypatch) -> None:
    from tests.ports import free_port

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-value")
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = S3Store("bucket", "p", endpoint_url=endpoint, max_attempts=1, connect_timeout=1)
    with pytest.raises(StoreUnavailable, match="unreachable") as info:
        store.get_bytes("k")
    assert endpoint in str(info.value) and "secret-value" not in str(info.value)


def test_s3_without_any_credentials_says_how_to_set_them(s3_env, monkeypatch, tmp_path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = open_store(f"s3://{s3_env.bucket}/p")
    with pytest.raises(AccessDenied, match=r"no S3 credentials found.*AWS_ACCESS_KEY_ID"):
        store.get_bytes("k")
