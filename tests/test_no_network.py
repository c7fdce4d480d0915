"""The no-network guard itself must work, or every offline claim is hollow."""
import socket

import pytest

from tests.conftest import NetworkAttempt


def test_guard_blocks_tcp_connect(no_network):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(NetworkAttempt):
            s.connect(("127.0.0.1", 9))
    finally:
        s.close()
    assert no_network == ["('127.0.0.1', 9)"]
    no_network.clear()  # the attempt was the point of this test


def test_guard_blocks_name_lookup(no_network):
    with pytest.raises(NetworkAttempt):
        socket.getaddrinfo("example.org", 443)
    no_network.clear()  # the attempt was the point of this test


def test_engine_sets_offline_flags():
    import os
    import engine  # noqa: F401
    from engine.offline import offline_flag_problems
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert offline_flag_problems() == [] or all("PROXY" in p.upper() or "ENDPOINT" in p
                                                for p in offline_flag_problems())
