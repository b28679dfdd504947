"""EdgerOS's positional form of ``net.createServer``, read into keywords.

EdgerOS writes ``net.createServer(group, subs[, subMode][, saddr[, tlsOpt]])``
(``edgeros-net.txt``), where Node writes ``createServer([options][,
connectionListener])``. ``net.create_server`` takes both: a ``str`` first
argument is EdgerOS's group, and the rest follows in EdgerOS's order.
"""

from __future__ import annotations

from typing import Any

from ._core._addr import SockAddr

__all__ = ["edgeros_form"]

_FORM = "create_server(group, subs[, sub_main][, saddr[, tls]])"


def edgeros_form(group: str, rest: tuple[object, ...], keywords: dict[str, Any]) -> dict[str, Any]:
    """The keywords that ``create_server(group, *rest)`` means, merged into ``keywords``.

    ``keywords`` are the ones given by name, each ``None`` (or ``0`` for
    ``subs``) when not given; an argument given both ways is a ``TypeError``.
    """
    if not rest:
        raise TypeError(f"EdgerOS's form is {_FORM}: subs is missing after the group")
    subs, *others = rest
    given: dict[str, object] = {"group": group, "subs": subs}
    if others and isinstance(others[0], str):
        given["sub_main"] = others.pop(0)
    if others and (isinstance(others[0], (SockAddr, tuple)) or others[0] is None):
        given["saddr"] = others.pop(0)
    if others:
        given["tls"] = others.pop(0)
    if others:
        raise TypeError(f"EdgerOS's form is {_FORM}: {len(rest) + 1} arguments are too many")
    for name in given:
        if keywords[name] not in (None, 0):
            raise TypeError(f"create_server got {name} twice (by position and by name)")
    return {**keywords, **given}
