#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_block into fuzz/corpus/block/.

Each seed is a script for the target (see Harness::request in block.cc): structured requests
with Block1/Block2/Size1/Request-Tag/Content-Format values and pattern payloads, raw datagrams,
time steps and changes of the /big resource. The scenarios follow RFC 7959: Block2 downloads
(figures 2-4 of section 3.2, with early and late size negotiation), atomic Block1 uploads
(section 3.3), Block1 followed by Block2 (section 3.4, section 2.7), Size1 refusals, repeated
and out-of-order blocks, concurrent uploads told apart by Request-Tag (RFC 9175 section 3) and
transfers that expire. Deterministic; the files are committed.
"""

from pathlib import Path
import shutil

OUT = Path(__file__).resolve().parent / "corpus" / "block"

REQUEST, RAW, TIME, CHANGE = range(4)
GET_BIG, PUT_UPLOAD, POST_ECHO, FETCH_BIG = range(4)
NO_BODY = None
FULL = 0xFFFF  # payload length: exactly Block1's block size

mid_counter = [0x100]


def request(target, peer=0, non=False, block1=None, block2=None, size1=None, tag=None,
            content_format=None, length=0, mid=None):
    """block1/block2 are (num, more, szx); tag is bytes (0-3 of them)."""
    if mid is None:
        mid = mid_counter[0]
        mid_counter[0] += 1
    flags = (1 if non else 0) | (target << 1)
    fields = b""
    for bit, value in ((0x08, block1), (0x10, block2)):
        if value is not None:
            num, more, szx = value
            flags |= bit
            fields += num.to_bytes(2, "big") + bytes([(8 if more else 0) | szx])
    if size1 is not None:
        flags |= 0x20
        fields += size1.to_bytes(2, "big")
    if tag is not None:
        flags |= 0x40
        fields += bytes([len(tag)]) + tag
    if content_format is not None:
        flags |= 0x80
        fields += bytes([content_format])
    token = mid & 0xFF
    return (bytes([REQUEST, peer, flags]) + mid.to_bytes(2, "big") + bytes([token]) + fields +
            length.to_bytes(2, "big"))


def time(ms):
    return bytes([TIME]) + (ms // 4).to_bytes(2, "big")


def change(length):
    return bytes([CHANGE]) + length.to_bytes(2, "big")


def raw(datagram):
    return bytes([RAW]) + len(datagram).to_bytes(2, "big") + datagram


def upload(target, total, szx, peer=0, tag=None, content_format=None, size1=None):
    """Every block of an atomic upload of `total` bytes (RFC 7959 section 2.5)."""
    size = 16 << szx
    out = b""
    num = 0
    while True:
        more = (num + 1) * size < total
        length = size if more else total - num * size
        out += request(target, peer, block1=(num, more, szx), tag=tag,
                       content_format=content_format,
                       size1=size1 if num == 0 else None, length=length)
        if not more:
            return out
        num += 1


def download(target, blocks, szx=2, peer=0):
    return b"".join(request(target, peer, block2=(num, False, szx)) for num in range(blocks))


SEEDS = {
    "get_big_first_block": request(GET_BIG),
    "get_big_all_blocks": download(GET_BIG, 6),
    "get_big_early_negotiation_szx0": download(GET_BIG, 5, szx=0),
    "get_big_szx6_scaled_down": download(GET_BIG, 2, szx=6),
    "get_big_late_negotiation": request(GET_BIG) + request(GET_BIG, block2=(4, False, 0)) +
    request(GET_BIG, block2=(5, False, 0)),
    "get_big_beyond_end": request(GET_BIG, block2=(200, False, 2)),
    "get_big_szx7_reserved": request(GET_BIG, block2=(1, False, 7)),
    "get_big_changes_midway": request(GET_BIG) + change(500) + request(GET_BIG, block2=(1, False, 2)) +
    request(GET_BIG, peer=1, block2=(1, False, 2)),
    "get_big_stateless_over_capacity": change(1500) + download(GET_BIG, 3),
    "get_big_expired": request(GET_BIG) + time(20000) + request(GET_BIG, block2=(1, False, 2)),
    "fetch_big_blocks": download(FETCH_BIG, 3, szx=1),
    "get_big_empty_body": change(0) + request(GET_BIG) + request(GET_BIG, block2=(1, False, 2)),
    "put_upload_atomic": upload(PUT_UPLOAD, 100, 1, size1=100),
    "put_upload_one_block": request(PUT_UPLOAD, block1=(0, False, 2), length=20),
    "put_upload_plain": request(PUT_UPLOAD, length=50),
    "put_upload_szx_changes": request(PUT_UPLOAD, block1=(0, True, 2), length=FULL) +
    request(PUT_UPLOAD, block1=(4, True, 0), length=FULL) +
    request(PUT_UPLOAD, block1=(5, False, 0), length=7),
    "put_upload_too_large": upload(PUT_UPLOAD, 480, 2),
    "put_upload_size1_refused": request(PUT_UPLOAD, block1=(0, True, 2), size1=5000, length=FULL),
    "put_upload_out_of_order": request(PUT_UPLOAD, block1=(0, True, 1), length=FULL) +
    request(PUT_UPLOAD, block1=(2, True, 1), length=FULL) +
    request(PUT_UPLOAD, block1=(1, False, 1), length=3),
    "put_upload_repeated_block": request(PUT_UPLOAD, block1=(0, True, 1), length=FULL) +
    request(PUT_UPLOAD, block1=(1, True, 1), length=FULL) +
    request(PUT_UPLOAD, block1=(1, True, 1), length=FULL) +
    request(PUT_UPLOAD, block1=(2, False, 1), length=9),
    "put_upload_wrong_size": request(PUT_UPLOAD, block1=(0, True, 2), length=10),
    "put_upload_without_start": request(PUT_UPLOAD, block1=(3, False, 2), length=10),
    "put_upload_content_format_changes": request(PUT_UPLOAD, block1=(0, True, 1), length=FULL,
                                                 content_format=0) +
    request(PUT_UPLOAD, block1=(1, False, 1), length=4, content_format=50),
    "put_upload_request_tags": request(PUT_UPLOAD, block1=(0, True, 1), tag=b"a", length=FULL) +
    request(PUT_UPLOAD, block1=(0, True, 1), tag=b"b", length=FULL) +
    request(PUT_UPLOAD, block1=(1, False, 1), tag=b"a", length=5) +
    request(PUT_UPLOAD, block1=(1, False, 1), tag=b"", length=5) +
    request(PUT_UPLOAD, block1=(1, False, 1), tag=b"b", length=6),
    "put_upload_pool_full": b"".join(
        request(PUT_UPLOAD, peer=p % 3, block1=(0, True, 0), tag=bytes([p]), length=FULL)
        for p in range(5)),
    "put_upload_two_peers": request(PUT_UPLOAD, peer=0, block1=(0, True, 1), length=FULL) +
    request(PUT_UPLOAD, peer=1, block1=(0, True, 1), length=FULL) +
    request(PUT_UPLOAD, peer=1, block1=(1, False, 1), length=1) +
    request(PUT_UPLOAD, peer=0, block1=(1, False, 1), length=2),
    "put_upload_expires": request(PUT_UPLOAD, block1=(0, True, 1), length=FULL) + time(11000) +
    request(PUT_UPLOAD, block1=(1, False, 1), length=4),
    "post_echo_block1_then_block2": upload(POST_ECHO, 200, 2) +
    b"".join(request(POST_ECHO, block2=(n, False, 2)) for n in range(1, 4)),
    "post_echo_block1_with_block2_szx0": request(POST_ECHO, block1=(0, True, 2), length=FULL) +
    request(POST_ECHO, block1=(1, False, 2), block2=(0, False, 0), length=36) +
    request(POST_ECHO, block2=(1, False, 0)),
    "post_echo_later_block_lost": request(POST_ECHO, block2=(2, False, 2)),
    "non_requests": request(GET_BIG, non=True) + request(PUT_UPLOAD, non=True,
                                                         block1=(0, True, 1), length=FULL),
    "duplicate_con": request(GET_BIG, mid=0x42) + request(GET_BIG, block2=(1, False, 2), mid=0x42),
    "raw_block_options": raw(bytes([0x40, 0x01, 0x00, 0x01, 0xb3]) + b"big" +
                             bytes([0xc1, 0x1a, 0x41, 0x0f])) +
    raw(bytes([0x40, 0x03, 0x00, 0x02, 0xb6]) + b"upload" + bytes([0xd3, 0x03, 0x00, 0x00, 0x0a])),
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
