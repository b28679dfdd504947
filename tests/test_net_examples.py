"""The ``net`` examples in examples/ do what their documents' examples do.

Each example's ``main()`` is called in-process (those with timers under
``autojump_clock``, so their seconds pass at once), and every example is
also run as a user runs it, as a program.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import trio
import trio.testing
from _ports import refusing_port
from test_examples import EXAMPLES, _run

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True
LOOPBACK_ONLY = {
    "test_multitask_server_spreads_connections_over_master_and_subs": "trionet.task sub-servers",
}

# The multi-task examples (net_subs_*) are tested in test_net_subs.py.
NET_EXAMPLES = sorted(
    path.name for path in EXAMPLES.glob("net_*.py") if not path.name.startswith("net_subs_")
)


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_echo_server_greets_and_echoes(capsys: pytest.CaptureFixture[str]) -> None:
    reply = await _load("net_echo_server").main()
    assert reply == b"hello\r\nping\r\n"
    out = capsys.readouterr().out
    assert "server bound" in out
    assert out.index("client connected") < out.index("client disconnected")


async def test_echo_client_gets_its_line_back(capsys: pytest.CaptureFixture[str]) -> None:
    assert await _load("net_echo_client").main() == b"world!\r\n"
    out = capsys.readouterr().out
    assert out.index("connected to server!") < out.index("recv msg:world!")
    assert "disconnected from server" in out


async def test_unix_echo_serves_on_a_path_and_unlinks_it(tmp_path: Path) -> None:
    path = str(tmp_path / "echo.sock")
    assert await _load("net_unix_echo").main(path) == b"hello over a Unix socket\n"
    assert not await trio.Path(path).exists()


async def test_goodbye_server_on_a_free_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert await _load("net_goodbye_server").main() == b"goodbye\n"
    assert "opened server on" in capsys.readouterr().out


async def test_half_open_server_answers_after_the_clients_end(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await _load("net_half_open").main() == ["Hello IoT.js"] * 4
    out = capsys.readouterr().out
    assert "started listening" in out
    assert "lookup: localhost -> 127.0.0.1 4" in out
    assert out.rstrip().endswith("server closed")


async def test_pause_then_resume_two_seconds_later(
    autojump_clock: trio.testing.MockClock,
) -> None:
    module = _load("net_pause_resume")
    message, waited = await module.main()
    assert message == "Hello IoT.js"
    assert module.PAUSE <= waited < module.PAUSE + 0.5


async def test_idle_timeout_counts_from_the_last_activity(
    autojump_clock: trio.testing.MockClock,
) -> None:
    module = _load("net_idle_timeout")
    ended_after = await module.main()
    expected = module.WRITE_AT + module.IDLE
    assert expected <= ended_after < expected + 0.5


async def test_drain_writer_writes_200_chunks() -> None:
    module = _load("net_drain_writer")
    text, drains = await module.main()
    assert text == module.expected()
    assert drains >= 1


async def test_forty_clients_each_end_with_their_index() -> None:
    assert await _load("net_many_clients").main() == list(range(40))


async def test_interval_client_sends_once_a_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    module = _load("net_interval_client")
    start = trio.current_time()
    echoes = await module.main(messages=3)
    assert echoes == "Send msg(0)Send msg(1)Send msg(2)"
    assert trio.current_time() - start >= 3 * module.INTERVAL


async def test_onread_client_reads_into_one_buffer() -> None:
    module = _load("net_onread_client")
    assert await module.main() == "".join(module.LINES)


async def test_address_in_use_is_retried_every_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Attempts at 0, 1 and 2 s find the port held (until 2.5 s); the fourth wins.
    assert await _load("net_address_in_use").main() == 4


async def test_connect_error_reaches_listener_and_caller() -> None:
    # A held port, not the example's default (a server's port just after
    # it closed, which another program could take in between).
    with refusing_port() as port:
        seen = await _load("net_connect_error").main(port)
    assert "'error' ConnectionRefusedError" in seen
    assert "'close' had_error=True" in seen
    assert seen.index("'error' ConnectionRefusedError") < seen.index("'close' had_error=True")
    assert "connect() raised ConnectionRefusedError" in seen
    assert seen[-1] == "net.connect() raised ConnectionRefusedError"


async def test_multitask_server_spreads_connections_over_master_and_subs() -> None:
    replies = await _load("net_multitask_server").main(clients=6)
    assert len(replies) == 6
    assert all(reply.startswith("served by task ") for reply in replies)
    # Round-robin over the master and its two subs: three tasks, two each.
    assert sorted(replies.count(reply) for reply in set(replies)) == [2, 2, 2]


@pytest.mark.parametrize("name", NET_EXAMPLES)
def test_example_runs_as_a_program(name: str) -> None:
    assert _run(name)


def test_every_net_example_has_a_test_of_its_main() -> None:
    tested = {
        "net_address_in_use.py",
        "net_connect_error.py",
        "net_drain_writer.py",
        "net_echo_client.py",
        "net_echo_server.py",
        "net_goodbye_server.py",
        "net_half_open.py",
        "net_idle_timeout.py",
        "net_interval_client.py",
        "net_many_clients.py",
        "net_multitask_server.py",
        "net_onread_client.py",
        "net_pause_resume.py",
        "net_unix_echo.py",
    }
    assert set(NET_EXAMPLES) == tested
