#!/usr/bin/env python3
"""Re-encodes a DER PKCS#12 file (RFC 7292) in BER the way streaming Windows and Java
tools write it, and recomputes its MAC. Standard library only.

    python3 make_ber.py IN.p12 OUT.p12 PASSWORD

Every constructed value of the PFX, of the AuthenticatedSafe and of each unencrypted
SafeContents (bags, attributes, a plain keyBag's PrivateKeyInfo) gets an indefinite
length with end-of-contents octets, and every OCTET STRING whose contents this script
does not descend into (the authSafe content, `data` contents, encryptedContent, certValue,
a PrivateKeyInfo's privateKey, localKeyId) becomes a constructed string of 7-octet
segments. Encrypted contents and certificates keep their bytes.

The MAC covers the authSafe content octets, which changed, so it is recomputed: HMAC with
the MacData's digest, keyed with the PKCS#12 KDF (RFC 7292 appendix B.2, ID 3) from the
password as a NUL-terminated BMPString, with the file's own salt and iteration count.

`openssl pkcs12 -in OUT.p12 -info -noout -passin pass:PASSWORD` checks the result with an
independent reader (MAC included).
"""

import hashlib
import hmac
import sys

DIGESTS = {
    bytes.fromhex("2b0e03021a"): ("sha1", 64),
    bytes.fromhex("608648016503040201"): ("sha256", 64),
    bytes.fromhex("608648016503040202"): ("sha384", 128),
    bytes.fromhex("608648016503040203"): ("sha512", 128),
}
OID_DATA = bytes.fromhex("2a864886f70d010701")
OID_ENCRYPTED_DATA = bytes.fromhex("2a864886f70d010706")
OID_KEY_BAG = bytes.fromhex("2a864886f70d010c0a0101")
OID_SHROUDED_KEY_BAG = bytes.fromhex("2a864886f70d010c0a0102")
OID_CERT_BAG = bytes.fromhex("2a864886f70d010c0a0103")


def read_tlv(data, pos):
    """Parses one DER TLV at pos: (tag, contents, end)."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    return tag, data[pos : pos + length], pos + length


def children(contents):
    out, pos = [], 0
    while pos < len(contents):
        tag, value, pos = read_tlv(contents, pos)
        out.append((tag, value))
    return out


def der_length(n):
    if n < 0x80:
        return bytes([n])
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def der(tag, contents):
    return bytes([tag]) + der_length(len(contents)) + contents


def indefinite(tag, parts):
    return bytes([tag | 0x20, 0x80]) + b"".join(parts) + b"\x00\x00"


def chunked(tag, octets, size=7):
    """An OCTET STRING (or implicitly tagged one) as a constructed, indefinite-length
    string of primitive OCTET STRING segments."""
    segments = [der(0x04, octets[i : i + size]) for i in range(0, len(octets), size)]
    return indefinite(tag, segments)


def generic(tag, contents):
    """Indefinite lengths for every constructed value below, primitives unchanged."""
    if tag & 0x20:
        return indefinite(tag, [generic(t, c) for t, c in children(contents)])
    return der(tag, contents)


def private_key_info(contents):
    # PrivateKeyInfo { version, algorithm, privateKey OCTET STRING, [0] attributes }
    parts = []
    for tag, value in children(contents):
        parts.append(chunked(0x04, value) if tag == 0x04 else generic(tag, value))
    return indefinite(0x30, parts)


def attributes(contents):
    out = []
    for _, attribute in children(contents):
        (oid_tag, oid), (_, values) = children(attribute)
        encoded = [
            chunked(0x04, v) if t == 0x04 else generic(t, v) for t, v in children(values)
        ]
        out.append(indefinite(0x30, [der(oid_tag, oid), indefinite(0x31, encoded)]))
    return indefinite(0x31, out)


def safe_contents(contents):
    bags = []
    for _, bag in children(contents):
        fields = children(bag)
        (_, bag_id), (_, explicit) = fields[0], fields[1]
        (value_tag, value), = children(explicit)
        if bag_id == OID_KEY_BAG:
            encoded = private_key_info(value)
        elif bag_id == OID_CERT_BAG:
            (id_tag, cert_id), (_, cert_explicit) = children(value)
            (_, cert), = children(cert_explicit)
            encoded = indefinite(
                0x30, [der(id_tag, cert_id), indefinite(0xA0, [chunked(0x04, cert)])]
            )
        elif bag_id == OID_SHROUDED_KEY_BAG:
            (alg_tag, alg), (_, encrypted) = children(value)
            encoded = indefinite(0x30, [generic(alg_tag, alg), chunked(0x04, encrypted)])
        else:
            encoded = generic(value_tag, value)
        parts = [der(0x06, bag_id), indefinite(0xA0, [encoded])]
        if len(fields) > 2:
            parts.append(attributes(fields[2][1]))
        bags.append(indefinite(0x30, parts))
    return indefinite(0x30, bags)


def authenticated_safe(contents):
    infos = []
    for _, info in children(contents):
        (_, content_type), (_, explicit) = children(info)
        (_, inner), = children(explicit)
        if content_type == OID_DATA:
            # `inner` holds the DER SafeContents SEQUENCE.
            _, plain, _ = read_tlv(inner, 0)
            content = chunked(0x04, safe_contents(plain))
        elif content_type == OID_ENCRYPTED_DATA:
            (v_tag, version), (_, eci) = children(inner)[:2]
            (ct_tag, ct), (alg_tag, alg), (_, encrypted) = children(eci)
            content = indefinite(
                0x30,
                [
                    der(v_tag, version),
                    indefinite(
                        0x30,
                        [der(ct_tag, ct), generic(alg_tag, alg), chunked(0x80, encrypted)],
                    ),
                ],
            )
        else:
            raise SystemExit("unexpected ContentInfo type")
        infos.append(indefinite(0x30, [der(0x06, content_type), indefinite(0xA0, [content])]))
    return indefinite(0x30, infos)


def pkcs12_kdf(name, v, password, salt, iterations, key_id, n):
    """RFC 7292 appendix B.2."""
    u = hashlib.new(name).digest_size
    d = bytes([key_id]) * v

    def fill(s):
        length = v * ((len(s) + v - 1) // v)
        return (s * (length // len(s) + 1))[:length] if s else b""

    i = bytearray(fill(salt) + fill(password))
    out = b""
    while len(out) < n:
        a = hashlib.new(name, d + bytes(i)).digest()
        for _ in range(1, iterations):
            a = hashlib.new(name, a).digest()
        out += a
        b = int.from_bytes((a * (v // u + 1))[:v], "big")
        for j in range(0, len(i), v):
            block = (int.from_bytes(i[j : j + v], "big") + b + 1) % (1 << (8 * v))
            i[j : j + v] = block.to_bytes(v, "big")
    return out[:n]


def main():
    source, target, password = sys.argv[1], sys.argv[2], sys.argv[3]
    data = open(source, "rb").read()
    _, pfx, _ = read_tlv(data, 0)
    (_, version), (_, auth_safe), (_, mac_data) = children(pfx)
    (_, content_type), (_, explicit) = children(auth_safe)
    (_, octets), = children(explicit)
    _, auth_contents, _ = read_tlv(octets, 0)
    new_content = authenticated_safe(auth_contents)

    (_, digest_info), (_, salt), (_, iterations) = children(mac_data)
    (_, algorithm), (_, _old_mac) = children(digest_info)
    (_, digest_oid) = children(algorithm)[0]
    name, v = DIGESTS[digest_oid]
    bmp = password.encode("utf-16-be") + b"\x00\x00"
    count = int.from_bytes(iterations, "big")
    key = pkcs12_kdf(name, v, bmp, salt, count, 3, hashlib.new(name).digest_size)
    mac = hmac.new(key, new_content, name).digest()

    out = indefinite(
        0x30,
        [
            der(0x02, version),
            indefinite(
                0x30,
                [der(0x06, content_type), indefinite(0xA0, [chunked(0x04, new_content)])],
            ),
            indefinite(
                0x30,
                [
                    indefinite(0x30, [generic(0x30, algorithm), der(0x04, mac)]),
                    der(0x04, salt),
                    der(0x02, iterations),
                ],
            ),
        ],
    )
    open(target, "wb").write(out)


if __name__ == "__main__":
    main()
