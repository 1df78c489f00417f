#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_uri into fuzz/corpus/uri/.

Each seed is one URI (RFC 7252 section 6, RFC 3986, RFC 6874): the target splits it, turns it
into options and composes it back, and also reads it, after its first byte, as a relative
reference (the first byte picks append_path_and_query, append_path or append_query). Run from
anywhere; the output is deterministic and the files are committed.
"""

from pathlib import Path
import shutil

OUT = Path(__file__).resolve().parent / "corpus" / "uri"

SEEDS = {
    # RFC 7252 section 6.3 examples of equivalent URIs.
    "rfc7252_6_3_a": "coap://example.com:5683/~sensors/temp.xml",
    "rfc7252_6_3_b": "coap://EXAMPLE.com/%7Esensors/temp.xml",
    "rfc7252_6_3_c": "coap://EXAMPLE.com:/%7esensors/temp.xml",
    "coaps_default_port": "coaps://[2001:db8::2:1]/",
    "coaps_other_port": "COAPS://[2001:db8::2:1]:5683/x",
    "ipv4_port_query": "coap://192.0.2.1:61616/sensors/temp?unit=celsius&fmt=json",
    "ipv4_leading_zero_is_reg_name": "coap://192.0.2.01/a",
    "ipv6_zone": "coap://[fe80::1%25eth0]:1234/.well-known/core?rt=temp",
    "ipv6_embedded_ipv4": "coap://[::ffff:192.0.2.1]/",
    "ipvfuture": "coap://[v1.fe80::a+en1]/p",
    "reg_name_percent": "coap://%45xample.%63om/%2Fa%2fb/%25?%26=%3D&x",
    "host_decodes_to_ipv4": "coap://%31.2.3.4/",
    "dot_segments": "coap://h/a/./b/../c/./..",
    "dot_segment_at_end": "coap://h/a/.",
    # Not "coap://h/%2E": see fuzz/regressions/uri/ (compose_uri writes Uri-Path "." as is).
    "empty_segments": "coap://h//a//",
    "empty_query": "coap://h/p?",
    "query_with_slash_question": "coap://h/p?a/b?c&&d=",
    "non_ascii_path": "coap://h/%C3%A9t%C3%A9?%FF",
    "sub_delims": "coap://h/!$&'()*+,;=:@/x?!$'()*+,;=:@/?",
    "max_port": "coap://h:65535",
    "empty_port": "coap://h:/",
    # Rejected ones, each for another reason.
    "bad_fragment": "coap://h/p#frag",
    "bad_scheme": "http://h/p",
    "bad_no_authority": "coap:/h/p",
    "bad_empty_host": "coap:///p",
    "bad_unterminated_literal": "coap://[::1/p",
    "bad_port_overflow": "coap://h:65536/",
    "bad_percent": "coap://h/%G1",
    "bad_space": "coap://h/a b",
    "bad_userinfo": "coap://user@h/",
    "long_segment": "coap://h/" + "s" * 256,
    "many_segments": "coap://h" + "/x" * 40,
    # Relative references: the first byte selects the builder call (0, 1, 2 modulo 3).
    "relative_path_and_query": "0/sensors/temp?unit=celsius&x",
    "relative_path": "1a/../../b/./c/",
    "relative_query": "2unit=celsius&&fmt=%26",
}


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    for name, text in sorted(SEEDS.items()):
        (OUT / name).write_bytes(text.encode())
    print(f"wrote {len(SEEDS)} seeds to {OUT}")


if __name__ == "__main__":
    main()
