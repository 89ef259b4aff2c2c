"""The Prefect predict flow (deployments' ``predict/daily``) runs the same inference code as the
command line, on bars it validated with the full great-expectations suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.predict.champions import SPY, publish
from tradeforge.config import DataConfig
from tradeforge.inference import predict


@pytest.mark.e2e
def test_flow_reads_the_champions_source_and_agrees_with_the_cli(
    prefect_harness, tmp_path: Path
) -> None:
    from flows.predict import predict as predict_flow
    from tradeforge.data import ingest

    frame = ingest("SPY", DataConfig(source=str(SPY))).frame
    store = str(tmp_path / "store")
    publish(store, frame, str(SPY), dueling=True, workdir=tmp_path)
    out = predict_flow(ticker="SPY", store=store, position="long")  # no source: the card's
    plain = predict("SPY", store, position="long")
    assert (
        out["timestamp"] == plain["timestamp"] == frame["timestamp"].iloc[-1].strftime("%Y-%m-%d")
    )
    assert out["q_values"] == pytest.approx(plain["q_values"], abs=1e-6)
    assert out["version_id"] == plain["version_id"] and out["loaded_from"] == "policy.npz"
