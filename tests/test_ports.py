"""tests/ports.py: a server that lost its free port to another process is started again."""

from __future__ import annotations

import socket

import pytest

from tests.ports import start_on_free_ports


def test_a_lost_port_is_drawn_again() -> None:
    """The first start's port is taken between free_port() and the bind, as another process
    would: the bind fails with "address already in use" and a new port is drawn."""
    tried: list[int] = []
    thief = socket.socket()

    def start(ports: list[int]) -> socket.socket:
        (port,) = ports
        tried.append(port)
        if len(tried) == 1:
            thief.bind(("127.0.0.1", port))
            thief.listen()
        server = socket.socket()
        try:
            server.bind(("127.0.0.1", port))
        except OSError:
            server.close()
            raise
        server.listen()
        return server

    try:
        server = start_on_free_ports(start)
        assert len(tried) == 2 and tried[0] != tried[1]
        assert server.getsockname()[1] == tried[1]
        server.close()
    finally:
        thief.close()


def test_other_failures_are_not_retried() -> None:
    calls: list[list[int]] = []

    def start(ports: list[int]) -> None:
        calls.append(ports)
        raise ValueError("bad configuration")

    with pytest.raises(ValueError, match="bad configuration"):
        start_on_free_ports(start, 2)
    assert len(calls) == 1 and len(calls[0]) == 2


def test_gives_up_after_three_lost_ports() -> None:
    calls: list[list[int]] = []

    def start(ports: list[int]) -> None:
        calls.append(ports)
        raise OSError(98, "Address already in use")

    with pytest.raises(OSError, match="Address already in use"):
        start_on_free_ports(start)
    assert len(calls) == 3
