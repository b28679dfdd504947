"""``net.listen_fds()``: the listening sockets systemd passed (socket activation).

systemd (or ``systemd-socket-activate``, or any manager following
``sd_listen_fds(3)``) opens the listening sockets itself and starts the
service with them as fds 3, 4, ... and three environment variables:
``LISTEN_FDS`` (how many), ``LISTEN_PID`` (the pid they are for, so a
child that inherited the environment does not take them too) and, with
``FileDescriptorName=``, ``LISTEN_FDNAMES`` (colon-separated names).

As ``sd_listen_fds(1)`` does, the variables are removed once read, and the
fds get ``FD_CLOEXEC``, so processes the service starts inherit neither.
"""

from __future__ import annotations

import os

__all__ = ["listen_fds"]

LISTEN_FDS_START = 3  # SD_LISTEN_FDS_START
_VARIABLES = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")


def listen_fds(name: str | None = None) -> list[int]:
    """The fds systemd passed for this process, for ``server.listen(fd=...)``.

    ``name`` keeps only the fds of that ``FileDescriptorName=``
    (``LISTEN_FDNAMES``; systemd names unnamed ones ``'unknown'``). The
    environment variables are removed, so a second call returns ``[]``;
    the caller owns the fds (``listen(fd=...)`` hands them to a server).

    systemd equivalent: ``sd_listen_fds_with_names(1, ...)``.

    Raises:
        TypeError: ``name`` is not a ``str`` or ``None``.
        ValueError: the variables are malformed (``LISTEN_FDS`` not a
            number, or ``LISTEN_FDNAMES`` naming a different count).
    """
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str or None, not {type(name).__name__}")
    count_text, pid_text, names_text = (os.environ.get(var) for var in _VARIABLES)
    for var in _VARIABLES:
        os.environ.pop(var, None)
    if count_text is None or pid_text is None:
        return []
    if not pid_text.isdigit() or int(pid_text) != os.getpid():
        return []  # passed to another process (our parent, most likely)
    if not count_text.isdigit():
        raise ValueError(f"LISTEN_FDS must be a number, not {count_text!r}")
    fds = list(range(LISTEN_FDS_START, LISTEN_FDS_START + int(count_text)))
    names = ["unknown"] * len(fds) if names_text is None else names_text.split(":")
    if len(names) != len(fds):
        raise ValueError(f"LISTEN_FDNAMES names {len(names)} fds, LISTEN_FDS says {len(fds)}")
    for fd in fds:
        os.set_inheritable(fd, False)
    return [fd for fd, fd_name in zip(fds, names, strict=True) if name in (None, fd_name)]
