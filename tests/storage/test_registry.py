"""The model registry on both backends; failure cases against a real SeaweedFS S3 server."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from storage import (
    AccessDenied,
    IntegrityError,
    InvalidKey,
    ObjectNotFound,
    S3Store,
    StoreError,
    StoreUnavailable,
    open_store,
)
from storage.registry import PORTFOLIOS, ModelRegistry, VersionRef, sha256_hex

CARD = {"metrics": {"validation": {"sharpe": 1.2, "max_drawdown": 0.1}}, "features": ["a", "b"]}
DECISION = {"promote": True, "reason": "test"}


@pytest.fixture(params=["local", "s3"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> ModelRegistry:
    uri = str(tmp_path / "store") if request.param == "local" else request.getfixturevalue("s3_uri")
    return ModelRegistry(open_store(uri))


def _publish(registry: ModelRegistry, model: bytes = b"keras-bytes", **extra) -> VersionRef:
    files = {"model.keras": model, "equity-validation.png": b"\x89PNG fake", **extra}
    return registry.publish("SPY", "dqn", files, CARD)


def test_publish_then_load_verified(registry: ModelRegistry, tmp_path: Path) -> None:
    v1 = _publish(registry)
    v2 = _publish(registry)  # same content: still a new, distinct version
    assert v1.version_id < v2.version_id  # sortable by creation time
    assert [v.version_id for v in registry.versions("SPY")] == [v1.version_id, v2.version_id]
    card = registry.card("SPY", "dqn", v1.version_id)
    assert card["files"]["model.keras"]["sha256"] == sha256_hex(b"keras-bytes")
    assert card["features"] == ["a", "b"] and card["version_id"] == v1.version_id
    loaded = registry.load_version("SPY", "dqn", v1.version_id, tmp_path / "out")
    assert loaded.model_path.read_bytes() == b"keras-bytes"
    assert loaded.files["equity-validation.png"].read_bytes() == b"\x89PNG fake"
    assert v1.uri.endswith(f"models/SPY/dqn/{v1.version_id}")


def test_publish_needs_a_model_and_json_card(registry: ModelRegistry) -> None:
    with pytest.raises(ValueError, match=r"model\.keras"):
        registry.publish("SPY", "dqn", {"plot.png": b"x"}, CARD)
    with pytest.raises(ValueError, match="NaN"):
        registry.publish("SPY", "dqn", {"model.keras": b"x"}, {"sharpe": float("nan")})
    assert registry.store.list() == []  # nothing half-written


def test_pointer_moves_only_by_conditional_write(registry: ModelRegistry) -> None:
    assert registry.champion("SPY") is None
    v1, v2, v3 = _publish(registry), _publish(registry), _publish(registry)
    assert registry.promote("SPY", v1, DECISION, expected_etag=None)
    first = registry.champion("SPY")
    assert first is not None and first.version_id == v1.version_id and first.previous is None
    assert first.metrics == CARD["metrics"]
    # Stale views lose: "no champion" when there is one, or an old ETag.
    assert not registry.promote("SPY", v2, DECISION, expected_etag=None)
    assert registry.promote("SPY", v2, DECISION, expected_etag=first.etag)
    assert not registry.promote("SPY", v3, DECISION, expected_etag=first.etag)
    now = registry.champion("SPY")
    assert now.version_id == v2.version_id and now.previous == v1.version_id
    outcomes = [
        (h["version_id"], h["outcome"], h["champion_before"]) for h in registry.history("SPY")
    ]
    assert outcomes == [
        (v1.version_id, "promoted", None),
        (v2.version_id, "lost_race", v1.version_id),
        (v2.version_id, "promoted", v1.version_id),
        (v3.version_id, "lost_race", v2.version_id),
    ]


def test_rejected_decision_is_recorded_not_promoted(registry: ModelRegistry) -> None:
    v1 = _publish(registry)
    reject = {"promote": False, "reason": "Sharpe 0.1 does not beat 0.5", "numbers": {"a": 1.0}}
    assert not registry.promote("SPY", v1, reject, expected_etag=None)
    assert registry.champion("SPY") is None
    (entry,) = registry.history("SPY")
    assert entry["outcome"] == "rejected" and entry["decision"]["reason"] == reject["reason"]


def test_two_concurrent_promotions_exactly_one_wins(registry: ModelRegistry) -> None:
    base = _publish(registry)
    assert registry.promote("SPY", base, DECISION, expected_etag=None)
    seen = registry.champion("SPY")
    challengers = [_publish(registry, model=f"model {i}".encode()) for i in range(2)]
    barrier = threading.Barrier(len(challengers))
    results: dict[str, bool] = {}

    def race(version: VersionRef) -> None:
        barrier.wait()
        results[version.version_id] = registry.promote("SPY", version, DECISION, seen.etag)

    threads = [threading.Thread(target=race, args=(v,)) for v in challengers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [v for v, won in results.items() if won]
    assert len(results) == 2 and len(winners) == 1, results
    assert registry.champion("SPY").version_id == winners[0]
    outcomes = sorted(h["outcome"] for h in registry.history("SPY")[1:])
    assert outcomes == ["lost_race", "promoted"]


def test_corrupted_model_is_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    good = _publish(registry)
    assert registry.promote("SPY", good, DECISION, expected_etag=None)
    bad = _publish(registry)
    registry.store.put_bytes(f"{bad.prefix}/model.keras", b"keras-bytes, tampered")
    with pytest.raises(IntegrityError, match=r"model\.keras: checksum mismatch"):
        registry.load_version("SPY", "dqn", bad.version_id, tmp_path / "out")
    assert not (tmp_path / "out" / "model.keras").exists()  # nothing unverified handed out
    champion = registry.champion("SPY")
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        registry.promote("SPY", bad, DECISION, expected_etag=champion.etag)
    assert registry.champion("SPY").version_id == good.version_id


def test_tampered_card_of_champion_is_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    v = _publish(registry)
    assert registry.promote("SPY", v, DECISION, expected_etag=None)
    card = registry.card("SPY", "dqn", v.version_id)
    card["features"] = ["evil"]
    registry.store.put_bytes(f"{v.prefix}/model_card.json", json.dumps(card).encode())
    with pytest.raises(IntegrityError, match="champion pointer"):
        registry.load_champion("SPY", tmp_path / "out")


def test_half_uploaded_version_is_never_champion(registry: ModelRegistry) -> None:
    v = _publish(registry)
    # An upload that died after the model, before the card: no card, not a version.
    half = VersionRef("SPY", "dqn", "20990101T000000000000Z-deadbeef", "")
    registry.store.put_bytes(f"{half.prefix}/model.keras", b"partial")
    assert [r.version_id for r in registry.versions("SPY")] == [v.version_id]
    with pytest.raises(ObjectNotFound, match="did not finish"):
        registry.promote("SPY", half, DECISION, expected_etag=None)
    assert registry.champion("SPY") is None


@pytest.mark.parametrize(
    ("ticker", "agent", "version"),
    [
        ("../etc", "dqn", "20260101T000000000000Z-0a1b2c3d"),
        ("SPY/x", "dqn", "20260101T000000000000Z-0a1b2c3d"),
        ("", "dqn", "20260101T000000000000Z-0a1b2c3d"),
        ("SPY", "../dqn", "20260101T000000000000Z-0a1b2c3d"),
        ("SPY", "dqn", "../../champion"),
        ("SPY", "dqn", "latest"),
    ],
)
def test_names_that_could_escape_are_refused(registry, ticker, agent, version, tmp_path) -> None:
    with pytest.raises(InvalidKey):
        registry.load_version(ticker, agent, version, tmp_path)


def test_file_names_are_plain(registry: ModelRegistry) -> None:
    for name in ("../model.keras", "a/b.png", "model_card.json", ".hidden"):
        with pytest.raises(InvalidKey):
            registry.publish("SPY", "dqn", {"model.keras": b"m", name: b"x"}, CARD)


def test_portfolio_champions_live_in_their_own_key_space(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    """``models/portfolio/<name>/``: the same versions, checksums and conditional pointer,
    beside (never mixed with) the tickers' models."""
    portfolios = ModelRegistry(registry.store, PORTFOLIOS)
    ticker_v = _publish(registry)
    assert registry.promote("SPY", ticker_v, DECISION, expected_etag=None)
    files = {"model.keras": b"allocator", "policy.npz": b"w"}
    p1 = portfolios.publish("mega7", "dqn", files, CARD)
    p2 = portfolios.publish("mega7", "dqn", files, CARD)
    assert p1.uri.endswith(f"models/portfolio/mega7/dqn/{p1.version_id}")
    assert portfolios.card("mega7", "dqn", p1.version_id)["portfolio"] == "mega7"
    assert portfolios.promote("mega7", p1, DECISION, expected_etag=None)
    first = portfolios.champion("mega7")
    assert first.version_id == p1.version_id
    assert not portfolios.promote("mega7", p2, DECISION, expected_etag=None)  # stale view
    assert portfolios.promote("mega7", p2, DECISION, expected_etag=first.etag)
    assert not portfolios.promote("mega7", p1, DECISION, expected_etag=first.etag)
    assert [h["outcome"] for h in portfolios.history("mega7")] == [
        "promoted",
        "lost_race",
        "promoted",
        "lost_race",
    ]
    champ, loaded = portfolios.load_champion("mega7", tmp_path / "p")
    assert champ.version_id == p2.version_id and loaded.model_path.read_bytes() == b"allocator"
    assert [v.version_id for v in portfolios.versions("mega7")] == [p1.version_id, p2.version_id]
    # Neither space sees the other's models.
    assert registry.tickers() == ["SPY"] and portfolios.tickers() == ["mega7"]
    assert registry.champion("SPY").version_id == ticker_v.version_id
    assert [v.version_id for v in registry.versions("SPY")] == [ticker_v.version_id]
    registry.store.put_bytes(f"{p2.prefix}/model.keras", b"tampered")
    with pytest.raises(IntegrityError, match="checksum mismatch"):
        portfolios.load_champion("mega7", tmp_path / "q")


@pytest.mark.parametrize("name", ["../x", "a/b", "", "a..b", "x" * 129, "-lead"])
def test_portfolio_names_that_could_escape_are_refused(registry: ModelRegistry, name) -> None:
    portfolios = ModelRegistry(registry.store, PORTFOLIOS)
    with pytest.raises(InvalidKey, match="portfolio"):
        portfolios.publish(name, "dqn", {"model.keras": b"m"}, CARD)
    assert registry.store.list() == []


def test_portfolio_is_not_a_ticker(registry: ModelRegistry) -> None:
    with pytest.raises(InvalidKey, match="reserved"):
        registry.publish("portfolio", "dqn", {"model.keras": b"m"}, CARD)


# -- against a server that stops, and one that refuses the credentials -------------------------


class StopServerBeforePut:
    """Delegates to a real store, but stops the real server just before a chosen write."""

    def __init__(self, store, server, when) -> None:
        self._store, self._server, self._when = store, server, when

    def put_bytes(self, key: str, data: bytes, **kwargs):
        if self._when(key):
            self._server.stop()
        return self._store.put_bytes(key, data, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def _private_registry(server, monkeypatch) -> ModelRegistry:
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    return ModelRegistry(open_store(f"s3://{server.bucket}/registry"))


def test_server_stopped_during_publish(private_s3_server, monkeypatch) -> None:
    registry = _private_registry(private_s3_server, monkeypatch)
    v1 = _publish(registry)
    assert registry.promote("SPY", v1, DECISION, expected_etag=None)
    flaky = ModelRegistry(
        StopServerBeforePut(registry.store, private_s3_server, lambda k: k.endswith(".png"))
    )
    with pytest.raises(StoreUnavailable, match="unreachable") as info:
        _publish(flaky)
    assert private_s3_server.endpoint_url in str(info.value)
    private_s3_server.start()
    assert [v.version_id for v in registry.versions("SPY")] == [v1.version_id]
    assert registry.champion("SPY").version_id == v1.version_id


def test_server_stopped_during_promotion(private_s3_server, monkeypatch) -> None:
    registry = _private_registry(private_s3_server, monkeypatch)
    v1, v2 = _publish(registry), _publish(registry)
    assert registry.promote("SPY", v1, DECISION, expected_etag=None)
    before = registry.champion("SPY")
    flaky = ModelRegistry(
        StopServerBeforePut(
            registry.store, private_s3_server, lambda k: k.endswith("champion.json")
        )
    )
    with pytest.raises(StoreUnavailable, match=r"champion\.json.*unreachable"):
        flaky.promote("SPY", v2, DECISION, expected_etag=before.etag)
    private_s3_server.start()
    after = registry.champion("SPY")
    assert after.version_id == v1.version_id and after.etag == before.etag
    assert [h["outcome"] for h in registry.history("SPY")] == ["promoted"]
    # The same promotion succeeds once the server is back.
    assert registry.promote("SPY", v2, DECISION, expected_etag=before.etag)


def test_wrong_credentials_clear_error_no_secret(s3_env, s3_uri, monkeypatch) -> None:
    wrong = "wrong-secret-that-must-not-be-printed"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    registry = ModelRegistry(open_store(s3_uri))
    with pytest.raises(AccessDenied) as info:
        registry.champion("SPY")
    with pytest.raises(AccessDenied):
        _publish(registry)
    for exc in (info.value,):
        assert "access denied" in str(exc) and "credentials" in str(exc)
        assert wrong not in str(exc) and s3_env.secret_key not in str(exc)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_env.secret_key)
    assert open_store(s3_uri).list() == []  # nothing was written with the wrong key


def test_unrecordable_decision_fails_before_the_pointer_moves(registry: ModelRegistry) -> None:
    v = _publish(registry)
    with pytest.raises(ValueError, match="NaN"):
        registry.promote("SPY", v, {"promote": True, "sharpe": float("nan")}, None)
    assert registry.champion("SPY") is None and registry.history("SPY") == []


class ConditionBlindS3Store(S3Store):
    """A real S3 client that drops If-None-Match / If-Match, as a server ignoring them would."""

    def put_bytes(self, key, data, *, if_match=None, if_none_match=False):
        return super().put_bytes(key, data)


def test_promotion_refuses_a_store_without_conditional_writes(s3_env, s3_uri) -> None:
    bucket, prefix = s3_uri[len("s3://") :].split("/", 1)
    registry = ModelRegistry(ConditionBlindS3Store(bucket, prefix))
    v = _publish(registry)
    with pytest.raises(StoreError, match="ignored If-None-Match"):
        registry.promote("SPY", v, DECISION, expected_etag=None)
    assert registry.champion("SPY") is None
    assert not [k for k in registry.store.list() if "probe" in k]  # the probe cleaned up
    good = ModelRegistry(open_store(s3_uri))
    assert good.promote("SPY", v, DECISION, expected_etag=None)
