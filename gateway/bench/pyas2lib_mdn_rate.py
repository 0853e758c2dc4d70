#!/usr/bin/env python3
"""pyas2lib 1.4.4's server-side rate for small messages: Message.parse (decrypt, verify
the signature against PartnerA's certificate chained to the CA, and build the signed
synchronous MDN the message asks for) in a loop on one thread, for gateway/bench/measure.sh.

    pyas2lib_mdn_rate.py --pki DIR --dir DIR [--seconds S]

DIR holds the messages `cargo run -p as2-gateway --example load -- build` wrote
(NNNNN.http: headers, a blank line, the body). The organisation and partner objects are
made once (their keys parsed once), as a server would keep them. Run with the venv
python from tests/pyas2lib/setup.sh. Prints one JSON line.
"""
import argparse
import glob
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests", "pyas2lib"))
import peer  # noqa: E402  (tests/pyas2lib/peer.py: the PKI helpers)


def thread_cpu_seconds():
    """CPU time of this (main) thread, as the Rust side reads it (/proc/self/schedstat)."""
    with open("/proc/self/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pki", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()

    from pyas2lib import Message

    pki = peer.Pki(args.pki)
    org = pki.organization("PartnerB")
    partner = pki.partner("PartnerA", sign=True, encrypt=True)
    messages = [peer.read_bytes(p) for p in sorted(glob.glob(os.path.join(args.dir, "*.http")))]
    if not messages:
        sys.exit(f"no .http files in {args.dir}")

    done = 0
    mdn_bytes = 0
    start = time.perf_counter()
    cpu_start = thread_cpu_seconds()
    while done == 0 or time.perf_counter() - start < args.seconds:
        for raw in messages:
            msg = Message()
            status, (exc, _tb), mdn = msg.parse(
                raw,
                find_org_cb=lambda _as2_id: org,
                find_partner_cb=lambda _as2_id: partner,
                find_message_cb=lambda _message_id, _partner_id: False,
            )
            if status != "processed":
                sys.exit(f"pyas2lib refused a message: {status} {exc}")
            if mdn is None or mdn.payload.get_content_type() != "multipart/signed":
                sys.exit("pyas2lib built no signed MDN")
            mdn_bytes += len(mdn.content)
            done += 1
    elapsed = time.perf_counter() - start
    cpu = thread_cpu_seconds() - cpu_start
    print(json.dumps({
        "mode": "pyas2lib",
        "distinct_messages": len(messages),
        "messages": done,
        "seconds": elapsed,
        "per_second": done / elapsed,
        "cpu_seconds": cpu,
        "per_cpu_second": done / cpu,
        "mdn_bytes_mean": mdn_bytes // done,
    }))


if __name__ == "__main__":
    main()
