"""A sub-server module for tests/test_net_subs.py: ``sub_main="_subs_main:attach"``.

tests/ is on ``sys.path`` (pytest's rootdir conftest insertion), so the
sub tasks import it by name, as a user's sub-server module would be.
"""

from __future__ import annotations

import os

from trionet import net

NOT_CALLABLE = 42


def _name_the_server(sock: net.Socket, name: str) -> None:
    sock.end(name)
    sock.resume()


def attach(server: net.Server) -> None:
    """A plain sub_main: every connection is told the sub-server's name."""
    _group, name = server.group_name
    server.on("connection", lambda sock: _name_the_server(sock, name))


async def attach_async(server: net.Server) -> None:
    """An async sub_main that finds its server by group, as EdgerOS's sub module does."""
    found = net.create_sub_server(server.group_name[0])
    assert found is server
    attach(found)
    await found.listen()


def attach_pid(server: net.Server) -> None:
    """For worker processes: each connection is told ``name pid``, then held open."""
    _group, name = server.group_name

    def tell(sock: net.Socket) -> None:
        sock.write(f"{name} {os.getpid()}\n")
        sock.resume()

    server.on("connection", tell)


def fail(server: net.Server) -> None:
    """A sub_main that raises (in a worker: the master must raise it)."""
    raise LookupError(f"sub_main of {server.group_name[1]} failed")


def attach_remote(server: net.Server) -> None:
    """For worker processes: each connection is told ``name remote_address``, then held."""
    _group, name = server.group_name

    def tell(sock: net.Socket) -> None:
        sock.write(f"{name} {sock.remote_address}\n")
        sock.resume()

    server.on("connection", tell)
