//! Fuzzing, replayed in the normal test run.
//!
//! Every input a fuzzer crashed on is kept in `tests/data/fuzz/<target>/` and replayed
//! here through the very target code the fuzzer runs (`fuzz/src/targets.rs`, included
//! below), so a fixed crash stays fixed. The seed corpora in `fuzz/seeds/<target>/` are
//! replayed too: they reach deep (they decrypt and verify with the fixed keys), so the
//! targets' own assertions run on real messages in every `cargo test`.
//!
//! `write_fuzz_seeds` (ignored) regenerates the seed corpora; see `fuzz/README.md`.

#[path = "../fuzz/src/targets.rs"]
#[allow(dead_code)]
mod targets;

use std::path::{Path, PathBuf};
use std::process::Command;

use as2_proto::__internal::mime;
use as2_proto::cms::algorithm::{ContentEncryption, DigestAlgorithm, KeyTransport};
use as2_proto::cms::compressed::{self, CompressOptions};
use as2_proto::cms::enveloped::{self, EncryptOptions};
use as2_proto::cms::signed::{self, Signer};
use as2_proto::cms::{self, ContentType};
use as2_proto::mdn::{self, MdnSettings, Report};
use as2_proto::message::headers::As2Id;
use as2_proto::message::inbound::{self, InboundPolicy, NoDuplicateCheck};
use as2_proto::message::outbound::{self, Compression, MdnRequest, OutboundMessage};
use as2_proto::{Error, Limits, record};
use targets::{KEYS, now, request_bytes, rng, split_request};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files in `dir`, sorted (none when it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    out.retain(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"));
    out.sort();
    out
}

/// Runs `target` on every file of `dir`, naming the file if it panics; returns the count.
fn replay(name: &str, target: fn(&[u8]), dir: &Path) -> usize {
    let inputs = files(dir);
    for path in &inputs {
        let data = std::fs::read(path).expect("read input");
        let outcome = std::panic::catch_unwind(|| target(&data));
        assert!(outcome.is_ok(), "{name}: {} panics", path.display());
    }
    inputs.len()
}

fn target(name: &str) -> fn(&[u8]) {
    targets::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .expect("known target")
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        mod crashes {
            $(
                /// Crash inputs found by this target.
                #[test]
                fn $name() {
                    let dir = super::root().join("tests/data/fuzz").join(stringify!($name));
                    super::replay(stringify!($name), super::target(stringify!($name)), &dir);
                }
            )*
        }
        mod seeds {
            $(
                /// The seed corpus of this target.
                #[test]
                fn $name() {
                    let dir = super::root().join("fuzz/seeds").join(stringify!($name));
                    let n = super::replay(stringify!($name), super::target(stringify!($name)), &dir);
                    assert!(n > 0, "no seeds for {}", stringify!($name));
                }
            )*
        }
    };
}

replay_tests!(
    inbound,
    inbound_built,
    mdn,
    mime,
    ber,
    signed,
    enveloped,
    auth_enveloped,
    compressed,
    headers,
    keys,
    pkcs12,
    kari,
    cem_xml,
    related,
);

#[test]
fn every_target_is_replayed() {
    let names: Vec<&str> = targets::ALL.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "inbound",
            "inbound_built",
            "mdn",
            "mime",
            "ber",
            "signed",
            "enveloped",
            "auth_enveloped",
            "compressed",
            "headers",
            "keys",
            "pkcs12",
            "kari",
            "cem_xml",
            "related",
        ]
    );
}

#[test]
fn request_format_round_trips() {
    let headers = [("AS2-From", &b"A"[..]), ("Content-Type", b"text/plain")];
    let bytes = request_bytes(&headers, b"body\r\n\r\nmore");
    let (parsed, body) = split_request(&bytes);
    assert_eq!(parsed.get("as2-from"), Some(&b"A"[..]));
    assert_eq!(parsed.get("Content-Type"), Some(&b"text/plain"[..]));
    assert_eq!(body, b"body\r\n\r\nmore");
    let (parsed, body) = split_request(b"X: 1\nY:2\n\nrest");
    assert_eq!(parsed.get("Y"), Some(&b"2"[..]));
    assert_eq!(body, b"rest");
}

// ---------------------------------------------------------------------------------------
// Seed corpora
// ---------------------------------------------------------------------------------------

struct Seeds {
    dir: PathBuf,
}

impl Seeds {
    fn put(&self, target: &str, name: &str, data: &[u8]) {
        let dir = self.dir.join(target);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(name), data).expect("write seed");
    }
}

fn json_headers(path: &Path) -> Vec<(String, Vec<u8>)> {
    let text = std::fs::read_to_string(path).expect("headers.json");
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).expect("headers.json is an object");
    map.into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().as_bytes().to_vec()))
        .collect()
}

/// Every CMS structure in a request, after decryption too, filed by its content type.
fn cms_blobs(request: &[u8], out: &mut Vec<Vec<u8>>) {
    let (headers, body) = split_request(request);
    let limits = Limits::default();
    let Some(ct) = headers.get("Content-Type") else {
        return;
    };
    let Ok(top) = mime::Part::from_body_with_encoding(
        body,
        ct,
        headers.get("Content-Transfer-Encoding"),
        &mime::limits(&limits),
    ) else {
        return;
    };
    collect_part(&top, out, 0);
}

fn collect_part(part: &mime::Part<'_>, out: &mut Vec<Vec<u8>>, depth: usize) {
    let limits = Limits::default();
    for child in part.children() {
        collect_part(child, out, depth + 1);
    }
    let ct = part.content_type();
    if !(ct.is("application/pkcs7-mime") || ct.is("application/pkcs7-signature")) {
        return;
    }
    let Ok(der) = part.decoded_body() else { return };
    let der = der.into_owned();
    let inner = match cms::content_type(&der, &limits) {
        Ok(ContentType::EnvelopedData) => enveloped::EnvelopedData::parse(&der, &limits)
            .ok()
            .and_then(|e| {
                let (c, k) = &KEYS.decryption[0];
                e.decrypt(c, k, &mut rng()).ok()
            }),
        Ok(ContentType::CompressedData) => compressed::CompressedData::parse(&der, &limits)
            .ok()
            .and_then(|c| c.decompress(&limits).ok()),
        Ok(ContentType::SignedData) => signed::SignedData::parse(&der, &limits)
            .ok()
            .and_then(|s| s.into_content().map(|c| c.into_owned())),
        _ => None,
    };
    out.push(der);
    if let (Some(inner), true) = (inner, depth < 4)
        && let Ok(p) = mime::parse_part(&inner, &mime::limits(&limits))
    {
        collect_part(&p, out, depth + 1);
    }
}

fn built_messages() -> Vec<(String, Vec<u8>)> {
    let keys = &*KEYS;
    let payloads: [(&str, &[u8], &str); 3] = [
        (
            "x12",
            b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       ~\nGS*PO~\n",
            "application/edi-x12",
        ),
        (
            "bin",
            &[0u8, 1, 2, 0xff, b'\r', b'\n', 0x80, b'\n'],
            "application/octet-stream",
        ),
        ("text", b"line one\nline two\r\n", "text/plain"),
    ];
    let mut out = Vec::new();
    let mut n = 0u8;
    for (label, payload, content_type) in payloads {
        for (sign, encrypt, compression, mdn) in [
            (false, false, Compression::None, MdnRequest::None),
            (true, false, Compression::None, MdnRequest::sync()),
            (false, true, Compression::None, MdnRequest::sync()),
            (true, true, Compression::BeforeSigning, MdnRequest::sync()),
            (
                true,
                true,
                Compression::AfterSigning,
                MdnRequest::asynchronous("https://a.invalid/mdn"),
            ),
            (false, false, Compression::BeforeSigning, MdnRequest::sync()),
        ] {
            n = n.wrapping_add(1);
            let mut m = OutboundMessage::new(
                As2Id::new("pyas2lib_A").unwrap(),
                As2Id::new("as2proto_B").unwrap(),
                payload,
            );
            m.content_type = content_type.into();
            m.file_name = Some(format!("file \"{n}\".{label}"));
            m.compression = compression;
            let mut mdn = mdn;
            if sign {
                let mut o = signed::SignOptions::default();
                o.digest = [
                    DigestAlgorithm::Sha256,
                    DigestAlgorithm::Sha1,
                    DigestAlgorithm::Sha512,
                ][usize::from(n) % 3];
                if mdn.is_requested() {
                    mdn = mdn.signed(&[o.digest]);
                }
                m.signing = Some((Signer::new(&keys.partner_sign.0, &keys.partner_sign.1), o));
            }
            if encrypt {
                let mut o = EncryptOptions::default();
                o.cipher = [
                    ContentEncryption::Aes128Cbc,
                    ContentEncryption::Aes256Cbc,
                    ContentEncryption::TripleDesCbc,
                ][usize::from(n) % 3];
                if n.is_multiple_of(2) {
                    o.key_transport = KeyTransport::RsaOaep(DigestAlgorithm::Sha256);
                }
                m.encryption = (vec![&keys.decryption[0].0], o);
            }
            m.mdn = mdn;
            let built = outbound::build(&m, now(), &mut rng()).unwrap();
            let bytes = request_bytes(&built.headers.iter().collect::<Vec<_>>(), &built.body);
            out.push((format!("built-{n:02}-{label}"), bytes));
        }
    }
    out
}

/// Our MDN replies to `request` (a message): as accepted and as refused.
fn replies(request: &[u8]) -> Vec<Vec<u8>> {
    let keys = &*KEYS;
    let limits = Limits::default();
    let (headers, body) = split_request(request);
    let Ok(incoming) = inbound::handle(&headers, body, &limits) else {
        return Vec::new();
    };
    let policy = InboundPolicy::new(&keys.decryption, &keys.trusted, &limits);
    let report = match incoming.accept(&policy, &mut NoDuplicateCheck, &mut rng()) {
        Ok(r) => Report::received(&r),
        Err(r) => Report::rejected(&r),
    };
    let settings = MdnSettings::signed(Signer::new(&keys.our_sign.0, &keys.our_sign.1));
    let mut out = Vec::new();
    for report in [report, Report::error(&Error::DecryptionFailed)] {
        if let Ok(reply) = mdn::reply(&incoming, &report, &settings, now(), &mut rng())
            && let Some(m) = reply.mdn
        {
            out.push(request_bytes(
                &m.headers.iter().collect::<Vec<_>>(),
                &m.body,
            ));
        }
    }
    out
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(dir.join(args.last().unwrap())).unwrap_or(out.stdout)
}

/// Multipart bodies with boundaries around RFC 2046's limit of 70 characters (69, 70, 71
/// and 8000), made of dashes (`"-" * (n - 1) + "x"`), over bodies of dashes and of lines
/// that almost are delimiters: the shapes that made the signed-MDN sniffing quadratic.
/// For `mime` as an entity and as a first-line Content-Type with a body; for `inbound` as
/// a request.
fn boundary_seeds() -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for n in [69usize, 70, 71, 8000] {
        let boundary = format!("{}x", "-".repeat(n - 1));
        let content_type = format!(
            "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"{boundary}\""
        );
        let dashes = "-".repeat(16 * 1024).into_bytes();
        let mut near = Vec::new();
        for line in [
            format!("--{}", &boundary[..n - 1]),
            format!("--{boundary}y"),
            format!("--{}", "-".repeat(n)),
            format!("--{boundary}--x"),
            "-".repeat(n + 2),
        ] {
            near.extend_from_slice(line.as_bytes());
            near.extend_from_slice(b"\r\n");
        }
        near.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: multipart/report; report-type=disposition-notification; boundary=\"{boundary}\"\r\n\r\n--{}\r\n--{boundary}\r\nContent-Type: application/pkcs7-signature\r\n\r\nx\r\n--{boundary}--\r\n",
                &boundary[..n - 1]
            )
            .as_bytes(),
        );
        for (shape, body) in [("dashes", &dashes), ("near", &near)] {
            let mut entity = format!("Content-Type: {content_type}\r\n\r\n").into_bytes();
            entity.extend_from_slice(body);
            let mut first_line = format!("{content_type}\n").into_bytes();
            first_line.extend_from_slice(body);
            let request = request_bytes(
                &[
                    ("AS2-From", "pyas2lib_A"),
                    ("AS2-To", "as2proto_B"),
                    ("AS2-Version", "1.2"),
                    ("Message-ID", "<long-boundary@pyas2lib_A>"),
                    ("Content-Type", content_type.as_str()),
                ],
                body,
            );
            out.push((format!("boundary-{n}-{shape}"), entity, request));
            out.push((
                format!("boundary-{n}-{shape}-first-line"),
                first_line,
                Vec::new(),
            ));
        }
    }
    out
}

fn write_boundary_seeds_to(seeds: &Seeds) {
    for (name, mime, request) in boundary_seeds() {
        seeds.put("mime", &name, &mime);
        if !request.is_empty() {
            seeds.put("inbound", &name, &request);
        }
    }
}

/// Writes only the long-boundary seeds of [`boundary_seeds`] into `fuzz/seeds/`:
/// `cargo test --test fuzz_regressions -- --ignored write_boundary_seeds`.
#[test]
#[ignore = "writes fuzz/seeds/; run by hand (see fuzz/README.md)"]
fn write_boundary_seeds() {
    write_boundary_seeds_to(&Seeds {
        dir: root().join("fuzz/seeds"),
    });
}

/// Seeds of the `related` target: multipart/related messages we build, in every layering
/// (raw mode: `0`, a chunk size, the request), hand-written entities as other products
/// write them, and a few inputs for the build-and-receive mode (`1`, arbitrary bytes).
fn write_related_seeds_to(seeds: &Seeds) {
    let keys = &*KEYS;
    let binary: Vec<u8> = (0..=255u8).cycle().take(700).collect();
    let text = b"ISA*00*~\r\nGS*PO~\n--as2-0\r\n--\r\n".to_vec();
    for layers in 0..8u8 {
        let mut m = OutboundMessage::new(
            As2Id::new("pyas2lib_A").unwrap(),
            As2Id::new("as2proto_B").unwrap(),
            &text,
        );
        m.content_type = "application/edi-x12".into();
        m.file_name = Some("po.x12".into());
        m.attachments = vec![
            as2_proto::Attachment::new("application/octet-stream", &binary)
                .with_file_name("blob.bin"),
            as2_proto::Attachment::new("text/plain", b"line\nline\r\n")
                .with_file_name("n\u{f6}tes.txt")
                .base64(),
        ];
        m.mdn = MdnRequest::sync();
        if layers & 1 != 0 {
            let signer = Signer::new(&keys.partner_sign.0, &keys.partner_sign.1);
            m.signing = Some((signer, Default::default()));
        }
        if layers & 2 != 0 {
            m.encryption.0 = vec![&keys.decryption[0].0];
        }
        if layers & 4 != 0 {
            m.compression = Compression::BeforeSigning;
        }
        let built = outbound::build(&m, now(), &mut rng()).unwrap();
        let headers: Vec<(&str, &[u8])> = built.headers.iter().collect();
        let mut seed = vec![0, 61];
        seed.extend(request_bytes(&headers, &built.body));
        seeds.put("related", &format!("built-{layers}"), &seed);
    }
    let hand: [&[u8]; 3] = [
        b"preamble\n--xyz\nContent-Type: application/xml\nContent-Disposition: attachment; filename*=UTF-8''%C3%A9.xml\n\n<a/>\n--xyz\n\nplain\n--xyz\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nsoft=\nbreak =3D\n--xyz--\nepilogue\n",
        b"--xyz\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--xyz\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n\r\nx\r\n--in--\r\n--xyz",
        b"--xyz\r\nContent-Type: text/plain\r\n--xyz\r\n\r\n--xyz--",
    ];
    for (i, body) in hand.iter().enumerate() {
        let mut seed = vec![0, 3];
        seed.extend(request_bytes(
            &[
                ("AS2-Version", &b"1.2"[..]),
                ("AS2-From", b"pyas2lib_A"),
                ("AS2-To", b"as2proto_B"),
                ("Message-ID", b"<seed@related>"),
                (
                    "Content-Type",
                    b"multipart/related; boundary=xyz; type=application/xml",
                ),
            ],
            body,
        ));
        seeds.put("related", &format!("hand-{i}"), &seed);
    }
    for (i, seed) in [
        &b"\x01\x03\x00\x05hello\x01\x01\x04name\x02\x00\x01x\x00\x00\x07\x05\x10\x00"[..],
        b"\x01\x05\x01\x00\x03abc\x00\x02\x00\x00\x02\x00--\x01\x03\x02\x01\x00",
        b"\x01\x0f\x00\x00\x00\x00",
    ]
    .iter()
    .enumerate()
    {
        seeds.put("related", &format!("arbitrary-{i}"), seed);
    }
}

/// Writes only the seeds of the `related` target into `fuzz/seeds/`:
/// `cargo test --test fuzz_regressions -- --ignored write_related_seeds`.
#[test]
#[ignore = "writes fuzz/seeds/; run by hand (see fuzz/README.md)"]
fn write_related_seeds() {
    write_related_seeds_to(&Seeds {
        dir: root().join("fuzz/seeds"),
    });
}

/// Regenerates `fuzz/seeds/` from the test data and the crate's own builders:
/// `cargo test --test fuzz_regressions -- --ignored write_fuzz_seeds`.
#[test]
#[ignore = "writes fuzz/seeds/; run by hand (see fuzz/README.md)"]
fn write_fuzz_seeds() {
    let seeds = Seeds {
        dir: root().join("fuzz/seeds"),
    };
    let _ = std::fs::remove_dir_all(&seeds.dir);
    let data = root().join("tests/data");
    let mut messages: Vec<(String, Vec<u8>)> = Vec::new();
    let mut mdns: Vec<(String, Vec<u8>)> = Vec::new();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(data.join("pyas2lib"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("headers.json").is_file())
        .collect();
    cases.sort();
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read(case.join("body.bin")).unwrap();
        messages.push((
            format!("pyas2lib-{name}"),
            request_bytes(&json_headers(&case.join("headers.json")), &body),
        ));
        if case.join("mdn/headers.json").is_file() {
            let body = std::fs::read(case.join("mdn/body.bin")).unwrap();
            mdns.push((
                format!("pyas2lib-{name}"),
                request_bytes(&json_headers(&case.join("mdn/headers.json")), &body),
            ));
        }
    }
    messages.extend(built_messages());
    let mut blobs = Vec::new();
    for (name, bytes) in &messages {
        if name.starts_with("pyas2lib-") || name.ends_with("x12") {
            for (i, reply) in replies(bytes).into_iter().enumerate() {
                mdns.push((format!("reply-{i}-{name}"), reply));
            }
        }
        cms_blobs(bytes, &mut blobs);
        seeds.put("inbound", name, bytes);
        seeds.put("mime", name, bytes);
    }
    for (name, bytes) in &mdns {
        seeds.put("mdn", name, bytes);
        seeds.put("inbound", &format!("mdn-{name}"), bytes);
        seeds.put("mime", &format!("mdn-{name}"), bytes);
    }

    // CMS: everything found in the messages, plus the BER fixture and our own encodings.
    blobs.push(std::fs::read(data.join("cms/compressed_chunked_indefinite.ber")).unwrap());
    let keys = &*KEYS;
    let signer = Signer::new(&keys.partner_sign.0, &keys.partner_sign.1);
    let options = signed::SignOptions::default();
    blobs.push(signed::sign_encapsulated(b"hello", &signer, &options, now(), &mut rng()).unwrap());
    blobs.push(compressed::compress(
        b"hello hello hello",
        CompressOptions::default(),
    ));
    blobs.push(
        enveloped::encrypt(
            b"hello",
            &[&keys.decryption[0].0],
            &EncryptOptions::default(),
            &mut rng(),
        )
        .unwrap(),
    );
    blobs.sort();
    blobs.dedup();
    let limits = Limits::default();
    for (i, blob) in blobs.iter().enumerate() {
        let name = format!("cms-{i:02}");
        seeds.put("ber", &name, blob);
        let target = match cms::content_type(blob, &limits) {
            Ok(ContentType::SignedData) => "signed",
            Ok(ContentType::EnvelopedData) => "enveloped",
            Ok(ContentType::CompressedData) => "compressed",
            Ok(ContentType::AuthEnvelopedData) => "auth_enveloped",
            _ => continue,
        };
        seeds.put(target, &name, blob);
    }
    // Round-trip mode seeds: a zero low nibble, options in the high nibble.
    for mode in 0u8..16 {
        let mut seed = vec![mode << 4];
        seed.extend_from_slice(b"ISA*00*payload~\r\n");
        seeds.put("signed", &format!("round-trip-{mode:x}"), &seed);
        seeds.put("enveloped", &format!("round-trip-{mode:x}"), &seed);
        seeds.put("auth_enveloped", &format!("round-trip-{mode:x}"), &seed);
    }
    seeds.put("compressed", "text", b"hello hello hello hello\n");
    write_boundary_seeds_to(&seeds);
    write_cem_seeds_to(&seeds);
    write_related_seeds_to(&seeds);

    // Structure-aware: random bytes are as good a start as any.
    let mut r = rng();
    for i in 0..8usize {
        let mut seed = vec![0u8; 32 << i.min(5)];
        rand_chacha::rand_core::Rng::fill_bytes(&mut r, &mut seed);
        seeds.put("inbound_built", &format!("random-{i}"), &seed);
    }

    // Header and field values.
    let limits = Limits::default();
    let (h, b) = split_request(&messages[0].1);
    let incoming = inbound::handle(&h, b, &limits).unwrap();
    let status = record::StatusRecord::inbound(&incoming, now()).to_json();
    for (i, value) in [
        "7v7F++fQaNiCo5oUq0SxdyBdR1bQ8WD8q8P8X6p7R3Y=, sha-256",
        "I1VL1pqtz+l0tmiJGKHCBIjZIFrsulenGtxpf5tWxwk=, sha256",
        "signed-receipt-protocol=required, pkcs7-signature; signed-receipt-micalg=optional, sha256, sha1",
        "signed-receipt-protocol=optional,pkcs7-signature;signed-receipt-micalg=required,SHA-512",
        "CEM, multiple-attachments, AS2-Reliability",
        "<5f1c3a@PartnerA>",
        "\"Partner \\\"A\\\"\"",
        "1.2",
        "automatic-action/MDN-sent-automatically; processed/Warning: duplicate-document",
        "Automatic-action/mdn-sent-automatically;failed/Failure:unsupported format",
        "2027-01-15T08:30:00.123Z",
        status.as_str(),
    ]
    .iter()
    .enumerate()
    {
        seeds.put("headers", &format!("value-{i:02}"), value.as_bytes());
    }

    // Keys and certificates in every format the loaders take.
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let pki = data.join("pyas2lib/pki");
    for (i, (cert, key)) in [
        (
            pki.join("as2proto_B/enc.crt"),
            pki.join("as2proto_B/enc.key"),
        ),
        (
            pki.join("pyas2lib_A/sign.crt"),
            pki.join("pyas2lib_A/sign.key"),
        ),
        (data.join("keys/doc.crt"), data.join("keys/doc.key")),
    ]
    .iter()
    .enumerate()
    {
        let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
        seeds.put(
            "keys",
            &format!("{i}-cert.pem"),
            &std::fs::read(cert).unwrap(),
        );
        seeds.put(
            "keys",
            &format!("{i}-pkcs8.pem"),
            &std::fs::read(key).unwrap(),
        );
        let der = openssl(t, &["x509", "-in", c, "-outform", "DER", "-out", "c.der"]);
        seeds.put("keys", &format!("{i}-cert.der"), &der);
        let der = openssl(
            t,
            &[
                "pkcs8", "-topk8", "-nocrypt", "-in", k, "-outform", "DER", "-out", "k8.der",
            ],
        );
        seeds.put("keys", &format!("{i}-pkcs8.der"), &der);
        let der = openssl(
            t,
            &[
                "rsa",
                "-in",
                k,
                "-traditional",
                "-outform",
                "DER",
                "-out",
                "k1.der",
            ],
        );
        seeds.put("keys", &format!("{i}-pkcs1.der"), &der);
        let pem = openssl(t, &["rsa", "-in", k, "-traditional", "-out", "k1.pem"]);
        seeds.put("keys", &format!("{i}-pkcs1.pem"), &pem);
        for (form, file) in [("DER", "e.der"), ("PEM", "e.pem")] {
            let enc = openssl(
                t,
                &[
                    "pkcs8",
                    "-topk8",
                    "-v2",
                    "aes-256-cbc",
                    "-iter",
                    "1000",
                    "-passout",
                    "pass:fuzz",
                    "-in",
                    k,
                    "-outform",
                    form,
                    "-out",
                    file,
                ],
            );
            seeds.put(
                "keys",
                &format!("{i}-pkcs8-encrypted.{}", form.to_lowercase()),
                &enc,
            );
        }
    }
    let mut chain = std::fs::read(pki.join("as2proto_B/enc.crt")).unwrap();
    chain.extend(std::fs::read(pki.join("ca/ca.crt")).unwrap());
    seeds.put("keys", "chain.pem", &chain);
    write_kari_seeds_to(&seeds);
}

/// The first RecipientInfo of an EnvelopedData DER, as received.
fn first_recipient_info(der: &[u8]) -> Vec<u8> {
    let limits = Limits::default();
    let info = as2_proto::__internal::ber::Reader::new(der, &limits)
        .read("ContentInfo")
        .unwrap();
    let mut r = info.children("ContentInfo").unwrap();
    r.read("contentType").unwrap();
    let explicit = r.read("[0]").unwrap();
    let env = explicit.children("[0]").unwrap().read("env").unwrap();
    let mut e = env.children("env").unwrap();
    e.read("version").unwrap();
    let set = e.read("recipientInfos").unwrap();
    set.children("set")
        .unwrap()
        .read("ri")
        .unwrap()
        .raw
        .to_vec()
}

/// Seeds for `kari`: round-trip modes; KeyAgreeRecipientInfos we write (P-256 and P-384,
/// by issuer and serial and by subject key identifier, AES-128 and AES-256 wraps) and
/// that `openssl cms -encrypt` writes (its default SHA-1 KDF, SHA-256/384/512 KDFs,
/// cofactor mode) to `tests/data/keys/ec-p256.crt` and `ec-p384.crt`, alone and as whole
/// envelopes.
fn write_kari_seeds_to(seeds: &Seeds) {
    for mode in 0u8..4 {
        let mut seed = vec![mode << 4];
        seed.extend_from_slice(b"ISA*00*kari~\r\n");
        seeds.put("kari", &format!("round-trip-{mode:x}"), &seed);
    }
    let data = root().join("tests/data/keys");
    let [p256, p384] = &*targets::EC_KEYS;
    for (name, cert) in [("p256", &p256.0), ("p384", &p384.0)] {
        for (cipher, ski) in [
            (ContentEncryption::Aes128Cbc, false),
            (ContentEncryption::Aes256Cbc, true),
        ] {
            let mut options = EncryptOptions::default();
            options.cipher = cipher;
            options.use_subject_key_id = ski;
            let env = enveloped::encrypt(b"kari", &[cert], &options, &mut rng()).unwrap();
            let tag = format!("ours-{name}-{cipher}-{}", if ski { "ski" } else { "iss" });
            seeds.put("kari", &tag, &first_recipient_info(&env));
            seeds.put("kari", &format!("{tag}-envelope"), &env);
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::write(t.join("m.txt"), b"kari").unwrap();
    for name in ["p256", "p384"] {
        let crt = data.join(format!("ec-{name}.crt"));
        for (i, keyopts) in [
            &[][..],
            &["ecdh_kdf_md:sha256"][..],
            &["ecdh_kdf_md:sha384"][..],
            &["ecdh_kdf_md:sha512", "ecdh_cofactor_mode:1"][..],
        ]
        .iter()
        .enumerate()
        {
            let mut args = vec![
                "cms",
                "-encrypt",
                "-binary",
                "-aes256",
                "-in",
                "m.txt",
                "-outform",
                "DER",
                "-recip",
                crt.to_str().unwrap(),
            ];
            for opt in *keyopts {
                args.extend(["-keyopt", opt]);
            }
            args.extend(["-out", "e.der"]);
            let env = openssl(t, &args);
            seeds.put(
                "kari",
                &format!("openssl-{name}-{i}"),
                &first_recipient_info(&env),
            );
            seeds.put("kari", &format!("openssl-{name}-{i}-envelope"), &env);
        }
    }
}

/// Writes only the `kari` seeds into `fuzz/seeds/kari`:
/// `cargo test --test fuzz_regressions -- --ignored write_kari_seeds`.
#[test]
#[ignore = "writes fuzz/seeds/; run by hand (see fuzz/README.md)"]
fn write_kari_seeds() {
    write_kari_seeds_to(&Seeds {
        dir: root().join("fuzz/seeds"),
    });
}

/// Writes only the `cem_xml` seeds into `fuzz/seeds/cem_xml`:
/// `cargo test --test fuzz_regressions -- --ignored write_cem_seeds`.
#[test]
#[ignore = "writes fuzz/seeds/; run by hand (see fuzz/README.md)"]
fn write_cem_seeds() {
    let seeds = Seeds {
        dir: root().join("fuzz/seeds"),
    };
    let _ = std::fs::remove_dir_all(seeds.dir.join("cem_xml"));
    write_cem_seeds_to(&seeds);
}

/// The CEM fixtures of `tests/data/cem`, a request and a response as we write them, and a
/// certs-only CMS.
fn write_cem_seeds_to(seeds: &Seeds) {
    use as2_proto::cem::{
        CemRequest, CemResponse, CertUsage, CertificateReference, EndEntity, TradingPartnerInfo,
        TrustRequest, TrustResponse,
    };
    let dir = root().join("tests/data/cem");
    for name in [
        "mendelson_request.xml",
        "mendelson_response.xml",
        "draft_prefixed_request.xml",
    ] {
        seeds.put("cem_xml", name, &std::fs::read(dir.join(name)).unwrap());
    }
    let cert = &KEYS.partner_sign.0;
    let request = CemRequest::new(
        "req-1",
        TradingPartnerInfo::as2("pyas2lib_A", now()),
        vec![TrustRequest::new(
            vec![CertUsage::Encryption, CertUsage::Signing],
            Some(now()),
            "https://a.example/as2",
            EndEntity::for_certificate(cert, "cert-1@a.example"),
        )],
    );
    seeds.put("cem_xml", "built-request.xml", &request.to_xml());
    let response = CemResponse::new(
        "req-1",
        TradingPartnerInfo::as2("as2proto_B", now()),
        vec![
            TrustResponse::accepted(CertificateReference::for_certificate(cert)),
            TrustResponse::rejected(
                CertificateReference::for_certificate(cert),
                "expired & <gone>",
            ),
        ],
    );
    seeds.put("cem_xml", "built-response.xml", &response.to_xml());
    seeds.put(
        "cem_xml",
        "certs-only.der",
        &as2_proto::cms::certs_only::build(&[cert]),
    );
}
