"""httpx's ``AsyncClient`` over trionet, through public APIs only.

httpx's own ``AsyncHTTPTransport`` takes no network backend, so the
transport here is a small ``httpx.AsyncBaseTransport`` over an
``httpcore.AsyncConnectionPool`` with trionet's ``NetworkBackend``: it
turns each ``httpx.Request`` into an ``httpcore.Request`` and the pooled
response back, streaming the body either way.

Run it with ``python examples/httpx_client.py``: it serves
``examples/h11_server.py`` in-process on a free port of 127.0.0.1 and
fetches from it through httpx.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpcore
import httpx
import trio

from trionet.httpcore import NetworkBackend


class TrionetTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose connections are trionet's, pooled by httpcore."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.pool = httpcore.AsyncConnectionPool(
            network_backend=NetworkBackend(), ssl_context=ssl_context
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.pool.handle_async_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(
                    scheme=request.url.raw_scheme,
                    host=request.url.raw_host,
                    port=request.url.port,
                    target=request.url.raw_path,
                ),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.pool.aclose()


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self.response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.response.aiter_stream():
            yield chunk

    async def aclose(self) -> None:
        await self.response.aclose()


async def fetch(url: str, count: int, ssl_context: ssl.SSLContext | None = None) -> list[str]:
    """GET ``url`` ``count`` times with one ``httpx.AsyncClient``; return the bodies."""
    bodies = []
    transport = TrionetTransport(ssl_context)
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(count):
            response = await client.get(url)
            response.raise_for_status()
            bodies.append(response.text)
    return bodies


async def main(count: int = 3) -> list[str]:
    """Serve ``h11_server`` and GET ``/hello`` from it ``count`` times with httpx."""
    from h11_server import serving  # examples/ is the script's folder

    async with serving() as (port, _stats):
        bodies = await fetch(f"http://127.0.0.1:{port}/hello", count)
    print(bodies)
    return bodies


if __name__ == "__main__":
    trio.run(main)
