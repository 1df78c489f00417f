#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_client_datagram into fuzz/corpus/client_datagram/.

Each seed is a script of operations for the target (see the `Op` enum and the comment on
Harness::reply in client_datagram.cc): server replies built from the client's own datagrams,
raw datagrams, time steps, submissions, cancellations and reads. The scenarios walk the paths
worth mutating from: piggybacked and separate responses, Block2 downloads, Block1 uploads with
2.31, Echo retries, observations with CON, NON and block-wise notifications, deregistration,
timeouts and resets. Deterministic; the files are committed.
"""

from pathlib import Path
import shutil

OUT = Path(__file__).resolve().parent / "corpus" / "client_datagram"

REPLY, RAW, TIME, SECONDS, DEADLINE, SUBMIT, CANCEL, COMPLETION, NOTIFICATION, FAIL = range(10)
# Reply kinds.
PIGGYBACK, EMPTY_ACK, CON, NON, RST, OTHER_TOKEN = range(6)
# Code menu indices (reply_codes in the target).
CONTENT, CHANGED, CONTINUE, CREATED, VALID, NOT_FOUND, UNAUTHORIZED, INCOMPLETE, TOO_LARGE, \
    UNAVAILABLE, BAD_REQUEST, EMPTY_CODE = range(12)
# Requests, by path (the latest datagram sent to it).
A, BIG, UP, OBS = 0x80, 0x81, 0x82, 0x83
# Submissions (Harness::submit).
GET_A, NON_GET_A, GET_BIG, PUT_UP, PUT_UP_AGAIN, OBSERVE, NON_POST_UP, FETCH_OBSERVE = range(8)


def block(szx=1, more=False, num=None):
    """Block2 field: num None means the NUM the request asked for."""
    return ((0 if num is None else num + 1) << 4) | (8 if more else 0) | szx


def reply(which, kind=PIGGYBACK, code=CONTENT, block2=None, block1=None, observe=None, etag=None,
          echo=None, size2=None, mid=None, length=0, full_block=False):
    flags = 0
    fields = b""
    if block2 is not None:
        flags |= 0x01
        fields += bytes([block2])
    if block1 is not None:
        flags |= 0x02
        fields += bytes([block1])
    if observe is not None:
        flags |= 0x04
        fields += bytes([observe]) if observe < 0xff else b"\xff" + (observe - 0xff).to_bytes(3, "big")
    if etag is not None:
        flags |= 0x08
        fields += bytes([etag])
    if echo is not None:
        flags |= 0x10
        fields += echo
    if size2 is not None:
        flags |= 0x20
        fields += size2.to_bytes(2, "big")
    if kind in (CON, NON):
        if mid is None:
            flags |= 0x40
        else:
            fields += mid.to_bytes(2, "big")
    if full_block:
        flags |= 0x80
    else:
        fields += bytes([length])
    return bytes([REPLY, which, kind, code, flags]) + fields


def op(code, *fields):
    return bytes([code, *fields])


def ms(value):
    return bytes([TIME]) + value.to_bytes(2, "big")


FIRST = reply(A)  # answers the first CON GET: NSTART opens and the other four go out
POP_ALL = op(COMPLETION, 0) * 6 + op(NOTIFICATION, 0) * 3 + op(NOTIFICATION, 1) * 2

SEEDS = {
    "all_piggybacked": FIRST + reply(A, NON) + reply(BIG) + reply(UP, code=CHANGED) +
    reply(OBS, observe=1) + POP_ALL,
    "block2_download": FIRST + reply(BIG, block2=block(more=True), etag=1, size2=100,
                                     full_block=True) +
    reply(BIG, block2=block(more=True), etag=1, full_block=True) +
    reply(BIG, block2=block(more=True), etag=1, full_block=True) +
    reply(BIG, block2=block(), etag=1, length=4) + POP_ALL,
    "block2_etag_changes": FIRST + reply(BIG, block2=block(more=True), etag=1, full_block=True) +
    reply(BIG, block2=block(more=True), etag=2, full_block=True) + POP_ALL,
    "block2_out_of_order": FIRST + reply(BIG, block2=block(more=True, num=0), full_block=True) +
    reply(BIG, block2=block(more=True, num=3), full_block=True) + POP_ALL,
    "block2_too_large": FIRST + b"".join(
        reply(BIG, block2=block(szx=5, more=True), full_block=True) for _ in range(3)) + POP_ALL,
    "block2_smaller_size": FIRST + reply(BIG, block2=block(szx=0, more=True), full_block=True) +
    reply(BIG, block2=block(szx=0), length=3) + POP_ALL,
    "block1_upload_continue": FIRST + b"".join(
        reply(UP, code=CONTINUE, block1=0xfe) for _ in range(3)) +
    reply(UP, code=CHANGED, block1=0xff) + POP_ALL,
    "block1_server_smaller_size": FIRST + reply(UP, code=CONTINUE, block1=0x08) +
    reply(UP, code=CONTINUE, block1=0xfe) + reply(UP, code=CHANGED, block1=0xff) + POP_ALL,
    "block1_too_large": FIRST + reply(UP, code=TOO_LARGE, size2=64) + POP_ALL,
    "block1_then_block2": FIRST + reply(UP, code=CONTINUE, block1=0xfe) * 3 +
    reply(UP, code=CHANGED, block1=0xff, block2=block(more=True), full_block=True) +
    reply(UP, code=CHANGED, block2=block(), length=5) + POP_ALL,
    "two_uploads_request_tag": FIRST + op(SUBMIT, PUT_UP_AGAIN) + reply(UP, code=CONTINUE,
                                                                       block1=0xfe) * 4 + POP_ALL,
    "separate_response": FIRST + reply(BIG, EMPTY_ACK) + reply(BIG, CON, length=9) +
    reply(BIG, CON, mid=0x8000, length=9) + POP_ALL,
    "separate_response_lost": reply(A, EMPTY_ACK) + op(SECONDS, 30) + op(DEADLINE) + POP_ALL,
    "reset": reply(A, RST) + reply(BIG, RST) + POP_ALL,
    "wrong_token": reply(A, OTHER_TOKEN) + POP_ALL,
    "echo_retry": reply(A, code=UNAUTHORIZED, echo=b"\x01\x02") +
    reply(A, code=UNAUTHORIZED, echo=b"\x03\x04") + POP_ALL,
    "timeouts": op(DEADLINE) * 6 + op(SECONDS, 100) * 4 + POP_ALL,
    "retransmit_then_answer": ms(2500) + ms(5000) + reply(A) + op(DEADLINE) * 3 + POP_ALL,
    "observe_notifications": FIRST + reply(OBS, observe=1) + reply(OBS, CON, observe=1) +
    reply(OBS, NON, observe=1) + reply(OBS, NON, observe=0xff + 3) + op(NOTIFICATION, 0) * 4,
    "observe_blockwise_notification": FIRST + reply(OBS, observe=1) +
    reply(OBS, NON, observe=1, block2=block(more=True, num=0), etag=2, full_block=True) +
    reply(OBS, block2=block(more=True), etag=2, full_block=True) +
    reply(OBS, block2=block(), etag=2, length=7) + op(NOTIFICATION, 0) * 3 +
    op(NOTIFICATION, 0x80),
    "observe_blockwise_superseded": FIRST + reply(OBS, observe=1) +
    reply(OBS, NON, observe=1, block2=block(more=True, num=0), etag=2, full_block=True) +
    reply(OBS, NON, observe=1, etag=3, length=4) + reply(OBS, block2=block(), etag=2, length=7) +
    op(NOTIFICATION, 0) * 3,
    "observe_error_ends": FIRST + reply(OBS, observe=1) + reply(OBS, CON, code=NOT_FOUND) +
    op(NOTIFICATION, 0) * 3 + reply(OBS, CON, observe=1),
    "observe_cancel": FIRST + reply(OBS, observe=1) + op(CANCEL, 0) + reply(OBS) +
    op(NOTIFICATION, 0) * 3,
    "observe_cancel_while_registering": FIRST + op(CANCEL, 0) + reply(OBS, observe=1) +
    reply(OBS, NON, observe=1) + op(NOTIFICATION, 0) * 3,
    "observe_fetch_second": FIRST + op(SUBMIT, FETCH_OBSERVE) + reply(OBS, observe=1) +
    reply(OBS, observe=1) + op(NOTIFICATION, 0) + op(NOTIFICATION, 1),
    "duplicate_con_response": reply(A, EMPTY_ACK) + reply(A, CON, mid=0x1234) +
    reply(A, CON, mid=0x1234) + POP_ALL,
    "malformed_and_requests": op(RAW, 5, 0x40, 0x01, 0x00, 0x07, 0xf1) +
    op(RAW, 4, 0x40, 0x00, 0x00, 0x09) + op(RAW, 4, 0x50, 0x45, 0x00, 0x0a) +
    op(RAW, 6, 0x42, 0x45, 0x00, 0x00, 0x01, 0x02) + POP_ALL,
    "busy_submissions": FIRST + b"".join(op(SUBMIT, w) for w in range(8)) * 2 + POP_ALL,
    "non_post_upload": FIRST + op(SUBMIT, NON_POST_UP) + reply(UP, NON, code=CONTINUE,
                                                            block1=0xfe) + POP_ALL,
    "fail_all": FIRST + reply(OBS, observe=1) + op(FAIL) + POP_ALL,
    "take_specific_completion": FIRST + reply(A, NON) + reply(BIG) + op(COMPLETION, 0x81) +
    op(COMPLETION, 0x82) + POP_ALL,
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
