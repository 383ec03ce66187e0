"""The proofs of the authentication handshake (docs/protocol.md §1a). Pure module (no bpy).

Neither side ever sends the token. Each proves it knows it with an HMAC-SHA256 keyed by the
token over a transcript of both nonces and the address the connection runs to:

    "bld-remote/2" \\n role \\n server_nonce \\n client_nonce \\n binding

``role`` is ``server`` or ``client`` (so one proof can never be reflected as the other), the
nonces are 32 random bytes each in unpadded base64url, and ``binding`` is the address and port
of the listening socket as the client dialled it (``127.0.0.1:6688``, ``[::1]:6688``). A relay
that a client dials on another address or port forwards the server's proof for the server's
own address, which the client's check refuses; that is what stops a process answering on
``[::1]`` from passing on a real Blender's ``127.0.0.1``.

The server proves first (its ``hello`` reply), so a client checks the peer before it sends
anything derived from the token. The Rust side (``bld-remote-protocol``'s ``handshake.rs``)
computes the same values; both are tested against the vectors in docs/protocol.md.
"""

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets

SCHEME = "hmac-sha256"
NONCE_BYTES = 32
SERVER = "server"
CLIENT = "client"
_DOMAIN = "bld-remote/2"
_NONCE_CHARS = 43  # unpadded base64url of 32 bytes
_BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_nonce():
    return _b64(secrets.token_bytes(NONCE_BYTES))


def is_nonce(value):
    """Whether ``value`` is a well-formed nonce: the canonical 43 base64url characters of 32 bytes."""
    if not isinstance(value, str) or len(value) != _NONCE_CHARS or not _BASE64URL.issuperset(value):
        return False
    try:
        raw = base64.urlsafe_b64decode(value + "=")
    except (binascii.Error, ValueError):
        return False
    return len(raw) == NONCE_BYTES and _b64(raw) == value  # canonical: the spare bits are zero


def binding(sockaddr):
    """The binding text of a socket address tuple (``getsockname()`` of an accepted socket):
    IPv4 dotted, IPv6 compressed in brackets (no zone), an IPv4-mapped IPv6 address as IPv4."""
    host, port = sockaddr[0], int(sockaddr[1])
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.version == 4:
        return f"{address}:{port}"
    return f"[{address.compressed}]:{port}"


def proof(token, role, server_nonce, client_nonce, bound_to):
    transcript = "\n".join((_DOMAIN, role, server_nonce, client_nonce, bound_to)).encode("ascii")
    return _b64(hmac.new(token.encode("utf-8"), transcript, hashlib.sha256).digest())


def proof_matches(expected, offered):
    """Constant-time comparison; anything but a string is a mismatch."""
    if not isinstance(offered, str):
        return False
    return hmac.compare_digest(expected.encode("ascii"), offered.encode("utf-8", "surrogatepass"))


class PeerNotProven(Exception):
    """The server's ``hello`` did not prove the token (client side)."""


def answer_challenge(token, hello_result, client_nonce, bound_to):
    """Client side, for Python clients (tests, benchmarks): checks the server's proof in the
    result of ``hello`` (sent with ``client_nonce``) and returns the proof to send with
    ``authenticate``. Raises ``PeerNotProven`` when the server did not prove the token."""
    challenge = (hello_result or {}).get("auth") or {}
    server_nonce, offered = challenge.get("server_nonce"), challenge.get("server_proof")
    if not is_nonce(server_nonce):
        raise PeerNotProven(f"no server nonce in hello: {hello_result!r}")
    if not proof_matches(proof(token, SERVER, server_nonce, client_nonce, bound_to), offered):
        raise PeerNotProven(f"the server's proof does not match the token for {bound_to}")
    return proof(token, CLIENT, server_nonce, client_nonce, bound_to)


def authenticate_with(call, token, peer_sockaddr):
    """The whole client side, for Python clients: ``call(type, params)`` sends one request on the
    connection and returns its reply; ``peer_sockaddr`` is the connection's ``getpeername()``.
    Returns the full ``hello``; raises ``PeerNotProven`` if the server did not prove the token
    or refused the client's proof."""
    nonce = new_nonce()
    reply = call("hello", {"client_nonce": nonce})
    client_proof = answer_challenge(token, reply.get("result"), nonce, binding(peer_sockaddr))
    reply = call("authenticate", {"client_proof": client_proof})
    result = reply.get("result") or {}
    if not result.get("authenticated"):
        raise PeerNotProven(f"the server refused this client's proof: {reply}")
    return result
