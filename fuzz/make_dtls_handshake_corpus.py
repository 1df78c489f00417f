#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_dtls_handshake into fuzz/corpus/dtls_handshake/.

An input is 4 configuration bytes (server flags, then flags for each of the three clients; see
server_config() and client_setup() in dtls_handshake_setup.hpp), then operations [op 1B][fields]. The
seeds run whole handshakes (full, resumed, with loss, duplication, reordering, corruption,
small MTUs, full tables, timeouts) so that the fuzzer starts from deep states.

With every datagram delivered in order, a full handshake is six datagrams: ClientHello,
HelloVerifyRequest, ClientHello with cookie, ServerHello..ServerHelloDone, ClientKeyExchange +
ChangeCipherSpec + Finished, ChangeCipherSpec + Finished. A resumed one is five: ClientHello,
HelloVerifyRequest, ClientHello with cookie, ServerHello + CCS + Finished, CCS + Finished.
"""

from pathlib import Path

OUT = Path(__file__).resolve().parent / "corpus" / "dtls_handshake"

(DELIVER, DROP, DUPLICATE, CORRUPT, TRUNCATE, INJECT, TIME, SECONDS, DEADLINE, CONNECT, CLOSE,
 DATA, VERIFY, DELIVER_ALL) = range(14)

# Server flags.
NO_EMS, HINT, NO_RESUMPTION = 0x01, 0x02, 0x04
ONE_SESSION, ONE_SLOT = 0x08, 0x20
SERVER_MTU_128, SERVER_MTU_64 = 0x80, 0xC0
# Client flags.
CLIENT_NO_EMS, CLIENT_NO_RESUME = 0x01, 0x02
CLIENT_2, WRONG_KEY, UNKNOWN = 0x04, 0x08, 0x0C
CLIENT_MTU_160, CLIENT_MTU_64 = 0x20, 0x30


def config(server=0, c0=0, c1=0, c2=0):
    return bytes([server, c0, c1, c2])


def deliver(which=0):
    return bytes([DELIVER, which])


def drop(which=0):
    return bytes([DROP, which])


def duplicate(which=0):
    return bytes([DUPLICATE, which])


def corrupt(which, offset, flip):
    return bytes([CORRUPT, which]) + offset.to_bytes(2, "big") + bytes([flip])


def truncate(which, length):
    return bytes([TRUNCATE, which]) + length.to_bytes(2, "big")


def inject(who, data):
    return bytes([INJECT, who, len(data)]) + data


def time_ms(ms):
    return bytes([TIME]) + ms.to_bytes(2, "big")


def seconds(s):
    return bytes([SECONDS, s])


def deadline():
    return bytes([DEADLINE])


def connect(k=0):
    return bytes([CONNECT, k])


def close(k=0, by_server=False):
    return bytes([CLOSE, k | (0x80 if by_server else 0)])


def data(k=0, length=8):
    return bytes([DATA, k, length])


def verify(k=0):
    return bytes([VERIFY, k])


def deliver_all():
    return bytes([DELIVER_ALL])


def handshake(k=0):
    return connect(k) + deliver_all() + verify(k)


def client_hello(cookie=b"", session_id=b"", ems=True, sequence=0):
    """A DTLS 1.2 ClientHello record offering TLS_PSK_WITH_AES_128_CCM_8 (RFC 6347 §4.2.1)."""
    body = b"\xfe\xfd" + bytes(range(32))
    body += bytes([len(session_id)]) + session_id + bytes([len(cookie)]) + cookie
    body += b"\x00\x02\xc0\xa8" + b"\x01\x00"
    extensions = (b"\x00\x17\x00\x00" if ems else b"") + b"\xff\x01\x00\x01\x00"
    body += len(extensions).to_bytes(2, "big") + extensions
    length = len(body).to_bytes(3, "big")
    message = b"\x01" + length + b"\x00\x00" + b"\x00\x00\x00" + length + body
    return (b"\x16\xfe\xfd\x00\x00" + sequence.to_bytes(6, "big") +
            len(message).to_bytes(2, "big") + message)


def application_record(epoch=1, sequence=1, payload=bytes(24)):
    return (b"\x17\xfe\xfd" + epoch.to_bytes(2, "big") + sequence.to_bytes(6, "big") +
            len(payload).to_bytes(2, "big") + payload)


FULL_STEPS = deliver() * 6
RESUMED_STEPS = deliver() * 5

SEEDS = {
    "full_handshake": config() + handshake() + data() + deliver_all(),
    "three_clients": config() + connect(0) + connect(1) + connect(2) + deliver_all() +
                     verify(0) + verify(1) + verify(2),
    "no_ems_with_hint": config(NO_EMS | HINT, CLIENT_NO_EMS, 0) + handshake(0) + handshake(1),
    "client_without_ems": config(0, CLIENT_NO_EMS) + handshake(),
    "resumption": config() + handshake() + close() + deliver_all() + handshake(),
    "resumption_no_cache": config(NO_RESUMPTION) + handshake() + close() + deliver_all() +
                           handshake(),
    "resumption_refused_by_client": config(0, CLIENT_NO_RESUME) + handshake() + close() +
                                    deliver_all() + handshake(),
    "reconnect_while_established": config() + handshake() + handshake() + data() + deliver_all(),
    "resumption_lost_client_finished": config() + handshake() + close() + deliver_all() +
                                       connect() + deliver() * 4 + drop() + deadline() +
                                       deliver_all() + verify(),
    "wrong_key": config(0, WRONG_KEY) + handshake() + deadline() + deliver_all(),
    "unknown_identity": config(0, UNKNOWN) + handshake(),
    "second_identity": config(HINT, CLIENT_2) + handshake(),
    "server_mtu_64": config(SERVER_MTU_64) + handshake() + duplicate() + data() + deliver_all(),
    "server_mtu_128_reordered": config(SERVER_MTU_128 | HINT) + connect() + deliver() * 3 +
                                deliver(1) + deliver(0) + deliver_all() + verify(),
    "client_mtu_160": config(0, CLIENT_MTU_160) + handshake(),
    "client_mtu_64": config(0, CLIENT_MTU_64) + connect() + deliver_all() + deadline() * 4,
    "lost_hello_verify_request": config() + connect() + deliver() + drop() + deadline() +
                                 deliver_all() + verify(),
    "lost_server_flight": config() + connect() + deliver() * 3 + drop() + deadline() +
                          deliver_all() + verify(),
    "lost_client_flight": config() + connect() + deliver() * 4 + drop() + deadline() +
                          deliver_all() + verify(),
    "lost_final_server_flight": config() + connect() + deliver() * 5 + drop() + deadline() +
                                deliver_all() + verify(),
    "duplicated_flights": config() + connect() + (duplicate() + deliver()) * 6 + deliver_all() +
                          verify(),
    "corrupted_finished": config() + connect() + deliver() * 4 + corrupt(0, 60, 0x40) +
                          deliver_all() + deadline() + deliver_all(),
    "corrupted_hello": config() + connect() + deliver() * 2 + corrupt(0, 30, 0x01) +
                       deliver_all() + deadline() + deliver_all() + verify(),
    "truncated_server_flight": config() + connect() + deliver() * 3 + truncate(0, 40) +
                               deliver_all() + deadline() + deliver_all() + verify(),
    "one_session_two_clients": config(ONE_SESSION) + handshake(0) + handshake(1) + verify(0),
    "one_handshake_slot": config(ONE_SLOT) + connect(0) + connect(1) + connect(2) +
                          deliver_all() + deadline() + deliver_all() + deadline() +
                          deliver_all() + verify(0) + verify(1) + verify(2),
    "idle_expiry": config() + handshake() + seconds(61) + data() + deliver_all() + verify(),
    "cookie_rotation": config() + connect() + deliver() + seconds(70) + deliver_all() +
                       deadline() + deliver_all() + verify(),
    "handshake_gives_up": config() + connect() + deliver() + deadline() * 5 + deliver_all(),
    "attacker_client_hello": config() + inject(3, client_hello()) +
                             inject(4, client_hello(cookie=bytes(16), ems=False)),
    "spoofed_hello_from_client": config() + handshake() + inject(0, client_hello(sequence=5)) +
                                 deliver_all() + verify(),
    "garbage_to_client": config() + connect() + deliver() * 3 + inject(5, application_record()) +
                         inject(6 | 8, client_hello()) + deliver_all() + verify(),
    "spliced_records": config() + connect() + deliver() * 2 +
                       inject(7, application_record(epoch=0, sequence=9)) + deliver_all() +
                       deadline() + deliver_all() + verify(),
    "replayed_application_data": config() + handshake() + data(0, 20) + duplicate(0) +
                                 duplicate(1) + deliver_all() + verify(),
    "server_closes": config() + handshake() + close(0, by_server=True) + deliver_all() +
                     handshake(),
    "client_closes_mid_handshake": config() + connect() + deliver() * 3 + close() +
                                   deliver_all() + handshake(),
    "reconnect_mid_handshake": config() + connect() + deliver() * 2 + connect() + deliver_all() +
                               verify(),
    "time_steps": config() + connect() + deliver() + time_ms(900) + deliver() + time_ms(1500) +
                  deliver_all() + verify(),
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, seed in SEEDS.items():
        (OUT / name).write_bytes(seed)
    print(f"{len(SEEDS)} seeds in {OUT}")


if __name__ == "__main__":
    main()
