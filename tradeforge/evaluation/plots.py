"""PNG plots: the agent's equity curve against buy-and-hold, with drawdowns and trade markers.

Figures are built with ``matplotlib.figure.Figure`` on the Agg canvas (no pyplot global state,
no display), so plots can be drawn from worker threads and processes.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from tradeforge.config import EnvConfig
from tradeforge.envs.market import MarketData
from tradeforge.evaluation.metrics import drawdown


def _trade_points(episode: Any) -> tuple[np.ndarray, np.ndarray]:
    """Bar indices (into the episode) where the position went long, and where it went flat."""
    pos = np.asarray(episode.positions, dtype=np.float64)
    change = np.diff(pos)
    return np.flatnonzero(change > 0) + 1, np.flatnonzero(change < 0) + 1


def plot_equity(
    result: Any,
    market: MarketData,
    env: EnvConfig,
    *,
    title: str = "",
    benchmark: Any | None = None,
) -> bytes:
    """PNG bytes: net worth of ``result`` (an ``Evaluation``) vs buy-and-hold on the same window
    and costs (top), drawdowns of both (bottom), buys (^) and sells (v) on the agent's curve.

    ``benchmark`` may pass a precomputed buy-and-hold ``Evaluation`` to avoid re-running it.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from tradeforge.envs.episode import run_episode
    from tradeforge.evaluation.baselines import buy_and_hold_actions

    episode = result.episode
    hold = (
        benchmark.episode
        if benchmark is not None
        else run_episode(buy_and_hold_actions(market), market, env)
    )
    ts = np.asarray(episode.timestamps, dtype="datetime64[ns]")
    fig = Figure(figsize=(10, 6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot(ts, hold.net_worth, color="0.55", lw=1.2, label="buy and hold")
    top.plot(ts, episode.net_worth, color="tab:blue", lw=1.4, label="agent")
    buys, sells = _trade_points(episode)
    top.scatter(
        ts[buys],
        episode.net_worth[buys],
        marker="^",
        color="tab:green",
        s=28,
        label=f"buy ({len(buys)})",
        zorder=3,
    )
    top.scatter(
        ts[sells],
        episode.net_worth[sells],
        marker="v",
        color="tab:red",
        s=28,
        label=f"sell ({len(sells)})",
        zorder=3,
    )
    m = result.metrics
    top.set_title(
        f"{title}\nreturn {m['total_return']:+.1%}  Sharpe {m['sharpe']:.2f}  "
        f"max DD {m['max_drawdown']:.1%}  trades {int(m['trades'])}  "
        f"(commission {env.commission * 1e4:.0f} bp)",
        fontsize=10,
    )
    top.set_ylabel("net worth")
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.fill_between(
        ts, -drawdown(hold.net_worth), 0, color="0.55", alpha=0.35, label="buy and hold"
    )
    bottom.fill_between(
        ts, -drawdown(episode.net_worth), 0, color="tab:blue", alpha=0.45, label="agent"
    )
    bottom.set_ylabel("drawdown")
    bottom.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    bottom.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def plot_cost_sweep(rows: list[dict[str, Any]], *, title: str = "") -> bytes:
    """PNG bytes: total return of the agent and of buy-and-hold against commission (bp)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not rows:
        raise ValueError("plot_cost_sweep: no rows")
    bp = [r["commission_bp"] for r in rows]
    fig = Figure(figsize=(6, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot(bp, [r["agent"]["total_return"] for r in rows], "o-", label="agent")
    ax.plot(
        bp,
        [r["buy_and_hold"]["total_return"] for r in rows],
        "s--",
        color="0.5",
        label="buy and hold",
    )
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("commission per trade (bp)")
    ax.set_ylabel("total return")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_title(title or "cost sweep", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
