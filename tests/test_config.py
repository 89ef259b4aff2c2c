"""Config dataclasses reject bad values with the field's name in the message."""

from dataclasses import replace

import pytest

from tradeforge.config import DataConfig, DQNConfig, EnvConfig, PipelineConfig, SplitConfig


def test_defaults_build() -> None:
    cfg = PipelineConfig()
    assert cfg.data.tickers == ("GOOGL",)
    assert replace(cfg, seeds=(1, 2)).seeds == (1, 2)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: DataConfig(tickers=()), "tickers"),
        (lambda: DataConfig(interval="5m"), "interval"),
        (lambda: DataConfig(start="2020-01-01", end="2019-01-01"), "end"),
        (lambda: DataConfig(start="not-a-date"), "start"),
        (lambda: SplitConfig(val_start="2020-01-01", test_start="2019-01-01"), "test_start"),
        (lambda: EnvConfig(execution="tomorrow"), "execution"),
        (lambda: EnvConfig(commission=-0.1), "commission"),
        (lambda: DQNConfig(gamma=1.5), "gamma"),
        (lambda: DQNConfig(buffer_size=8, batch_size=64), "buffer_size"),
        (lambda: PipelineConfig(agents=("ppo",)), "agents"),
        (lambda: PipelineConfig(seeds=(1, 1)), "seeds"),
    ],
)
def test_bad_values_name_the_field(build, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        build()
