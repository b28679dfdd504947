"""Node's ``onread`` client: read into one reused 4 KiB buffer.

Port of the ``onread`` example of the Node.js ``net`` document: instead
of a new chunk per ``'data'`` event, every read lands in the same buffer
and the callback gets the byte count and the buffer; returning ``False``
would pause the socket. The document connects to port 80; here a small
server on loopback sends a few lines and ends.

Run it with ``python examples/net_onread_client.py [PORT]``.
"""

from __future__ import annotations

import sys

import trio

from trionet import net

LINES = [f"line {n}: {'x' * n}\n" for n in range(1, 6)]


def on_connection(sock: net.Socket) -> None:
    """The stand-in server: send a few lines and end."""
    for line in LINES:
        sock.write(line)
    sock.end()
    sock.resume()  # read, so that the client's FIN is seen and the socket closes


async def main(port: int = 0) -> str:
    """Read the server's lines through ``onread``; return the text."""
    text: list[str] = []
    buffer = bytearray(4 * 1024)  # reused for every read

    def callback(nread: int, buf: bytearray) -> None:
        # Received data is in buf[:nread]; it is overwritten by the next read.
        chunk = buf[:nread].decode("utf-8")
        print(chunk, end="")
        text.append(chunk)

    async with net.create_server(on_connection) as server:
        await server.listen(port, "127.0.0.1")
        onread: net.OnRead = {"buffer": buffer, "callback": callback}
        async with net.connect(server.address_info().port, "127.0.0.1", onread=onread) as client:
            await client.wait_closed()
        server.close()
    return "".join(text)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
