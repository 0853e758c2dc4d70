//! Compression interop with a third-party zlib: Python's standard library `zlib` module,
//! which wraps C zlib. Python reads what we write (with its own minimal DER walker), and
//! we read what Python writes (DER, and BER with indefinite lengths and chunked content).

mod common;

use std::path::{Path, PathBuf};

use as2_proto::cms::compressed::{self, CompressOptions, CompressedData};
use as2_proto::cms::{self, ContentType};
use as2_proto::{Error, Limit, Limits};

/// Reads our DER CompressedData ContentInfos with a minimal, strict DER walker and
/// decompresses the eContent with C zlib. Arguments: pairs of (ContentInfo file, payload
/// file). Prints `ok NAME LENGTH` per pair; exits non-zero on any deviation.
const PYTHON_READER: &str = r#"
import os, sys, zlib

OID_COMPRESSED_DATA = bytes.fromhex("060b2a864886f70d0109100109")  # 1.2.840.113549.1.9.16.1.9
OID_ZLIB = bytes.fromhex("060b2a864886f70d0109100308")             # 1.2.840.113549.1.9.16.3.8
OID_DATA = bytes.fromhex("06092a864886f70d010701")                 # 1.2.840.113549.1.7.1

def fail(name, why):
    sys.exit(f"{name}: {why}")

def read_tlv(name, buf, pos):
    """One DER TLV at pos: (tag, whole encoding, contents, end)."""
    if pos + 2 > len(buf):
        fail(name, f"truncated header at {pos}")
    start, tag, first = pos, buf[pos], buf[pos + 1]
    if tag & 0x1F == 0x1F:
        fail(name, "high tag number")
    pos += 2
    if first == 0x80:
        fail(name, f"indefinite length at {start} (not DER)")
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        raw = buf[pos : pos + n]
        if n > 4 or len(raw) != n or raw[0] == 0:
            fail(name, f"bad long-form length at {start}")
        length = int.from_bytes(raw, "big")
        if length < 0x80:
            fail(name, f"non-minimal length at {start}")
        pos += n
    end = pos + length
    if end > len(buf):
        fail(name, f"length beyond the input at {start}")
    return tag, buf[start:end], buf[pos:end], end

def children(name, contents):
    out, pos = [], 0
    while pos < len(contents):
        tag, whole, inner, pos = read_tlv(name, contents, pos)
        out.append((tag, whole, inner))
    return out

def expect(name, items, tags, what):
    if [t for t, _, _ in items] != tags:
        fail(name, f"{what}: tags {[hex(t) for t, _, _ in items]}, expected {[hex(t) for t in tags]}")
    return items

args = sys.argv[1:]
for info_path, payload_path in zip(args[0::2], args[1::2]):
    name = os.path.basename(info_path)
    info = open(info_path, "rb").read()
    payload = open(payload_path, "rb").read()
    tag, _, contents, end = read_tlv(name, info, 0)
    if tag != 0x30 or end != len(info):
        fail(name, "not one SEQUENCE")
    oid, explicit = expect(name, children(name, contents), [0x06, 0xA0], "ContentInfo")
    if oid[1] != OID_COMPRESSED_DATA:
        fail(name, f"content type {oid[1].hex()}")
    (cd,) = expect(name, children(name, explicit[2]), [0x30], "content [0]")
    version, alg, encap = expect(name, children(name, cd[2]), [0x02, 0x30, 0x30], "CompressedData")
    if version[2] != b"\x00":
        fail(name, f"version {version[2].hex()}")
    if alg[2] != OID_ZLIB:  # RFC 3274: parameters absent
        fail(name, f"compressionAlgorithm {alg[2].hex()}")
    data_oid, econtent = expect(name, children(name, encap[2]), [0x06, 0xA0], "EncapsulatedContentInfo")
    if data_oid[1] != OID_DATA:
        fail(name, f"eContentType {data_oid[1].hex()}")
    (octets,) = expect(name, children(name, econtent[2]), [0x04], "eContent [0]")
    d = zlib.decompressobj()
    out = d.decompress(octets[2]) + d.flush()
    if not d.eof or d.unused_data:
        fail(name, f"stream incomplete or followed by {len(d.unused_data)} octets")
    if out != payload:
        fail(name, f"decompressed {len(out)} octets differ from the {len(payload)}-octet payload")
    print(f"ok {name} {len(out)}")
"#;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cms/make_compressed_ber.py")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cms")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Deterministic pseudo-random octets (xorshift64).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn edi(lines: usize) -> Vec<u8> {
    (0..lines)
        .flat_map(|i| {
            format!(
                "PO1*{i}*{}*EA*{}.{:02}**VP*{:08}*UP*{:012}~\r\n",
                i % 97 + 1,
                i * 7 % 1000,
                i % 100,
                i * 7919 % 100_000_000,
                i * 104_729
            )
            .into_bytes()
        })
        .collect()
}

#[test]
fn our_compressed_data_is_read_by_python_zlib() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut runs_of_zeros = vec![0u8; 3 << 20];
    runs_of_zeros.extend_from_slice(&edi(2000));
    let payloads: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("one", b"~".to_vec()),
        ("edi", edi(3000)),
        ("binary", noise(100_000, 0x2545_F491_4F6C_DD1D)),
        ("zeros", runs_of_zeros),
    ];
    let mut args = Vec::new();
    let mut expected = String::new();
    for (name, payload) in &payloads {
        let payload_path = dir.path().join(format!("{name}.payload"));
        std::fs::write(&payload_path, payload).expect("write");
        for level in [0u8, 1, 6, 9, 10] {
            let mut options = CompressOptions::default();
            options.level = level;
            let info = compressed::compress(payload, options);
            let file = format!("{name}-{level}.der");
            std::fs::write(dir.path().join(&file), &info).expect("write");
            args.push(file.clone());
            args.push(payload_path.display().to_string());
            expected.push_str(&format!("ok {file} {}\n", payload.len()));
        }
    }
    let mut argv = vec!["-c", PYTHON_READER];
    argv.extend(args.iter().map(String::as_str));
    let out = common::python3(dir.path(), &argv);
    assert_eq!(String::from_utf8(out).expect("utf-8"), expected);
}

#[test]
fn python_zlib_streams_in_der_and_ber_are_read_by_us() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases_dir = dir.path().display().to_string();
    let script = script().display().to_string();
    common::python3(dir.path(), &[&script, "--cases", &cases_dir]);
    let names = std::fs::read_to_string(dir.path().join("cases.txt")).expect("cases.txt");
    let names: Vec<&str> = names.lines().collect();
    // 4 payloads x (4 levels, 4 strategies, a small window, a flushed stream).
    assert_eq!(names.len(), 40, "{names:?}");
    let read = |name: &str, ext: &str| {
        std::fs::read(dir.path().join(format!("{name}.{ext}"))).expect("case file")
    };
    let limits = Limits::default();
    for name in names {
        let payload = read(name, "payload");
        let zlib = read(name, "zlib");
        for form in ["der", "ber", "long"] {
            let info = read(name, form);
            let what = format!("{name}.{form}");
            assert_eq!(
                cms::content_type(&info, &limits),
                Ok(ContentType::CompressedData),
                "{what}"
            );
            let parsed = CompressedData::parse(&info, &limits)
                .unwrap_or_else(|e| panic!("{what}: parse: {e}"));
            assert_eq!(parsed.compressed(), zlib, "{what}: joined eContent");
            let out = parsed
                .decompress(&limits)
                .unwrap_or_else(|e| panic!("{what}: decompress: {e}"));
            assert!(out == payload, "{what}: payload differs");
        }
        // The BER form really is chunked: 9 segments.
        let mut few = Limits::default();
        few.max_ber_chunks = 8;
        assert_eq!(
            CompressedData::parse(&read(name, "ber"), &few).expect_err("9 chunks"),
            Error::LimitExceeded {
                limit: Limit::BerChunks,
                value: 8
            },
            "{name}.ber"
        );
    }
}

#[test]
fn committed_chunked_indefinite_fixture() {
    let ber = fixture("compressed_chunked_indefinite.ber");
    let txt = fixture("compressed_chunked_indefinite.txt");
    // Indefinite lengths from the first octets on, and an indefinite constructed OCTET
    // STRING as the eContent.
    assert_eq!(ber[..2], [0x30, 0x80]);
    assert!(ber.windows(4).any(|w| w == [0xa0, 0x80, 0x24, 0x80]));
    assert_eq!(ber[ber.len() - 4..], [0, 0, 0, 0]);
    assert!(txt.starts_with(b"ISA*00*"));

    let limits = Limits::default();
    let parsed = CompressedData::parse(&ber, &limits).expect("parse the fixture");
    assert_eq!(parsed.compressed()[0], 0x78, "a zlib header");
    assert_eq!(parsed.decompress(&limits).expect("decompress"), txt);
    let mut few = Limits::default();
    few.max_ber_chunks = 8;
    assert_eq!(
        CompressedData::parse(&ber, &few).expect_err("9 chunks"),
        Error::LimitExceeded {
            limit: Limit::BerChunks,
            value: 8
        }
    );

    // The README's command makes the same payload, and a .ber that decodes to it.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().display().to_string();
    common::python3(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &["tests/data/cms/make_compressed_ber.py", "--out", &out],
    );
    let new_txt = std::fs::read(dir.path().join("compressed_chunked_indefinite.txt")).expect("txt");
    let new_ber = std::fs::read(dir.path().join("compressed_chunked_indefinite.ber")).expect("ber");
    assert_eq!(new_txt, txt);
    assert_eq!(
        CompressedData::parse(&new_ber, &limits)
            .expect("parse")
            .decompress(&limits)
            .expect("decompress"),
        txt
    );
}

/// Reads each entity file named in argv with Python's `email` package, both the legacy
/// parser (compat32, what pyas2lib and django-pyas2 use) and the current one
/// (`policy.default`); prints, as JSON, the file names of the entity and its parts.
const PYTHON_FILE_NAMES: &str = r#"
import email, email.policy, json, sys
out = []
for path in sys.argv[1:]:
    raw = open(path, "rb").read()
    names = []
    for policy in (email.policy.compat32, email.policy.default):
        msg = email.message_from_bytes(raw, policy=policy)
        names.append([part.get_filename() for part in msg.walk()])
    out.append(names)
print(json.dumps(out))
"#;

/// Writes one entity per name (names in the JSON file argv[1], files into argv[2]): with
/// `policy.default`'s `set_content(filename=...)` (RFC 2231, continuations for long
/// names) and compat32's `add_header(filename=(charset, language, name))`.
const PYTHON_WRITER: &str = r#"
import email.message, email.policy, json, os, sys
names = json.load(open(sys.argv[1], encoding="utf-8"))
for i, name in enumerate(names):
    m = email.message.EmailMessage()
    m.set_content(b"ISA~", maintype="application", subtype="edi-x12", filename=name)
    open(os.path.join(sys.argv[2], f"default-{i}.eml"), "wb").write(bytes(m))
    m = email.message.Message()
    m.add_header("Content-Type", "application/edi-x12")
    m.add_header("Content-Disposition", "attachment", filename=("utf-8", "", name))
    m.set_payload("ISA~")
    open(os.path.join(sys.argv[2], f"compat32-{i}.eml"), "wb").write(m.as_bytes())
"#;

const FILE_NAMES: [&str; 5] = [
    "Bestellung-Größe-é.edi",
    "注文.edi",
    "plain name.edi",
    "quote \" and backslash \\ and 'apostrophe' 100%.edi",
    // Long enough for Python to write continuations.
    "注文注文注文注文注文注文注文注文注文注文注文注文注文注文注文注文注文注文注文注文-Größe.edi",
];

/// Non-ASCII names as we write them (RFC 2231) are read back by Python's `email`, from
/// an unsigned message (Content-Disposition among the HTTP headers) and from the payload
/// part of a signed one.
#[test]
fn our_file_names_are_read_by_python_email() {
    use as2_proto::cms::signed::{SignOptions, Signer};
    use as2_proto::message::headers::{As2Id, head_bytes};
    use as2_proto::message::outbound::{self, OutboundMessage};

    let dir = tempfile::tempdir().expect("tempdir");
    let pki = common::Pki::new();
    let sender = pki.party("sender", 2048);
    let mut paths = Vec::new();
    for (i, name) in FILE_NAMES.iter().enumerate() {
        for signed in [false, true] {
            let mut msg = OutboundMessage::new(
                As2Id::new("sender").expect("id"),
                As2Id::new("receiver").expect("id"),
                b"ISA*00*~",
            );
            msg.content_type = "application/edi-x12".into();
            msg.file_name = Some((*name).to_owned());
            if signed {
                msg.signing = Some((
                    Signer::new(&sender.cert, &sender.key),
                    SignOptions::default(),
                ));
            }
            let built =
                outbound::build(&msg, common::now(), &mut common::rng(i as u64)).expect("build");
            let mut entity = head_bytes(&built.headers);
            entity.extend_from_slice(&built.body);
            let path = dir.path().join(format!("{i}-{signed}.eml"));
            std::fs::write(&path, entity).expect("write");
            paths.push(path.display().to_string());
        }
    }
    let mut argv = vec!["-c", PYTHON_FILE_NAMES];
    argv.extend(paths.iter().map(String::as_str));
    let out = common::python3(dir.path(), &argv);
    let read: Vec<Vec<Vec<Option<String>>>> = serde_json::from_slice(&out).expect("json");
    for (i, name) in FILE_NAMES.iter().enumerate() {
        for (k, signed) in [false, true].into_iter().enumerate() {
            let per_policy = &read[2 * i + k];
            for (policy, names) in ["compat32", "default"].iter().zip(per_policy) {
                // Unsigned: the entity itself; signed: its first part (the payload), not
                // the signature part (smime.p7s).
                let expected: Vec<Option<String>> = if signed {
                    vec![None, Some((*name).to_owned()), Some("smime.p7s".into())]
                } else {
                    vec![Some((*name).to_owned())]
                };
                assert_eq!(names, &expected, "{policy}, signed {signed}");
            }
        }
    }
}

/// What Python's `email` writes for non-ASCII names (RFC 2231, with continuations for a
/// long name) is read by `mime::file_name`.
#[test]
fn python_email_file_names_are_read_by_us() {
    use as2_proto::__internal::mime::{self, MimeLimits};
    let dir = tempfile::tempdir().expect("tempdir");
    let names_path = dir.path().join("names.json");
    std::fs::write(&names_path, serde_json::to_vec(&FILE_NAMES).expect("json")).expect("write");
    let names_arg = names_path.display().to_string();
    let out_arg = dir.path().display().to_string();
    common::python3(dir.path(), &["-c", PYTHON_WRITER, &names_arg, &out_arg]);
    let mut continuations = 0;
    for (i, name) in FILE_NAMES.iter().enumerate() {
        for style in ["default", "compat32"] {
            let raw = std::fs::read(dir.path().join(format!("{style}-{i}.eml"))).expect("read");
            let part = mime::parse_part(&raw, &MimeLimits::default()).expect("parse");
            let disposition = part
                .header("Content-Disposition")
                .map(|h| h.unfolded_value());
            if disposition
                .as_deref()
                .is_some_and(|d| d.windows(11).any(|w| w == b"filename*1*"))
            {
                continuations += 1;
            }
            assert_eq!(
                mime::file_name(disposition.as_deref(), part.content_type()).as_deref(),
                Some(*name),
                "{style}-{i}: {}",
                String::from_utf8_lossy(&raw)
            );
        }
    }
    // The long name really came as continuations.
    assert!(continuations >= 1);
}
