"""The promotion rule, decided on the validation window only (the test window never chooses)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tradeforge.config import PromotionConfig


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger becomes champion, and why (with the numbers)."""

    promote: bool
    reason: str
    numbers: dict[str, float | None] = field(default_factory=dict)
    """The inputs of the decision, for the promotion history."""


def decide_promotion(
    challenger: dict[str, float], champion: dict[str, float] | None, cfg: PromotionConfig
) -> PromotionDecision:
    """Promote when the challenger's validation drawdown is within ``cfg.max_drawdown_limit``
    and its validation Sharpe beats the champion's (on the same window) by more than
    ``cfg.sharpe_margin``; with no champion, the drawdown limit alone decides.

    ``challenger`` / ``champion`` are metric dicts (``sharpe``, ``max_drawdown``, ...).
    """
    c_sharpe = _metric(challenger, "sharpe", "challenger")
    c_mdd = abs(_metric(challenger, "max_drawdown", "challenger"))
    numbers: dict[str, float | None] = {
        "challenger_sharpe": c_sharpe,
        "challenger_max_drawdown": c_mdd,
        "champion_sharpe": None,
        "sharpe_margin": cfg.sharpe_margin,
        "max_drawdown_limit": cfg.max_drawdown_limit,
    }
    if c_mdd > cfg.max_drawdown_limit:
        return PromotionDecision(
            False,
            f"challenger max drawdown {c_mdd:.2%} exceeds the limit {cfg.max_drawdown_limit:.2%}",
            numbers,
        )
    if champion is None:
        return PromotionDecision(
            True,
            f"no champion yet; challenger Sharpe {c_sharpe:.3f}, max drawdown {c_mdd:.2%} "
            f"within {cfg.max_drawdown_limit:.2%}",
            numbers,
        )
    k_sharpe = _metric(champion, "sharpe", "champion")
    numbers["champion_sharpe"] = k_sharpe
    needed = k_sharpe + cfg.sharpe_margin
    if c_sharpe > needed:
        return PromotionDecision(
            True,
            f"challenger Sharpe {c_sharpe:.3f} > champion {k_sharpe:.3f} + margin "
            f"{cfg.sharpe_margin:.3f}; max drawdown {c_mdd:.2%} within "
            f"{cfg.max_drawdown_limit:.2%}",
            numbers,
        )
    return PromotionDecision(
        False,
        f"challenger Sharpe {c_sharpe:.3f} does not beat champion {k_sharpe:.3f} + margin "
        f"{cfg.sharpe_margin:.3f} on the same validation window",
        numbers,
    )


def _metric(metrics: dict[str, float], key: str, who: str) -> float:
    if key not in metrics:
        raise ValueError(
            f"decide_promotion: {who} metrics have no {key!r} (keys: {sorted(metrics)})"
        )
    value = float(metrics[key])
    if not math.isfinite(value):
        raise ValueError(f"decide_promotion: {who} {key} is {value}, not a finite number")
    return value
