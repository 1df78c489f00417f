#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_observe into fuzz/corpus/observe/.

Each seed is a script for the target (see observe.cc): registrations and deregistrations
(RFC 7641 sections 3.1, 3.6, 4.1) from three endpoints, publishes, notification rounds with
small and large sink budgets, ACK and RST of notifications (section 4.5), CON retransmission
and timeout, error notifications (section 4.2), block-wise notifications (RFC 7959 section 2.6)
and a full observer table. Deterministic; the files are committed.
"""

from pathlib import Path
import shutil

OUT = Path(__file__).resolve().parent / "corpus" / "observe"

REQUEST, ACK, RESET, RAW, PUBLISH, TIMERS = range(6)
R0, R1, R2, R3, BIG, ERR, PLAIN = range(7)
SMALL, LARGE, NOT_FOUND, MAX_AGE, EMPTY = range(5)
CONFIRMABLE = 0x80

mid_counter = [0x200]


def request(path, peer=0, token=b"\x01", observe=0, non=False, fetch=False, block2=None):
    """observe: None (no option), 0, 1, or any other value."""
    mid = mid_counter[0]
    mid_counter[0] += 1
    if observe is None:
        mode, extra = 0, b""
    elif observe in (0, 1):
        mode, extra = observe + 1, b""
    else:
        mode, extra = 3, bytes([observe])
    flags = (1 if non else 0) | (path << 1) | (0x10 if fetch else 0) | (mode << 6)
    if block2 is not None:
        flags |= 0x20
        extra += bytes([block2])
    return (bytes([REQUEST, peer, flags]) + mid.to_bytes(2, "big") + bytes([len(token)]) +
            token + extra)


def ack(which=0):
    return bytes([ACK, which])


def reset(which=0):
    return bytes([RESET, which])


def publish(resource, kind=SMALL):
    return bytes([PUBLISH, resource, kind])


def timers(ms=100, budget=7, accept=7):
    return bytes([TIMERS]) + (ms // 4).to_bytes(2, "big") + bytes([budget, accept])


def raw(peer, datagram):
    return bytes([RAW, peer, len(datagram)]) + datagram


SEEDS = {
    "register_and_notify": request(R0) + publish(0) + timers() + publish(0) + timers(),
    "register_three_peers": request(R0, 0) + request(R0, 1) + request(R0, 2, b"") +
    publish(0) + timers() + publish(0) + timers(budget=1) + timers(budget=1) + timers(),
    "table_full": b"".join(request(R0 + (i % 3), i % 3, bytes([i])) for i in range(6)) +
    publish(0) + publish(1) + timers(),
    "refresh_same_token": request(R0) + publish(0) + timers() + request(R0) + request(R1) +
    publish(1) + timers(),
    "deregister": request(R0) + publish(0) + timers() + request(R0, observe=1) + publish(0) +
    timers(),
    "reset_notification": request(R0) + publish(0) + timers() + reset(0) + publish(0) + timers(),
    "reset_old_notification": request(R0) + publish(0) + timers() + publish(0) + timers() +
    reset(1) + publish(0) + timers(),
    "con_ack": request(R0) + publish(0, SMALL | CONFIRMABLE) + timers() + ack(0) +
    publish(0, SMALL | CONFIRMABLE) + timers(),
    "con_retransmit_superseded": request(R0) + publish(0, SMALL | CONFIRMABLE) + timers() +
    publish(0) + timers(3000) + timers(6000) + ack(0) + timers(),
    "con_timeout": request(R0) + publish(0, SMALL | CONFIRMABLE) + timers() +
    timers(3000) * 4 + timers(13000) * 2 + publish(0) + timers(),
    "con_interval": request(R1) + b"".join(publish(1) + timers() for _ in range(4)) + ack(0),
    "error_notification_non": request(R2) + publish(2, NOT_FOUND) + timers() + publish(2) +
    timers(),
    "error_notification_con": request(R2) + publish(2, NOT_FOUND | CONFIRMABLE) + timers() +
    timers(3000) + ack(0) + timers(3000),
    "error_then_reregister": request(R2) + publish(2, NOT_FOUND) + timers() + request(R2) +
    publish(2) + timers(),
    "blockwise_notification": request(R0) + publish(0, LARGE) + timers() +
    request(R0, block2=0x12, observe=None),
    "block2_registration_szx0": request(BIG, block2=0x00) + publish(0, LARGE) + timers(),
    "big_registration_then_next_block": request(BIG) + request(BIG, observe=None, block2=0x12),
    "fetch_registration": request(R1, fetch=True) + publish(1, MAX_AGE) + timers(),
    "non_registration": request(R0, non=True) + publish(0, EMPTY) + timers(),
    "error_answer_ends": request(R1) + request(ERR) + request(ERR, token=b"\x01") + publish(1) +
    timers(),
    "unknown_resource": request(R3) + request(PLAIN) + publish(3) + timers(),
    "observe_other_value": request(R0, observe=7) + request(R0, observe=0x20) + publish(0) +
    timers(),
    "budget_zero_then_open": request(R0, 0) + request(R0, 1) + publish(0) + timers(budget=0) +
    timers(budget=1, accept=0) + timers(budget=2, accept=1) + timers(),
    "republish_during_round": request(R0, 0) + request(R0, 1) + request(R0, 2) + publish(0) +
    timers(budget=1) + publish(0) + timers(budget=1) + publish(0, LARGE) + timers(),
    "duplicate_registration": request(R0) + bytes([REQUEST, 0, 0x40]) +
    (mid_counter[0] - 1).to_bytes(2, "big") + b"\x01\x01" + publish(0) + timers(),
    "raw_ack_and_garbage": request(R0) + publish(0, CONFIRMABLE) + timers() +
    raw(0, b"\x60\x00\x00\x00") + raw(1, b"\x40\x01\x00") + raw(2, b"\x70\x00\x12\x34"),
    "long_token": request(R0, token=bytes(range(8))) + publish(0) + timers() + reset(0),
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
