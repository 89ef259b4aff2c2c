"""The pipeline's stages as plain functions: one call per Prefect task, no Prefect imports.

Each function takes small values (configs, frames, references such as store keys) and returns
small values, so a task wrapper can retry, cache and log it, and tests can call a stage directly.
Models never travel between stages: training writes a ``.keras`` file into the store's staging
area and returns its key; later stages load it from there.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from tradeforge import __version__
from tradeforge.config import PipelineConfig

STAGING_PREFIX = "staging"
SPLITS = ("validation", "test")


@dataclass(frozen=True)
class TrainedRef:
    """Where one trained agent was staged, and how its training went."""

    ticker: str
    agent: str
    seed: int
    model_key: str
    stats: dict[str, Any] = field(default_factory=dict)


def staging_key(run_id: str, ticker: str, agent: str, seed: int, name: str) -> str:
    """Store key of a staged (not yet published) file of one trained agent."""
    return f"{STAGING_PREFIX}/{run_id}/{ticker}/{agent}/seed-{seed}/{name}"


def open_pipeline_store(cfg: PipelineConfig):
    """The model/snapshot store named by the config (local directory or S3)."""
    from storage import open_store

    return open_store(cfg.store, endpoint_url=cfg.data.s3_endpoint_url)


# -- ingest / validate / features ------------------------------------------------------------


def run_ingest(ticker: str, cfg: PipelineConfig):
    """Read ``ticker``'s bars from the configured source (Yahoo fetches are snapshotted)."""
    from tradeforge.data import ingest

    snapshots = open_pipeline_store(cfg) if cfg.data.source == "yahoo" else None
    return ingest(ticker, cfg.data, snapshot_store=snapshots)


def run_validate(ticker: str, ingested, cfg: PipelineConfig):
    """The great-expectations report of one ticker's frame (the caller decides to stop)."""
    from tradeforge.validation import validate

    return validate(ingested.frame, interval=cfg.data.interval, asset_class=None)


def publish_validation(ticker: str, report, cfg: PipelineConfig, run_id: str) -> str:
    """Keep the validation report (JSON) and its GX Data Docs page in the store; pass or fail.

    Returns the store URI of the report's folder.
    """
    import json

    from tradeforge.validation import write_data_docs

    store = open_pipeline_store(cfg)
    prefix = f"validation/{run_id}/{ticker}"
    payload = json.dumps(report.to_dict(), indent=2, default=str).encode()
    store.put_bytes(f"{prefix}/report.json", payload)
    if report.gx_result is not None:  # a frame without the OHLCV columns never reached GX
        with tempfile.TemporaryDirectory(prefix="tradeforge-") as tmp:
            page = write_data_docs(report, tmp)
            store.put_bytes(f"{prefix}/data-docs.html", page.read_bytes())
    return store.uri_for(prefix)


def run_features(frame: pd.DataFrame, cfg: PipelineConfig):
    """Features, date splits and the train-only scaler."""
    from tradeforge.features import prepare

    return prepare(frame, cfg.features, cfg.split, cfg.env.window)


# -- train / evaluate -------------------------------------------------------------------------


def run_training(
    ticker: str,
    kind: str,
    seed: int,
    prepared,
    cfg: PipelineConfig,
    run_id: str,
    *,
    on_progress=None,
) -> TrainedRef:
    """Train one agent on the train window and stage its ``.keras`` file in the store.

    ``on_progress(env_steps, total_steps, scalars)`` reports progress while it trains.
    """
    from tradeforge.agents import train_agent

    result = train_agent(
        kind,
        prepared.train,
        cfg.env,
        cfg.dqn,
        cfg.parallel,
        seed,
        validation=prepared.val,  # best-checkpoint selection (dqn.eval_every); test never seen
        progress=True,
        on_progress=on_progress,
    )
    key = staging_key(run_id, ticker, kind, seed, "model.keras")
    with tempfile.TemporaryDirectory(prefix="tradeforge-") as tmp:
        path = Path(tmp) / "model.keras"
        result.agent.save(path)
        open_pipeline_store(cfg).put_bytes(key, path.read_bytes())
    stats = {k: v for k, v in result.stats.items() if isinstance(v, int | float | str)}
    return TrainedRef(ticker=ticker, agent=kind, seed=seed, model_key=key, stats=stats)


def load_staged_agent(store, key: str):
    """Load a staged agent from the store (Keras safe mode; never unpickled)."""
    return agent_from_bytes(store.get_bytes(key))


def agent_from_bytes(data: bytes):
    """A ``QAgent`` from the bytes of a ``.keras`` file (Keras safe mode; never unpickled)."""
    from tradeforge.agents import QAgent

    with tempfile.TemporaryDirectory(prefix="tradeforge-") as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(data)
        return QAgent.load(path)


def periods_per_year_for(cfg: PipelineConfig, ticker: str) -> int:
    """Annualisation factor for the ticker's asset class and the bar interval."""
    from tradeforge.evaluation import periods_per_year

    return periods_per_year(cfg.data.interval, ticker)


def run_evaluation(ref: TrainedRef, prepared, cfg: PipelineConfig, run_id: str) -> dict[str, Any]:
    """Greedy metrics of a staged agent on validation and test, plus equity-curve plots."""
    from tradeforge.evaluation import evaluate, plot_equity

    store = open_pipeline_store(cfg)
    agent = load_staged_agent(store, ref.model_key)
    ppy = periods_per_year_for(cfg, ref.ticker)
    out: dict[str, Any] = {**asdict(ref), "plots": {}}
    for split in SPLITS:
        market = getattr(prepared, _attr(split))
        result = evaluate(agent, market, cfg.env, periods_per_year=ppy)
        out[split] = result.metrics
        if cfg.evaluation.plots:
            png = plot_equity(
                result, market, cfg.env, title=f"{ref.ticker} {ref.agent} seed {ref.seed} - {split}"
            )
            key = staging_key(run_id, ref.ticker, ref.agent, ref.seed, f"equity-{split}.png")
            store.put_bytes(key, png)
            out["plots"][split] = key
    return out


def run_baselines(prepared, cfg: PipelineConfig) -> dict[str, Any]:
    """Baseline metrics on the same validation and test windows."""
    from tradeforge.evaluation import baselines

    ppy = periods_per_year_for(cfg, prepared.ticker)
    out: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        market = getattr(prepared, _attr(split))
        for name, ev in baselines(market, cfg.env, cfg.evaluation, periods_per_year=ppy).items():
            out.setdefault(name, {})[split] = ev.metrics
    return out


def _attr(split: str) -> str:
    return {"validation": "val", "test": "test"}[split]


# -- promote ----------------------------------------------------------------------------------


def best_candidate(evaluations: list[dict[str, Any]]) -> dict[str, Any]:
    """The candidate with the highest validation Sharpe (the test window is never used here)."""
    if not evaluations:
        raise ValueError("no trained candidates to promote")
    return max(evaluations, key=lambda e: (e["validation"]["sharpe"], -e["seed"]))


def model_card(
    challenger: dict[str, Any], prepared, ingested, cfg: PipelineConfig, run_id: str
) -> dict[str, Any]:
    """Everything needed to reproduce, audit and serve a version (sha256s added on publish)."""
    return {
        "ticker": challenger["ticker"],
        "agent": challenger["agent"],
        "seed": challenger["seed"],
        "run_id": run_id,
        "code_version": __version__,
        "config": _jsonable(asdict(cfg)),
        "data": {
            "source": ingested.source,
            "sha256": ingested.sha256,
            "rows": len(ingested.frame),
            "boundaries": prepared.boundaries,
        },
        "features": list(prepared.feature_names),
        "window": cfg.env.window,
        "scaler": prepared.scaler,
        "metrics": {split: challenger[split] for split in SPLITS},
        "training": challenger.get("stats", {}),
    }


def run_promotion(
    ticker: str,
    evaluations: list[dict[str, Any]],
    baselines: dict[str, Any],
    prepared,
    ingested,
    cfg: PipelineConfig,
    run_id: str,
) -> dict[str, Any]:
    """Publish the best challenger as an immutable version; move the champion if it wins.

    The champion is re-evaluated on the challenger's validation window (with its own scaler and
    features) so both are judged on the same bars; the pointer moves by a conditional write.
    """
    from storage.registry import ModelRegistry
    from tradeforge.evaluation import decide_promotion, plot_cost_sweep, summarize_seeds

    store = open_pipeline_store(cfg)
    registry = ModelRegistry(store)
    challenger = best_candidate(evaluations)
    files = {"model.keras": store.get_bytes(challenger["model_key"])}
    for split, key in challenger.get("plots", {}).items():
        files[f"equity-{split}.png"] = store.get_bytes(key)
    sweep = run_cost_sweep(agent_from_bytes(files["model.keras"]), challenger, prepared, cfg)
    files["cost-sweep.png"] = plot_cost_sweep(
        sweep, title=f"{ticker} {challenger['agent']} seed {challenger['seed']}: test window"
    )
    card = model_card(challenger, prepared, ingested, cfg, run_id)
    card["cost_sweep_test"] = sweep
    version = registry.publish(ticker, challenger["agent"], files, card)

    champion = registry.champion(ticker)
    champion_metrics = None
    if champion is not None:
        champion_metrics = evaluate_champion_on(champion, registry, prepared, ingested, cfg)
    decision = decide_promotion(challenger["validation"], champion_metrics, cfg.promotion)
    # The registry records every decision; a rejected one moves nothing.
    promoted = registry.promote(
        ticker,
        version,
        decision=asdict(decision),
        expected_etag=champion.etag if champion is not None else None,
    )
    # The staged candidates served their purpose: the selected one now lives in its version.
    for key in store.list(f"{STAGING_PREFIX}/{run_id}/{ticker}/"):
        store.delete(key)
    return {
        "ticker": ticker,
        "challenger": {k: challenger[k] for k in ("agent", "seed", "validation", "test")},
        "candidates": [
            {k: e[k] for k in ("agent", "seed", "validation", "test", "stats")} for e in evaluations
        ],
        "baselines": baselines,
        "champion_before": champion.version_id if champion is not None else None,
        "champion_validation": champion_metrics,
        "promoted": promoted,
        "reason": decision.reason
        if promoted or not decision.promote
        else "lost a race: another promotion moved the champion first",
        "version": version.version_id,
        "version_uri": version.uri,
        "boundaries": prepared.boundaries,
        "seed_summary": summarize_seeds(
            evaluations,
            samples=cfg.evaluation.bootstrap_samples,
            confidence=cfg.evaluation.confidence,
        ),
        "cost_sweep_test": sweep,
        "plots": sorted(name for name in files if name.endswith(".png")),
    }


def read_version_plots(decision: dict[str, Any], cfg: PipelineConfig) -> dict[str, bytes]:
    """The PNG plots of a published version, checked against its model card."""
    from storage.registry import ModelRegistry

    registry = ModelRegistry(open_pipeline_store(cfg))
    ticker, agent = decision["ticker"], decision["challenger"]["agent"]
    return {
        name: registry.read_file(ticker, agent, decision["version"], name)
        for name in decision["plots"]
    }


def run_cost_sweep(agent, challenger: dict[str, Any], prepared, cfg: PipelineConfig) -> list:
    """The selected model's test-window metrics at commissions from 0 to 50 bp (report only)."""
    from tradeforge.evaluation import cost_sweep

    return cost_sweep(
        agent,
        prepared.test,
        cfg.env,
        periods_per_year=periods_per_year_for(cfg, challenger["ticker"]),
        costs_bp=cfg.evaluation.cost_sweep_bp,
    )


def evaluate_champion_on(champion, registry, prepared, ingested, cfg: PipelineConfig) -> dict:
    """The champion's validation metrics on the challenger's window, with its own scaler."""
    from tradeforge.agents import QAgent
    from tradeforge.evaluation import evaluate
    from tradeforge.features import market_for_window

    with tempfile.TemporaryDirectory(prefix="tradeforge-") as tmp:
        loaded = registry.load_version(
            champion.ticker, champion.agent, champion.version_id, Path(tmp)
        )
        agent = QAgent.load(loaded.model_path)
        card = loaded.card
        market = market_for_window(
            ingested.frame,
            features=tuple(card["features"]),
            scaler=card["scaler"],
            window=int(card["window"]),
            start=prepared.boundaries["val_start"],
            end=prepared.boundaries["test_start"],
        )
        ppy = periods_per_year_for(cfg, champion.ticker)
        env = replace(cfg.env, window=int(card["window"]))
        return evaluate(agent, market, env, periods_per_year=ppy).metrics


def _jsonable(value: Any) -> Any:
    """Tuples to lists, recursively, so the card is plain JSON."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
