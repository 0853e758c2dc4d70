#!/usr/bin/env python3
"""Regenerate tests/data/pyas2lib/: AS2 messages and MDNs made by pyas2lib.

Run with the venv python from setup.sh, from anywhere:

    "$(tests/pyas2lib/setup.sh | tail -n1)" tests/pyas2lib/make_fixtures.py

The PKI in <out>/pki is kept if it already exists (so re-running only
re-makes the messages); pass --new-pki to make a fresh one.  Every message
is parsed back with pyas2lib (as the receiving party) before it is written,
and the outcome is recorded in its meta.json, so the set is self-checking.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PEER = os.path.join(HERE, "peer.py")
DEFAULT_OUT = os.path.join(REPO, "tests", "data", "pyas2lib")

A = "pyas2lib_A"     # pyas2lib's side
B = "as2proto_B"     # our side
DOMAIN = "pyas2lib.test"
MDN_URL = "http://127.0.0.1:8080/as2/mdn"

# ---------------------------------------------------------------- payloads

X12 = (
    b"ISA*00*          *00*          *ZZ*PYAS2LIBA      *ZZ*AS2PROTOB      "
    b"*240101*1200*U*00401*000000001*0*T*>~\r\n"
    b"GS*PO*PYAS2LIBA*AS2PROTOB*20240101*1200*1*X*004010~\r\n"
    b"ST*850*0001~\r\n"
    b"BEG*00*SA*PO-4711**20240101~\r\n"
    b"PO1*1*10*EA*9.99**VP*WIDGET-1~\r\n"
    b"CTT*1~\r\n"
    b"SE*5*0001~\r\n"
    b"GE*1*1~\r\n"
    b"IEA*1*000000001~\r\n"
)

BINARY = (
    b"as2-proto binary fixture\x00NUL in the middle\r\n"
    b"--this line starts with two dashes\r\n"
    b"--\r\n"
    b"bare LF follows\nbare CR follows\rCRLF follows\r\n"
    b"\r\n\r\n"
    + bytes(range(256))
    + b"\n--=_not_a_boundary_either\n\x00\x00\xff\xfe trailing bytes, no newline"
)

# A text payload with bare LFs and trailing spaces: pyas2lib canonicalises
# line ends of non-octet-stream payloads to CRLF when it wraps them in MIME.
TEXT_LF = b"line one\nline two  \n\nline four (no final newline)"

PAYLOADS = {
    "x12": (X12, "application/EDI-X12", "po-4711.x12"),
    "binary": (BINARY, "application/octet-stream", "blob.bin"),
    "text_lf": (TEXT_LF, "application/edi-consent", None),
}

# ------------------------------------------------------------------ cases
# Messages pyas2lib_A -> as2proto_B: our receiver must accept them and
# deliver delivered_payload (== payload.bin unless noted).
MESSAGE_CASES = [
    # name, payload, sign, encrypt, compress, mdn, mdn_alg, description
    ("plain_binary", "binary", "none", "none", False, "none", None,
     "no signature, no encryption, no compression; binary payload, no MDN requested"),
    ("plain_x12_mdn_sync", "x12", "none", "none", False, "sync", None,
     "no security at all; X12 payload; unsigned sync MDN requested"),
    ("sign_sha1_x12", "x12", "sha1", "none", False, "sync", None,
     "signed sha1; X12; unsigned sync MDN requested"),
    ("sign_sha256_binary", "binary", "sha256", "none", False, "sync-signed", "sha256",
     "signed sha256; binary; signed (sha256) sync MDN requested"),
    ("sign_sha384_aes128_x12", "x12", "sha384", "aes_128_cbc", False, "sync-signed", "sha256",
     "signed sha384 then AES-128-CBC; X12; signed sync MDN"),
    ("sign_sha512_aes256_binary", "binary", "sha512", "aes_256_cbc", False, "sync-signed", "sha512",
     "signed sha512 then AES-256-CBC; binary; signed (sha512) sync MDN"),
    ("sign_sha256_3des_x12_async", "x12", "sha256", "tripledes_192_cbc", False, "async-signed", "sha256",
     "signed sha256 then 3DES; X12; signed ASYNC MDN to " + MDN_URL),
    ("sign_sha256_aes192_binary", "binary", "sha256", "aes_192_cbc", False, "none", None,
     "signed sha256 then AES-192-CBC; binary; no MDN"),
    ("enc_aes128_binary", "binary", "none", "aes_128_cbc", False, "none", None,
     "encrypted only (AES-128-CBC); binary"),
    ("enc_3des_x12", "x12", "none", "tripledes_192_cbc", False, "sync", None,
     "encrypted only (3DES); X12; unsigned sync MDN"),
    ("compress_binary", "binary", "none", "none", True, "none", None,
     "compressed only (zlib CMS CompressedData); binary"),
    ("compress_sign_sha256_x12", "x12", "sha256", "none", True, "sync-signed", "sha256",
     "compressed, then signed sha256; X12; signed sync MDN"),
    ("compress_aes256_binary", "binary", "none", "aes_256_cbc", True, "none", None,
     "compressed, then AES-256-CBC (unsigned); binary"),
    ("compress_sign_sha1_3des_binary", "binary", "sha1", "tripledes_192_cbc", True, "sync-signed", "sha1",
     "compressed, signed sha1, then 3DES; binary; signed (sha1) sync MDN"),
    ("compress_sign_sha512_aes128_x12", "x12", "sha512", "aes_128_cbc", True, "async", None,
     "compressed, signed sha512, then AES-128-CBC; X12; unsigned ASYNC MDN"),
    ("sign_sha256_text_lf", "text_lf", "sha256", "none", False, "none", None,
     "signed sha256; application/edi-consent text with bare LFs: pyas2lib "
     "rewrites them to CRLF, so the delivered payload is delivered.bin"),
]

# Messages as2proto_B -> pyas2lib_A (built by pyas2lib with B's keys) and
# the MDN pyas2lib_A returned: our sender must accept/verify these MDNs.
MDN_CASES = [
    # name, payload, sign, encrypt, mdn, mdn_alg, mutation, description
    ("mdn_signed_sha256", "x12", "sha256", "aes_128_cbc", "sync-signed", "sha256", None,
     "processed; signed (sha256) MDN with Received-Content-MIC (sha256)"),
    ("mdn_signed_sha512_mic_sha1", "binary", "sha1", "none", "sync-signed", "sha512", None,
     "processed; MDN signed sha512, MIC is sha1 (the message's own digest)"),
    ("mdn_unsigned", "x12", "sha256", "none", "sync", None, None,
     "processed; unsigned MDN with Received-Content-MIC"),
    ("mdn_signed_unsigned_msg", "binary", "none", "aes_256_cbc", "sync-signed", "sha256", None,
     "processed; signed MDN for an unsigned message: pyas2lib sends no Received-Content-MIC"),
    ("mdn_async_signed", "x12", "sha384", "tripledes_192_cbc", "async-signed", "sha256", None,
     "processed; signed async MDN (would be POSTed to receipt-delivery-option)"),
    ("mdn_error_decryption", "x12", "sha256", "aes_128_cbc", "sync-signed", "sha256", "wrong_enc_cert",
     "message encrypted to the wrong certificate: signed MDN processed/Error: decryption-failed"),
    ("mdn_error_authentication", "x12", "sha256", "none", "sync-signed", "sha256", "tamper",
     "signed message altered after signing: signed MDN processed/Error: authentication-failed"),
    ("mdn_error_unsigned_decryption", "binary", "none", "aes_256_cbc", "sync", None, "wrong_enc_cert",
     "message encrypted to the wrong certificate: unsigned MDN processed/Error: decryption-failed"),
]


# ---------------------------------------------------------------- helpers

def run_peer(*args, ok=(0,)):
    res = subprocess.run([sys.executable, PEER, *args], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if res.returncode not in ok:
        sys.stderr.write(res.stderr.decode(errors="replace"))
        raise SystemExit(f"peer.py {args[0]} exited {res.returncode}")
    return res.returncode


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def dump(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def send(pki, tmp, sender, receiver, payload_name, sign, encrypt, compress, mdn, mdn_alg,
         msg_id, out):
    data, ctype, fname = PAYLOADS[payload_name]
    pl = os.path.join(tmp, payload_name)
    with open(pl, "wb") as f:
        f.write(data)
    args = ["send", "--pki", pki, "--from", sender, "--to", receiver,
            "--payload", pl, "--out", out, "--sign", sign, "--encrypt", encrypt,
            "--mdn", mdn, "--content-type", ctype, "--message-id", msg_id,
            "--domain", DOMAIN, "--subject", f"as2-proto fixture {msg_id}"]
    if mdn_alg:
        args += ["--mdn-alg", mdn_alg]
    if mdn.startswith("async"):
        args += ["--mdn-url", MDN_URL]
    if compress:
        args.append("--compress")
    if fname:
        args += ["--filename", fname]
    run_peer(*args)
    with open(os.path.join(out, "payload.bin"), "wb") as f:
        f.write(data)
    return data


def receive(pki, case_dir, out, ok=(0,)):
    run_peer("receive", "--pki", pki, "--headers", os.path.join(case_dir, "headers.json"),
             "--body", os.path.join(case_dir, "body.bin"), "--out", out,
             "--domain", DOMAIN, ok=ok)
    return load(os.path.join(out, "result.json"))


# ------------------------------------------------------------------- main

def make_message_case(pki, tmp, out, case):
    name, payload, sign, encrypt, compress, mdn, mdn_alg, desc = case
    d = os.path.join(out, name)
    data = send(pki, tmp, A, B, payload, sign, encrypt, compress, mdn, mdn_alg,
                f"fixture-{name}", d)
    r = receive(pki, d, os.path.join(tmp, name))
    got = open(os.path.join(tmp, name, "payload.bin"), "rb").read()
    meta = load(os.path.join(d, "meta.json"))
    meta.update({
        "case": name,
        "kind": "message",
        "description": desc,
        "payload": payload,
        "delivered_payload": "payload.bin",
        "pyas2lib_receive": {k: r[k] for k in
                             ("status", "signed", "encrypted", "compressed", "mic",
                              "payload_sha256", "payload_content_type", "payload_filename")},
    })
    if got != data:
        with open(os.path.join(d, "delivered.bin"), "wb") as f:
            f.write(got)
        meta["delivered_payload"] = "delivered.bin"
    assert r["status"] == "processed", (name, r)
    assert r["mic"] == meta["mic"], (name, r["mic"], meta["mic"])
    dump(os.path.join(d, "meta.json"), meta)
    return meta


def make_mdn_case(pki, tmp, out, case):
    name, payload, sign, encrypt, mdn, mdn_alg, mutation, desc = case
    d = os.path.join(out, name)
    send_pki = pki
    if mutation == "wrong_enc_cert":
        # as2proto_B encrypts to its own enc cert instead of pyas2lib_A's.
        send_pki = os.path.join(tmp, f"pki-{name}")
        shutil.copytree(pki, send_pki)
        shutil.copy(os.path.join(pki, B, "enc.crt"), os.path.join(send_pki, A, "enc.crt"))
    send(send_pki, tmp, B, A, payload, sign, encrypt, False, mdn, mdn_alg,
         f"fixture-{name}", d)
    if mutation == "tamper":
        body_path = os.path.join(d, "body.bin")
        body = open(body_path, "rb").read()
        assert body.count(b"PO-4711") == 1
        with open(body_path, "wb") as f:
            f.write(body.replace(b"PO-4711", b"PO-4712"))
    recv_dir = os.path.join(tmp, name)
    r = receive(pki, d, recv_dir, ok=(0, 1))
    assert r["mdn"] is not None, (name, r)
    shutil.copytree(os.path.join(recv_dir, "mdn"), os.path.join(d, "mdn"))
    meta = load(os.path.join(d, "meta.json"))
    # Let pyas2lib check its own MDN as the original sender would.
    vpath = os.path.join(tmp, f"{name}-verify.json")
    vargs = ["verify-mdn", "--pki", pki,
             "--mdn-headers", os.path.join(d, "mdn", "headers.json"),
             "--mdn-body", os.path.join(d, "mdn", "body.bin"),
             "--orig-message-id", meta["message_id"], "--out", vpath]
    if meta["mic"] and r["status"] == "processed":
        vargs += ["--expected-mic", meta["mic"]]
    if mdn.endswith("signed"):
        vargs.append("--require-signed")
    run_peer(*vargs, ok=(0, 1))
    v = load(vpath)
    meta.update({
        "case": name,
        "kind": "mdn",
        "description": desc,
        "payload": payload,
        "mutation": mutation,
        "pyas2lib_receive": {k: r[k] for k in
                             ("status", "detailed_status", "exception", "mic")},
        "mdn_expect": {
            "status": v["status"],
            "detailed_status": v["detailed_status"],
            "signed": v["signed"],
            "mdn_message_id": v["mdn_message_id"],
            "disposition": v["disposition"],
            "received_mic": v["received_mic"],
            "micalg": r["mdn"]["digest_alg"],
        },
    })
    if mutation is None:
        assert r["status"] == "processed" and v["accepted"], (name, r, v)
    else:
        assert r["status"] == "processed/Error" and v["status"] == "processed/Error", (name, r, v)
    if mdn.endswith("signed"):
        assert v["signed"], (name, v)
    dump(os.path.join(d, "meta.json"), meta)
    return meta


README_HEAD = """\
# pyas2lib fixtures

AS2 messages and MDNs produced by **pyas2lib 1.4.4** (pins in
`tests/pyas2lib/requirements.txt`). They are inputs our Rust parser must
accept. Generated by:

```sh
PY="$(tests/pyas2lib/setup.sh | tail -n1)"
"$PY" tests/pyas2lib/make_fixtures.py          # keeps pki/ if present
"$PY" tests/pyas2lib/make_fixtures.py --new-pki # also regenerates pki/
```

Signatures carry a signing time, and the keys, IVs, MIME boundaries and MDN
Message-IDs are random, so a re-run gives different bytes (same meaning).
Every case was parsed back by pyas2lib before being written; its verdict
is in `meta.json`.

## PKI (`pki/`)

Made by `peer.py mkpki` (openssl CLI): `ca/ca.crt` (+ `ca/ca.key`) is an
RSA-2048 test CA; `pyas2lib_A/` and `as2proto_B/` each hold `sign.key` /
`sign.crt` and `enc.key` / `enc.crt` (RSA-2048, unencrypted PKCS#8 PEM keys,
certificates issued by the CA with subjectKeyIdentifier and
authorityKeyIdentifier, 20-year validity). Test keys only.

## Files in a case directory

- `headers.json`: HTTP headers in wire order (includes the top-level
  `Content-Type`, with boundary for multipart bodies).
- `body.bin`: exact HTTP body bytes.
- `payload.bin`: the payload handed to pyas2lib's `Message.build`.
- `delivered.bin`: only where pyas2lib's own receiver delivers something
  other than `payload.bin` (`meta.json` `delivered_payload` names the file
  the receiver should produce).
- `meta.json`: `message_id` (without `<>`), `mic` (`"<base64>, <alg>"` as
  pyas2lib computed it, null when unsigned), the options used, and
  `pyas2lib_receive` (what pyas2lib got when parsing it back).
- MDN cases also have `mdn/headers.json` + `mdn/body.bin` (the MDN as
  returned on the HTTP response / async POST) and `mdn_expect` in
  `meta.json` (pyas2lib's `Mdn.parse` verdict, the Disposition line and the
  Received-Content-MIC it carries).

## Message cases: pyas2lib_A -> as2proto_B

Our side receives these as `as2proto_B` (decrypt with `as2proto_B/enc.key`,
verify with `pyas2lib_A/sign.crt`) and, where one is requested, answers
with an MDN.

| case | sign | encrypt | compress | MDN requested | payload | what |
| --- | --- | --- | --- | --- | --- | --- |
"""

README_MDN = """
## MDN cases: as2proto_B -> pyas2lib_A, MDN back to as2proto_B

The message in `headers.json`/`body.bin` was built by pyas2lib using
`as2proto_B`'s keys (it stands for what our sender emits); pyas2lib then
received it as `pyas2lib_A` and produced `mdn/`. Our side, as the original
sender, verifies the MDN with `pyas2lib_A/sign.crt`, matches
`Original-Message-ID` against `meta.json` `message_id` and the
Received-Content-MIC against `meta.json` `mic`.

| case | message sign / encrypt | MDN | expected disposition | what |
| --- | --- | --- | --- | --- |
"""

README_TAIL = """
## Payloads

- `x12`: a small X12 850 purchase order, CRLF after every segment,
  `Content-Type: application/EDI-X12`, filename `po-4711.x12`.
- `binary`: NUL bytes, bare CR, bare LF, CRLF, lines starting with `--`,
  all 256 byte values, no final newline; `application/octet-stream`,
  filename `blob.bin`. pyas2lib sends octet-stream with
  `Content-Transfer-Encoding: binary` and leaves it byte-exact.
- `text_lf`: text with bare LFs as `application/edi-consent`. pyas2lib
  (Python `email` generator, HTTP policy) turns every line end of a
  non-octet-stream payload into CRLF when it wraps it in MIME (signing,
  encryption, compression), so what is signed and delivered is
  `delivered.bin`, not `payload.bin`.

## pyas2lib traits visible in these files

- `micalg` and the Received-Content-MIC algorithm are spelt `sha1`,
  `sha256`, ... (no dash), lower case.
- MDN header is spelt `Received-content-MIC`.
- For an unsigned message pyas2lib puts no Received-Content-MIC in the MDN
  (`mdn_signed_unsigned_msg`): it computes a MIC only for signed messages.
- The MIC is the digest of the signed MIME entity exactly as sent (its
  headers, blank line and body); the detached signature covers those same
  bytes (the first part of the multipart/signed, without the CRLF before
  the boundary).
- Signed MDNs are signed with the *last* algorithm listed in
  `signed-receipt-micalg`, whatever the message's own digest was.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--new-pki", action="store_true")
    args = ap.parse_args()

    out = os.path.abspath(args.out)
    pki = os.path.join(out, "pki")
    if args.new_pki and os.path.isdir(pki):
        shutil.rmtree(pki)
    os.makedirs(out, exist_ok=True)
    # Remove old case directories (anything but pki/).
    for entry in os.listdir(out):
        p = os.path.join(out, entry)
        if entry != "pki" and os.path.isdir(p):
            shutil.rmtree(p)
    run_peer("mkpki", "--out", pki, "--parties", f"{A},{B}")

    readme = [README_HEAD]
    with tempfile.TemporaryDirectory() as tmp:
        for case in MESSAGE_CASES:
            m = make_message_case(pki, tmp, out, case)
            mdn = m["mdn"] + (f" ({m['mdn_alg']})" if m["mdn_alg"] else "")
            readme.append(
                f"| `{m['case']}` | {m['digest_alg'] or '-'} | {m['enc_alg'] or '-'} | "
                f"{'zlib' if m['compressed'] else '-'} | {mdn} | {m['payload']} | "
                f"{m['description']} |\n")
        readme.append(README_MDN)
        for case in MDN_CASES:
            m = make_mdn_case(pki, tmp, out, case)
            e = m["mdn_expect"]
            disp = e["status"] + (f": {e['detailed_status']}" if e["detailed_status"] else "")
            kind = ("signed " + (e["micalg"] or "")) if e["signed"] else "unsigned"
            kind += ", async" if m["mdn"].startswith("async") else ", sync"
            readme.append(
                f"| `{m['case']}` | {m['digest_alg'] or '-'} / {m['enc_alg'] or '-'} | "
                f"{kind} | `{disp}` | {m['description']} |\n")
    readme.append(README_TAIL)
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write("".join(readme))

    total = 0
    for root, _, files in os.walk(out):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"wrote {len(MESSAGE_CASES)} message + {len(MDN_CASES)} MDN cases "
          f"to {out} ({total} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
