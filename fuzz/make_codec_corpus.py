#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_codec into fuzz/corpus/codec/.

The messages are built here byte by byte, independently of the library under test, so that a
bug in coap::encode cannot leak into the seeds. Run from anywhere; the output is deterministic
and the files are committed, so this only needs to run again when the seeds change.
"""

from pathlib import Path
import shutil

OUT = Path(__file__).resolve().parent / "corpus" / "codec"

CON, NON, ACK, RST = 0, 1, 2, 3


def code(cls, detail):
    return (cls << 5) | detail


GET, POST, PUT, DELETE, FETCH = 1, 2, 3, 4, 5
CREATED, CHANGED, CONTENT, CONTINUE = code(2, 1), code(2, 4), code(2, 5), code(2, 31)
NOT_FOUND, BAD_OPTION, ENTITY_INCOMPLETE = code(4, 4), code(4, 2), code(4, 8)
TOO_LARGE = code(4, 13)


def nibble(value):
    """The nibble and extended bytes for an option delta or length (RFC 7252 section 3.1)."""
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes([value - 13])
    return 14, (value - 269).to_bytes(2, "big")


def uint(value):
    """A uint option value in its shortest form (RFC 7252 section 3.2)."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def block(num, more, szx):
    return uint((num << 4) | (8 if more else 0) | szx)


def message(mtype, mcode, mid, token=b"", options=(), payload=b""):
    """Encodes a message; options are (number, value) pairs, sorted here (stable)."""
    out = bytearray([0x40 | (mtype << 4) | len(token), mcode, mid >> 8, mid & 0xFF])
    out += token
    last = 0
    for number, value in sorted(options, key=lambda option: option[0]):
        delta_nibble, delta_ext = nibble(number - last)
        length_nibble, length_ext = nibble(len(value))
        out.append((delta_nibble << 4) | length_nibble)
        out += delta_ext + length_ext + value
        last = number
    if payload:
        out += b"\xff" + payload
    return bytes(out)


def path(*segments):
    return [(11, s.encode()) for s in segments]


SEEDS = {
    # RFC 7252 Appendix A.1-A.5 (figures 2-6 and the ones in section 4/5 examples).
    "rfc7252_a1_get_con": message(CON, GET, 0x7D34, options=path("temperature")),
    "rfc7252_a1_piggybacked_ack": message(ACK, CONTENT, 0x7D34, payload=b"22.3 C"),
    "rfc7252_a2_get_token": message(CON, GET, 0x7D35, b"\x20", path("temperature")),
    "rfc7252_a2_ack_token": message(ACK, CONTENT, 0x7D35, b"\x20", payload=b"22.3 C"),
    "rfc7252_a3_separate_empty_ack": message(ACK, 0, 0x7D38),
    "rfc7252_a3_separate_con_response": message(CON, CONTENT, 0xAD7B, b"\x71\x12", [(12, b"")],
                                                b"22.3 C"),
    "rfc7252_a4_non_request": message(NON, GET, 0x7D40, b"\x74\x11\x36\xa2", path("temperature")),
    "rfc7252_a5_not_found": message(ACK, NOT_FOUND, 0x7D36, b"\x31\x0a", payload=b"Not found"),
    "rfc7252_ping_con_empty": message(CON, 0, 0x1234),
    "rfc7252_rst_empty": message(RST, 0, 0x1234),
    # A typical request with the common options, and a response with the common ones.
    "get_uri_host_port_path_query_accept": message(
        CON, GET, 0x0001, b"\xde\xad\xbe\xef",
        [(3, b"example.com"), (7, uint(5683)), (15, b"a=1"), (15, b"b=two"), (17, uint(50))]
        + path("sensors", "temp")),
    "post_json_payload": message(CON, POST, 0x0002, b"\x01\x02", [(12, uint(50))] + path("cfg"),
                                 b'{"on":true,"level":42}'),
    "response_content_etag_max_age": message(
        ACK, CONTENT, 0x0003, b"\x01", [(4, b"\x01\x02\x03\x04"), (12, uint(0)),
                                        (14, uint(0xFFFFFFFF))], b"x" * 32),
    "created_location": message(ACK, CREATED, 0x0004, b"\x09",
                                [(8, b"items"), (8, b"17"), (20, b"rev=2")]),
    "observe_notification": message(NON, CONTENT, 0x0005, b"\xaa\xbb", [(6, uint(0x123456)),
                                                                        (12, uint(0))], b"21"),
    "token_8_bytes": message(CON, GET, 0xFFFF, bytes(range(1, 9)), path("t")),
    "conditional_put": message(CON, PUT, 0x0006, b"\x05",
                               [(1, b""), (1, b"\x01\x02"), (5, b"")] + path("r"), b"v"),
    # Every registered option once, with a valid value.
    "every_registered_option": message(
        CON, FETCH, 0x0007, b"\x42",
        [(1, b"\x01"), (3, b"h"), (4, b"\x02"), (5, b""), (6, b""), (7, uint(61616)),
         (8, b"lp"), (9, b"\x09\x05\x01"), (11, b"p"), (12, uint(60)), (14, uint(60)),
         (15, b"q"), (16, uint(16)), (17, uint(60)), (19, block(0, True, 2)), (20, b"lq"),
         (23, block(1, False, 6)), (27, block(2, True, 0)), (28, uint(1024)),
         (31, block(0, False, 2)), (35, b"coap://h/p"), (39, b"coap"), (60, uint(70000)),
         (252, b"\x10" * 8), (258, uint(26)), (292, b"\x01\x02")], b"body"),
    # Extended option deltas and lengths: nibble 13 (one extra byte), 14 (two extra bytes).
    "delta13_length13": message(CON, GET, 0x0010, options=[(13, b"a" * 13)]),
    "delta268_length268": message(CON, GET, 0x0011, options=[(268, b"b" * 268)]),
    "delta14_length14_two_byte": message(CON, GET, 0x0012, options=[(269, b"c" * 269)]),
    "option_65535": message(NON, GET, 0x0013, options=[(60, b""), (65535, b"\x00")]),
    "proxy_uri_1034": message(CON, GET, 0x0014,
                              options=[(35, b"coap://example.com/" + b"z" * 1015)]),
    # Block-wise transfers (RFC 7959 section 3).
    "block2_response_num0_more": message(ACK, CONTENT, 0x0020, b"\x0b", [(23, block(0, True, 2)),
                                                                        (28, uint(1280))],
                                         bytes(range(64))),
    "block2_request_num_large": message(CON, GET, 0x0021, b"\x0b",
                                        path("big") + [(23, block(0xFFFFF, False, 6))]),
    "block1_put_num1": message(CON, PUT, 0x0022, b"\x0c",
                               path("up") + [(27, block(1, True, 0)), (60, uint(96))],
                               b"0123456789abcdef"),
    "block1_continue": message(ACK, CONTINUE, 0x0023, b"\x0c", [(27, block(1, True, 0))]),
    "block1_incomplete": message(ACK, ENTITY_INCOMPLETE, 0x0024, b"\x0c"),
    "block_szx7_reserved": message(CON, GET, 0x0025, options=[(23, b"\x0f")]),
    # Unknown critical / elective options, uint values with leading zeros, long uints.
    "unknown_critical_2049": message(CON, GET, 0x0030, options=[(2049, b"x")]),
    "unknown_elective_2048": message(CON, GET, 0x0031, options=[(2048, b"x")]),
    "uint_leading_zeros": message(CON, GET, 0x0032, options=[(12, b"\x00\x00\x32"),
                                                             (17, b"\x00"), (60, b"\x00" * 5)]),
    "repeated_nonrepeatable": message(CON, GET, 0x0033, options=[(3, b"a"), (3, b"b")]),
    # Malformed: each one is rejected by the parser for a different reason.
    "bad_too_short": b"\x40\x01\x00",
    "bad_version_2": b"\x80\x01\x00\x01",
    "bad_tkl_9": b"\x49\x01\x00\x01" + bytes(9),
    "bad_truncated_token": b"\x44\x01\x00\x01\x01\x02",
    "bad_delta_nibble_15": b"\x40\x01\x00\x01\xf1\x00",
    "bad_length_nibble_15": b"\x40\x01\x00\x01\x1f\x00",
    "bad_truncated_option_value": b"\x40\x01\x00\x01\xb5abc",
    "bad_truncated_extended_length": b"\x40\x01\x00\x01\xbe\x01",
    "bad_option_number_overflow": b"\x40\x01\x00\x01\xe0\xfe\xf3\xe0\xfe\xf3",
    "bad_empty_payload": b"\x40\x01\x00\x01\xff",
    "bad_empty_message_with_token": b"\x41\x00\x00\x01\x01",
    "bad_empty_message_with_payload": b"\x40\x00\x00\x01\xffx",
    # RFC 8974 extended token lengths (TKL 13 and 14): only accepted with a larger limit.
    "extended_token_tkl13": b"\x4d\x01\x00\x40\x03" + bytes(range(16)) + b"\xb1a",
    "extended_token_tkl14": b"\x4e\x45\x00\x41\x00\x00" + b"t" * 269 + b"\xffok",
}


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    for name, data in sorted(SEEDS.items()):
        (OUT / name).write_bytes(data)
    print(f"wrote {len(SEEDS)} seeds to {OUT}")


if __name__ == "__main__":
    main()
