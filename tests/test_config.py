"""Configuration models: bad values name the field; defaults and derived values in one place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from tradeforge.config import (
    DataConfig,
    DQNConfig,
    EnvConfig,
    FeatureConfig,
    PipelineConfig,
    RunConfig,
    SplitConfig,
    first_error,
)

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_build_and_replace_validates() -> None:
    cfg = PipelineConfig()
    assert cfg.data.tickers == ("GOOGL",)
    assert cfg.run.replace(seeds=(1, 2)).seeds == (1, 2)
    with pytest.raises(ValidationError):
        cfg.env.replace(commission=0.5)


def test_learning_starts_is_derived_from_steps_unless_given() -> None:
    assert DQNConfig().learning_starts == 1_000
    assert DQNConfig(total_steps=3_000).learning_starts == 300
    assert DQNConfig(total_steps=3_000, learning_starts=7).learning_starts == 7
    # replace() derives it again from the new budget
    assert DQNConfig().replace(total_steps=500).learning_starts == 50


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: DataConfig(tickers=()), "tickers"),
        (lambda: DataConfig(tickers=("A/B",)), "tickers"),
        (lambda: DataConfig(interval="5m"), "interval"),
        (lambda: DataConfig(start="2020-01-01", end="2019-01-01"), "end"),
        (lambda: DataConfig(start="not-a-date"), "start"),
        (lambda: SplitConfig(val_start="2020-01-01", test_start="2019-01-01"), "test_start"),
        (lambda: SplitConfig(folds=0), "folds"),
        (lambda: EnvConfig(execution="tomorrow"), "execution"),
        (lambda: EnvConfig(commission=-0.1), "commission"),
        (lambda: FeatureConfig(features=("vol_x",)), "features"),
        (lambda: DQNConfig(gamma=1.5), "gamma"),
        (lambda: DQNConfig(buffer_size=8, batch_size=64), "buffer_size"),
        (lambda: RunConfig(agents=("ppo",)), "agents.0"),
        (lambda: RunConfig(seeds=(1, 1)), "seeds"),
    ],
)
def test_bad_values_name_the_field(build, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        build()
    assert first_error(info.value).startswith(f"{field}:"), first_error(info.value)


def test_config_imports_no_pandas_or_features() -> None:
    """The configuration is cheap to import (the CLI's --help is built from it)."""
    import subprocess
    import sys

    code = (
        "import sys, tradeforge.config; "
        "bad = [m for m in ('pandas', 'tradeforge.features', 'tensorflow') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_each_default_is_declared_once() -> None:
    """No parameter list is copied: the CLI and the flow carry no defaults of their own."""
    for path in ("cli/train.py", "flows/train.py"):
        text = (ROOT / path).read_text()
        for literal in ("20_000", "20000", "0.001", 'next_open" =', "= 10,"):
            assert literal not in text, f"{path} repeats a default: {literal}"
    assert len(re.findall(r"\b20_000\b", (ROOT / "tradeforge/config/agents.py").read_text())) == 1
