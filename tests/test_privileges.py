"""What the fd level does without network privileges.

The suite runs as root, so each check runs in a child interpreter that drops
to ``nobody`` (uid and gid 65534, no supplementary groups, and with them
every capability) before touching a socket. The child imports everything it
needs first: after the drop it may not be able to read the interpreter's
own files. It prints one JSON line describing what happened, which the test
then asserts on.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from typing import Any

NOBODY = 65534

_PRELUDE = """\
import errno, json, os, socket as stdsocket
import trionet.socket as s

if os.geteuid() == 0:
    os.setgroups([])
    os.setgid({nobody})
    os.setuid({nobody})


def outcome(call, *args):
    try:
        result = call(*args)
    except Exception as exc:
        return {{
            "type": type(exc).__name__,
            "errno": getattr(exc, "errno", None),
            "message": str(exc),
        }}
    return {{"type": None, "result": result}}


def bound_device(fd):
    with stdsocket.socket(fileno=os.dup(fd)) as sock:
        raw = sock.getsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_BINDTODEVICE, 16)
    return raw.split(b"\\0", 1)[0].decode()


report = {{"uid": os.getuid(), "euid": os.geteuid()}}
"""


def _run_unprivileged(body: str) -> dict[str, Any]:
    code = _PRELUDE.format(nobody=NOBODY) + textwrap.dedent(body) + "\nprint(json.dumps(report))\n"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, f"child failed:\n{done.stdout}\n{done.stderr}"
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["uid"] != 0
    assert report["euid"] != 0
    if os.geteuid() == 0:
        assert report["uid"] == NOBODY
    return report


def test_setting_sec_region_without_cap_net_admin_raises_permission_error() -> None:
    report = _run_unprivileged(
        """
        fd = s.socket(s.AF_INET, s.SOCK_DGRAM)
        report["set"] = outcome(s.sec_region, fd, 5)
        report["after"] = outcome(s.sec_region, fd)
        s.close(fd)
        """
    )
    assert report["set"]["type"] == "PermissionError"
    assert report["set"]["errno"] == errno.EPERM
    assert "CAP_NET_ADMIN" in report["set"]["message"]
    assert "sec_region" in report["set"]["message"]
    # Reading needs no privilege, and the failed set left the mark alone.
    assert report["after"] == {"type": None, "result": 0}


def test_changing_a_device_binding_without_cap_net_raw_raises_permission_error() -> None:
    report = _run_unprivileged(
        """
        fd = s.socket(s.AF_INET, s.SOCK_DGRAM)
        report["bind"] = outcome(s.bind_to_device, fd, "lo")
        report["bound"] = bound_device(fd)
        report["unbind"] = outcome(s.bind_to_device, fd, None)
        report["rebind"] = outcome(s.bind_to_device, fd, "lo")
        report["still_bound"] = bound_device(fd)
        s.close(fd)
        """
    )
    # Linux lets anyone bind a socket that is not bound to a device yet ...
    assert report["bind"] == {"type": None, "result": None}
    assert report["bound"] == "lo"
    # ... but changing the binding, even to the same device, needs CAP_NET_RAW.
    for attempt in ("unbind", "rebind"):
        assert report[attempt]["type"] == "PermissionError", report[attempt]
        assert report[attempt]["errno"] == errno.EPERM
        assert "CAP_NET_RAW" in report[attempt]["message"]
        assert "bind_to_device" in report[attempt]["message"]
    assert report["still_bound"] == "lo"


def test_unbinding_a_socket_never_bound_to_a_device_needs_no_privilege() -> None:
    report = _run_unprivileged(
        """
        fd = s.socket(s.AF_INET, s.SOCK_DGRAM)
        report["unbind"] = outcome(s.bind_to_device, fd, None)
        report["bound"] = bound_device(fd)
        s.close(fd)
        """
    )
    assert report["unbind"] == {"type": None, "result": None}
    assert report["bound"] == ""


def test_unprivileged_bind_to_unknown_device_still_reports_no_such_device() -> None:
    report = _run_unprivileged(
        """
        fd = s.socket(s.AF_INET, s.SOCK_DGRAM)
        report["bind"] = outcome(s.bind_to_device, fd, "nosuchif0")
        s.close(fd)
        """
    )
    assert report["bind"]["type"] == "OSError"
    assert report["bind"]["errno"] == errno.ENODEV
