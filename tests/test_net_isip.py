"""``is_ip`` / ``is_ipv4`` / ``is_ipv6`` give Node's answers.

The tables are Node's own (``test/parallel/test-net-isip.js``,
``test-net-isipv4.js``, ``test-net-isipv6.js``); the property tests check
every text form of generated addresses, and compare near-miss texts with
an oracle built from the grammar Node's regular expressions encode.
"""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trionet.net import is_ip, is_ipv4, is_ipv6

# test-net-isipv4.js
NODE_V4 = [
    "0.0.0.0",
    "8.8.8.8",
    "127.0.0.1",
    "100.100.100.100",
    "192.168.0.1",
    "18.101.25.153",
    "123.23.34.2",
    "172.26.168.134",
    "212.58.241.131",
    "128.0.0.0",
    "23.71.254.72",
    "223.255.255.255",
    "192.0.2.235",
    "99.198.122.146",
    "46.51.197.88",
    "173.194.34.134",
]
NODE_V4_NOT = [
    ".100.100.100.100",
    "100..100.100.100.",
    "100.100.100.100.",
    "999.999.999.999",
    "256.256.256.256",
    "256.100.100.100.100",
    "123.123.123",
    "http://123.123.123",
    "1000.2.3.4",
    "999.2.3.4",
    "0000000192.168.0.200",
    "192.168.0.2000000000",
]

# test-net-isipv6.js
NODE_V6 = [
    "::",
    "1::",
    "::1",
    "1::8",
    "1::7:8",
    "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6::8",
    "1:2:3:4:5:6:7::",
    "1:2:3:4:5::7:8",
    "1:2:3:4:5::8",
    "1:2:3::8",
    "1::4:5:6:7:8",
    "1::6:7:8",
    "1::3:4:5:6:7:8",
    "1:2:3:4::6:7:8",
    "1:2::4:5:6:7:8",
    "::2:3:4:5:6:7:8",
    "1:2::8",
    "2001:0000:1234:0000:0000:C1C0:ABCD:0876",
    "3ffe:0b00:0000:0000:0001:0000:0000:000a",
    "FF02:0000:0000:0000:0000:0000:0000:0001",
    "0000:0000:0000:0000:0000:0000:0000:0001",
    "0000:0000:0000:0000:0000:0000:0000:0000",
    "::ffff:192.168.1.26",
    "2::10",
    "ff02::1",
    "fe80::",
    "2002::",
    "2001:db8::",
    "2001:0db8:1234::",
    "::ffff:0:0",
    "::ffff:192.168.1.1",
    "1:2:3:4::8",
    "1::2:3:4:5:6:7",
    "1::2:3:4:5:6",
    "1::2:3:4:5",
    "1::2:3:4",
    "1::2:3",
    "::2:3:4:5:6:7",
    "::2:3:4:5:6",
    "::2:3:4:5",
    "::2:3:4",
    "::2:3",
    "::8",
    "1:2:3:4:5:6::",
    "1:2:3:4:5::",
    "1:2:3:4::",
    "1:2:3::",
    "1:2::",
    "1:2:3:4::7:8",
    "1:2:3::7:8",
    "1:2::7:8",
    "1:2:3:4:5:6:1.2.3.4",
    "1:2:3:4:5::1.2.3.4",
    "1:2:3:4::1.2.3.4",
    "1:2:3::1.2.3.4",
    "1:2::1.2.3.4",
    "1::1.2.3.4",
    "1:2:3:4::5:1.2.3.4",
    "1:2:3::5:1.2.3.4",
    "1:2::5:1.2.3.4",
    "1::5:1.2.3.4",
    "1::5:11.22.33.44",
    "fe80::217:f2ff:254.7.237.98",
    "fe80::217:f2ff:fe07:ed62",
    "2001:DB8:0:0:8:800:200C:417A",
    "FF01:0:0:0:0:0:0:101",
    "0:0:0:0:0:0:0:1",
    "0:0:0:0:0:0:0:0",
    "2001:DB8::8:800:200C:417A",
    "FF01::101",
    "0:0:0:0:0:0:13.1.68.3",
    "0:0:0:0:0:FFFF:129.144.52.38",
    "::13.1.68.3",
    "::FFFF:129.144.52.38",
    "fe80:0000:0000:0000:0204:61ff:fe9d:f156",
    "fe80:0:0:0:204:61ff:fe9d:f156",
    "fe80::204:61ff:fe9d:f156",
    "fe80:0:0:0:204:61ff:254.157.241.86",
    "fe80::204:61ff:254.157.241.86",
    "fe80::1",
    "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
    "2001:db8:85a3:0:0:8a2e:370:7334",
    "2001:db8:85a3::8a2e:370:7334",
    "2001:0db8:0000:0000:0000:0000:1428:57ab",
    "2001:0db8:0000:0000:0000::1428:57ab",
    "2001:0db8:0:0:0:0:1428:57ab",
    "2001:0db8:0:0::1428:57ab",
    "2001:0db8::1428:57ab",
    "2001:db8::1428:57ab",
    "::ffff:12.34.56.78",
    "::ffff:0c22:384e",
    "2001:0db8:1234:0000:0000:0000:0000:0000",
    "2001:0db8:1234:ffff:ffff:ffff:ffff:ffff",
    "2001:db8:a::123",
    "::ffff:192.0.2.128",
    "::ffff:c000:280",
    "a:b:c:d:e:f:f1:f2",
    "a:b:c::d:e:f:f1",
    "a:b:c::d:e:f",
    "a:b:c::d:e",
    "a:b:c::d",
    "::a",
    "::a:b:c",
    "::a:b:c:d:e:f:f1",
    "a::",
    "a:b:c::",
    "a:b:c:d:e:f:f1::",
    "a:bb:ccc:dddd:000e:00f:0f::",
    "0:a:0:a:0:0:0:a",
    "0:a:0:0:a:0:0:a",
    "2001:db8:1:1:1:1:0:0",
    "2001:db8:1:1:1:0:0:0",
    "2001:db8:1:1:0:0:0:0",
    "2001:db8:1:0:0:0:0:0",
    "2001:db8:0:0:0:0:0:0",
    "2001:0:0:0:0:0:0:0",
    "A:BB:CCC:DDDD:000E:00F:0F::",
    "0:0:0:0:0:0:0:a",
    "0:0:0:0:a:0:0:0",
    "0:0:0:a:0:0:0:0",
    "a:0:0:a:0:0:a:a",
    "a:0:0:a:0:0:0:a",
    "a:0:0:0:a:0:0:a",
    "a:0:0:0:a:0:0:0",
    "a:0:0:0:0:0:0:0",
    "fe80::7:8%eth0",
    "fe80::7:8%1",
]
_BAD_V4_TAILS = [
    "400.2.3.4",
    "260.2.3.4",
    "256.2.3.4",
    "1.256.3.4",
    "1.2.256.4",
    "1.2.3.256",
    "300.2.3.4",
    "1.300.3.4",
    "1.2.300.4",
    "1.2.3.300",
    "900.2.3.4",
    "1.900.3.4",
    "1.2.900.4",
    "1.2.3.900",
    "300.300.300.300",
    "3000.30.30.30",
]
NODE_V6_NOT = [
    "",
    "1:",
    ":1",
    "11:36:12",
    "02001:0000:1234:0000:0000:C1C0:ABCD:0876",
    "2001:0000:1234:0000:00001:C1C0:ABCD:0876",
    "2001:0000:1234: 0000:0000:C1C0:ABCD:0876",
    "2001:1:1:1:1:1:255Z255X255Y255",
    "3ffe:0b00:0000:0001:0000:0000:000a",
    "FF02:0000:0000:0000:0000:0000:0000:0000:0001",
    "3ffe:b00::1::a",
    "::1111:2222:3333:4444:5555:6666::",
    "1:2:3::4:5::7:8",
    "12345::6:7:8",
    # Node lists each bad dotted tail after "1::5:", "1::" and "::".
    *(prefix + tail for prefix in ("1::5:", "1::", "::") for tail in _BAD_V4_TAILS),
    "2001:DB8:0:0:8:800:200C:417A:221",
    "FF01::101::2",
    "1111:2222:3333:4444::5555:",
    "1111:2222:3333::5555:",
    "1111:2222::5555:",
    "1111::5555:",
    "::5555:",
    ":::",
    "1111:",
    ":",
    ":1111:2222:3333:4444::5555",
    ":1111:2222:3333::5555",
    ":1111:2222::5555",
    ":1111::5555",
    ":::5555",
    "1.2.3.4:1111:2222:3333:4444::5555",
    "1.2.3.4:1111:2222:3333::5555",
    "1.2.3.4:1111:2222::5555",
    "1.2.3.4:1111::5555",
    "1.2.3.4::5555",
    "1.2.3.4::",
    "fe80:0000:0000:0000:0204:61ff:254.157.241.086",
    "123",
    "ldkfj",
    "2001::FFD3::57ab",
    "2001:db8:85a3::8a2e:37023:7334",
    "2001:db8:85a3::8a2e:370k:7334",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    "1:::3:4:5",
    "1:2:3::4:5:6:7:8:9",
    "::ffff:2.3.4",
    "::ffff:257.1.2.3",
    "::ffff:12345678901234567890.1.26",
    "2001:0000:1234:0000:0000:C1C0:ABCD:0876 0",
]

# test-net-isip.js: string inputs and isIP's answer.
NODE_IS_IP = [
    ("127.0.0.1", 4),
    ("x127.0.0.1", 0),
    ("example.com", 0),
    ("0000:0000:0000:0000:0000:0000:0000:0000", 6),
    ("0000:0000:0000:0000:0000:0000:0000:0000::0000", 0),
    ("1050:0:0:0:5:600:300c:326b", 6),
    ("2001:252:0:1::2008:6", 6),
    ("2001:dead:beef:1::2008:6", 6),
    ("2001::", 6),
    ("2001:dead::", 6),
    ("2001:dead:beef::", 6),
    ("2001:dead:beef:1::", 6),
    ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6),
    (":2001:252:0:1::2008:6:", 0),
    (":2001:252:0:1::2008:6", 0),
    ("2001:252:0:1::2008:6:", 0),
    ("2001:252::1::2008:6", 0),
    ("::2001:252:1:2008:6", 6),
    ("::2001:252:1:1.1.1.1", 6),
    ("::2001:252:1:255.255.255.255", 6),
    ("::2001:252:1:255.255.255.255.76", 0),
    ("::anything", 0),
    ("::1", 6),
    ("::", 6),
    ("0000:0000:0000:0000:0000:0000:12345:0000", 0),
    ("0", 0),
    ("", 0),
]

# Where ipaddress alone would disagree with Node, or a rule worth pinning.
EDGE_CASES = [
    ("01.2.3.4", 0),  # leading zero in an octet
    ("1.2.3.04", 0),
    ("::ffff:1.2.3.04", 0),
    ("127.1", 0),  # inet_aton shorthand is not an address text for Node
    (" 1.2.3.4", 0),
    ("1.2.3.4\n", 0),
    ("::1\n", 0),
    ("\u0661.2.3.4", 0),  # ARABIC-INDIC DIGIT ONE
    ("\uff11.2.3.4", 0),  # FULLWIDTH DIGIT ONE
    ("1.2.3.4%eth0", 0),  # zones belong to IPv6 only
    ("fe80::1%", 0),  # empty zone
    ("fe80::1%%1", 0),
    ("fe80::1%eth 0", 0),  # ipaddress accepts this zone, Node does not
    ("fe80::1%\u00ebth0", 0),
    ("fe80::1%eth0/1", 0),
    ("fe80::1%en0.10:x-y", 6),  # zone characters: letters, digits, "-", ".", ":"
    ("::ffff:1.2.3.4%lo", 6),
    ("FE80::1%ETH0", 6),
    ("::1/128", 0),
    ("[::1]", 0),
]

# test-net-isip.js's non-string inputs (and Python's nearest kin): Node
# tests String(input), trionet str(input) (SPEC rule 35).
NOT_ADDRESSES: list[object] = [
    None,
    123,
    True,
    {},
    2130706433,
    b"127.0.0.1",  # str() is "b'127.0.0.1'"
    bytearray(b"::1"),
]


class _Textual:
    """Node's ``{ toString: () => text }``."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


# Node's isIPv4 / isIPv6 tables check one function each; every entry is
# also checked here against the other two.
TABLE = [
    *((text, 4) for text in NODE_V4),
    *((text, 0) for text in NODE_V4_NOT),
    *((text, 6) for text in NODE_V6),
    *((text, 0) for text in NODE_V6_NOT),
    *NODE_IS_IP,
    *EDGE_CASES,
]


@pytest.mark.parametrize(("text", "version"), TABLE)
def test_is_ip_table(text: str, version: int) -> None:
    assert is_ip(text) == version
    assert is_ipv4(text) is (version == 4)
    assert is_ipv6(text) is (version == 6)


@pytest.mark.parametrize("value", [*NOT_ADDRESSES, _Textual("bla"), _Unprintable()])
def test_values_whose_text_is_no_address_are_not_addresses(value: object) -> None:
    assert is_ip(value) == 0
    assert is_ipv4(value) is False
    assert is_ipv6(value) is False


@pytest.mark.parametrize(
    ("value", "version"),
    [
        (_Textual("::2001:db8:0:1"), 6),
        (_Textual("127.0.0.1"), 4),
        (ipaddress.ip_address("127.0.0.1"), 4),
        (ipaddress.ip_address("::1"), 6),
    ],
)
def test_the_text_of_any_object_is_examined(value: object, version: int) -> None:
    assert is_ip(value) == version
    assert is_ipv4(value) is (version == 4)
    assert is_ipv6(value) is (version == 6)


def test_str_subclass_is_examined() -> None:
    class Text(str):
        pass

    assert is_ip(Text("10.0.0.1")) == 4
    assert is_ip(Text("fe80::1%lo")) == 6


def test_results_have_node_types() -> None:
    assert type(is_ip("::1")) is int
    assert type(is_ipv4("1.2.3.4")) is bool
    assert type(is_ipv6("x")) is bool


# -- properties ---------------------------------------------------------------

_ZONE_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.:"
_ZONES = st.text(alphabet=_ZONE_ALPHABET)


def _embedded_v4(address: ipaddress.IPv6Address) -> str:
    """``address`` with its last 32 bits written as a dotted quad."""
    hextets = address.exploded.split(":")[:6]
    quad = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return ":".join(hextets) + ":" + str(quad)


@st.composite
def _address_texts(draw: st.DrawFn) -> tuple[str, int]:
    """A valid address, written in one of the text forms Node accepts."""
    address = draw(st.ip_addresses())
    if address.version == 4:
        return str(address), 4
    assert isinstance(address, ipaddress.IPv6Address)
    forms = [
        str(address),
        address.exploded,
        ":".join(f"{int(h, 16):x}" for h in address.exploded.split(":")),
        _embedded_v4(address),
    ]
    text = draw(st.sampled_from(forms))
    if draw(st.booleans()):
        text = text.upper()
    zone = draw(st.none() | _ZONES.filter(bool))
    if zone is not None:
        text += "%" + zone
    return text, 6


@given(_address_texts())
def test_every_text_form_of_a_valid_address_is_accepted(case: tuple[str, int]) -> None:
    text, version = case
    assert ipaddress.ip_address(text.partition("%")[0]).version == version
    assert is_ip(text) == version


def _node_grammar() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Node's accepted texts, spelt out form by form (RFC 4291 section 2.2).

    ``::`` stands for at least one group of zeros; a dotted quad, allowed
    only last, fills two groups; a zone of ASCII letters, digits, ``-``,
    ``.`` and ``:`` may follow an IPv6 address.
    """
    octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])"
    quad = rf"{octet}(?:\.{octet}){{3}}"
    group = "[0-9A-Fa-f]{1,4}"

    def groups(count: int) -> str:
        return ":".join([group] * count)

    forms = [groups(8), groups(6) + ":" + quad]
    for head in range(8):
        for tail in range(8 - head):
            forms.append(groups(head) + "::" + groups(tail))
            if head + tail <= 5:
                forms.append(groups(head) + "::" + groups(tail) + (":" if tail else "") + quad)
    ipv6 = "(?:" + "|".join(forms) + ")(?:%[0-9A-Za-z.:-]+)?"
    return re.compile(quad), re.compile(ipv6)


_NODE_V4, _NODE_V6 = _node_grammar()
_EDIT_ALPHABET = "0123456789abcdefABCDEFxg:.% -\n\u0661"


@st.composite
def _near_misses(draw: st.DrawFn) -> str:
    """A valid address text, perhaps with a zone, then a few characters changed."""
    text, _version = draw(_address_texts())
    if draw(st.booleans()):
        text += "%" + draw(st.text(alphabet=_ZONE_ALPHABET + " _/%\n\u00eb", max_size=6))
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.integers(0, len(text)))
        char = draw(st.sampled_from(_EDIT_ALPHABET))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "insert":
            text = text[:where] + char + text[where:]
        elif action == "delete":
            text = text[:where] + text[where + 1 :]
        else:
            text = text[:where] + char + text[where + 1 :]
    return text


@given(_near_misses() | st.text(alphabet=_EDIT_ALPHABET, max_size=45))
def test_agrees_with_node_grammar(text: str) -> None:
    assert is_ipv4(text) is (_NODE_V4.fullmatch(text) is not None)
    assert is_ipv6(text) is (_NODE_V6.fullmatch(text) is not None)
