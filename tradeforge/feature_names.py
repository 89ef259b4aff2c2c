"""The feature catalogue's names and parameters, without pandas: what a name like ``vol_20`` means.

``tradeforge.features`` computes the features; this module only parses their names, so the
configuration can check them without importing the computations (no import loop, fast CLI help).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureName:
    """One family's name grammar: a pattern, default parameters and the fast < slow rule."""

    pattern: str
    """Regular expression a name must match in full; its groups are the integer parameters."""
    defaults: tuple[int, ...] = ()
    """Parameters used when the name carries none (e.g. ``macd`` = ``macd_12_26_9``)."""
    fast_before_slow: bool = False
    """The first two parameters are a fast and a slow window: the first must be smaller."""


#: Family -> grammar. Order matters: ``macd_signal`` must be tried before ``macd``.
FAMILY_NAMES: dict[str, FeatureName] = {
    "logret": FeatureName(r"logret_(\d+)"),
    "vol": FeatureName(r"vol_(\d+)"),
    "rsi": FeatureName(r"rsi_(\d+)"),
    "macd_signal": FeatureName(r"macd_signal(?:_(\d+)_(\d+)_(\d+))?", (12, 26, 9), True),
    "macd_hist": FeatureName(r"macd_hist(?:_(\d+)_(\d+)_(\d+))?", (12, 26, 9), True),
    "macd": FeatureName(r"macd(?:_(\d+)_(\d+)_(\d+))?", (12, 26, 9), True),
    "bb_pos": FeatureName(r"bb_pos_(\d+)"),
    "volz": FeatureName(r"volz_(\d+)"),
    "sma_ratio": FeatureName(r"sma_ratio_(\d+)_(\d+)", (), True),
    "atr": FeatureName(r"atr_(\d+)"),
    "dow": FeatureName(r"dow_([1-7])"),
    "shock": FeatureName(r"shock_(\d+)_(\d+)_(\d+)"),
}


def parse_feature_name(name: str) -> tuple[str, tuple[int, ...]]:
    """The family and integer parameters named by ``name`` (e.g. ``vol_20`` -> ``vol, (20,)``)."""
    for family, grammar in FAMILY_NAMES.items():
        match = re.fullmatch(grammar.pattern, name)
        if match is None:
            continue
        groups = match.groups()
        params = grammar.defaults if groups and groups[0] is None else tuple(map(int, groups))
        params = params or grammar.defaults
        if any(v < 1 for v in params):
            raise ValueError(f"feature {name!r}: parameters must be >= 1")
        if grammar.fast_before_slow and not params[0] < params[1]:
            raise ValueError(
                f"feature {name!r}: the fast window {params[0]} must be shorter than the "
                f"slow window {params[1]}"
            )
        return family, params
    known = ", ".join(g.pattern for g in FAMILY_NAMES.values())
    raise ValueError(f"feature {name!r} is not in the catalogue (known patterns: {known})")
