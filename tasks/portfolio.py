"""Portfolio tasks (issue 27): the universe on one calendar, with its alignment report."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.artifacts import create_table_artifact

from tasks.policies import PURE_CACHE
from tradeforge.config import PortfolioConfig
from tradeforge.report import artifact_key


@task(name="universe", task_run_name="universe-{portfolio.universe_name}", cache_policy=PURE_CACHE)
def universe_task(frames: dict[str, pd.DataFrame], portfolio: PortfolioConfig):
    """Align the validated frames on one calendar; a table artifact names the bars dropped."""
    from tradeforge.portfolio import align_universe

    universe = align_universe(frames, align=portfolio.align)
    create_table_artifact(
        key=artifact_key("universe", portfolio.universe_name),
        table=universe.report(),
        description=f"Universe {portfolio.universe_name}: "
        + ("; ".join(universe.notes) or "every ticker traded on every date"),
    )
    for note in universe.notes:
        print(note)
    return universe
