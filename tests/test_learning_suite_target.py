"""The learning suite's target on a structured market (issue 12), as the issue words it."""

from __future__ import annotations

import pytest

from benchmarks.learning_suite import structured_target_met


@pytest.mark.parametrize(
    ("promoted", "earned", "rule", "hold", "met"),
    [
        (True, 0.36, 0.44, 0.10, True),  # 82% of the rule, above buy-and-hold and cash
        (True, 0.275, 0.44, 0.10, False),  # 62% of the rule: missed
        (True, 0.40, 0.44, 0.45, False),  # 91% of the rule but below buy-and-hold
        (False, 0.0, 0.44, -0.10, False),  # nothing promoted deploys cash: no share of the rule
        (True, 0.276, -0.071, -0.183, True),  # the rule lost: beating hold and cash is the bar
        (True, -0.01, -0.071, -0.183, False),  # ... and a loss does not beat cash
    ],
)
def test_structured_target(promoted: bool, earned: float, rule: float, hold: float, met: bool):
    assert structured_target_met(promoted, earned, rule, hold, 0.0) is met
