"""Bad numbers are ValueError (SPEC rule 33); OS errors name their address (rule 34)."""

from __future__ import annotations

import errno
import socket as stdsocket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from _ports import refusing_port
from trionet.compat.tcp import Tcp as SyncTcp

from trionet import net
from trionet import socket as s
from trionet.tcp import Tcp

HUGE = 10**400  # beyond any float: float() raises OverflowError


def _tcp() -> int:
    return s.socket(s.AF_INET, s.SOCK_STREAM)


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("timeout", lambda fd: trio.run(lambda: s.recv(fd, timeout=HUGE))),
        ("timeout", lambda fd: trio.run(lambda: s.send(fd, b"x", timeout=HUGE))),
        ("idle", lambda fd: s.set_keep_alive(fd, True, HUGE)),
    ],
)
def test_a_number_too_large_for_a_float_is_a_value_error_naming_the_argument(
    name: str, call: Callable[[int], Any]
) -> None:
    fd = _tcp()
    try:
        with pytest.raises(ValueError, match=f"^{name} must be a finite number"):
            call(fd)
    finally:
        s.close(fd)


def test_a_huge_net_socket_timeout_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^seconds must be a finite number"):
        net.Socket().set_timeout(HUGE)


def test_a_unix_path_too_long_is_a_value_error_naming_the_limit(tmp_path: Path) -> None:
    fd = s.socket(s.AF_UNIX, s.SOCK_STREAM)
    try:
        with pytest.raises(ValueError, match="at most 107 bytes"):
            s.bind(fd, str(tmp_path / ("x" * 120)))
    finally:
        s.close(fd)
    assert list(tmp_path.iterdir()) == []


async def test_net_rejects_a_long_unix_path_before_any_socket() -> None:
    with pytest.raises(ValueError, match="path is 201 bytes"):
        await net.connect(path="/" + "y" * 200).__aenter__()
    async with net.create_server() as server:
        with pytest.raises(ValueError, match="at most 107 bytes"):
            await server.listen(path="/" + "y" * 200)


def test_bind_in_use_names_the_address() -> None:
    holder = s.socket(s.AF_INET, s.SOCK_STREAM)
    other = s.socket(s.AF_INET, s.SOCK_STREAM)
    try:
        s.bind(holder, ("127.0.0.1", 0))
        s.listen(holder)
        port = s.sock_name(holder).port  # type: ignore[union-attr]
        with pytest.raises(OSError, match=f"Address already in use: '127.0.0.1:{port}'") as raised:
            s.bind(other, ("127.0.0.1", port))
        assert raised.value.filename == f"127.0.0.1:{port}"
    finally:
        s.close(other)
        s.close(holder)


async def test_a_refused_connect_names_the_address_at_every_level() -> None:
    with refusing_port() as port:
        where = f"127.0.0.1:{port}"
        fd = s.socket(s.AF_INET, s.SOCK_STREAM)
        try:
            with pytest.raises(ConnectionRefusedError) as raised:
                await s.connect(fd, ("127.0.0.1", port))
            assert raised.value.filename == where
        finally:
            s.close(fd)
        with pytest.raises(ConnectionRefusedError) as raised:
            await Tcp.create_client(("127.0.0.1", port))
        assert raised.value.filename == where
        with pytest.raises(ConnectionRefusedError, match=f"Connection refused: '{where}'"):
            await net.connect(port, "127.0.0.1").__aenter__()


async def test_a_missing_unix_directory_names_the_path(tmp_path: Path) -> None:
    path = str(tmp_path / "no" / "x.sock")
    fd = s.socket(s.AF_UNIX, s.SOCK_STREAM)
    try:
        with pytest.raises(FileNotFoundError) as raised:
            await s.connect(fd, path)
        assert raised.value.filename == path
    finally:
        s.close(fd)
    async with net.create_server() as server:
        with pytest.raises(FileNotFoundError) as raised:
            await server.listen(path=path)
        assert raised.value.filename == path


def test_the_cli_prints_the_address_in_use() -> None:
    holder = stdsocket.socket()
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "trionet", "serve", "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        holder.close()
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"trionet serve: [Errno 98] Address already in use: '127.0.0.1:{port}'"
    )


def test_an_unknown_multicast_interface_is_enodev_naming_it() -> None:
    """Found by tests/test_fuzz.py: the stdlib's lookup raised an OSError with no errno."""
    fd = s.socket(s.AF_INET, s.SOCK_DGRAM)
    try:
        with pytest.raises(OSError, match="nosuchif0") as caught:
            s.set_multicast_interface(fd, "nosuchif0")
        assert caught.value.errno == errno.ENODEV
        assert caught.value.filename == "nosuchif0"
    finally:
        s.close(fd)


async def test_a_host_that_does_not_resolve_is_named() -> None:
    """Found by tests/test_fuzz.py: ``listen`` and ``connect`` said which name failed nowhere."""
    async with net.create_server() as server:
        with pytest.raises(stdsocket.gaierror, match="'no such host'") as caught:
            await server.listen(0, "no such host")
    assert caught.value.filename == "no such host"
    with pytest.raises(stdsocket.gaierror, match="'no such host'"):
        async with net.connect(1, "no such host"):
            pass


def test_compat_names_a_host_that_does_not_resolve() -> None:
    with pytest.raises(stdsocket.gaierror, match="'no such host'") as caught:
        SyncTcp.create_client(("no such host", 1))
    assert caught.value.filename == "no such host"
