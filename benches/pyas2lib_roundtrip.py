#!/usr/bin/env python3
"""pyas2lib 1.4.4 doing what `as2 send` / `as2 receive` do, for benches/compare.sh.

Run with the venv python from tests/pyas2lib/setup.sh:

    pyas2lib_roundtrip.py build --pki DIR --payload FILE --out DIR [--compress]
    pyas2lib_roundtrip.py parse --pki DIR --in DIR --out DIR
    pyas2lib_roundtrip.py both  --pki DIR --payload FILE --out DIR [--compress]

PartnerA sends to PartnerB (application/octet-stream, so that pyas2lib sends the payload
as binary and does not rewrite its line ends) with a SHA-256 signature, AES-256-CBC encryption and a signed
sync MDN request, as the CLI rows of the comparison do. `build` writes headers.json and
body.bin (as peer.py send does); `parse` reads them and writes payload.bin (as
peer.py receive does); `both` builds and parses in one process, as the issue asks.
Each prints one JSON line with the seconds spent in pyas2lib itself.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "pyas2lib"))
import peer  # noqa: E402  (tests/pyas2lib/peer.py: the PKI helpers)


def build(pki, payload, compress):
    from pyas2lib import Message
    org = pki.organization("PartnerA")
    partner = pki.partner("PartnerB", sign=True, digest_alg="sha256", encrypt=True,
                          enc_alg="aes_256_cbc", compress=compress, mdn_mode="SYNC",
                          mdn_digest_alg="sha256")
    msg = Message(org, partner)
    msg.build(payload, filename="po.x12", content_type="application/octet-stream")
    body = msg.content if isinstance(msg.content, bytes) else msg.content.encode()
    return dict(msg.headers.items()), body


def parse(pki, headers, body):
    from pyas2lib import Message
    msg = Message()
    status, (exc, _tb), _mdn = msg.parse(
        peer.raw_http(list(headers.items()), body),
        find_org_cb=lambda as2_id: pki.organization(as2_id),
        find_partner_cb=lambda as2_id: pki.partner(as2_id, sign=True, encrypt=True),
        find_message_cb=lambda message_id, partner_id: False,
    )
    if status != "processed":
        sys.exit(f"pyas2lib refused the message: {status} {exc}")
    payload = msg.content
    return payload if isinstance(payload, bytes) else payload.encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("build", "parse", "both"))
    ap.add_argument("--pki", required=True)
    ap.add_argument("--payload")
    ap.add_argument("--in", dest="indir")
    ap.add_argument("--out", required=True)
    ap.add_argument("--compress", action="store_true")
    args = ap.parse_args()
    pki = peer.Pki(args.pki)
    os.makedirs(args.out, exist_ok=True)
    report = {}
    if args.mode in ("build", "both"):
        payload = peer.read_bytes(args.payload)
        t = time.perf_counter()
        headers, body = build(pki, payload, args.compress)
        report["build_s"] = time.perf_counter() - t
        if args.mode == "build":
            peer.write_json(os.path.join(args.out, "headers.json"), headers)
            peer.write_bytes(os.path.join(args.out, "body.bin"), body)
    else:
        headers = json.load(open(os.path.join(args.indir, "headers.json")))
        body = peer.read_bytes(os.path.join(args.indir, "body.bin"))
    if args.mode in ("parse", "both"):
        t = time.perf_counter()
        received = parse(pki, headers, body)
        report["parse_s"] = time.perf_counter() - t
        if args.mode == "both" and received != payload:
            sys.exit("pyas2lib round trip changed the payload")
        peer.write_bytes(os.path.join(args.out, "payload.bin"), received)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
