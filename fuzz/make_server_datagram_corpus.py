#!/usr/bin/env python3
"""Adds the Observe and Block2 seeds to fuzz/corpus/server_datagram/ (the older seeds there were
written by hand and are left as they are).

A seed is a list of records [endpoint 1B][time step ms 2B][action 1B][length 2B][datagram]; action
bit 0 answers a deferral, bit 1 runs the timers, bit 2 publishes a new /obs representation.
"""

from pathlib import Path

OUT = Path(__file__).resolve().parent / "corpus" / "server_datagram"

CON, NON, ACK, RST = 0, 1, 2, 3
GET = 1
TIMERS, PUBLISH = 2, 4


def message(mtype, code, mid, token=b"", options=(), payload=b""):
    """Options are (number, value) pairs in ascending order, with values under 13 bytes."""
    out = bytearray([0x40 | (mtype << 4) | len(token), code, mid >> 8, mid & 0xFF]) + token
    last = 0
    for number, value in options:
        delta = number - last
        if delta < 13:
            out.append((delta << 4) | len(value))
        else:
            out += bytes([(13 << 4) | len(value), delta - 13])
        out += value
        last = number
    if payload:
        out += b"\xff" + payload
    return bytes(out)


def record(datagram, endpoint=0, step_ms=10, action=0):
    return bytes([endpoint]) + step_ms.to_bytes(2, "big") + bytes([action]) + \
        len(datagram).to_bytes(2, "big") + datagram


def block2(num, szx):
    value = (num << 4) | szx
    return value.to_bytes(1, "big") if value < 256 else value.to_bytes(2, "big")


OBS = (11, b"obs")
LARGE = (11, b"large")

SEEDS = {
    "observe_register_notify_reset":
        record(message(CON, GET, 0x10, b"\x0b", [(6, b""), OBS])) +
        record(message(CON, GET, 0x11, b"\x0c", [(6, b""), OBS]), endpoint=1) +
        record(b"", action=PUBLISH | TIMERS) +
        record(message(RST, 0, 0), step_ms=100) +
        record(b"", action=PUBLISH | TIMERS) +
        record(message(CON, GET, 0x12, b"\x0c", [(6, b"\x01"), OBS]), endpoint=1) +
        record(b"", step_ms=3000, action=PUBLISH | TIMERS),
    "large_get_blocks":
        record(message(CON, GET, 0x20, b"\x0d", [LARGE])) +
        record(message(CON, GET, 0x21, b"\x0d", [LARGE, (23, block2(1, 3))])) +
        record(message(NON, GET, 0x22, b"\x0e", [LARGE, (23, block2(4, 3))])) +
        record(message(CON, GET, 0x23, b"\x0f", [LARGE, (23, block2(9, 2))]), endpoint=2),
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        (OUT / name).write_bytes(data)
    print(f"wrote {len(SEEDS)} seeds to {OUT}")


if __name__ == "__main__":
    main()
