"""The Python API: ``import tradeforge as tf``.

Four doors, the same code the command line runs:

- ``train`` runs the training flow (``train_pipeline``) and returns a typed
  ``RunSummary`` (what ``tradeforge train --json`` prints);
- ``load_champion`` loads a ticker's verified champion as a ``Policy`` whose
  ``Policy.act`` gives the action for the latest bar (no TensorFlow, no Prefect);
  ``load_version`` any published version, champion or not;
- ``validate`` runs the data contract on a frame or a file and returns its ``Report``;
- ``registry`` opens a store's model registry (``Registry``): versions, champions,
  the history of decisions.

Importing ``tradeforge`` imports none of this module's heavy dependencies: pandas, Prefect,
TensorFlow and great-expectations are imported by the call that needs them. This is the one
module of ``tradeforge/`` that reaches the orchestration layer (``flows/``), and only inside
``train``: it is a door, like ``cli/``, not domain code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from tradeforge import DEFAULT_STORE
from tradeforge.config import SECTIONS, PipelineConfig, first_error

if TYPE_CHECKING:
    import pandas as pd

    from storage.registry import Champion, ModelRegistry, VersionRef
    from tradeforge.artifact import LoadedPolicy
    from tradeforge.validation.report import ValidationReport as Report

__all__ = [
    "Action",
    "Policy",
    "Registry",
    "RunFailed",
    "RunSummary",
    "TickerResult",
    "load_champion",
    "load_version",
    "registry",
    "train",
    "validate",
]


# -- train --------------------------------------------------------------------------------------


class TickerResult(BaseModel):
    """One ticker's outcome in a run: the decision and the figures behind it.

    The fields named here are the stable ones; every other key of the CLI's ``--json`` entry
    (candidates, baselines, the gate's numbers, cost sweep, plots, ...) is kept as an extra
    field, so ``model_dump()`` gives the entry back whole.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    ticker: str
    outcome: Literal["promoted", "not_promoted", "failed"]
    """``promoted``; ``not_promoted`` (``reason`` says why); ``failed`` (``failures`` say where)."""
    promoted: bool
    reason: str
    version: str | None = None
    """The version published for the challenger (also when it was not promoted)."""
    version_uri: str | None = None
    challenger: dict[str, Any] | None = None
    """The selected candidate: agent, seed, reward, pooled validation and test metrics."""
    candidates: list[dict[str, Any]] = []
    """Every candidate with its pooled validation and test metrics."""
    baselines: dict[str, dict[str, Any]] = {}
    """Buy-and-hold, cash, random and SMA crossover on the same windows."""
    gate: dict[str, Any] | None = None
    """The promotion gate's numbers: per benchmark the deflated PSR, trials, SR0, ..."""
    boundaries: dict[str, Any] | None = None
    """The walk-forward folds' and the test window's dates."""
    plots: list[str] = []
    """Store locations of the equity-curve and cost-sweep images."""
    failures: list[str] = []
    """``<task run>: <error>`` for each failed task (``outcome == "failed"``)."""


class RunSummary(BaseModel):
    """What a training run did: its settings and each ticker's outcome.

    The same object ``tradeforge train --json`` prints on its last line:
    ``RunSummary.model_validate(json.loads(line))`` reads it, ``model_dump(mode="json")``
    writes it back.
    """

    model_config = ConfigDict(frozen=True)

    store: str
    source: str
    agents: list[str]
    seeds: list[int]
    rewards: list[str]
    folds: int
    steps: int
    env: dict[str, Any]
    """The trading environment's settings (costs, execution, reward)."""
    promoted: list[str]
    """Tickers whose challenger became champion."""
    failed: list[str]
    """Tickers whose data, training or evaluation failed (nothing promoted for them)."""
    tickers: list[TickerResult]

    def ticker(self, name: str) -> TickerResult:
        """The result of one ticker (``KeyError`` naming the tickers run when it was not)."""
        for result in self.tickers:
            if result.ticker == name.upper():
                return result
        raise KeyError(f"{name!r}: this run has {[t.ticker for t in self.tickers]}")


class RunFailed(RuntimeError):
    """A run in which some ticker failed; ``summary`` still holds every ticker's outcome."""

    def __init__(self, message: str, summary: RunSummary) -> None:
        super().__init__(message)
        self.summary = summary


SectionValues = BaseModel | Mapping[str, Any]
"""A configuration section given to ``train``: its model, or a dict of its fields."""


def pipeline_config(
    config: PipelineConfig | Mapping[str, Any] | None = None, **sections: SectionValues
) -> PipelineConfig:
    """The validated configuration: ``config`` (a model or nested dict) with ``sections``
    replacing or updating its sections (``dqn={"total_steps": 2000}`` updates the dqn
    section's fields; a section model replaces it).

    A single file given as ``data.source`` without ``data.tickers`` trains the ticker its
    name carries, as on the command line. Raises ``ValueError`` ``"<section.field>: problem"``.
    """
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown section(s) {unknown}: use {list(SECTIONS)}")
    if isinstance(config, PipelineConfig):
        nested = config.model_dump(exclude_unset=True)
    else:
        nested = {k: dict(v) for k, v in (config or {}).items()}
    for name, section in sections.items():
        if isinstance(section, BaseModel):
            nested[name] = section.model_dump(exclude_unset=True)
        else:
            nested[name] = {**nested.get(name, {}), **section}
    data = nested.setdefault("data", {})
    if "tickers" not in data and isinstance(data.get("source"), str):
        from tradeforge.data.sources import ticker_of_source

        inferred = ticker_of_source(data["source"])
        if inferred:
            data["tickers"] = [inferred]
    try:
        return PipelineConfig.model_validate(nested)
    except ValidationError as exc:
        raise ValueError(first_error(exc)) from None


def train(
    config: PipelineConfig | Mapping[str, Any] | None = None,
    /,
    *,
    dask: bool = False,
    dask_address: str | None = None,
    **sections: SectionValues,
) -> RunSummary:
    """Run the training pipeline and return its summary.

    ``config`` is a ``PipelineConfig`` or a nested dict
    (``{"run": {"seeds": [0]}, "dqn": {"total_steps": 2000}}``); keyword sections update it
    (``tf.train(run={"seeds": [0]}, data={"source": "prices.csv=SPY"})``). With every default
    this is ``tradeforge train``: the demo data, seeds 0-2, both agent kinds.

    Bad settings raise ``ValueError`` naming the field, and unusable tickers, sources or stores
    (and a ``run.resume`` with no checkpoints) raise ``tradeforge.preflight.PreflightError``
    listing every problem, both before anything starts. A run in which a ticker failed raises
    ``RunFailed`` carrying the summary.

    Without ``PREFECT_API_URL`` the flow runs against a temporary Prefect server that ends with
    this call (and with this process, even when it is killed); with it, the run is reported to
    that server (``make up``'s stack, Prefect Cloud). ``dask=True`` fans the trainings out on a
    temporary Dask cluster, ``dask_address`` on an existing one.
    """
    cfg = pipeline_config(config, **sections)
    from tradeforge.preflight import preflight_config

    preflight_config(cfg)
    # The door reaches the orchestration layer here only (see the module's docstring).
    from cli.ephemeral import ephemeral_server, prefect_api_configured
    from flows.runners import with_task_runner
    from flows.train import TickersFailed, train_pipeline

    pipeline = with_task_runner(train_pipeline, dask=dask, dask_address=dask_address)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    server = _nothing() if prefect_api_configured() else ephemeral_server()
    try:
        with server:
            summary = pipeline(**{name: getattr(cfg, name) for name in SECTIONS})
    except TickersFailed as exc:
        raise RunFailed(str(exc), RunSummary.model_validate(exc.summary)) from exc
    return RunSummary.model_validate(summary)


class _nothing:
    """A context manager that does nothing (the API server is already there)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# -- load_champion ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """A policy's decision for one bar."""

    ticker: str
    timestamp: str
    """The bar acted on (its date for daily bars)."""
    close: float
    position: Literal["flat", "long"]
    """What was held when deciding."""
    action: int
    """0 = flat, 1 = long."""
    action_name: Literal["flat", "long"]
    q_values: tuple[float, ...]
    """The Q-value of each action (flat, long); the action is their argmax (ties: flat)."""
    version_id: str
    agent: str


class Policy:
    """A verified champion, ready to act: its model card and TensorFlow-free Q-network.

    Obtain one with ``load_champion``. Files were checked against the card's sha256 (and
    the card against the champion pointer) before anything was parsed.
    """

    def __init__(self, loaded: LoadedPolicy, endpoint_url: str | None = None) -> None:
        self.loaded = loaded
        """The underlying ``tradeforge.artifact.LoadedPolicy``."""
        self._endpoint_url = endpoint_url

    @property
    def ticker(self) -> str:
        """The ticker the policy trades."""
        return self.loaded.ticker

    @property
    def version_id(self) -> str:
        """The registry version this policy is."""
        return self.loaded.version_id

    @property
    def agent(self) -> str:
        """The agent kind (``dqn`` or ``parallel_dqn``)."""
        return self.loaded.agent

    @property
    def card(self) -> dict[str, Any]:
        """The version's model card (config, data, features, scaler, metrics, gate, sha256s)."""
        return self.loaded.card

    @property
    def features(self) -> tuple[str, ...]:
        """The feature names the policy observes, in order."""
        return self.loaded.features

    @property
    def window(self) -> int:
        """Bars per observation."""
        return self.loaded.window

    def bars(
        self, source: str | None = None, *, start: str | None = None, end: str | None = None
    ) -> pd.DataFrame:
        """The ticker's canonical bars from ``source`` (default: the source recorded in the
        model card), checked by the data contract's error rules."""
        from tradeforge.artifact import card_interval, card_start
        from tradeforge.inference import check_bars, read_latest_bars, resolve_source

        interval = card_interval(self.card)
        frame, _ = read_latest_bars(
            self.ticker,
            resolve_source(self.loaded, source),
            start=start or card_start(self.card),
            end=end,
            interval=interval,
            endpoint_url=self._endpoint_url,
        )
        return check_bars(frame, self.ticker, interval)

    def act(
        self,
        bars: pd.DataFrame | list[dict[str, Any]],
        position: Literal["flat", "long"] | float = "flat",
    ) -> Action:
        """The greedy action for the latest of ``bars`` while holding ``position``.

        ``bars``: a canonical frame (``ticker, timestamp, open, high, low, close, volume``; what
        ``bars`` returns) or records with ``timestamp, open, high, low, close, volume``,
        oldest first, enough for the features' warm-up plus the window. They pass the same
        rules as every other door (``tradeforge.inference.BarsError`` names the row and rule);
        features use the card's own scaler, never refitted.
        """
        from tradeforge.artifact import card_interval
        from tradeforge.inference import act_on_latest, bars_frame, check_bars

        interval = card_interval(self.card)
        if isinstance(bars, list):
            bars = bars_frame(bars, self.ticker, interval)
        out = act_on_latest(self.loaded, check_bars(bars, self.ticker, interval), position)
        return Action(
            ticker=out["ticker"],
            timestamp=out["timestamp"],
            close=out["close"],
            position=out["position"],
            action=out["action"],
            action_name=out["action_name"],
            q_values=tuple(out["q_values"]),
            version_id=out["version_id"],
            agent=out["agent"],
        )

    def __repr__(self) -> str:
        return f"Policy({self.ticker} {self.agent} {self.version_id}, {self.loaded.loaded_from})"


def load_champion(
    store: str = DEFAULT_STORE, ticker: str = "GOOGL", *, endpoint_url: str | None = None
) -> Policy:
    """The ticker's champion in ``store`` (a folder or ``s3://bucket/prefix``), verified.

    Raises ``tradeforge.inference.NoChampionError`` when there is none (saying how to get one,
    or which version was demoted and why) and ``tradeforge.artifact.IntegrityError`` when a
    file does not match its recorded sha256.
    """
    from tradeforge.inference import champion_policy, open_registry

    loaded = champion_policy(ticker.upper(), open_registry(store, endpoint_url))
    return Policy(loaded, endpoint_url)


def load_version(
    store: str,
    ticker: str,
    version_id: str,
    *,
    agent: str | None = None,
    endpoint_url: str | None = None,
) -> Policy:
    """Any published version as a ``Policy``, champion or not (a refused challenger, a
    demoted champion), its files verified like a champion's. ``agent`` is found when omitted.

    Raises ``LookupError`` naming the versions the ticker has when ``version_id`` is not one.
    """
    from tradeforge.artifact import load_policy
    from tradeforge.inference import open_registry

    reg = open_registry(store, endpoint_url)
    refs = [r for r in reg.versions(ticker.upper(), agent) if r.version_id == version_id]
    if not refs:
        known = [r.version_id for r in reg.versions(ticker.upper())]
        raise LookupError(f"{ticker.upper()} has no version {version_id!r} in {store}: {known}")
    ref = refs[0]
    return Policy(load_policy(reg, ref.ticker, ref.agent, ref.version_id), endpoint_url)


# -- validate -----------------------------------------------------------------------------------


def validate(
    frame_or_path: pd.DataFrame | str | os.PathLike[str],
    *,
    ticker: str | None = None,
    interval: str | None = None,
    min_rows: int = 100,
    max_stale_bars: int | None = None,
    splits: Mapping[str, float] | None = None,
    suspected_splits: Literal["error", "warning"] = "error",
    endpoint_url: str | None = None,
) -> Report:
    """Run the great-expectations data contract on bars; never raises for bad bars.

    ``frame_or_path``: a canonical frame, or one CSV/Parquet file in any layout the readers
    understand (``s3://bucket/key.csv`` too). A file's ticker comes from its name or content,
    or ``ticker`` (also ``"prices.csv=SPY"``); ``interval`` defaults to what the bars hold.
    ``splits`` declares splits of unadjusted data (``{"2021-07-20": 4}``). A file that cannot
    be read raises ``tradeforge.data.DataError`` naming it.
    """
    from tradeforge.data import infer_interval
    from tradeforge.validation import validate as run_contract

    notes: tuple[str, ...] = ()
    if isinstance(frame_or_path, str | os.PathLike):
        frame, notes = _read_one(str(frame_or_path), ticker, interval, endpoint_url)
    else:
        frame = frame_or_path
    return run_contract(
        frame,
        interval=interval or infer_interval(frame["timestamp"]),
        min_rows=min_rows,
        max_stale_bars=max_stale_bars,
        splits=splits,
        suspected_splits=suspected_splits,
        notes=notes,
    )


def _read_one(
    source: str, ticker: str | None, interval: str | None, endpoint_url: str | None
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The canonical frame of one file (and the reader's notes), as ``tradeforge validate``
    reads it."""
    from tradeforge.config.data import DataConfig
    from tradeforge.data import (
        DataSourceError,
        infer_interval,
        ingest,
        is_single_file,
        read_bars,
        split_source,
    )
    from tradeforge.data.sources import ticker_of_source

    if not is_single_file(source):
        raise DataSourceError(f"{source}: name one CSV or Parquet file (or pass a frame)")
    name = (ticker or ticker_of_source(source) or "").upper()
    if not name:
        raise DataSourceError(f"{source}: its name carries no ticker; pass ticker='SPY'")
    if ticker and split_source(source)[1] is None:
        source = f"{source}={name}"  # the ticker given maps the file, whatever its name says
    cfg = DataConfig(
        tickers=(name,), source=source, interval=interval or "1d", s3_endpoint_url=endpoint_url
    )
    if interval is None and not source.startswith("s3://"):
        path = Path(split_source(source)[0])
        got = infer_interval(read_bars(path.read_bytes(), path.name).bars["timestamp"])
        cfg = cfg.replace(interval=got)
    got = ingest(name, cfg)
    return got.frame, tuple(got.notes)


# -- registry -----------------------------------------------------------------------------------


class Registry:
    """A store's model registry: versions, champions and every promotion decision.

    Obtain one with ``registry``. It only reads; versions are published and champions
    moved by the training flow's promotion step.
    """

    def __init__(self, registry: ModelRegistry) -> None:
        self.raw = registry
        """The underlying ``storage.registry.ModelRegistry``."""

    @property
    def uri(self) -> str:
        """The store's location."""
        return self.raw.store.uri

    def tickers(self) -> list[str]:
        """Tickers with anything stored."""
        return self.raw.tickers()

    def versions(self, ticker: str, agent: str | None = None) -> list[VersionRef]:
        """Complete versions of a ticker (optionally one agent kind), oldest first."""
        return self.raw.versions(ticker.upper(), agent)

    def champion(self, ticker: str) -> Champion | None:
        """The ticker's champion pointer (version, metrics, when and why), or None."""
        return self.raw.champion(ticker.upper())

    def history(self, ticker: str) -> list[dict[str, Any]]:
        """Every promotion decision recorded for the ticker (and demotions), oldest first."""
        return self.raw.history(ticker.upper())

    def card(self, ticker: str, agent: str, version_id: str) -> dict[str, Any]:
        """A version's model card, checked against nothing (use ``load_champion`` to act)."""
        return self.raw.card(ticker.upper(), agent, version_id)

    def __repr__(self) -> str:
        return f"Registry({self.uri})"


def registry(store: str = DEFAULT_STORE, *, endpoint_url: str | None = None) -> Registry:
    """The model registry of ``store`` (a folder or ``s3://bucket/prefix``)."""
    from tradeforge.inference import open_registry

    return Registry(open_registry(store, endpoint_url))
