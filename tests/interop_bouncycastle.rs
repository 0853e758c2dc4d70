//! The MIC of an unsigned, unencrypted message against BouncyCastle-based AS2 products
//! (RFC 4130 §7.3.1: the body alone, without the MIME headers), both ways.
//!
//! `tests/bouncycastle/Mic.java` is an independent implementation (JavaMail for MIME, the
//! BouncyCastle provider for the digest) of how phax/as2-lib and OpenAS2 compute that MIC;
//! `tests/bouncycastle/README.md` says how the committed fixtures were made.
//!
//! - Without Java: the committed messages a BouncyCastle sender made, with the MIC it
//!   expects back, are received here and must give that MIC; a message we build with the
//!   same body must expect the same MIC; the signed, encrypted-only and compressed-only
//!   rules (headers included) are unchanged.
//! - `--ignored` (needs Java 17 and the Debian BouncyCastle packages, see `.ci/run`):
//!   compiles `Mic.java` and runs it live on messages we build and on messages it makes;
//!   and BouncyCastle's streaming S/MIME parsers unwrap messages our streaming builder
//!   wrote (encrypted, compressed before or after signing, signed; with the length
//!   announced, or not: BER indefinite lengths and segmented content), verify the
//!   signatures and return the payload byte for byte. `tests/bouncycastle/AuthEnveloped.java`
//!   exchanges AuthEnvelopedData (AES-128/256-GCM and -CCM) both ways with
//!   `CMSAuthEnvelopedDataGenerator` / `CMSAuthEnvelopedData` (Debian's BouncyCastle 1.72
//!   has no streaming AuthEnvelopedData generator), and we read the EnvelopedData form
//!   `CMSEnvelopedDataGenerator` writes with an AEAD cipher (the tag appended).
//!   `tests/bouncycastle/Related.java` cross-checks multiple attachments (RFC 6362): it
//!   signs a `multipart/related` with `SMIMESignedGenerator` for us to verify and unpack,
//!   and verifies and unpacks ours, reporting each part's type, name, size and SHA-256.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use as2_proto::cms::algorithm::DigestAlgorithm;
use as2_proto::cms::signed::{SignOptions, Signer};
use as2_proto::message::headers::{As2Id, HttpHeaders};
use as2_proto::message::inbound::{self, InboundPolicy, NoDuplicateCheck, Received};
use as2_proto::message::outbound::{self, BuiltMessage, Compression, MdnRequest, OutboundMessage};
use as2_proto::mic::{Mic, MicNameStyle};
use as2_proto::{Certificate, Limits, PrivateKey};

const JAVA_IGNORE: &str = "needs Java 17 and BouncyCastle (apt-get install libbcprov-java libbcpkix-java libbcmail-java): cargo test --test interop_bouncycastle -- --ignored";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bouncycastle")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// HTTP headers from `Name: value` lines (CRLF), up to the first empty line.
fn parse_headers(block: &[u8]) -> HttpHeaders {
    let text = std::str::from_utf8(block).expect("ASCII headers");
    let mut headers = HttpHeaders::new();
    for line in text.split("\r\n").take_while(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').expect("a header line");
        headers.push(name.trim(), value.trim().as_bytes());
    }
    headers
}

/// The header block the Java side reads: `Name: value` lines and an empty line.
fn header_block(built: &BuiltMessage) -> Vec<u8> {
    built.headers.head_bytes()
}

/// Receives a message with no layer expected, as a receiver with the given keys.
fn receive(
    headers: &HttpHeaders,
    body: &[u8],
    keys: &[(Certificate, PrivateKey)],
    partner: &[Certificate],
) -> Received {
    let limits = Limits::default();
    let incoming = inbound::handle(headers, body, &limits).expect("handle");
    // This file is about the MIC; the agreement accepts unsigned messages too.
    let mut policy = InboundPolicy::new(keys, partner, &limits);
    policy.require_signature = false;
    incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut common::rng(7))
        .unwrap_or_else(|r| panic!("rejected: {}", r.error))
}

/// A plain (unsigned, unencrypted) message with a synchronous, signed-receipt request
/// offering `digest`.
fn build_plain(payload: &[u8], content_type: &str, digest: DigestAlgorithm) -> BuiltMessage {
    let mut msg = OutboundMessage::new(
        As2Id::new("as2proto").unwrap(),
        As2Id::new("bcreceiver").unwrap(),
        payload,
    );
    msg.content_type = content_type.into();
    msg.file_name = Some("order.x12".into());
    msg.mdn = MdnRequest::sync().signed(&[digest]);
    outbound::build(&msg, common::now(), &mut common::rng(1)).expect("build")
}

/// Payloads: X12 with CRLF segments; binary with NUL, bare CR/LF, leading and trailing line
/// breaks, every byte value.
fn payloads() -> Vec<(&'static str, Vec<u8>)> {
    let x12 = b"ISA*00*          *00*          *ZZ*AS2PROTO       *ZZ*BCRECEIVER     ~\r\n\
GS*PO*AS2PROTO*BCRECEIVER*20240101*1200*1*X*004010~\r\nST*850*0001~\r\nSE*2*0001~\r\n\
GE*1*1~\r\nIEA*1*000000001~\r\n"
        .to_vec();
    let mut binary = b"\x00NUL\r\n\r\nbare LF\nbare CR\r--boundary-like\r\n".to_vec();
    binary.extend(0..=255u8);
    binary.extend_from_slice(b"\r\n");
    vec![
        ("application/edi-x12", x12),
        ("application/octet-stream", binary),
    ]
}

// ---------------------------------------------------------------------------------------
// Without Java: the committed BouncyCastle fixtures.

/// The fixture directories `Mic.java make` wrote (`headers`, `body`, `mic`).
const FIXTURES: [&str; 2] = ["from-bc-binary", "from-bc-base64"];

#[test]
fn bouncycastle_plain_messages_get_their_mic_back() {
    for name in FIXTURES {
        let dir = fixtures().join(name);
        let headers = parse_headers(&read(&dir.join("headers")));
        let body = read(&dir.join("body"));
        let expected = String::from_utf8(read(&dir.join("mic"))).unwrap();
        let received = receive(&headers, &body, &[], &[]);
        assert!(received.layers.is_empty(), "{name}: a plain message");
        let mic = received.mic.expect("a receipt was requested, so a MIC");
        assert_eq!(
            mic.to_field(MicNameStyle::Dashed),
            expected.trim(),
            "{name}"
        );
        // The body as transferred: for base64 the encoded text, not the decoded payload.
        assert_eq!(mic, Mic::compute(DigestAlgorithm::Sha256, &body), "{name}");
    }
}

#[test]
fn our_plain_message_expects_the_mic_a_bouncycastle_receiver_returns() {
    // The binary fixture's body is the payload as a BouncyCastle sender sent it; sent by us
    // (also with Content-Transfer-Encoding: binary) it must expect the MIC BC computed.
    let dir = fixtures().join("from-bc-binary");
    let payload = read(&dir.join("body"));
    let expected = String::from_utf8(read(&dir.join("mic"))).unwrap();
    let built = build_plain(&payload, "application/edi-x12", DigestAlgorithm::Sha256);
    assert_eq!(built.body, payload);
    let mic = built
        .mic
        .clone()
        .expect("a receipt was requested, so a MIC");
    assert_eq!(mic.to_field(MicNameStyle::Dashed), expected.trim());
    // And our receiver returns the same.
    let received = receive(&built.headers, &built.body, &[], &[]);
    assert_eq!(received.mic, built.mic);
}

#[test]
fn plain_mic_covers_the_body_only_for_every_payload_and_algorithm() {
    for (content_type, payload) in payloads() {
        for digest in [
            DigestAlgorithm::Sha1,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ] {
            let built = build_plain(&payload, content_type, digest);
            let want = Mic::compute(digest, &payload);
            assert_eq!(built.mic.as_ref(), Some(&want), "{content_type} {digest:?}");
            let received = receive(&built.headers, &built.body, &[], &[]);
            assert_eq!(
                received.mic.as_ref(),
                Some(&want),
                "{content_type} {digest:?}"
            );
        }
    }
}

#[test]
fn layered_unsigned_and_signed_messages_keep_headers_in_their_mic() {
    let pki = common::Pki::new();
    let sender = pki.party("sender", 2048);
    let receiver = pki.party("receiver", 2048);
    let keys = [(receiver.cert.clone(), receiver.key.clone())];
    let partner = [sender.cert.clone()];
    let payload = b"ISA*00*~\r\nIEA*1*~\r\n";
    // (encrypt, compress, sign)
    for (encrypt, compress, sign) in [
        (true, false, false),
        (false, true, false),
        (true, true, false),
        (false, false, true),
        (true, false, true),
    ] {
        let label = format!("encrypt={encrypt} compress={compress} sign={sign}");
        let mut msg = OutboundMessage::new(
            As2Id::new("as2proto").unwrap(),
            As2Id::new("bcreceiver").unwrap(),
            payload,
        );
        msg.content_type = "application/edi-x12".into();
        msg.mdn = MdnRequest::sync().signed(&[DigestAlgorithm::Sha256]);
        if encrypt {
            msg.encryption.0 = vec![&receiver.cert];
        }
        if compress {
            msg.compression = Compression::BeforeSigning;
        }
        if sign {
            msg.signing = Some((
                Signer::new(&sender.cert, &sender.key),
                SignOptions::default(),
            ));
        }
        let built = outbound::build(&msg, common::now(), &mut common::rng(2)).unwrap();
        let mic = built.mic.clone().expect("MIC");
        // The payload entity with its headers, never the bare payload.
        assert_ne!(
            mic,
            Mic::compute(DigestAlgorithm::Sha256, payload),
            "{label}"
        );
        if !sign {
            let entity = [
                b"Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                    .as_slice(),
                payload,
            ]
            .concat();
            assert_eq!(
                mic,
                Mic::compute(DigestAlgorithm::Sha256, &entity),
                "{label}"
            );
        }
        let received = receive(&built.headers, &built.body, &keys, &partner);
        assert_eq!(received.mic, built.mic, "{label}");
    }
}

// ---------------------------------------------------------------------------------------
// With Java and BouncyCastle: Mic.java live.

/// The jars `Mic.java` needs, as Debian installs them (override the folder with
/// `AS2_BC_JARS`).
const JARS: [&str; 6] = [
    "bcprov.jar",
    "bcutil.jar",
    "bcpkix.jar",
    "bcmail.jar",
    "javax.mail.jar",
    "javax.activation.jar",
];

struct Java {
    classes: tempfile::TempDir,
    classpath: String,
}

impl Java {
    /// Compiles `Mic.java` once per test run.
    fn get() -> &'static Java {
        static JAVA: OnceLock<Java> = OnceLock::new();
        JAVA.get_or_init(|| {
            let jars = std::env::var_os("AS2_BC_JARS")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/usr/share/java"));
            let mut classpath = Vec::new();
            for jar in JARS {
                let path = jars.join(jar);
                assert!(path.is_file(), "{} missing ({JAVA_IGNORE})", path.display());
                classpath.push(path.display().to_string());
            }
            let classpath = classpath.join(":");
            let classes = tempfile::tempdir().expect("tempdir");
            let out = Command::new("javac")
                .arg("-d")
                .arg(classes.path())
                .args(["-cp", &classpath])
                .arg(fixtures().join("Mic.java"))
                .arg(fixtures().join("AuthEnveloped.java"))
                .arg(fixtures().join("Related.java"))
                .output()
                .unwrap_or_else(|e| panic!("cannot run javac: {e} ({JAVA_IGNORE})"));
            assert!(
                out.status.success(),
                "javac failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            Java { classes, classpath }
        })
    }

    /// Runs `java Mic args...` and returns its `name: value` output lines.
    fn run(&self, args: &[&str]) -> Vec<(String, String)> {
        self.run_class("Mic", args)
    }

    /// Runs `java <class> args...` and returns its `name: value` output lines.
    fn run_class(&self, class: &str, args: &[&str]) -> Vec<(String, String)> {
        let classpath = format!("{}:{}", self.classes.path().display(), self.classpath);
        let out = Command::new("java")
            .args(["-cp", &classpath, class])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run java: {e} ({JAVA_IGNORE})"));
        assert!(
            out.status.success(),
            "java {class} {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

fn value<'a>(lines: &'a [(String, String)], key: &str) -> &'a str {
    lines
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key:?} in {lines:?}"))
}

#[test]
#[ignore = "needs Java 17 and BouncyCastle (apt-get install libbcprov-java libbcpkix-java libbcmail-java): cargo test --test interop_bouncycastle -- --ignored"]
fn bouncycastle_computes_the_mic_our_plain_messages_expect() {
    let java = Java::get();
    let work = tempfile::tempdir().unwrap();
    for (i, (content_type, payload)) in payloads().into_iter().enumerate() {
        for digest in [
            DigestAlgorithm::Sha1,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha512,
        ] {
            let label = format!("{content_type} {digest:?}");
            let built = build_plain(&payload, content_type, digest);
            let headers = work.path().join(format!("{i}-{digest:?}.headers"));
            let body = work.path().join(format!("{i}-{digest:?}.body"));
            std::fs::write(&headers, header_block(&built)).unwrap();
            std::fs::write(&body, &built.body).unwrap();
            let name = digest.mic_name(MicNameStyle::Dashed);
            let lines = java.run(&[
                "mic",
                headers.to_str().unwrap(),
                body.to_str().unwrap(),
                name,
            ]);
            let ours = built
                .mic
                .as_ref()
                .expect("MIC")
                .to_field(MicNameStyle::Dashed);
            // Content-Transfer-Encoding: binary, so both products agree with us.
            assert_eq!(value(&lines, "as2lib"), ours, "{label}: as2-lib rule");
            assert_eq!(value(&lines, "openas2"), ours, "{label}: OpenAS2 rule");
        }
    }
}

#[test]
#[ignore = "needs Java 17 and BouncyCastle (apt-get install libbcprov-java libbcpkix-java libbcmail-java): cargo test --test interop_bouncycastle -- --ignored"]
fn we_return_the_mic_a_bouncycastle_sender_expects() {
    let java = Java::get();
    let work = tempfile::tempdir().unwrap();
    for cte in ["binary", "base64", "quoted-printable", "7bit"] {
        for name in ["sha-256", "sha1", "sha-512"] {
            let label = format!("{cte} {name}");
            let dir = work.path().join(format!("{cte}-{name}"));
            java.run(&["make", dir.to_str().unwrap(), cte, name]);
            let headers = parse_headers(&read(&dir.join("headers")));
            let body = read(&dir.join("body"));
            let expected = String::from_utf8(read(&dir.join("mic"))).unwrap();
            let received = receive(&headers, &body, &[], &[]);
            let mic = received.mic.expect("a receipt was requested, so a MIC");
            let want = Mic::parse_field(&expected).expect("BC's MIC field");
            assert_eq!(mic, want, "{label}: ours {mic}, BC {expected}");
            // What OpenAS2 would return differs once the body is transfer-encoded (it
            // digests the decoded content); for binary it is the same.
            let lines = java.run(&[
                "mic",
                dir.join("headers").to_str().unwrap(),
                dir.join("body").to_str().unwrap(),
                name,
            ]);
            assert_eq!(value(&lines, "as2lib"), expected.trim(), "{label}");
            if cte == "binary" {
                assert_eq!(value(&lines, "openas2"), expected.trim(), "{label}");
            }
        }
    }
}

/// Streams `payload` through [`outbound::start`] in 1000-byte pushes, with its length
/// announced or not (unknown: BER indefinite lengths and segmented content throughout).
fn build_streamed(msg: &OutboundMessage<'_>, announce: bool) -> (HttpHeaders, Vec<u8>) {
    let len = announce.then_some(msg.payload.len() as u64);
    let mut rng = common::rng(11);
    let mut stream = outbound::start(msg, len, common::now(), &mut rng).expect("start");
    let mut body = Vec::new();
    for chunk in msg.payload.chunks(1000) {
        stream.push(chunk, &mut body).expect("push");
    }
    let finished = stream.finish(&mut body, &mut rng).expect("finish");
    assert_eq!(finished.body_len, body.len() as u64);
    (finished.headers, body)
}

#[test]
#[ignore = "needs Java 17 and BouncyCastle (apt-get install libbcprov-java libbcpkix-java libbcmail-java): cargo test --test interop_bouncycastle -- --ignored"]
fn bouncycastle_unwraps_our_streamed_messages() {
    let java = Java::get();
    let pki = common::Pki::new();
    let sender = pki.party("sender", 2048);
    let receiver = pki.party("receiver", 2048);
    let work = tempfile::tempdir().unwrap();
    // Larger than one segment of every layer, with bytes that line-end rules would alter.
    let mut payload = Vec::new();
    for i in 0..6000u32 {
        payload.extend_from_slice(format!("ST*850*{i:04}~\r\n").as_bytes());
        payload.push((i % 256) as u8);
        payload.extend_from_slice(b"\n\r");
    }
    // (encrypt, compression, sign), each built with and without an announced length.
    let shapes = [
        (true, Compression::None, true),
        (true, Compression::BeforeSigning, true),
        (true, Compression::AfterSigning, true),
        (true, Compression::BeforeSigning, false),
        (false, Compression::BeforeSigning, true),
        (true, Compression::None, false),
    ];
    for (i, (encrypt, compression, sign)) in shapes.into_iter().enumerate() {
        for announce in [true, false] {
            if announce && compression != Compression::None {
                continue; // the length of a compressed body is never known in advance
            }
            let label =
                format!("encrypt={encrypt} {compression:?} sign={sign} announce={announce}");
            let mut msg = OutboundMessage::new(
                As2Id::new("as2proto").unwrap(),
                As2Id::new("bcreceiver").unwrap(),
                &payload,
            );
            msg.content_type = "application/edi-x12".into();
            if encrypt {
                msg.encryption.0 = vec![&receiver.cert];
            }
            msg.compression = compression;
            if sign {
                msg.signing = Some((
                    Signer::new(&sender.cert, &sender.key),
                    SignOptions::default(),
                ));
            }
            let (headers, body) = build_streamed(&msg, announce);
            let dir = work.path().join(format!("{i}-{announce}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("headers"), headers.head_bytes()).unwrap();
            std::fs::write(dir.join("body"), &body).unwrap();
            let out = dir.join("payload");
            let lines = java.run(&[
                "unwrap",
                dir.join("headers").to_str().unwrap(),
                dir.join("body").to_str().unwrap(),
                receiver.cert_path.to_str().unwrap(),
                receiver.key_path.to_str().unwrap(),
                sender.cert_path.to_str().unwrap(),
                out.to_str().unwrap(),
            ]);
            let layers: Vec<&str> = lines
                .iter()
                .filter(|(k, _)| k == "layer")
                .map(|(_, v)| v.as_str())
                .collect();
            let mut expected = Vec::new();
            if encrypt {
                expected.push("enveloped");
            }
            match compression {
                Compression::BeforeSigning if sign => expected.extend(["signed", "compressed"]),
                Compression::AfterSigning => expected.extend(["compressed", "signed"]),
                Compression::BeforeSigning => expected.push("compressed"),
                _ if sign => expected.push("signed"),
                _ => {}
            }
            assert_eq!(layers, expected, "{label}");
            assert_eq!(
                value(&lines, "payload"),
                payload.len().to_string(),
                "{label}"
            );
            assert!(
                read(&out) == payload,
                "{label}: BouncyCastle's payload differs"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// AuthEnvelopedData (RFC 5083) with AES-GCM and AES-CCM, both ways, and BouncyCastle's
// EnvelopedData-with-GCM form read by us.

use as2_proto::cms::algorithm::ContentEncryption;
use as2_proto::cms::auth_enveloped;
use as2_proto::cms::enveloped::{self, EncryptOptions};
use as2_proto::message::inbound::Layer;

const BC_AEAD: [(ContentEncryption, &str); 4] = [
    (ContentEncryption::Aes128Gcm, "gcm128"),
    (ContentEncryption::Aes256Gcm, "gcm256"),
    (ContentEncryption::Aes128Ccm, "ccm128"),
    (ContentEncryption::Aes256Ccm, "ccm256"),
];

/// A MIME entity around a payload with every byte value, larger than one segment.
fn aead_entity() -> (Vec<u8>, Vec<u8>) {
    let mut payload = Vec::new();
    for i in 0..9000u32 {
        payload.extend_from_slice(format!("ST*850*{i:04}~\r\n").as_bytes());
        payload.push((i % 256) as u8);
    }
    let entity = [
        b"Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            .as_slice(),
        &payload,
    ]
    .concat();
    (payload, entity)
}

#[test]
#[ignore = "needs Java 17 and BouncyCastle (apt-get install libbcprov-java libbcpkix-java libbcmail-java): cargo test --test interop_bouncycastle -- --ignored"]
fn bouncycastle_decrypts_our_auth_enveloped_data() {
    let java = Java::get();
    let pki = common::Pki::new();
    let receiver = pki.party("receiver", 2048);
    let work = tempfile::tempdir().unwrap();
    let (_, entity) = aead_entity();
    for (cipher, name) in BC_AEAD {
        for content in [entity.clone(), Vec::new(), b"x".to_vec()] {
            let label = format!("{cipher} len={}", content.len());
            let mut options = EncryptOptions::default();
            options.cipher = cipher;
            let der =
                enveloped::encrypt(&content, &[&receiver.cert], &options, &mut common::rng(4))
                    .unwrap();
            let input = work.path().join(format!("{name}.der"));
            let out = work.path().join(format!("{name}.out"));
            std::fs::write(&input, &der).unwrap();
            let lines = java.run_class(
                "AuthEnveloped",
                &[
                    "decrypt",
                    receiver.cert_path.to_str().unwrap(),
                    receiver.key_path.to_str().unwrap(),
                    input.to_str().unwrap(),
                    out.to_str().unwrap(),
                ],
            );
            assert_eq!(value(&lines, "type"), "authEnvelopedData", "{label}");
            assert!(
                read(&out) == content,
                "{label}: BouncyCastle's content differs"
            );
        }
    }
}

#[test]
#[ignore = "needs Java 17 and BouncyCastle (apt-get install libbcprov-java libbcpkix-java libbcmail-java): cargo test --test interop_bouncycastle -- --ignored"]
fn we_decrypt_bouncycastle_auth_enveloped_data_and_its_enveloped_gcm() {
    let java = Java::get();
    let pki = common::Pki::new();
    let receiver = pki.party("receiver", 2048);
    let keys = [(receiver.cert.clone(), receiver.key.clone())];
    let limits = Limits::default();
    let work = tempfile::tempdir().unwrap();
    let (payload, entity) = aead_entity();
    let input = work.path().join("entity");
    std::fs::write(&input, &entity).unwrap();
    for (cipher, name) in BC_AEAD {
        // `auth`: AuthEnvelopedData; `env`: EnvelopedData, the tag after the ciphertext.
        for form in ["auth", "env"] {
            let label = format!("{cipher} {form}");
            let out = work.path().join(format!("{name}-{form}.der"));
            java.run_class(
                "AuthEnveloped",
                &[
                    "encrypt",
                    form,
                    name,
                    receiver.cert_path.to_str().unwrap(),
                    input.to_str().unwrap(),
                    out.to_str().unwrap(),
                ],
            );
            let der = read(&out);
            let plain = auth_enveloped::decrypt(&der, &keys, &limits, &mut common::rng(1))
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            assert!(plain == entity, "{label}: content differs");
            // Its tag is checked: one flipped bit in the last octet (the `mac`, or the
            // end of the ciphertext where EnvelopedData carries the tag).
            let mut bad = der.clone();
            *bad.last_mut().unwrap() ^= 1;
            assert_eq!(
                auth_enveloped::decrypt(&bad, &keys, &limits, &mut common::rng(1)),
                Err(as2_proto::Error::DecryptionFailed),
                "{label}"
            );
            // As an AS2 message through the inbound pipeline.
            let smime_type = if form == "auth" {
                "authEnveloped-data"
            } else {
                "enveloped-data"
            };
            let mut headers = HttpHeaders::new();
            headers.push("AS2-From", b"bcsender");
            headers.push("AS2-To", b"as2proto");
            headers.push("Message-ID", format!("<{name}-{form}@bc>").as_bytes());
            headers.push(
                "Content-Type",
                format!("application/pkcs7-mime; smime-type={smime_type}; name=smime.p7m")
                    .as_bytes(),
            );
            let received = receive(&headers, &der, &keys, &[]);
            assert_eq!(received.payload, payload, "{label}");
            assert_eq!(received.layers, [Layer::Encrypted(cipher)], "{label}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Multiple attachments (RFC 6362): multipart/related signed by BouncyCastle, and ours
// read by BouncyCastle.
// ---------------------------------------------------------------------------------------

fn sha256_hex(data: &[u8]) -> String {
    let mut h = DigestAlgorithm::Sha256.hasher();
    h.update(data);
    h.finish().iter().map(|b| format!("{b:02x}")).collect()
}

/// The files of the cross-check: text with CRLF and bare LF, a line like a delimiter,
/// binary (base64 and binary), a non-ASCII name.
fn related_files() -> Vec<(&'static str, &'static str, Vec<u8>, bool)> {
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    vec![
        (
            "application/edi-x12",
            "po.x12",
            b"ISA*00*~\r\nGS*PO~\r\n".to_vec(),
            false,
        ),
        (
            "text/plain",
            "n\u{f6}tes.txt",
            b"line\nline two\r\n------=_Part_0\n--\n".to_vec(),
            false,
        ),
        ("application/octet-stream", "blob.bin", binary.clone(), true),
        (
            "application/octet-stream",
            "raw.bin",
            binary[3..1000].to_vec(),
            false,
        ),
    ]
}

#[test]
#[ignore = "needs Java 17 and BouncyCastle (apt-get install libbcprov-java libbcpkix-java libbcmail-java): cargo test --test interop_bouncycastle -- --ignored"]
fn we_verify_and_unpack_a_bouncycastle_signed_multipart_related() {
    let java = Java::get();
    let dir = tempfile::tempdir().unwrap();
    let pki = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pki/PartnerA");
    let files = related_files();
    let mut args = vec![
        "sign".to_owned(),
        pki.join("sign.crt").display().to_string(),
        pki.join("sign.key").display().to_string(),
        dir.path().display().to_string(),
    ];
    for (i, (ct, name, data, base64)) in files.iter().enumerate() {
        let path = dir.path().join(format!("f{i}"));
        std::fs::write(&path, data).unwrap();
        let mut spec = format!("{}:{ct}:{name}", path.display());
        if *base64 {
            spec.push_str(":base64");
        }
        args.push(spec);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    java.run_class("Related", &args);
    let block = std::fs::read(dir.path().join("headers")).unwrap();
    let body = std::fs::read(dir.path().join("body")).unwrap();
    let mut headers = HttpHeaders::new();
    for (n, v) in [
        ("AS2-Version", "1.2"),
        ("AS2-From", "PartnerA"),
        ("AS2-To", "PartnerB"),
        ("Message-ID", "<bc-related@PartnerA>"),
    ] {
        headers.push(n, v);
    }
    for (n, v) in parse_headers(&block).iter() {
        headers.push(n.to_owned(), v.to_vec());
    }
    let limits = Limits::default();
    let partner = [Certificate::from_pem(&std::fs::read(pki.join("sign.crt")).unwrap()).unwrap()];
    let mut policy = InboundPolicy::new(&[], &partner, &limits);
    policy.accept_attachments = true;
    let incoming = inbound::handle(&headers, &body, &limits).expect("handle");
    let received = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut common::rng(7))
        .unwrap_or_else(|r| panic!("rejected: {} ({:?})", r.error, r.concealed));
    assert!(received.signature.is_some());
    assert_eq!(received.content_type, "multipart/related");
    assert_eq!(received.parts.len(), files.len());
    for ((part, bytes), (ct, name, data, _)) in received
        .parts
        .iter()
        .zip(received.part_payloads())
        .zip(&files)
    {
        assert_eq!(part.content_type, *ct);
        assert_eq!(part.file_name.as_deref(), Some(*name));
        assert!(bytes == data.as_slice(), "{name}");
    }
}

#[test]
#[ignore = "needs Java 17 and BouncyCastle (apt-get install libbcprov-java libbcpkix-java libbcmail-java): cargo test --test interop_bouncycastle -- --ignored"]
fn bouncycastle_verifies_and_unpacks_our_signed_multipart_related() {
    let java = Java::get();
    let dir = tempfile::tempdir().unwrap();
    let pki = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pki/PartnerA");
    let cert = Certificate::from_pem(&std::fs::read(pki.join("sign.crt")).unwrap()).unwrap();
    let key = PrivateKey::from_pem(&std::fs::read(pki.join("sign.key")).unwrap(), None).unwrap();
    let files = related_files();
    let mut message = OutboundMessage::new(
        As2Id::new("PartnerA").unwrap(),
        As2Id::new("PartnerB").unwrap(),
        &files[0].2,
    );
    message.content_type = files[0].0.into();
    message.file_name = Some(files[0].1.into());
    message.attachments = files[1..]
        .iter()
        .map(|(ct, name, data, base64)| {
            let a = as2_proto::Attachment::new(*ct, data).with_file_name(*name);
            if *base64 { a.base64() } else { a }
        })
        .collect();
    message.signing = Some((Signer::new(&cert, &key), SignOptions::default()));
    let built = outbound::build(&message, common::now(), &mut common::rng(3)).unwrap();
    let content_type = dir.path().join("content-type");
    std::fs::write(&content_type, built.headers.get("Content-Type").unwrap()).unwrap();
    let body = dir.path().join("body");
    std::fs::write(&body, &built.body).unwrap();
    let out = java.run_class(
        "Related",
        &[
            "read",
            content_type.to_str().unwrap(),
            body.to_str().unwrap(),
            pki.join("sign.crt").to_str().unwrap(),
        ],
    );
    assert_eq!(value(&out, "verified"), "true");
    assert_eq!(value(&out, "entity-type"), "multipart/related");
    assert_eq!(value(&out, "type-param"), "application/edi-x12");
    assert_eq!(value(&out, "parts"), files.len().to_string());
    for (i, (ct, name, data, _)) in files.iter().enumerate() {
        assert_eq!(value(&out, &format!("part.{i}.type")), *ct);
        assert_eq!(value(&out, &format!("part.{i}.name")), *name);
        assert_eq!(
            value(&out, &format!("part.{i}.size")),
            data.len().to_string()
        );
        assert_eq!(value(&out, &format!("part.{i}.sha256")), sha256_hex(data));
    }
}
