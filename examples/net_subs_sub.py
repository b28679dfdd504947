"""EdgerOS's master and sub-server in two modules: the sub-server, ``./sub.js``.

Not a program: ``net_subs_master.py`` names ``"net_subs_sub:main"`` as its
``sub_main``, and :func:`main` runs in each sub task. As in the document,
the module finds its server with ``net.create_sub_server('server')`` (the
same object ``sub_main`` is given) and starts it with ``listen()``, which
on a sub-server binds nothing: the master listens and hands connections over.
"""

from __future__ import annotations

from trionet import net

GROUP = "server"


async def main(given: net.Server) -> None:
    """Attach this sub-server's listener, then start it."""
    server = net.create_sub_server(GROUP)
    assert server is given
    _group, name = server.group_name
    server.on("connection", lambda connect: (connect.end(f"hello from {name}\n"), connect.resume()))
    await server.listen()
