"""The proofs of the handshake (handshake.py) against the vectors in docs/protocol.md §1a, which
the Rust side checks too: both implementations compute the same values."""

import re
from pathlib import Path

import pytest

from bld_remote_mcp.wire import handshake

PROTOCOL_DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _doc_vectors():
    text = PROTOCOL_DOC.read_text()
    token = re.search(r"Test vectors \(both implementations check these\): token `([^`]+)`", text).group(1)
    server_nonce = re.search(r"server nonce `([^`]+)` \(bytes 0–31\)", text).group(1)
    client_nonce = re.search(r"client nonce\s+`([^`]+)` \(bytes 32–63\)", text).group(1)
    rows = re.findall(r"^\| `([^`]+)` \| (server|client) \| `([^`]+)` \|$", text, re.M)
    return token, server_nonce, client_nonce, rows


def test_the_documented_vectors_are_what_this_side_computes():
    token, server_nonce, client_nonce, rows = _doc_vectors()
    assert server_nonce == handshake._b64(bytes(range(32)))
    assert client_nonce == handshake._b64(bytes(range(32, 64)))
    assert len(rows) == 4
    for bound_to, role, expected in rows:
        assert handshake.proof(token, role, server_nonce, client_nonce, bound_to) == expected, (bound_to, role)


def test_every_input_changes_the_proof():
    token, sn, cn, _ = _doc_vectors()
    base = handshake.proof(token, handshake.SERVER, sn, cn, "127.0.0.1:6688")
    variants = [
        handshake.proof(token + "x", handshake.SERVER, sn, cn, "127.0.0.1:6688"),
        handshake.proof(token, handshake.CLIENT, sn, cn, "127.0.0.1:6688"),
        handshake.proof(token, handshake.SERVER, cn, sn, "127.0.0.1:6688"),
        handshake.proof(token, handshake.SERVER, sn, cn, "127.0.0.1:6689"),
        handshake.proof(token, handshake.SERVER, sn, cn, "[::1]:6688"),
    ]
    assert len(set(variants + [base])) == 6


@pytest.mark.parametrize("sockaddr, expected", [
    (("127.0.0.1", 6688), "127.0.0.1:6688"),
    (("::1", 6688, 0, 0), "[::1]:6688"),
    (("::ffff:127.0.0.1", 7000, 0, 0), "127.0.0.1:7000"),
    (("fe80::1%eth0", 1, 0, 2), "[fe80::1]:1"),
    (("2001:DB8:0:0:1:0:0:1", 5, 0, 0), "[2001:db8::1:0:0:1]:5"),
    (("2001:db8:0:1:1:1:1:1", 5, 0, 0), "[2001:db8:0:1:1:1:1:1]:5"),  # one zero group stays
])
def test_bindings_are_written_one_way(sockaddr, expected):
    assert handshake.binding(sockaddr) == expected


def test_nonces_are_fresh_and_checked_strictly():
    a, b = handshake.new_nonce(), handshake.new_nonce()
    assert a != b and handshake.is_nonce(a) and handshake.is_nonce(b)
    for bad in (None, 42, "", a[:-1], a + "A", a[:-1] + "=", a[:-1] + "\n", a[:-1] + "/", "é" * 43,
                "A" * 42 + "B"):  # the last one: 43 characters whose final bits are not zero
        assert not handshake.is_nonce(bad), bad


def test_answer_challenge_checks_the_server_before_answering():
    token = "t" * 20
    client_nonce, server_nonce = handshake.new_nonce(), handshake.new_nonce()
    bound = "127.0.0.1:7001"
    good = {"auth": {"server_nonce": server_nonce,
                     "server_proof": handshake.proof(token, handshake.SERVER, server_nonce, client_nonce, bound)}}
    answer = handshake.answer_challenge(token, good, client_nonce, bound)
    assert answer == handshake.proof(token, handshake.CLIENT, server_nonce, client_nonce, bound)
    with pytest.raises(handshake.PeerNotProven, match="does not match"):
        handshake.answer_challenge(token, good, client_nonce, "[::1]:7001")  # a relay's address
    with pytest.raises(handshake.PeerNotProven, match="does not match"):
        handshake.answer_challenge("u" * 20, good, client_nonce, bound)
    for result in (None, {}, {"auth": {"scheme": "hmac-sha256"}}, {"auth": {"server_nonce": "x"}}):
        with pytest.raises(handshake.PeerNotProven, match="no server nonce"):
            handshake.answer_challenge(token, result, client_nonce, bound)


def test_a_proof_that_is_not_a_string_never_matches():
    assert not handshake.proof_matches("abc", None)
    assert not handshake.proof_matches("abc", 123)
    assert not handshake.proof_matches("abc", "\ud83d")
    assert handshake.proof_matches("abc", "abc")
