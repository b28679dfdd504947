"""A DTLS echo server and two clients on loopback.

The server answers each record with the same record, upper-cased; each
client sends a few lines and prints the replies. The certificate is a
throwaway self-signed one made on the spot for 127.0.0.1, which the clients
trust explicitly (``ca=``), so verification stays on.

Run it with ``python examples/dtls_echo.py``: it serves on a free port,
runs the two clients one after the other and exits.
"""

from __future__ import annotations

import datetime
import ipaddress
from functools import partial

import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from trionet import SockAddr, dtls


def self_signed(ip: str) -> tuple[bytes, bytes]:
    """A certificate and key (PEM) valid for ``ip`` for one day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trionet dtls example")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


async def shout(
    ended: trio.MemorySendChannel[SockAddr], channel: dtls.DtlsChannel, remote: SockAddr
) -> None:
    """The server's handler: one task per association, until the client closes."""
    print(f"server: association with {remote}")
    async for record in channel:
        await channel.send(record.upper())
    print(f"server: {remote} closed the association")
    await ended.send(remote)


async def client(server: SockAddr, ca: bytes, name: str) -> None:
    """Say three lines and print each reply."""
    options = dtls.TlsOptions(ca=ca)
    async with await dtls.connect(server, tls=options, timeout=5) as channel:
        for line in ("hello", "over", "udp"):
            await channel.send(f"{name}: {line}")
            print(await channel.recv(timeout=5))


async def main() -> None:
    cert, key = self_signed("127.0.0.1")
    options = dtls.TlsOptions(cert=cert, key=key)
    names = ("alice", "bob")
    ended, handlers_ended = trio.open_memory_channel[SockAddr](len(names))
    async with dtls.serve(partial(shout, ended), ("127.0.0.1", 0), tls=options) as server:
        for name in names:
            await client(server.sock_name(), cert, name)
        # Let each handler see its client's close_notify before the server stops.
        with trio.fail_after(5):
            for _ in names:
                await handlers_ended.receive()


if __name__ == "__main__":
    trio.run(main)
