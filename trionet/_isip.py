"""``is_ip`` / ``is_ipv4`` / ``is_ipv6``: Node's textual IP address checks.

Node decides with two regular expressions (``lib/internal/net.js``); the
standard library's ``ipaddress`` parser accepts exactly the same address
texts, with two differences handled here:

- **Zone ids.** Node accepts an IPv6 address followed by ``%`` and a zone
  made of ASCII letters, digits, ``-``, ``.`` and ``:`` (``fe80::1%eth0``,
  ``fe80::1%1``). ``ipaddress`` accepts any non-empty zone without a
  ``%``, spaces and non-ASCII letters included, so the zone is checked here
  with Node's character set and only the address part goes to
  ``ipaddress``.
- **Types.** Node turns its argument into a string first (``String(x)``),
  and so does this module with ``str(x)`` (SPEC rule 35): an object whose
  ``__str__`` is an address counts, ``None``, numbers and ``bytes``
  (``"b'...'"``) do not. A ``__str__`` that raises means "not an address":
  these predicates never raise. See ``docs/decisions.md``.

Where they already agree no rule is repeated: leading zeros in an IPv4
octet (``01.2.3.4``, and the embedded ``::ffff:1.2.3.04``) are refused by
both (Python since 3.9.5), hextets have at most four hex digits in both,
and neither accepts surrounding whitespace or a trailing newline.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Literal

__all__ = ["is_ip", "is_ipv4", "is_ipv6"]

# Node's zone grammar; ASCII ranges on purpose, so "%ëth0" is refused as in Node.
_ZONE = re.compile(r"[0-9A-Za-z.:-]+")


def _text(s: object) -> str | None:
    """``String(input)``: the text Node would examine, ``None`` if ``str()`` fails."""
    if type(s) is str:
        return s
    try:
        return str(s)
    except Exception:  # any __str__ may fail; a predicate must not
        return None


def _parses(parse: Callable[[str], object], text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def is_ipv4(s: object) -> bool:
    """Tell whether ``s`` is an IPv4 address in dotted-decimal form.

    Four decimal octets ``0..255`` without leading zeros, nothing else:
    ``'127.0.0.1'`` is one, ``'127.1'``, ``'01.2.3.4'`` and ``' 1.2.3.4'``
    are not.

    Args:
        s: The value to test; its ``str()`` is examined, as Node examines
            ``String(input)``.

    Returns:
        ``True`` for an IPv4 address, else ``False``. Never raises.

    Node / EdgerOS / IoT.js equivalent: ``net.isIPv4(input)``.
    """
    text = _text(s)
    return text is not None and _parses(ipaddress.IPv4Address, text)


def is_ipv6(s: object) -> bool:
    """Tell whether ``s`` is an IPv6 address in any RFC 4291 text form.

    Full, ``::``-compressed and mixed forms (``'::ffff:1.2.3.4'``) count,
    in either letter case, optionally followed by a zone id of ASCII
    letters, digits, ``-``, ``.`` and ``:`` (``'fe80::1%eth0'``).

    Args:
        s: The value to test; its ``str()`` is examined, as Node examines
            ``String(input)``.

    Returns:
        ``True`` for an IPv6 address, else ``False``. Never raises.

    Node / EdgerOS / IoT.js equivalent: ``net.isIPv6(input)``.
    """
    text = _text(s)
    if text is None:
        return False
    address, percent, zone = text.partition("%")
    if percent and _ZONE.fullmatch(zone) is None:
        return False
    return _parses(ipaddress.IPv6Address, address)


def is_ip(s: object) -> Literal[0, 4, 6]:
    """Tell which IP version the text ``s`` is an address of.

    Args:
        s: The value to test; its ``str()`` is examined, as Node examines
            ``String(input)``.

    Returns:
        ``4`` when ``is_ipv4`` holds, ``6`` when ``is_ipv6`` holds,
        otherwise ``0``. Never raises.

    Node / EdgerOS / IoT.js equivalent: ``net.isIP(input)``.
    """
    text = _text(s)
    if text is None:
        return 0
    if is_ipv4(text):
        return 4
    if is_ipv6(text):
        return 6
    return 0
