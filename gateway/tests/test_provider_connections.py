"""The provider connections' network layer (`common.asyncio_http`): pooled keep-alive connections, what
a server that closes an idle one, hangs or refuses does to a request, TLS, and a caller that leaves.
Real sockets on loopback, raw asyncio servers, httpx clients as the gateway builds them."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common.asyncio_http import AsyncioTransport

pytestmark = pytest.mark.anyio

BODY = b'{"ok": true}'
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Server:
    """An HTTP/1.1 server on loopback that answers each request with `ANSWER`; `close_after` closes a
    connection after that many answers, `hang` never answers."""

    def __init__(self, *, close_after: int | None = None, hang: bool = False) -> None:
        self.close_after, self.hang = close_after, hang
        self.connections = 0
        self.closed_by_client = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                await reader.readexactly(length)
                if self.hang:
                    await reader.read()  # until the client goes
                    self.closed_by_client.set()
                    return
                writer.write(ANSWER)
                await writer.drain()
                answered += 1
                if self.close_after is not None and answered >= self.close_after:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client.set()
        finally:
            writer.close()

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=ssl_context)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


def _client(**options) -> httpx.AsyncClient:
    verify = options.pop("verify", True)
    return httpx.AsyncClient(transport=AsyncioTransport(verify=verify), **options)


async def test_a_keep_alive_connection_is_reused_for_the_next_request():
    server = Server()
    port = await server.start()
    try:
        async with _client() as client:
            for _ in range(3):
                reply = await client.post(f"http://127.0.0.1:{port}/v1", json={"a": 1})
                assert reply.json() == {"ok": True}
        assert server.connections == 1
    finally:
        await server.stop()


async def test_a_connection_the_server_closed_while_idle_is_not_reused():
    server = Server(close_after=1)
    port = await server.start()
    try:
        async with _client() as client:
            first = await client.post(f"http://127.0.0.1:{port}/v1", json={})
            await asyncio.sleep(0.05)  # the server's close reaches the idle pooled connection
            second = await client.post(f"http://127.0.0.1:{port}/v1", json={})
        assert first.status_code == second.status_code == 200
        assert server.connections == 2  # a new connection, not an error on the closed one
    finally:
        await server.stop()


async def test_a_server_that_never_answers_is_a_read_timeout():
    server = Server(hang=True)
    port = await server.start()
    try:
        async with _client(timeout=httpx.Timeout(5.0, read=0.2)) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.post(f"http://127.0.0.1:{port}/v1", json={})
    finally:
        await server.stop()


async def test_a_refused_connection_is_a_connect_error():
    server = Server()
    port = await server.start()
    await server.stop()  # nothing listens there any more
    await asyncio.sleep(0.05)
    async with _client() as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(f"http://127.0.0.1:{port}/v1", json={})


async def test_a_caller_that_leaves_closes_the_connection():
    server = Server(hang=True)
    port = await server.start()
    try:
        async with _client() as client:
            request = asyncio.ensure_future(client.post(f"http://127.0.0.1:{port}/v1", json={}))
            await asyncio.sleep(0.1)
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
            await asyncio.wait_for(server.closed_by_client.wait(), 2)  # the server saw the connection end
    finally:
        await server.stop()


def _tls_pair(tmp_path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate for 127.0.0.1, and a client context trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


async def test_https_is_verified_and_served(tmp_path):
    server_context, trusting = _tls_pair(tmp_path)
    server = Server()
    port = await server.start(server_context)
    try:
        async with _client(verify=trusting) as client:
            reply = await client.post(f"https://127.0.0.1:{port}/v1", json={})
            assert reply.json() == {"ok": True}
            assert reply.extensions["network_stream"].get_extra_info("ssl_object") is not None
        async with _client(verify=ssl.create_default_context()) as untrusting:
            with pytest.raises(httpx.ConnectError):  # a certificate nobody vouches for
                await untrusting.post(f"https://127.0.0.1:{port}/v1", json={})
    finally:
        await server.stop()
