"""The tiny training run the flow and end-to-end tests share.

Small enough for seconds of training on 2 cores, large enough for every stage to be real: three
years of daily GOOGL bars (the demo data), validation and test windows of six months.
"""

TINY = dict(
    start="2014-01-01",
    end="2017-01-01",
    val_start="2016-01-01",
    test_start="2016-07-01",
    steps=300,
    num_envs=4,
    window=5,
)
