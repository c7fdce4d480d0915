"""Shared fixtures. Every test runs with the network cut: any socket connection
to a non-local-file address fails the test, proving SafeVet never reaches out."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

# Fixture modules, one per area, so each area's fixtures live beside nothing else.
pytest_plugins = ["tests.fixtures.models", "tests.fixtures.retrieval"]

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"
MEDSAFETYBENCH_TRAIN = SHARED_DIR / "datasets" / "medsafetybench" / "train"


class NetworkAttempt(AssertionError):
    """Raised when code under test tries to open a network connection."""


def _is_network_family(sock: socket.socket) -> bool:
    return sock.family in (socket.AF_INET, socket.AF_INET6)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail on any IPv4/IPv6 connection or name lookup. Unix sockets stay allowed."""
    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self, address):
        if _is_network_family(self):
            attempts.append(repr(address))
            raise NetworkAttempt(f"network connection attempted to {address!r}")
        return real_connect(self, address)

    def guarded_connect_ex(self, address):
        if _is_network_family(self):
            attempts.append(repr(address))
            raise NetworkAttempt(f"network connection attempted to {address!r}")
        return real_connect_ex(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        attempts.append(f"getaddrinfo({host!r})")
        raise NetworkAttempt(f"name lookup attempted for {host!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket, "create_connection",
                        lambda address, *a, **k: guarded_connect(
                            socket.socket(socket.AF_INET), address))
    yield attempts
    assert not attempts, f"network attempted: {attempts}"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A fresh, empty SafeVet workspace for one test."""
    from engine.workspace import Workspace
    home = tmp_path / "safevet-home"
    monkeypatch.setenv("SAFEVET_HOME", str(home))
    return Workspace.open(home)


@pytest.fixture
def medsafetybench_train() -> Path:
    if not MEDSAFETYBENCH_TRAIN.is_dir():
        pytest.skip(f"shared dataset not present at {MEDSAFETYBENCH_TRAIN}")
    return MEDSAFETYBENCH_TRAIN
