"""Portfolio PNG plots (issue 27): weights over time as a stacked area, and equity against 1/N.

Built on the Agg canvas with ``matplotlib.figure.Figure`` (no pyplot state), as
``tradeforge.evaluation.plots``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _figure(height: float = 4.5) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_weights(curve: Any, tickers: Sequence[str], *, title: str = "") -> bytes:
    """PNG: the weight of each asset and of cash on each bar, stacked to 1."""
    ts = np.asarray(curve.timestamps[:-1], dtype="datetime64[ns]")
    weights = np.asarray(curve.weights, dtype=np.float64)
    cash = np.clip(1.0 - weights.sum(axis=1), 0.0, 1.0)
    fig = _figure()
    ax = fig.subplots()
    ax.stackplot(ts, *weights.T, cash, labels=[*tickers, "cash"], step="post")
    ax.set_ylim(0, 1)
    ax.set_ylabel("weight")
    ax.set_title(title or "portfolio weights")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return _png(fig)


def plot_equity_vs(curve: Any, benchmark: Any, *, title: str = "", label: str = "1/N") -> bytes:
    """PNG: the portfolio's equity against a benchmark's (both start at 1), after costs."""
    ts = np.asarray(curve.timestamps, dtype="datetime64[ns]")
    fig = _figure()
    ax = fig.subplots()
    ax.plot(ts, benchmark.net_worth / benchmark.net_worth[0], color="0.55", lw=1.2, label=label)
    ax.plot(ts, curve.net_worth / curve.net_worth[0], color="tab:blue", lw=1.4, label="agent")
    ax.set_ylabel("equity (start = 1)")
    ax.set_title(title or "equity after costs")
    ax.legend(loc="upper left")
    return _png(fig)
