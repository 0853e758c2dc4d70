#!/usr/bin/env python3
"""pyas2lib 1.4.4 as an AS2 (RFC 4130) interop peer for as2-proto's tests.

Run with the venv python printed by tests/pyas2lib/setup.sh.  Everything is
exchanged through files so that Rust tests can drive it with
std::process::Command:

  peer.py mkpki      --out DIR --parties A,B [--days N] [--ec]
  peer.py send       --pki DIR --from A --to B --payload FILE --out DIR [...]
  peer.py receive    --pki DIR --headers FILE --body FILE --out DIR [...]
  peer.py verify-mdn --pki DIR --mdn-headers FILE --mdn-body FILE
                     --orig-message-id ID [--expected-mic "B64, alg"] --out FILE

PKI layout: DIR/ca/ca.crt (trust anchor; DIR/ca/ca.key is kept so that more
parties can be added) and DIR/<AS2-ID>/{sign,enc}.{key,crt} (unencrypted
PKCS#8 PEM keys, PEM certificates issued by the CA); with --ec also
DIR/<AS2-ID>/{sign_ec,enc_ec}.{key,crt} (EC keys for AS2 1.3: P-256 for
signing, P-384 for ECDH encryption; pyas2lib itself cannot use them).

Header files are JSON objects {"Header-Name": "value"} in wire order.  The
raw message handed to pyas2lib is "Name: value\\r\\n"... "\\r\\n" + body, which
is exactly how pyas2lib's own tests and the pyas2 server feed it.

Outputs:
  send       OUT/headers.json (Message.headers: top-level Content-Type with
             boundary, AS2 headers, MIME headers), OUT/body.bin
             (Message.content), OUT/meta.json {"message_id", "mic":
             "<b64>, <alg>"|null, options used}.
  receive    OUT/result.json {"status", "detailed_status", "exception",
             "accepted", "crashed", "signed", "encrypted", "compressed",
             "mic", "payload_sha256", "message_id", "mdn": {...}|null, ...},
             OUT/payload.bin when accepted, OUT/mdn/{headers.json,body.bin}
             when the message asked for an MDN (sync or async alike).
  verify-mdn JSON report {"status", "detailed_status", "accepted", "signed",
             "disposition", "received_mic", "mic_matches", ...}.

Certificates: Partner(validate_certs=True, ignore_self_signed=False) with
DIR/ca/ca.crt as verify_cert_ca/encrypt_cert_ca, i.e. pyas2lib really
checks the partner's sign/enc certificate chains to the CA (pyOpenSSL
X509Store) before using them; --no-validate-certs turns that off.  Note that
pyas2lib always verifies signatures with the configured partner sign.crt,
never with certificates embedded in the CMS.

Exit codes: 0 success/accepted, 1 cleanly rejected (receive, verify-mdn),
2 usage error, or pyas2lib raised instead of returning a status (receive
then still writes result.json with "crashed": true).
"""

import argparse
import hashlib
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import traceback

# Quiet pyas2lib: it logs full tracebacks at ERROR level on every rejection.
logging.basicConfig(level=logging.CRITICAL)

DIGESTS = ("sha1", "sha224", "sha256", "sha384", "sha512", "md5")
# pyas2lib also lists rc2_128_cbc/rc4_128_cbc, but oscrypto cannot use them
# with OpenSSL 3 (legacy provider not loaded): "compiled without RC2 support".
CIPHERS = ("aes_128_cbc", "aes_192_cbc", "aes_256_cbc", "tripledes_192_cbc")
MDN_CHOICES = ("none", "sync", "sync-signed", "async", "async-signed")


# --------------------------------------------------------------------------
# helpers

def die(msg):
    print(f"peer.py: {msg}", file=sys.stderr)
    sys.exit(2)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def write_bytes(path, data):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_json(path, obj):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")


def read_headers(path):
    with open(path, encoding="utf-8") as f:
        obj = json.load(f)
    if not isinstance(obj, dict):
        die(f"{path}: expected a JSON object of headers")
    return [(str(k), str(v)) for k, v in obj.items()]


def raw_http(headers, body):
    """Headers + blank line + body, as pyas2lib's parse() expects."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("utf-8") + b"\r\n" + body


def header_get(headers, name):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def fmt_mic(mic, alg):
    if not mic:
        return None
    if isinstance(mic, bytes):
        mic = mic.decode("ascii")
    return f"{mic}, {alg}"


def norm_alg(alg):
    return (alg or "").strip().lower().replace("-", "")


# --------------------------------------------------------------------------
# PKI

class Pki:
    """Reads the PKI directory and turns it into pyas2lib objects."""

    def __init__(self, root, validate_certs=True):
        self.root = root
        self.validate_certs = validate_certs
        ca = os.path.join(root, "ca", "ca.crt")
        self.ca = read_bytes(ca) if os.path.exists(ca) else None

    def _file(self, as2_id, name):
        path = os.path.join(self.root, as2_id, name)
        return read_bytes(path) if os.path.exists(path) else None

    def has(self, as2_id):
        return bool(as2_id) and os.path.isdir(os.path.join(self.root, as2_id)) \
            and as2_id not in ("ca", ".", "..") and "/" not in as2_id

    def key_pair(self, as2_id, kind):
        """PEM key + PEM cert concatenated: the form Organization.load_key
        accepts besides PKCS#12 (it splits PEM blocks, and needs both)."""
        key, crt = self._file(as2_id, f"{kind}.key"), self._file(as2_id, f"{kind}.crt")
        if key is None or crt is None:
            return None
        return key.rstrip(b"\n") + b"\n" + crt

    def organization(self, as2_id, **kw):
        from pyas2lib import Organization
        if not self.has(as2_id):
            return None
        return Organization(
            as2_name=as2_id,
            sign_key=self.key_pair(as2_id, "sign"),
            decrypt_key=self.key_pair(as2_id, "enc"),
            **kw,
        )

    def partner(self, as2_id, **kw):
        from pyas2lib import Partner
        if not self.has(as2_id):
            return None
        validate = self.validate_certs and self.ca is not None
        return Partner(
            as2_name=as2_id,
            verify_cert=self._file(as2_id, "sign.crt"),
            verify_cert_ca=self.ca,
            encrypt_cert=self._file(as2_id, "enc.crt"),
            encrypt_cert_ca=self.ca,
            validate_certs=validate,
            # With True pyas2lib adds the leaf itself to the trust store;
            # we want real chain validation against ca.crt.
            ignore_self_signed=False,
            **kw,
        )


# --------------------------------------------------------------------------
# mkpki

OPENSSL_CNF = """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_sign ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_enc ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, keyEncipherment, dataEncipherment
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_enc_ec ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, keyAgreement
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


def openssl(*args, cwd=None):
    res = subprocess.run(["openssl", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if res.returncode != 0:
        die("openssl " + " ".join(args) + " failed:\n" + res.stderr.decode(errors="replace"))
    return res.stdout


def genkey(path, curve=None):
    # genpkey writes unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"), RSA or EC.
    if curve is None:
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", path)
    else:
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}",
                "-pkeyopt", "ec_param_enc:named_curve", "-out", path)
    os.chmod(path, 0o600)


def serial():
    return "0x" + secrets.token_hex(8).lstrip("0").rjust(2, "1")


def cmd_mkpki(args):
    parties = [p.strip() for p in args.parties.split(",") if p.strip()]
    for p in parties:
        if p in ("ca", ".", "..") or "/" in p:
            die(f"invalid party name {p!r}")
    out = args.out
    ca_dir = os.path.join(out, "ca")
    os.makedirs(ca_dir, exist_ok=True)
    ca_key, ca_crt = os.path.join(ca_dir, "ca.key"), os.path.join(ca_dir, "ca.crt")
    with tempfile.TemporaryDirectory() as tmp:
        cnf = os.path.join(tmp, "openssl.cnf")
        with open(cnf, "w") as f:
            f.write(OPENSSL_CNF)
        if not (os.path.exists(ca_key) and os.path.exists(ca_crt)):
            genkey(ca_key)
            openssl("req", "-config", cnf, "-new", "-x509", "-key", ca_key,
                    "-subj", "/O=as2-proto test/CN=as2-proto test CA",
                    "-days", str(args.days), "-sha256", "-set_serial", serial(),
                    "-extensions", "v3_ca", "-out", ca_crt)
        made = []
        for p in parties:
            pdir = os.path.join(out, p)
            os.makedirs(pdir, exist_ok=True)
            pairs = [("sign", "v3_sign", "signing", None),
                     ("enc", "v3_enc", "encryption", None)]
            if args.ec:
                pairs += [("sign_ec", "v3_sign", "EC signing", "P-256"),
                          ("enc_ec", "v3_enc_ec", "EC encryption", "P-384")]
            for kind, ext, what, curve in pairs:
                key, crt = os.path.join(pdir, f"{kind}.key"), os.path.join(pdir, f"{kind}.crt")
                if os.path.exists(key) and os.path.exists(crt):
                    continue
                genkey(key, curve)
                csr = os.path.join(tmp, f"{p}-{kind}.csr")
                openssl("req", "-config", cnf, "-new", "-key", key,
                        "-subj", f"/O=as2-proto test/CN={p} {what}", "-out", csr)
                openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                        "-set_serial", serial(), "-days", str(args.days), "-sha256",
                        "-extfile", cnf, "-extensions", ext, "-out", crt)
                made.append(crt)
    print(json.dumps({"pki": os.path.abspath(out), "parties": parties, "created": made}))
    return 0


# --------------------------------------------------------------------------
# send

def mdn_settings(mode, alg):
    """--mdn choice -> (Partner.mdn_mode, Partner.mdn_digest_alg)."""
    if mode == "none":
        return None, None
    base, _, signed = mode.partition("-")
    return base.upper(), (alg if signed else None)


def cmd_send(args):
    from pyas2lib import Message

    pki = Pki(args.pki, validate_certs=not args.no_validate_certs)
    org = pki.organization(args.sender, mdn_url=args.mdn_url, domain=args.domain)
    if org is None:
        die(f"no PKI folder for sender {args.sender!r}")
    mdn_mode, mdn_alg = mdn_settings(args.mdn, args.mdn_alg)
    partner = pki.partner(
        args.receiver,
        sign=args.sign != "none",
        digest_alg=args.sign if args.sign != "none" else "sha256",
        encrypt=args.encrypt != "none",
        enc_alg=args.encrypt if args.encrypt != "none" else "tripledes_192_cbc",
        compress=args.compress,
        mdn_mode=mdn_mode,
        mdn_digest_alg=mdn_alg,
        sign_alg=args.sign_alg,
        key_enc_alg=args.key_enc_alg,
    )
    if partner is None:
        die(f"no PKI folder for receiver {args.receiver!r}")

    data = read_bytes(args.payload)
    extra = {}
    for h in args.header or []:
        k, sep, v = h.partition(":")
        if not sep:
            die(f"--header wants 'Name: value', got {h!r}")
        extra[k.strip()] = v.strip()

    msg = Message(org, partner)
    build_kw = dict(
        filename=args.filename,
        subject=args.subject,
        content_type=args.content_type,
        additional_headers=extra,
        message_id=args.message_id,
    )
    if args.disposition_notification_to:
        build_kw["disposition_notification_to"] = args.disposition_notification_to
    msg.build(data, **build_kw)

    body = msg.content
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {k: v for k, v in msg.headers.items()}
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "headers.json"), headers)
    write_bytes(os.path.join(args.out, "body.bin"), body)
    write_json(os.path.join(args.out, "meta.json"), {
        "message_id": msg.message_id,
        "mic": fmt_mic(msg.mic, msg.digest_alg),
        "from": args.sender,
        "to": args.receiver,
        "signed": msg.signed,
        "digest_alg": msg.digest_alg,
        "encrypted": msg.encrypted,
        "enc_alg": msg.enc_alg,
        "compressed": msg.compressed,
        "mdn": args.mdn,
        "mdn_alg": mdn_alg,
        "mdn_url": args.mdn_url if mdn_mode == "ASYNC" else None,
        "content_type": args.content_type,
        "filename": args.filename,
        "payload_sha256": hashlib.sha256(data).hexdigest(),
    })
    return 0


# --------------------------------------------------------------------------
# receive

def cmd_receive(args):
    from pyas2lib import Message
    from pyas2lib.utils import unquote_as2name

    pki = Pki(args.pki, validate_certs=not args.no_validate_certs)
    headers = read_headers(args.headers)
    body = read_bytes(args.body)
    seen = set()
    if args.seen_ids:
        with open(args.seen_ids, encoding="utf-8") as f:
            seen = {line.strip().strip("<>") for line in f if line.strip()}

    def find_org(as2_id):
        if args.as_id and as2_id != args.as_id:
            return None
        kw = {}
        if args.mdn_confirm_text is not None:
            kw["mdn_confirm_text"] = args.mdn_confirm_text
        return pki.organization(as2_id, domain=args.domain, **kw)

    def find_partner(as2_id):
        kw = dict(sign=args.require_signed, encrypt=args.require_encrypted,
                  canonicalize_as_binary=args.canonicalize_as_binary)
        if args.mdn_confirm_text is not None:
            kw["mdn_confirm_text"] = args.mdn_confirm_text
        return pki.partner(as2_id, **kw)

    def find_message(message_id, partner_id):
        return message_id in seen

    msg = Message()
    try:
        status, (exc, tb), mdn = msg.parse(
            raw_http(headers, body),
            find_org_cb=find_org,
            find_partner_cb=find_partner,
            find_message_cb=find_message,
        )
    except Exception as e:  # noqa: BLE001
        # pyas2lib itself blew up (e.g. while building the MDN): neither an
        # acceptance nor a clean rejection.
        write_json(os.path.join(args.out, "result.json"), {
            "status": None, "detailed_status": None, "accepted": False,
            "crashed": True, "exception": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc(), "message_id": msg.message_id,
        })
        traceback.print_exc()
        return 2
    accepted = status == "processed"
    detailed = None
    if exc is not None:
        detailed = getattr(exc, "disposition_modifier", "unexpected-processing-error")
    payload = None
    if accepted:
        payload = msg.content
        if isinstance(payload, str):
            payload = payload.encode("utf-8")

    os.makedirs(args.out, exist_ok=True)
    result = {
        "status": status,
        "detailed_status": detailed,
        "exception": None if exc is None else f"{type(exc).__name__}: {exc}",
        "accepted": accepted,
        "crashed": False,
        "signed": bool(msg.signed),
        "encrypted": bool(msg.encrypted),
        # pyas2lib only reports the cipher for 3DES; None for AES.
        "enc_alg": msg.enc_alg,
        "compressed": bool(msg.compressed),
        "digest_alg": msg.digest_alg,
        "mic": fmt_mic(msg.mic, msg.digest_alg),
        "payload_sha256": hashlib.sha256(payload).hexdigest() if payload is not None else None,
        "payload_content_type": msg.payload.get_content_type() if accepted else None,
        "payload_filename": msg.payload.get_filename() if accepted else None,
        "message_id": msg.message_id,
        "as2_from": unquote_as2name(header_get(headers, "AS2-From") or ""),
        "as2_to": unquote_as2name(header_get(headers, "AS2-To") or ""),
        "mdn": None,
    }
    if args.traceback and tb:
        result["traceback"] = tb
    if payload is not None:
        write_bytes(os.path.join(args.out, "payload.bin"), payload)
    if mdn is not None:
        mdn_dir = os.path.join(args.out, "mdn")
        write_json(os.path.join(mdn_dir, "headers.json"), dict(mdn.headers.items()))
        mdn_body = mdn.content
        write_bytes(os.path.join(mdn_dir, "body.bin"), mdn_body)
        result["mdn"] = {
            "mode": mdn.mdn_mode,
            "url": mdn.mdn_url,
            "message_id": mdn.message_id,
            "signed": mdn.payload.get_content_type() == "multipart/signed",
            "digest_alg": mdn.digest_alg,
        }
    write_json(os.path.join(args.out, "result.json"), result)
    return 0 if accepted else 1


# --------------------------------------------------------------------------
# verify-mdn

def cmd_verify_mdn(args):
    from email import message_from_bytes
    from pyas2lib import Mdn, Message, Organization
    from pyas2lib.utils import unquote_as2name

    pki = Pki(args.pki, validate_certs=not args.no_validate_certs)
    headers = read_headers(args.mdn_headers)
    body = read_bytes(args.mdn_body)
    raw = raw_http(headers, body)

    # The MDN comes from the original receiver (its AS2-From) and goes back to
    # the original sender (its AS2-To).
    mdn_from = args.partner or unquote_as2name(header_get(headers, "AS2-From") or "")
    mdn_to = unquote_as2name(header_get(headers, "AS2-To") or "")
    # Partner.mdn_digest_alg set => pyas2lib rejects unsigned MDNs (the value
    # itself is not used when verifying).
    partner = pki.partner(mdn_from, mdn_digest_alg="sha256" if args.require_signed else None)
    report = {
        "status": None, "detailed_status": None, "accepted": False,
        "mdn_from": mdn_from, "mdn_to": mdn_to,
    }
    if partner is None:
        report.update(status="failed/Failure",
                      detailed_status=f"no PKI folder for MDN sender {mdn_from!r}")
        write_json(args.out, report)
        return 1

    orig = Message(sender=Organization(as2_name=mdn_to or "unknown"), receiver=partner)
    orig.message_id = args.orig_message_id.strip().strip("<>")
    exp_mic, exp_alg = None, None
    if args.expected_mic:
        exp_mic, _, exp_alg = args.expected_mic.partition(",")
        exp_mic, exp_alg = exp_mic.strip(), exp_alg.strip()
        orig.mic = exp_mic.encode("ascii")
        orig.digest_alg = exp_alg or None

    looked_up = {}

    def find_message(message_id, recipient):
        looked_up["orig_message_id"], looked_up["orig_recipient"] = message_id, recipient
        return orig if message_id == orig.message_id else None

    mdn = Mdn()
    status, detailed = mdn.parse(raw, find_message_cb=find_message)

    # Extra facts not checked by pyas2lib (it compares only the base64 part
    # of Received-Content-MIC, and ignores a missing MIC).
    received_mic, disposition = None, None
    try:
        top = message_from_bytes(raw)
        for part in top.walk():
            if part.get_content_type() == "message/disposition-notification":
                fields = part.get_payload()[-1] if part.is_multipart() else \
                    message_from_bytes(part.get_payload(decode=True))
                disposition = fields.get("Disposition")
                received_mic = fields.get("Received-Content-MIC")
        signed = top.get_content_type() == "multipart/signed"
    except Exception:  # noqa: BLE001 - report only
        signed = None
    rmic, _, ralg = (received_mic or "").partition(",")
    report.update({
        "status": status,
        "detailed_status": detailed,
        "accepted": status == "processed",
        "signed": signed,
        "mdn_message_id": mdn.message_id,
        "mdn_digest_alg": mdn.digest_alg,
        "orig_message_id": looked_up.get("orig_message_id", mdn.orig_message_id),
        "orig_recipient": looked_up.get("orig_recipient"),
        "disposition": disposition,
        "received_mic": received_mic,
        "expected_mic": args.expected_mic,
        "mic_matches": (None if not (exp_mic and received_mic)
                        else rmic.strip() == exp_mic
                        and norm_alg(ralg) == norm_alg(exp_alg)),
    })
    write_json(args.out, report)
    return 0 if report["accepted"] else 1


# --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("mkpki", help="generate a test PKI with the openssl CLI")
    p.add_argument("--out", required=True)
    p.add_argument("--parties", required=True, help="comma separated AS2 IDs")
    p.add_argument("--days", type=int, default=7300)
    p.add_argument("--ec", action="store_true",
                   help="also sign_ec (P-256) and enc_ec (P-384) key pairs per party")

    def pki_opts(p):
        p.add_argument("--pki", required=True)
        p.add_argument("--no-validate-certs", action="store_true",
                       help="skip pyas2lib's chain validation against DIR/ca/ca.crt")

    p = sub.add_parser("send", help="build an AS2 message with Message.build")
    pki_opts(p)
    p.add_argument("--from", dest="sender", required=True)
    p.add_argument("--to", dest="receiver", required=True)
    p.add_argument("--payload", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--sign", choices=DIGESTS + ("none",), default="none")
    p.add_argument("--sign-alg", choices=("rsassa_pkcs1v15", "rsassa_pss"),
                   default="rsassa_pkcs1v15")
    p.add_argument("--encrypt", choices=CIPHERS + ("none",), default="none")
    p.add_argument("--key-enc-alg", choices=("rsaes_pkcs1v15", "rsaes_oaep"),
                   default="rsaes_pkcs1v15",
                   help="NB: pyas2lib 1.4.4 ignores this when building")
    p.add_argument("--compress", action="store_true")
    p.add_argument("--mdn", choices=MDN_CHOICES, default="none")
    p.add_argument("--mdn-alg", choices=DIGESTS, default="sha256")
    p.add_argument("--mdn-url", default=None, help="required for async MDNs")
    p.add_argument("--content-type", default="application/edi-consent")
    p.add_argument("--filename", default=None)
    p.add_argument("--subject", default="AS2 Message")
    p.add_argument("--message-id", default=None,
                   help="left part of Message-ID (right part is --domain)")
    p.add_argument("--domain", default=None, help="Message-ID domain (default hostname)")
    p.add_argument("--disposition-notification-to", default=None)
    p.add_argument("--header", action="append", metavar="'Name: value'",
                   help="extra HTTP/AS2 header (repeatable)")

    p = sub.add_parser("receive", help="parse an AS2 message with Message.parse")
    pki_opts(p)
    p.add_argument("--headers", required=True)
    p.add_argument("--body", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--as", dest="as_id", default=None,
                   help="only accept messages whose AS2-To is this ID")
    p.add_argument("--require-signed", action="store_true")
    p.add_argument("--require-encrypted", action="store_true")
    p.add_argument("--canonicalize-as-binary", action="store_true")
    p.add_argument("--mdn-confirm-text", default=None)
    p.add_argument("--seen-ids", default=None,
                   help="file of already-received Message-IDs (duplicate check)")
    p.add_argument("--domain", default=None, help="MDN Message-ID domain (default hostname)")
    p.add_argument("--traceback", action="store_true",
                   help="include pyas2lib's traceback in result.json")

    p = sub.add_parser("verify-mdn", help="check an MDN with Mdn.parse")
    pki_opts(p)
    p.add_argument("--mdn-headers", required=True)
    p.add_argument("--mdn-body", required=True)
    p.add_argument("--orig-message-id", required=True)
    p.add_argument("--expected-mic", default=None, help='"<b64>, <alg>"')
    p.add_argument("--require-signed", action="store_true", help="reject unsigned MDNs")
    p.add_argument("--partner", default=None,
                   help="AS2 ID whose sign.crt verifies the MDN (default: its AS2-From)")
    p.add_argument("--out", required=True)

    args = ap.parse_args(argv)
    try:
        return {
            "mkpki": cmd_mkpki,
            "send": cmd_send,
            "receive": cmd_receive,
            "verify-mdn": cmd_verify_mdn,
        }[args.cmd](args)
    except SystemExit:
        raise
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        return 2


if __name__ == "__main__":
    sys.exit(main())
