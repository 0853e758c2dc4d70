#!/usr/bin/env python3
"""Hand-built CMS CompressedData (RFC 3274) ContentInfos around zlib streams made by
Python's zlib module (which wraps C zlib). Standard library only.

    python3 tests/data/cms/make_compressed_ber.py [--out DIR]
        Writes the committed fixture: compressed_chunked_indefinite.ber (BER, indefinite
        lengths everywhere, the eContent a chunked constructed OCTET STRING) and
        compressed_chunked_indefinite.txt (the payload), next to this script by default.

    python3 tests/data/cms/make_compressed_ber.py --cases DIR
        Writes the matrix tests/interop_python.rs reads. For every case NAME:
        NAME.payload, NAME.zlib (the stream), NAME.der (DER ContentInfo), NAME.ber (as the
        fixture) and NAME.long (definite lengths, all in the 4-octet long form). The case
        names are listed in DIR/cases.txt, one a line.

Everything is deterministic: the same zlib library gives the same bytes.
"""

import argparse
import os
import random
import zlib

# Complete encodings (tag, length, value) of the object identifiers used.
OID_COMPRESSED_DATA = bytes.fromhex("060b2a864886f70d0109100109")  # 1.2.840.113549.1.9.16.1.9
OID_ZLIB = bytes.fromhex("060b2a864886f70d0109100308")  # 1.2.840.113549.1.9.16.3.8
OID_DATA = bytes.fromhex("06092a864886f70d010701")  # 1.2.840.113549.1.7.1
VERSION_0 = bytes.fromhex("020100")  # INTEGER 0

SEQUENCE, CONTEXT_0, OCTET_STRING, OCTET_STRING_CONSTRUCTED = 0x30, 0xA0, 0x04, 0x24


def der_length(n):
    if n < 0x80:
        return bytes([n])
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def der(tag, *children):
    """A definite-length value in DER (minimal length octets)."""
    contents = b"".join(children)
    return bytes([tag]) + der_length(len(contents)) + contents


def long_form(tag, *children):
    """A definite-length value whose length always takes the 4-octet long form (BER)."""
    contents = b"".join(children)
    return bytes([tag, 0x84]) + len(contents).to_bytes(4, "big") + contents


def indefinite(tag, *children):
    """A constructed value with an indefinite length and end-of-contents octets (BER)."""
    return bytes([tag, 0x80]) + b"".join(children) + b"\x00\x00"


def content_info(constructed, econtent):
    """ContentInfo { id-ct-compressedData, [0] CompressedData { version 0,
    { id-alg-zlibCompress }, { id-data, [0] eContent } } }, every constructed value
    encoded with `constructed`."""
    return constructed(
        SEQUENCE,
        OID_COMPRESSED_DATA,
        constructed(
            CONTEXT_0,
            constructed(
                SEQUENCE,
                VERSION_0,
                constructed(SEQUENCE, OID_ZLIB),
                constructed(SEQUENCE, OID_DATA, constructed(CONTEXT_0, econtent)),
            ),
        ),
    )


def chunked(stream):
    """The eContent as an indefinite-length constructed OCTET STRING of 9 segments: a
    primitive one, an empty one, a nested indefinite constructed one (2 segments), a
    definite-length constructed one (2 segments) and a last primitive one."""
    cut = [len(stream) * k // 6 for k in range(7)]
    part = [stream[cut[k] : cut[k + 1]] for k in range(6)]
    return indefinite(
        OCTET_STRING_CONSTRUCTED,
        der(OCTET_STRING, part[0]),
        der(OCTET_STRING, b""),
        indefinite(OCTET_STRING_CONSTRUCTED, der(OCTET_STRING, part[1]), der(OCTET_STRING, part[2])),
        der(OCTET_STRING_CONSTRUCTED, der(OCTET_STRING, part[3]), der(OCTET_STRING, part[4])),
        der(OCTET_STRING, part[5]),
    )


def wrap_der(stream):
    return content_info(der, der(OCTET_STRING, stream))


def wrap_ber(stream):
    return content_info(indefinite, chunked(stream))


def wrap_long(stream):
    return content_info(long_form, long_form(OCTET_STRING, stream))


ITEMS = ["WIDGET", "GASKET", "BRACKET", "HINGE", "FLANGE", "SPROCKET", "VALVE", "BEARING"]
COLOURS = ["RED", "BLUE", "BLACK", "STEEL", "BRASS"]


def edi(lines, newline, seed=850):
    """An X12 850 purchase order with `lines` line items."""
    rnd = random.Random(seed)
    segments = [
        "ISA*00*          *00*          *ZZ*AS2PROTO       *ZZ*PARTNER        "
        "*260101*1200*U*00401*000000001*0*P*>",
        "GS*PO*AS2PROTO*PARTNER*20260101*1200*1*X*004010",
        "ST*850*0001",
        "BEG*00*SA*PO-4711**20260101",
    ]
    for i in range(lines):
        segments.append(
            f"PO1*{i + 1}*{rnd.randint(1, 500)}*EA*{rnd.randint(100, 99999) / 100:.2f}"
            f"**VP*{rnd.randrange(10**8):08d}*UP*{rnd.randrange(10**12):012d}"
        )
        segments.append(f"PID*F****{rnd.choice(ITEMS)} {rnd.choice(COLOURS)}")
    segments += [f"CTT*{lines}", f"SE*{2 * lines + 4}*0001", "GE*1*1", "IEA*1*000000001"]
    return "".join(s + "~" + newline for s in segments).encode("ascii")


def payloads():
    yield "edi", edi(600, "\r\n")
    yield "binary", random.Random(7).randbytes(40_000)
    yield "tiny", b"ISA~"
    yield "empty", b""


def streams(data):
    """zlib streams of `data` made in different ways."""
    for level in (0, 1, 6, 9):
        yield f"level{level}", zlib.compress(data, level)
    strategies = [
        ("filtered", zlib.Z_FILTERED),
        ("huffman", zlib.Z_HUFFMAN_ONLY),
        ("rle", zlib.Z_RLE),
        ("fixed", zlib.Z_FIXED),
    ]
    for name, strategy in strategies:
        c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, strategy)
        yield name, c.compress(data) + c.flush()
    c = zlib.compressobj(6, zlib.DEFLATED, 9)  # 512-octet window: another zlib header
    yield "window512", c.compress(data) + c.flush()
    c = zlib.compressobj(6)
    third = len(data) // 3
    yield "flushed", (
        c.compress(data[:third])
        + c.flush(zlib.Z_SYNC_FLUSH)
        + c.compress(data[third : 2 * third])
        + c.flush(zlib.Z_FULL_FLUSH)
        + c.compress(data[2 * third :])
        + c.flush()
    )


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def make_cases(directory):
    names = []
    for payload_name, data in payloads():
        for stream_name, stream in streams(data):
            assert zlib.decompress(stream) == data, (payload_name, stream_name)
            name = f"{payload_name}-{stream_name}"
            names.append(name)
            write(os.path.join(directory, name + ".payload"), data)
            write(os.path.join(directory, name + ".zlib"), stream)
            write(os.path.join(directory, name + ".der"), wrap_der(stream))
            write(os.path.join(directory, name + ".ber"), wrap_ber(stream))
            write(os.path.join(directory, name + ".long"), wrap_long(stream))
    write(os.path.join(directory, "cases.txt"), "".join(n + "\n" for n in names).encode())


def make_fixture(directory):
    data = edi(40, "\n")
    stream = zlib.compress(data, 9)
    assert zlib.decompress(stream) == data
    write(os.path.join(directory, "compressed_chunked_indefinite.ber"), wrap_ber(stream))
    write(os.path.join(directory, "compressed_chunked_indefinite.txt"), data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="directory for the fixture (default: next to this script)")
    parser.add_argument("--cases", metavar="DIR", help="write the interop test matrix to DIR")
    args = parser.parse_args()
    if args.cases:
        make_cases(args.cases)
    else:
        make_fixture(args.out or os.path.dirname(os.path.abspath(__file__)))


if __name__ == "__main__":
    main()
