import json

import pytest

from bld_remote_mcp.wire import framing
from bld_remote_mcp.wire.framing import LEGACY, V1, FramingError, HttpDetected, Message, MessageDecoder


def feed_all(decoder, *chunks):
    events = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return events


def bodies(events):
    assert all(isinstance(e, Message) for e in events), events
    return [(e.style, e.body) for e in events]


@pytest.fixture
def dec():
    return MessageDecoder(max_message_bytes=1024)


# -- v1 lines ----------------------------------------------------------------------------------
def test_one_v1_line_is_one_message(dec):
    events = dec.feed(b'{"id": 1, "type": "ping"}\n')
    assert bodies(events) == [(V1, {"id": 1, "type": "ping"})]
    assert not dec.has_partial()


def test_a_line_without_id_is_still_v1_when_it_ends_with_a_newline(dec):
    events = dec.feed(b'{"type": "ping"}\n')
    assert bodies(events) == [(V1, {"type": "ping"})]


def test_several_messages_in_one_chunk_come_out_in_order(dec):
    data = b"".join(json.dumps({"id": i, "type": "ping"}).encode() + b"\n" for i in range(5))
    events = dec.feed(data)
    assert [body["id"] for _, body in bodies(events)] == [0, 1, 2, 3, 4]
    assert all(style == V1 for style, _ in bodies(events))


def test_crlf_line_endings_are_accepted(dec):
    events = dec.feed(b'{"id": 1, "type": "a"}\r\n{"id": 2, "type": "b"}\r\n')
    assert [body["id"] for _, body in bodies(events)] == [1, 2]


def test_message_split_over_one_byte_chunks(dec):
    data = json.dumps({"id": 7, "type": "execute_code", "params": {"code": "x = {'a': [1, 2]}\nprint('}')"}})
    data = data.encode() + b"\n"
    events = []
    for i in range(len(data)):
        new = dec.feed(data[i:i + 1])
        if i < len(data) - 2:  # the object is complete only once its final '}' arrived
            assert new == [], (i, new)
            assert dec.has_partial()
        events.extend(new)
    assert bodies(events) == [(V1, json.loads(data))]
    assert not dec.has_partial()


def test_nested_braces_ending_a_chunk_do_not_complete_the_message_early(dec):
    # The chunk ends with '}' of the inner object: JSON-incomplete, so wait.
    assert dec.feed(b'{"id": 1, "params": {"a": {"b": 1}}') == []
    assert dec.has_partial()
    events = dec.feed(b', "type": "x"}\n')
    assert bodies(events) == [(V1, {"id": 1, "params": {"a": {"b": 1}}, "type": "x"})]


def test_brace_inside_a_string_ending_a_chunk_waits_for_more(dec):
    assert dec.feed(b'{"type": "x", "code": "}') == []
    # Complete now, but the buffer has not doubled since the failed parse: the parse waits for
    # the peer to pause (the server calls retry_deferred after 20 ms of silence).
    assert dec.feed(b'"}') == [] and dec.has_deferred()
    assert bodies(list(dec.retry_deferred())) == [(LEGACY, {"type": "x", "code": "}"})]
    assert not dec.has_deferred()


def test_two_messages_where_the_second_is_split(dec):
    events = dec.feed(b'{"id": 1, "type": "a"}\n{"id": 2, "ty')
    assert bodies(events) == [(V1, {"id": 1, "type": "a"})]
    assert dec.has_partial()
    events = dec.feed(b'pe": "b"}\n')
    assert bodies(events) == [(V1, {"id": 2, "type": "b"})]


def test_whitespace_between_and_around_messages_is_ignored(dec):
    events = dec.feed(b'  \n\n\t{"id": 1, "type": "a"}\n   \r\n  {"id": 2, "type": "b"}\n  \n')
    assert [body["id"] for _, body in bodies(events)] == [1, 2]
    assert not dec.has_partial()  # trailing whitespace is not a partial message


def test_whitespace_only_input_produces_nothing(dec):
    assert dec.feed(b" \n\t\r\n ") == []
    assert not dec.has_partial()


def test_unicode_content_survives(dec):
    body = {"id": "é", "type": "x", "params": {"s": "日本語 \u2603 🎉"}}
    events = dec.feed(json.dumps(body, ensure_ascii=False).encode("utf-8") + b"\n")
    assert bodies(events) == [(V1, body)]


def test_multibyte_character_split_across_chunks(dec):
    data = json.dumps({"id": 1, "s": "🎉"}, ensure_ascii=False).encode("utf-8") + b"\n"
    cut = data.index("🎉".encode("utf-8")) + 2  # in the middle of the 4-byte sequence
    events = feed_all(dec, data[:cut], data[cut:])
    assert bodies(events) == [(V1, {"id": 1, "s": "🎉"})]


# -- legacy framing (blender-remote 1.3.3: raw object, no newline) -------------------------------
def test_raw_object_without_newline_is_legacy(dec):
    events = dec.feed(b'{"type": "get_scene_info", "params": {}}')
    assert bodies(events) == [(LEGACY, {"type": "get_scene_info", "params": {}})]
    assert not dec.has_partial()


def test_raw_object_with_id_but_no_newline_is_v1(dec):
    events = dec.feed(b'{"id": 3, "type": "ping"}')
    assert bodies(events) == [(V1, {"id": 3, "type": "ping"})]
    # The newline that follows later is just whitespace, not a second (empty) message.
    assert dec.feed(b"\n") == []
    assert not dec.has_partial()


def test_back_to_back_legacy_objects_in_one_chunk(dec):
    events = dec.feed(b'{"type": "a"}{"type": "b"}  {"type": "c"}')
    assert bodies(events) == [(LEGACY, {"type": "a"}), (LEGACY, {"type": "b"}), (LEGACY, {"type": "c"})]


def test_legacy_objects_are_parsed_once_the_buffer_ends_with_a_brace(dec):
    # Parsing is only attempted when the buffered bytes end with '}' (a 1.3.3 client sends one
    # object and waits): both objects come out, in order, once the second is complete.
    assert dec.feed(b'{"type": "a"}{"type": ') == []
    assert dec.has_partial()
    assert bodies(dec.feed(b'"b"}')) == [(LEGACY, {"type": "a"}), (LEGACY, {"type": "b"})]
    assert not dec.has_partial()


def test_legacy_object_in_chunks_waits_until_complete(dec):
    assert dec.feed(b'{"type": "execute_code", ') == []
    assert dec.feed(b'"params": {"code": "print(1)"}') == []  # ends with '}' but incomplete
    assert not dec.has_deferred()
    assert dec.feed(b"}") == [] and dec.has_deferred()
    assert bodies(list(dec.retry_deferred())) == [(LEGACY, {"type": "execute_code", "params": {"code": "print(1)"}})]


def test_a_dripped_legacy_message_is_parsed_a_logarithmic_number_of_times(dec, monkeypatch):
    """A peer dripping bytes that end in '}' must not make every read parse the whole buffer."""
    calls = []
    real = type(dec)._parse_unterminated

    def counting(self):
        calls.append(len(self._buf))
        return real(self)

    monkeypatch.setattr(type(dec), "_parse_unterminated", counting)
    dec.feed(b'{"type": "x", "code": "')
    for _ in range(900):  # under the fixture's 1024-byte limit
        assert dec.feed(b"}") == []  # inside the string: never complete
    assert len(calls) <= 11, calls  # 1 + log2(900), not 900
    dec.feed(b'"}')
    assert bodies(list(dec.retry_deferred())) == [(LEGACY, {"type": "x", "code": "}" * 900})]


def test_trailing_whitespace_is_looked_at_once(dec):
    dec.feed(b'{"type": "x"' + b" " * 900)
    assert dec._tail_from == len(dec._buf), "the next read looks at its own bytes only"
    assert bodies(dec.feed(b"}")) == [(LEGACY, {"type": "x"})]


# -- malformed input ---------------------------------------------------------------------------
def assert_error(event, style, code):
    assert isinstance(event, FramingError), event
    assert (event.style, event.code) == (style, code), event
    assert isinstance(event.message, str) and event.message


def test_malformed_v1_line_is_a_parse_error_and_the_next_line_still_works(dec):
    events = dec.feed(b'{"id": 1, "type": }\n{"id": 2, "type": "ok"}\n')
    assert len(events) == 2
    assert_error(events[0], V1, "parse_error")
    assert "malformed JSON" in events[0].message
    assert bodies(events[1:]) == [(V1, {"id": 2, "type": "ok"})]


def test_malformed_legacy_object_is_a_parse_error_immediately(dec):
    # No newline will ever come from a 1.3.3 client: the error must not wait for one.
    events = dec.feed(b'{"type": "x", oops}')
    assert len(events) == 1
    assert_error(events[0], LEGACY, "parse_error")
    assert not dec.has_partial()


def test_trailing_comma_is_malformed_not_incomplete(dec):
    events = dec.feed(b'{"type": "x",}')
    assert len(events) == 1
    assert_error(events[0], LEGACY, "parse_error")


def test_invalid_utf8_in_a_v1_line(dec):
    events = dec.feed(b'{"id": 1, "type": "ping", "params": {"x": "\xff\xfe"}}\n{"id": 2}\n')
    assert_error(events[0], V1, "parse_error")
    assert "UTF-8" in events[0].message
    assert bodies(events[1:]) == [(V1, {"id": 2})]


def test_invalid_utf8_in_a_legacy_object(dec):
    events = dec.feed(b'{"type": "x", "s": "\xc3\x28"}')
    assert len(events) == 1
    assert_error(events[0], LEGACY, "parse_error")
    assert "UTF-8" in events[0].message
    assert not dec.has_partial()


@pytest.mark.parametrize("line", [b"[1, 2, 3]", b'"just a string"', b"42", b"null", b"true"])
def test_non_object_json_is_refused_and_the_connection_goes_on(dec, line):
    events = dec.feed(line + b"\n" + b'{"id": 5}\n')
    assert len(events) == 2
    assert_error(events[0], V1, "parse_error")
    assert "JSON object" in events[0].message
    assert bodies(events[1:]) == [(V1, {"id": 5})]


def test_garbage_without_newline_is_dropped_until_the_next_line(dec):
    events = dec.feed(b"hello there")
    assert len(events) == 1
    assert_error(events[0], V1, "parse_error")
    assert not dec.has_partial()
    assert dec.feed(b" more garbage") == []  # still the same bad line
    assert bodies(dec.feed(b'\n{"id": 1}\n')) == [(V1, {"id": 1})]


def test_stray_closing_brace_after_a_legacy_object(dec):
    events = dec.feed(b'{"type": "a"}}')
    assert bodies(events[:1]) == [(LEGACY, {"type": "a"})]
    assert_error(events[1], V1, "parse_error")


@pytest.mark.parametrize("framing_suffix,style", [(b"\n", V1), (b"", LEGACY)])
def test_deeply_nested_json_is_a_parse_error_not_a_crash(framing_suffix, style):
    dec = MessageDecoder(max_message_bytes=10 * 1024 * 1024)
    depth = 200_000
    data = b'{"id": 1, "a": ' + b"[" * depth + b"]" * depth + b"}" if style == V1 else (
        b'{"a": ' + b"[" * depth + b"]" * depth + b"}"
    )
    events = dec.feed(data + framing_suffix)
    assert len(events) == 1
    assert_error(events[0], style, "parse_error")
    assert "deeply" in events[0].message
    # The decoder is usable afterwards.
    assert bodies(dec.feed(b'{"id": 2}\n')) == [(V1, {"id": 2})]


# -- size limit --------------------------------------------------------------------------------
def big_line(size, request_id=1):
    head = b'{"id": %d, "type": "execute_code", "params": {"code": "' % request_id
    tail = b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_message_exactly_at_the_limit_is_accepted(dec):
    line = big_line(1024)
    assert len(line) == 1024
    events = dec.feed(line + b"\n")
    assert bodies(events) == [(V1, json.loads(line))]


def test_oversized_v1_line_in_one_chunk_then_the_next_line_works(dec):
    line = big_line(5000)
    events = dec.feed(line + b"\n" + b'{"id": 2, "type": "ping"}\n')
    assert len(events) == 2
    assert_error(events[0], V1, "message_too_large")
    assert "1024" in events[0].message and "5000" in events[0].message
    assert bodies(events[1:]) == [(V1, {"id": 2, "type": "ping"})]


def test_oversized_v1_line_split_over_chunks_is_reported_once_in_v1_framing(dec):
    data = big_line(5000) + b"\n" + b'{"id": 2, "type": "ping"}\n'
    events = []
    for i in range(0, len(data), 700):
        events.extend(dec.feed(data[i:i + 700]))
    errors = [e for e in events if isinstance(e, FramingError)]
    assert len(errors) == 1
    # A v1 client reads replies line by line: the error must come in v1 framing.
    assert_error(errors[0], V1, "message_too_large")
    assert bodies([e for e in events if isinstance(e, Message)]) == [(V1, {"id": 2, "type": "ping"})]


def test_oversized_v1_line_fed_byte_by_byte_is_refused_without_buffering_it_all(dec):
    data = big_line(3000)
    events = []
    max_buffered = 0
    for i in range(len(data)):
        events.extend(dec.feed(data[i:i + 1]))
        max_buffered = max(max_buffered, len(dec._buf))
    assert max_buffered <= 1025
    assert len(events) == 1
    assert events[0].code == "message_too_large"
    assert bodies(dec.feed(b'\n{"id": 9}\n')) == [(V1, {"id": 9})]


def test_oversized_legacy_object_is_refused_then_the_connection_closes(dec):
    # A legacy stream has no delimiter to resynchronise on: answer, then close.
    body = b'{"type": "execute_code", "params": {"code": "' + b"y" * 3000 + b'"}}'
    events = dec.feed(body)
    assert len(events) == 2
    assert_error(events[0], LEGACY, "message_too_large")
    assert isinstance(events[1], framing.CloseAfterReply)
    assert not dec.has_partial()


def test_oversized_legacy_object_in_chunks_is_reported_once(dec):
    body = b'{"type": "execute_code", "params": {"code": "' + b"y" * 3000 + b'"}}'
    events = []
    for i in range(0, len(body), 500):
        events.extend(dec.feed(body[i:i + 500]))
        if any(isinstance(e, framing.CloseAfterReply) for e in events):
            break  # the server closes the connection here
    assert len(events) == 2
    assert_error(events[0], LEGACY, "message_too_large")
    assert isinstance(events[1], framing.CloseAfterReply)
    assert i < len(body) - 500  # refused before the whole message was buffered


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
@pytest.mark.parametrize("suffix,style", [(b"\n", V1), (b"", LEGACY)])
def test_non_standard_json_constants_are_parse_errors(dec, constant, suffix, style):
    events = dec.feed(b'{"type": "x", "v": ' + constant + b"}" + suffix)
    assert len(events) == 1
    assert_error(events[0], style, "parse_error")
    assert bodies(dec.feed(b'{"id": 1}\n')) == [(V1, {"id": 1})]


# -- idle expiry -------------------------------------------------------------------------------
def test_expire_drops_a_partial_v1_message(dec):
    dec.feed(b'{"id": 9, "type": "execute_code", "params": {"code": "half')
    assert dec.has_partial()
    err = dec.expire()
    assert_error(err, V1, "incomplete_message")
    assert "bytes buffered" in err.message
    assert not dec.has_partial()
    # What follows is parsed from a clean state.
    assert bodies(dec.feed(b'{"id": 10, "type": "ping"}\n')) == [(V1, {"id": 10, "type": "ping"})]


def test_expire_without_id_is_legacy(dec):
    dec.feed(b'{"type": "execute_code", "params": {"code": "half')
    err = dec.expire()
    assert_error(err, LEGACY, "incomplete_message")


def test_expire_reports_the_number_of_buffered_bytes(dec):
    partial = b'{"type": "abc'
    dec.feed(b"   " + partial)
    assert f"({len(partial)} bytes buffered)" in dec.expire().message


# -- HTTP --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", [b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PRI"])
def test_http_request_line_is_detected(dec, method):
    events = dec.feed(method + b" / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert len(events) == 1 and isinstance(events[0], HttpDetected)


def test_http_detected_even_after_valid_messages_in_the_same_chunk(dec):
    events = dec.feed(b'{"id": 1}\nPOST / HTTP/1.1\r\n\r\n{"id": 2}\n')
    assert isinstance(events[0], Message)
    assert isinstance(events[1], HttpDetected)
    assert len(events) == 2  # nothing after the HTTP request line is parsed


def test_http_method_prefix_waits_for_more_bytes(dec):
    assert dec.feed(b"PO") == []
    assert dec.has_partial()
    events = dec.feed(b"ST /api HTTP/1.1\r\n")
    assert len(events) == 1 and isinstance(events[0], HttpDetected)


def test_http_method_prefix_split_one_byte_at_a_time(dec):
    for byte in b"DELET":
        assert dec.feed(bytes([byte])) == []
    events = dec.feed(b"E /x HTTP/1.1\r\n")
    assert isinstance(events[0], HttpDetected)


def test_method_like_prefix_that_turns_out_not_to_be_http(dec):
    assert dec.feed(b"GE") == []
    events = dec.feed(b"Tx\n{\"id\": 1}\n")
    assert_error(events[0], V1, "parse_error")
    assert bodies(events[1:]) == [(V1, {"id": 1})]


def test_lowercase_method_is_not_http_but_a_parse_error(dec):
    events = dec.feed(b"get / HTTP/1.1\r\n")
    assert len(events) == 1
    assert_error(events[0], V1, "parse_error")


def test_reprs_name_their_content():
    assert "ping" in repr(Message(V1, {"type": "ping"}))
    assert "parse_error" in repr(FramingError(V1, "parse_error", "bad"))
    assert framing.V1 != framing.LEGACY
