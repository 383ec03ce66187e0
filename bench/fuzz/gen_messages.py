"""Generators of garbage, framing and request inputs: rng, ctx, tag -> Input. The same
(seed, space, n) always gives the same input."""

import json

from .inputs import Input
from .jsontext import Obj, Raw, encode, obj_get, obj_set, obj_without, printable
from .mutations import BAD_UTF8, boundaries, mutate, truncate
from .protocol import COMMANDS, HANDSHAKE_COMMANDS, HTTP_METHODS
from .requests import WRONG_VALUES, ending, random_nonce, request, sentinel_code, token_value, valid_params


JSONISH = b'{}[]":,\\ \n\r\t0123456789abcdeftrulnsxyz-+.eEIN'


def g_random_bytes(rng, ctx, tag):
    size = rng.choice((rng.randint(0, 8), rng.randint(0, 256), rng.randint(0, 4096),
                       rng.randint(0, 2 * ctx.preauth_bytes)))
    style = rng.random()
    if style < 0.4:
        data = rng.randbytes(size)
    elif style < 0.75:
        data = printable(rng, size, JSONISH)
    else:
        data = printable(rng, size)
    if rng.random() < 0.5:
        data = b"{" + data
    if rng.random() < 0.5:
        data += b"\n"
    return Input(data)


def g_mutated(rng, ctx, tag):
    data = bytearray(encode(request(rng, ctx, tag), rng))
    for _ in range(rng.randint(1, 4)):
        mutate(rng, data)
    return Input(bytes(data) + ending(rng))


def g_wrong_types(rng, ctx, tag):
    command = rng.choice(HANDSHAKE_COMMANDS) if rng.random() < 0.4 else rng.choice(COMMANDS)
    obj = request(rng, ctx, tag, command=command, token_mode="none" if command in HANDSHAKE_COMMANDS else None)
    target = rng.choice(("id", "type", "params", "token", "param", "param", "param", "extra"))
    wrong = rng.choice(WRONG_VALUES)
    if target in ("id", "type", "token"):
        obj_set(obj, target, wrong)
    elif target == "params":
        obj_set(obj, "params", rng.choice([Raw("[]"), "params", 1, Raw("true"), [Obj()], Raw("null")]))
    elif target == "param":
        params = obj_get(obj, "params")
        if not isinstance(params, Obj):
            params = valid_params(rng, ctx, command, tag)
            obj_set(obj, "params", params)
        keys = [k for k, _ in params] or ["code", "client_nonce", "client_proof", "job_id", "key"]
        obj_set(params, rng.choice(keys), wrong)
    else:
        obj.append((rng.choice(["ID", "Type", "params ", "", "\u00e9", "__proto__", "jsonrpc"]), wrong))
    return Input(encode(obj, rng) + rng.choice((b"\n", b"\n", b"\n", b"")))


UNKNOWN_NAMES = ("", " hello", "hello ", "HELLO", "Hello", "hello\u0000", "__init__", "__class__", "COMMANDS",
                 "../execute_code", "execute_code\n", "exec", "eval", "execute-code", "execute_code\u200b",
                 "\u0435xecute_code", "make_coffee", "ping" * 200, "get_job/../status", "\U0001F642",
                 "Authenticate", "authenticate ", "auth", "login", "handshake", "hello_before_auth", "gate")


def g_unknown_command(rng, ctx, tag):
    name = rng.choice(UNKNOWN_NAMES) if rng.random() < 0.7 else printable(rng, rng.randint(1, 64)).decode()
    obj = Obj([("id", rng.randint(0, 999)), ("type", name)])
    if rng.random() < 0.7:
        obj.append(("params", valid_params(rng, ctx, "execute_code", tag)))
    if rng.random() < 0.2:
        obj.append(("token", token_value(rng, ctx, rng.choice(("near", "real")))))
    return Input(encode(obj, rng) + ending(rng))


def g_odd_ids(rng, ctx, tag):
    odd = rng.choice((
        Raw("9" * 19), Raw("9" * 20), Raw("-" + "9" * 40), Raw("1" + "0" * 4299), Raw("1" + "0" * 4300),
        Raw("9" * 10000), Raw("-1"), Raw("-0"), Raw("0.0"), Raw("1.0"), Raw("-1.5"), Raw("1e5"), Raw("1E-7"),
        Raw("1e400"), Raw("-1e400"), Raw("null"), Raw("true"), "", "\u00e9\U0001F642", "x" * 1000,
        [1], Obj([("id", 1)]), Raw("NaN"), Raw("-Infinity"), Raw("0x1F"), Raw("+1"), Raw(".5"), Raw("01"),
    ))
    command = rng.choice(("hello", "hello", "authenticate", "ping", "execute_code", "status"))
    obj = request(rng, ctx, tag, command=command, token_mode="none" if rng.random() < 0.8 else None)
    obj_set(obj, "id", odd)
    return Input(encode(obj, rng) + rng.choice((b"\n", b"\n", b"")))


def g_preauth_hello(rng, ctx, tag):
    """The first thing a client does: variants of hello, with and without a client nonce."""
    obj = Obj([("type", "hello")])
    if rng.random() < 0.8:
        obj.append(("id", rng.choice([1, "h", None, -7, 2 ** 62, f"hello-{tag}", Raw("1.0"), Raw("true")])))
    nonce = Obj([("client_nonce", random_nonce(rng))])
    params = rng.choice([None, Obj(), Obj([("x", 1)]), Raw("null"), [], "s", 1, Raw("{}"), nonce, nonce,
                         Obj([("client_nonce", None)])])
    if params is not None:
        obj.append(("params", params))
    extra = rng.random()
    if extra < 0.15:
        obj.append(("token", None))  # the key alone is refused (§1a)
    elif extra < 0.25:
        obj.append(("type", rng.choice(["ping", "execute_code", "authenticate"])))  # duplicate key: the last wins
    elif extra < 0.35:
        obj.insert(0, ("type", "ping"))  # ...so this one is a hello
    elif extra < 0.45:
        obj.append(("Type", "ping"))
    elif extra < 0.5:
        obj.append(("jsonrpc", "2.0"))
    if rng.random() < 0.3:
        rng.shuffle(obj)
    return Input(encode(obj, rng) + rng.choice((b"\n", b"\n", b"\r\n", b"")))


def g_token_field(rng, ctx, tag):
    """Protocol 1's way in: a "token" beside the request. Protocol 2 refuses the field whatever it
    holds, the real token included, and closes (§1a): nothing may run, not even a hello."""
    command = rng.choice(("hello", "hello", "authenticate", "execute_code", "execute_code", "ping",
                          "put_persist_data", "shutdown", "status"))
    mode = rng.choice(("real", "real", "real", "near", "wrong_type", "null"))
    obj = request(rng, ctx, tag, command=command, token_mode=mode)
    form = rng.choice(("plain", "plain", "legacy", "in_params_too", "twice", "first_key"))
    if form == "legacy":  # 1.3.3 framing: no id, no newline
        return Input(encode(obj_without(obj, "id"), rng), doc={"form": form})
    if form == "in_params_too":
        params = obj_get(obj, "params")
        if isinstance(params, Obj):
            params.append(("token", ctx.token))
    elif form == "twice":  # the last one counts, and either way the key is there
        obj.append(("token", token_value(rng, ctx, rng.choice(("real", "near", "null")))))
    elif form == "first_key":
        obj = Obj([kv for kv in obj if kv[0] == "token"] + [kv for kv in obj if kv[0] != "token"])
    return Input(encode(obj, rng) + rng.choice((b"\n", b"\n", b"\n", b"")), doc={"form": form})


def g_truncated_disconnect(rng, ctx, tag):
    command = rng.choice(("execute_code", "hello", "authenticate", "put_persist_data"))
    data = truncate(rng, encode(request(rng, ctx, tag, command=command), rng))
    return Input(data, mode=rng.choice(("close", "close", "rst", "shut")))


def padded(prefix, suffix, total, filler=b"a"):
    """prefix + filler* + suffix of exactly ``total`` bytes (total >= len(prefix + suffix))."""
    room = total - len(prefix) - len(suffix)
    return prefix + (filler * (room // len(filler) + 1))[:room] + suffix


def g_oversized(rng, ctx, tag):
    """Messages around the size limit (before authenticating: the smaller of the message limit and
    the byte budget) and around the byte budget."""
    L, B = ctx.limit, ctx.preauth_bytes
    size = rng.choice((L - 1, L, L + 1, L + 1, L + 2, L + rng.randint(3, 4096), L + rng.randint(1, L), B - 1, B,
                       B + 1))
    code = sentinel_code(ctx, tag).encode()
    shape = rng.choice(("v1_line", "v1_line", "id_no_newline", "legacy_no_newline", "line_no_id", "ws_pad",
                        "id_late"))
    if shape == "ws_pad":  # whitespace inside the object, not a long string
        data = padded(b'{"id":1,"type":"hello",', b'"params":null}', size, b" \t\r")
    elif shape == "id_late":  # "id" only at the end: see the framing guess in check_doc
        data = padded(b'{"pad":"', b'","id":1,"type":"hello"}', size)
    elif shape == "legacy_no_newline" or shape == "line_no_id":
        data = padded(b'{"type":"execute_code","params":{"code":"' + code + b'","pad":"', b'"}}', size)
    else:
        data = padded(b'{"id":1,"type":"execute_code","params":{"code":"' + code + b'","pad":"', b'"}}', size)
    newline = shape in ("v1_line", "line_no_id", "ws_pad") or (shape == "id_late" and rng.random() < 0.5)
    data += b"\n" if newline else b""
    return Input(data, doc={"too_large": size > L, "size": size, "form": shape})


def g_deep_nesting(rng, ctx, tag):
    depth = rng.choice((50, 900, 999, 1000, 1001, 2000, 10000, 100000))
    form = rng.choice(("arr_closed", "arr_open", "obj_closed", "obj_open", "in_params", "in_id", "in_token", "mixed"))
    room = ctx.limit - 64
    if form in ("obj_closed", "obj_open", "in_token"):
        depth = min(depth, room // 6)
    else:
        depth = min(depth, room // 2)
    if form == "arr_closed":
        data = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    elif form == "arr_open":
        data = b'{"a":' + b"[" * depth
    elif form == "obj_closed":
        data = b'{"a":' * depth + b"1" + b"}" * depth
    elif form == "obj_open":
        data = b'{"a":' * depth
    elif form == "in_params":
        data = b'{"id":1,"type":"hello","params":{"x":' + b"[" * depth + b"]" * depth + b"}}"
    elif form == "in_id":
        data = b'{"id":' + b"[" * depth + b"]" * depth + b',"type":"hello"}'
    elif form == "in_token":
        data = b'{"id":1,"type":"ping","token":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    else:
        data = b'{"a":' + b'[{"b":' * (depth // 2) + b"0" + b"}]" * (depth // 2) + b"}"
    # Within a few hundred levels of the recursion limit the answer depends on the parser's stack.
    return Input(data + rng.choice((b"\n", b"\n", b"", b"\r\n")), doc={"recursion_edge": 600 <= depth <= 1400})


LONE_SURROGATES = ("\\ud800", "\\udbff", "\\udc00", "\\udfff", "\\ud83d", "\\ude00\\ud83d", "\\ud83d\\u0041")
VALID_NON_ASCII = ("\u00e9", "\U0001F642", "\u2028", "\u200b", "\ufeff", "\U0001D54F", "e\u0301", "\u202e")


def g_invalid_utf8(rng, ctx, tag):
    form = rng.choice(("bad_in_string", "bad_outside", "lone_surrogate", "lone_surrogate", "bom", "valid_raw",
                       "cesu"))
    if form == "lone_surrogate":
        field = rng.choice(("id", "type", "token", "key", "param", "code", "client_nonce", "client_proof"))
        esc = Raw('"' + rng.choice(LONE_SURROGATES) + '"')
        if field in ("client_nonce", "client_proof"):
            command = "hello" if field == "client_nonce" else "authenticate"
        elif field in ("id", "key") and rng.random() < 0.5:
            command = "hello"
        else:
            command = rng.choice(COMMANDS)
        obj = request(rng, ctx, tag, command=command, token_mode="none")
        if field in ("id", "type", "token"):
            obj_set(obj, field, esc)
        elif field == "key":
            obj.append((Raw('"k' + rng.choice(LONE_SURROGATES) + '"'), 1))
        else:
            params = obj_get(obj, "params")
            if not isinstance(params, Obj):
                params = Obj()
                obj_set(obj, "params", params)
            obj_set(params, field if field in ("code", "client_nonce", "client_proof") else "note", esc)
        return Input(encode(obj) + rng.choice((b"\n", b"\n", b"")))
    base = bytearray(encode(request(rng, ctx, tag, command=rng.choice(("hello", "ping", "execute_code"))), rng))
    if form == "bad_in_string":
        kinds = boundaries(bytes(base))
        spots = kinds["in_string"] or [1]
        i = rng.choice(spots)
        base[i:i] = rng.choice(BAD_UTF8)
    elif form == "bad_outside":
        spots = [j for j, c in enumerate(base) if c in b"{,:"] or [1]
        i = rng.choice(spots) + 1
        base[i:i] = rng.choice(BAD_UTF8)
    elif form == "bom":
        base[0:0] = b"\xef\xbb\xbf"
    elif form == "valid_raw":
        i = base.rfind(b"}")
        base[i:i] = b',"note":"' + rng.choice(VALID_NON_ASCII).encode() + b'"'
    else:  # an astral character as two UTF-8-encoded surrogates (CESU-8), invalid UTF-8
        i = base.rfind(b"}")
        base[i:i] = b',"note":"' + "\ud83d\ude42".encode("utf-8", "surrogatepass") + b'"'
    return Input(bytes(base) + rng.choice((b"\n", b"\n", b"")))


def g_huge_string(rng, ctx, tag):
    field = rng.choice(("id", "id", "token", "code", "key", "unknown_param", "type", "param_name", "client_nonce",
                        "client_proof"))
    unit = rng.choice((b"a", b"a", b"\\u00e9", "\u00e9".encode(), b'\\"', b"\\n", "\U0001F642".encode()))
    repeat = unit if len(unit) > 1 else None
    command = ({"id": "hello", "client_nonce": "hello", "client_proof": "authenticate"}.get(field)
               or rng.choice(COMMANDS))
    obj = Obj([("id", 1), ("type", command)])
    params = valid_params(rng, ctx, "execute_code", tag)
    placeholder = "\u0000PLACEHOLDER\u0000"
    if field in ("id", "type", "token"):
        obj_set(obj, field, placeholder)
    elif field == "code":
        obj_set(params, "code", placeholder)
    elif field == "key":
        params = Obj([("key", placeholder), ("data", 1)])
        obj_set(obj, "type", "put_persist_data")
    elif field in ("client_nonce", "client_proof"):
        params = Obj([(field, placeholder)])
    elif field == "unknown_param":
        params.append(("blob", placeholder))
    else:
        params.append((placeholder, 1))
    obj.append(("params", params))
    skeleton = encode(obj)
    hole = json.dumps(placeholder).encode()
    overhead = len(skeleton) - len(hole) + 2  # the quotes stay
    room = max(1, ctx.limit - overhead - 2)
    size = rng.randint(room // 4, room) if rng.random() < 0.7 else rng.randint(min(1000, room), room)
    if repeat is None:
        content = b"a" * size if rng.random() < 0.5 else printable(rng, size)
    else:
        content = (repeat * (size // len(repeat)))
    data = skeleton.replace(hole, b'"' + content + b'"')
    return Input(data + rng.choice((b"\n", b"\n", b"\n", b"")))


def g_legacy_garbage(rng, ctx, tag):
    form = rng.random()
    if form < 0.4:
        obj = Obj([("type", rng.choice(COMMANDS))])
        if rng.random() < 0.8:
            obj.append(("params", valid_params(rng, ctx, obj_get(obj, "type"), tag)))
        if rng.random() < 0.2:
            obj.append(("token", token_value(rng, ctx, rng.choice(("near", "real")))))
    elif form < 0.7:
        obj = Obj([("code", sentinel_code(ctx, tag))])
        if rng.random() < 0.4:
            obj.append(("message", "hi"))
    elif form < 0.8:
        obj = Obj([("message", rng.choice(["hi", "\u00e9", "x" * 100]))])
    else:
        obj = rng.choice((Obj(), Obj([("params", Obj())]), Obj([("type", None)]), Obj([("type", 5)])))
    garbage = rng.choice((
        b"", b"", printable(rng, rng.randint(1, 64), JSONISH), rng.randbytes(rng.randint(1, 64)),
        encode(Obj([("type", "ping")])), b'{"type":', b"}}}}", b"   ", b"\n", b'{"id":1,"type":"hello"}\n',
        b"{", b"GET / HTTP/1.1\r\n\r\n", b"\x00" * rng.randint(1, 8), b"\r", encode(obj),
    ))
    return Input(encode(obj, rng) + garbage)


def g_http_prefix(rng, ctx, tag):
    method = rng.choice(HTTP_METHODS + ("get", "Post", "GE", "GET", "POS", "HTTP/1.1", "G E T", "GETX", "PRI *",
                                        "FOO", "GET\t"))
    body = encode(request(rng, ctx, tag, command="execute_code", token_mode="none")) + b"\n"
    form = rng.choice(("request", "request", "ws_first", "no_space", "partial", "after_hello", "h2", "tls",
                       "response"))
    if form == "request":
        data = (f"{method} / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    elif form == "ws_first":
        data = rng.choice((b"\r\n", b" ", b"\n\n", b"\t \r\n")) + method.encode() + b" /x HTTP/1.0\r\n\r\n" + body
    elif form == "no_space":
        data = method.encode() + b"\n" + body
    elif form == "partial":
        data = method.encode()[:rng.randint(1, max(1, len(method)))]
    elif form == "after_hello":
        data = b'{"id":1,"type":"hello"}\n' + method.encode() + b" / HTTP/1.1\r\n\r\n" + body
    elif form == "h2":
        data = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + body
    elif form == "tls":
        data = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + rng.randbytes(64)
    else:
        data = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    return Input(data)


SEPARATORS = (b"\r\n", b"\r", b"\n", b"\x00", b"\r\r\n", b"\n\r", b" \t", b"\x0c", b"\x0b", b"\x00\n", b"\r\x00\n")


def g_control_chars(rng, ctx, tag):
    form = rng.choice(("separators", "separators", "nul_in_string", "escaped_nul", "cr_whitespace", "lone_cr_end",
                       "nul_before"))
    hello = b'{"id":%d,"type":"hello"}'
    if form == "separators":
        parts = [hello % i if rng.random() < 0.6 else encode(request(rng, ctx, f"{tag}-{i}"))
                 for i in range(rng.randint(2, 6))]
        data = b"".join(p + rng.choice(SEPARATORS) for p in parts)
    elif form == "nul_in_string":
        data = b'{"id":1,"type":"hel\x00lo"}\n'
    elif form == "escaped_nul":
        data = b'{"id":"\\u0000","type":"hello","params":{"x":"a\\u0000b"}}\n'
    elif form == "cr_whitespace":
        data = b'{\r"id"\r:\r1\r,\r"type"\r:\r"hello"\r}\r\n'
    elif form == "lone_cr_end":
        data = (hello % 7) + b"\r"
    else:
        data = rng.choice((b"\x00", b"\x00\x00", b"\x0c")) + (hello % 3) + b"\n"
    return Input(data)
