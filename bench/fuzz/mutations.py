"""Mutations of JSON text: truncations at structural points, flipped and inserted bytes, bad
UTF-8, odd numbers and literals."""

import collections


BAD_UTF8 = (b"\xff", b"\xfe", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xed\xbf\xbf",
            b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\x80", b"\xbf", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98",
            b"\xc3\x28", b"\xf8\x88\x80\x80\x80")
INTERESTING = b'{}[]":,\\\x00\r\n\xff \t0-e.'


def boundaries(data):
    """Truncation points by kind: after structure, inside a string/escape/number/literal/UTF-8."""
    kinds = collections.defaultdict(list)
    in_string = False
    i = 0
    n = len(data)
    while i < n:
        c = data[i]
        if in_string:
            if c == 0x5C:  # backslash: the escape and what follows
                kinds["in_escape"].extend(range(i + 1, min(i + 6, n)))
                i += 2
                continue
            if c == 0x22:
                in_string = False
                kinds["after_string"].append(i + 1)
            elif c >= 0xC0 and i + 1 < n:
                kinds["in_utf8"].append(i + 1)
            else:
                kinds["in_string"].append(i)
        else:
            if c == 0x22:
                in_string = True
                kinds["string_start"].append(i + 1)
            elif c in b"{}[]:,":
                kinds["after_" + chr(c)].append(i + 1)
            elif c in b"0123456789" and i + 1 < n and data[i + 1] in b"0123456789.eE":
                kinds["in_number"].append(i + 1)
            elif c in b"tfn" and i + 1 < n and data[i + 1] in b"rual":
                kinds["in_literal"].append(i + 1)
        i += 1
    kinds["start"].append(0)
    kinds["before_last"].append(max(n - 1, 0))
    return kinds


def truncate(rng, data):
    kinds = boundaries(data)
    positions = kinds[rng.choice(sorted(kinds))]
    pos = rng.choice(positions)
    return data[:min(pos, max(len(data) - 1, 0))]


def mutate(rng, data):
    """One random mutation of a bytearray, in place."""
    if not data:
        data.extend(rng.choice((b"{", b"}", b"\n", b"{\n")))
        return
    op = rng.randrange(14)
    i = rng.randrange(len(data))
    if op == 0:
        data[i] ^= 1 << rng.randrange(8)
    elif op == 1:
        data[i] = rng.randrange(256)
    elif op == 2:
        data.insert(i, INTERESTING[rng.randrange(len(INTERESTING))])
    elif op == 3:
        del data[i]
    elif op == 4:
        data[:] = truncate(rng, bytes(data))
    elif op == 5:  # duplicate a brace
        braces = [j for j, c in enumerate(data) if c in b"{}"]
        if braces:
            j = rng.choice(braces)
            data.insert(j, data[j])
    elif op == 6:  # drop a brace
        braces = [j for j, c in enumerate(data) if c in b"{}"]
        if braces:
            del data[rng.choice(braces)]
    elif op == 7:  # duplicate a slice elsewhere
        j = rng.randrange(len(data))
        chunk = data[i:i + rng.randint(1, 32)]
        data[j:j] = chunk
    elif op == 8:
        j = rng.randrange(len(data))
        data[i], data[j] = data[j], data[i]
    elif op == 9:
        data[i:i] = rng.choice(BAD_UTF8)
    elif op == 10:  # a quote becomes an apostrophe
        quotes = [j for j, c in enumerate(data) if c == 0x22]
        if quotes:
            data[rng.choice(quotes)] = 0x27
    elif op == 11:
        data[i:i] = rng.choice((b"\r\n", b"\r", b"\x00", b"\n", b"\x00\n"))
    elif op == 12:  # a number becomes something odd
        digits = [j for j, c in enumerate(data) if c in b"0123456789"]
        if digits:
            j = rng.choice(digits)
            data[j:j + 1] = rng.choice((b"1e400", b"-0", b"NaN", b"9" * 30, b"1.5", b"Infinity", b"0x10", b"01"))
    else:  # replace a literal
        for lit in (b"true", b"false", b"null"):
            j = data.find(lit)
            if j >= 0:
                data[j:j + len(lit)] = rng.choice((b"True", b"nul", b"None", b"1", b"\"null\"", b"-"))
                break
