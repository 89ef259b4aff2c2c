"""Start a server on free 127.0.0.1 ports, and draw new ones when another process won a port.

``free_port()`` closes its probe socket before the server binds, so another process can take
the port in between; the server then exits with "address already in use". Every test that
starts a server on a free port goes through :func:`start_on_free_ports`, which draws new ports
and starts again (up to ``attempts`` times) when a start failed that way.
"""

from __future__ import annotations

from collections.abc import Callable

from ops.stack import free_port, port_in_use

__all__ = ["free_port", "lost_a_port", "start_on_free_ports"]

#: Starts tried before the last failure is raised.
ATTEMPTS = 3


def lost_a_port(error: BaseException, ports: list[int]) -> bool:
    """True when ``error`` looks like a lost race for one of ``ports``: the message (which for
    the stack's services carries the log tail) says the address is in use, or another process
    now listens on one of them."""
    text = str(error).lower()
    if "address already in use" in text or "errno 98" in text:
        return True
    return any(port_in_use(port) for port in ports)


def start_on_free_ports[T](
    start: Callable[[list[int]], T],
    count: int = 1,
    *,
    retry_if: Callable[[BaseException, list[int]], bool] = lost_a_port,
    attempts: int = ATTEMPTS,
) -> T:
    """``start(ports)`` with ``count`` free ports; on a failure ``retry_if`` blames on a lost
    port, again with new ports. ``start`` must leave nothing running when it raises."""
    for attempt in range(1, attempts + 1):
        ports = [free_port() for _ in range(count)]
        try:
            return start(ports)
        except Exception as exc:
            if attempt == attempts or not retry_if(exc, ports):
                raise
    raise AssertionError("unreachable")  # the loop returns or raises
