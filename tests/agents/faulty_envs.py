"""The real ``VectorTradingEnv`` made to fail inside an actor process (picklable factories)."""

from __future__ import annotations

import os
import signal

from tradeforge.envs import VectorTradingEnv

FAIL_AFTER_STEPS = 5


class _Failing(VectorTradingEnv):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.steps_taken = 0

    def step(self, actions):
        self.steps_taken += 1
        if self.steps_taken > FAIL_AFTER_STEPS:
            self.fail()
        return super().step(actions)


class RaisingEnv(_Failing):
    """Raises inside the actor: the learner must show this traceback."""

    def fail(self) -> None:
        raise RuntimeError("simulated crash inside the actor's env")


class KilledEnv(_Failing):
    """SIGKILLs its own process: no traceback, only an exit code."""

    def fail(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


def raising_env(market, config, num_envs, seed):
    return RaisingEnv(market, config, num_envs, random_start=True, seed=seed)


def killed_env(market, config, num_envs, seed):
    return KilledEnv(market, config, num_envs, random_start=True, seed=seed)
