//! Interoperability with pyas2lib 1.4.4 (see `tests/data/pyas2lib/README.md`).
//!
//! - `pyas2lib_fixtures_are_accepted` parses the committed messages pyas2lib built
//!   (no Python needed).
//! - `our_messages_are_accepted_by_pyas2lib` (ignored by default) builds messages over the
//!   option matrix and has pyas2lib receive them through `tests/pyas2lib/peer.py`; it needs
//!   `AS2_PEER_PYTHON`, the venv python printed last by `tests/pyas2lib/setup.sh`.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use as2_proto::cms::algorithm::{ContentEncryption, DigestAlgorithm};
use as2_proto::cms::signed::{SignOptions, Signer};
use as2_proto::mdn::{self, Authenticity, MdnSettings, MdnStatus, MicCheck, Report, SentMessage};
use as2_proto::message::headers::{As2Id, HttpHeaders, MessageId};
use as2_proto::message::inbound::{self, InboundPolicy, IncomingKind, Layer, NoDuplicateCheck};
use as2_proto::message::outbound::{self, Compression, MdnRequest, OutboundMessage};
use as2_proto::mic::{Mic, MicNameStyle};
use as2_proto::{Certificate, ErrorCode, Limits, Modifier, PrivateKey};

/// Message cases (pyas2lib_A -> as2proto_B) in `tests/data/pyas2lib`.
const MESSAGE_CASES: usize = 16;
/// MDN cases (as2proto_B -> pyas2lib_A, MDN back) in `tests/data/pyas2lib`.
const MDN_CASES: usize = 8;

// ---------------------------------------------------------------------------------------
// A minimal JSON reader and writer (serde_json is not a dependency).

#[derive(Clone, Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    /// Members in document order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Json {
        let mut p = JsonParser {
            s: text.as_bytes(),
            i: 0,
        };
        let value = p.value();
        p.ws();
        assert_eq!(p.i, p.s.len(), "trailing data after JSON value");
        value
    }

    fn read(path: &Path) -> Json {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        Json::parse(&text)
    }

    /// The member `key` of an object (`Null` when absent).
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(members) => members
                .iter()
                .find(|(k, _)| k == key)
                .map_or(&Json::Null, |(_, v)| v),
            other => panic!("not an object when looking up {key:?}: {other:?}"),
        }
    }

    fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            Json::Null => None,
            other => panic!("expected a string or null, got {other:?}"),
        }
    }

    fn bool(&self) -> bool {
        match self {
            Json::Bool(b) => *b,
            other => panic!("expected a boolean, got {other:?}"),
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self
            .s
            .get(self.i)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        {
            self.i += 1;
        }
    }

    fn peek(&self) -> u8 {
        *self.s.get(self.i).expect("unexpected end of JSON")
    }

    fn eat(&mut self, b: u8) {
        self.ws();
        assert_eq!(
            self.peek(),
            b,
            "JSON: expected {:?} at {}",
            b as char,
            self.i
        );
        self.i += 1;
    }

    fn literal(&mut self, word: &str, value: Json) -> Json {
        assert!(
            self.s[self.i..].starts_with(word.as_bytes()),
            "JSON: bad literal at {}",
            self.i
        );
        self.i += word.len();
        value
    }

    fn value(&mut self) -> Json {
        self.ws();
        match self.peek() {
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.peek() == b'}' {
                    self.i += 1;
                    return Json::Obj(members);
                }
                loop {
                    self.ws();
                    let key = self.string();
                    self.eat(b':');
                    let value = self.value();
                    members.push((key, value));
                    self.ws();
                    match self.peek() {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Json::Obj(members);
                        }
                        c => panic!("JSON: unexpected {:?} in object", c as char),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == b']' {
                    self.i += 1;
                    return Json::Arr(items);
                }
                loop {
                    items.push(self.value());
                    self.ws();
                    match self.peek() {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Json::Arr(items);
                        }
                        c => panic!("JSON: unexpected {:?} in array", c as char),
                    }
                }
            }
            b'"' => Json::Str(self.string()),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'n' => self.literal("null", Json::Null),
            _ => {
                let start = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                Json::Num(
                    text.parse()
                        .unwrap_or_else(|_| panic!("JSON: bad number {text:?} at {start}")),
                )
            }
        }
    }

    fn hex4(&mut self) -> u32 {
        let hex = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
        self.i += 4;
        u32::from_str_radix(hex, 16).expect("JSON: bad \\u escape")
    }

    fn string(&mut self) -> String {
        assert_eq!(self.peek(), b'"', "JSON: expected a string at {}", self.i);
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let b = self.peek();
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).expect("JSON strings are UTF-8"),
                b'\\' => {
                    let e = self.peek();
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut code = self.hex4();
                            if (0xd800..0xdc00).contains(&code) {
                                assert_eq!(&self.s[self.i..self.i + 2], b"\\u", "lone surrogate");
                                self.i += 2;
                                let low = self.hex4();
                                code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                            }
                            char::from_u32(code).expect("JSON: bad code point")
                        }
                        other => panic!("JSON: bad escape \\{}", other as char),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                other => out.push(other),
            }
        }
    }
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A headers.json document (`{"Name": "value", ...}` in wire order).
fn headers_json(headers: &HttpHeaders) -> String {
    let members: Vec<String> = headers
        .iter()
        .map(|(n, v)| {
            let v = std::str::from_utf8(v).expect("our headers are UTF-8");
            format!("  {}: {}", json_string(n), json_string(v))
        })
        .collect();
    format!("{{\n{}\n}}\n", members.join(",\n"))
}

/// Loads a headers.json into `HttpHeaders`, in document order.
fn load_headers(path: &Path) -> HttpHeaders {
    let Json::Obj(members) = Json::read(path) else {
        panic!("{}: not a JSON object", path.display());
    };
    members
        .into_iter()
        .map(|(name, value)| match value {
            Json::Str(v) => (name, v.into_bytes()),
            other => panic!(
                "{}: header {name} is not a string: {other:?}",
                path.display()
            ),
        })
        .collect()
}

#[test]
fn json_reader_round_trips() {
    let doc = Json::parse(
        r#" {"a": [1, -2.5e1, true, false, null], "b": {"c": "x\"\\\/\n\u00e9\ud83d\ude00"}, "d": {}} "#,
    );
    assert_eq!(
        doc.get("a"),
        &Json::Arr(vec![
            Json::Num(1.0),
            Json::Num(-25.0),
            Json::Bool(true),
            Json::Bool(false),
            Json::Null
        ])
    );
    assert_eq!(doc.get("b").get("c").str(), Some("x\"\\/\n\u{e9}\u{1f600}"));
    assert_eq!(doc.get("missing"), &Json::Null);
    let headers = HttpHeaders::from_iter([("Content-Type", "a; b=\"c\\d\""), ("X", "\u{1}")]);
    let parsed = Json::parse(&headers_json(&headers));
    assert_eq!(
        parsed,
        Json::Obj(
            headers
                .iter()
                .map(|(n, v)| (
                    n.to_owned(),
                    Json::Str(String::from_utf8(v.to_vec()).unwrap())
                ))
                .collect()
        )
    );
}

// ---------------------------------------------------------------------------------------
// Shared helpers.

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pyas2lib")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn load_cert(path: &Path) -> Certificate {
    Certificate::from_pem(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load_key(path: &Path) -> PrivateKey {
    PrivateKey::from_pem(&read(path), None).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn digest_named(name: &str) -> DigestAlgorithm {
    DigestAlgorithm::from_name(name).unwrap_or_else(|| panic!("unknown digest {name:?}"))
}

/// pyas2lib's cipher names (`aes_128_cbc`, `tripledes_192_cbc`).
fn cipher_named(name: &str) -> ContentEncryption {
    match name {
        "aes_128_cbc" => ContentEncryption::Aes128Cbc,
        "aes_192_cbc" => ContentEncryption::Aes192Cbc,
        "aes_256_cbc" => ContentEncryption::Aes256Cbc,
        "tripledes_192_cbc" => ContentEncryption::TripleDesCbc,
        other => panic!("unknown cipher {other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&DigestAlgorithm::Sha256.digest(bytes))
}

// ---------------------------------------------------------------------------------------
// 1. pyas2lib's messages, parsed by us.

/// What a case name says about the message (`compress_sign_sha1_3des_binary`, ...).
#[derive(Debug, PartialEq)]
struct NamedSecurity {
    sign: Option<DigestAlgorithm>,
    cipher: Option<ContentEncryption>,
    compressed: bool,
}

fn security_from_name(case: &str) -> NamedSecurity {
    let tokens: Vec<&str> = case.split('_').collect();
    let sign = tokens.contains(&"sign").then(|| {
        let alg = tokens
            .iter()
            .find(|t| t.starts_with("sha"))
            .unwrap_or_else(|| panic!("{case}: signed but no digest in the name"));
        digest_named(alg)
    });
    let ciphers: Vec<ContentEncryption> = tokens
        .iter()
        .filter_map(|t| match *t {
            "aes128" => Some(ContentEncryption::Aes128Cbc),
            "aes192" => Some(ContentEncryption::Aes192Cbc),
            "aes256" => Some(ContentEncryption::Aes256Cbc),
            "3des" => Some(ContentEncryption::TripleDesCbc),
            _ => None,
        })
        .collect();
    assert!(ciphers.len() <= 1, "{case}: several ciphers in the name");
    let cipher = ciphers.first().copied();
    assert_eq!(
        tokens.contains(&"enc"),
        cipher.is_some() && sign.is_none() && !tokens.contains(&"compress"),
        "{case}: `enc` names an encrypt-only case"
    );
    NamedSecurity {
        sign,
        cipher,
        compressed: tokens.contains(&"compress"),
    }
}

fn check_message_fixture(dir: &Path, case: &str, meta: &Json) {
    let named = security_from_name(case);
    // The name and the options pyas2lib was given must agree.
    assert_eq!(meta.get("signed").bool(), named.sign.is_some(), "{case}");
    assert_eq!(
        meta.get("digest_alg").str().map(digest_named),
        named.sign,
        "{case}"
    );
    assert_eq!(
        meta.get("enc_alg").str().map(cipher_named),
        named.cipher,
        "{case}"
    );
    assert_eq!(meta.get("compressed").bool(), named.compressed, "{case}");
    assert_eq!(
        meta.get("pyas2lib_receive").get("status").str(),
        Some("processed"),
        "{case}: pyas2lib accepted its own message"
    );

    let pki = fixtures_dir().join("pki");
    let decryption = [(
        load_cert(&pki.join("as2proto_B/enc.crt")),
        load_key(&pki.join("as2proto_B/enc.key")),
    )];
    let partner = [load_cert(&pki.join("pyas2lib_A/sign.crt"))];
    let limits = Limits::default();
    let headers = load_headers(&dir.join("headers.json"));
    let body = read(&dir.join("body.bin"));

    let incoming =
        inbound::handle(&headers, &body, &limits).unwrap_or_else(|e| panic!("{case}: handle: {e}"));
    assert_eq!(incoming.kind, IncomingKind::Message, "{case}");
    assert_eq!(
        Some(incoming.from.as_str()),
        meta.get("from").str(),
        "{case}"
    );
    assert_eq!(Some(incoming.to.as_str()), meta.get("to").str(), "{case}");
    assert_eq!(
        incoming.message_id.as_ref().map(|m| m.bare()),
        meta.get("message_id").str(),
        "{case}"
    );
    let mdn = meta.get("mdn").str().expect("meta.json mdn");
    match &incoming.receipt {
        None => assert_eq!(mdn, "none", "{case}: no receipt request found"),
        Some(receipt) => {
            assert_ne!(mdn, "none", "{case}: unexpected receipt request");
            assert_eq!(receipt.is_async(), mdn.starts_with("async"), "{case}");
            assert_eq!(
                receipt.async_url.as_deref(),
                meta.get("mdn_url").str(),
                "{case}"
            );
            assert_eq!(receipt.signed(), mdn.ends_with("-signed"), "{case}");
            if receipt.signed() {
                assert_eq!(
                    receipt.options.preferred_micalg(),
                    meta.get("mdn_alg").str().map(digest_named),
                    "{case}"
                );
            }
        }
    }

    // The agreement for a partner that signs (or not): a signature required when it does.
    let mut policy = InboundPolicy::new(&decryption, &partner, &limits);
    policy.require_signature = meta.get("signed").bool();
    let received = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut common::rng(1))
        .unwrap_or_else(|r| panic!("{case}: rejected: {} (layers {:?})", r.error, r.layers));

    // The bytes pyas2lib actually sent (README: `delivered_payload` names the file).
    let delivered = meta
        .get("delivered_payload")
        .str()
        .expect("meta.json delivered_payload");
    let expected_payload = read(&dir.join(delivered));
    if delivered == "payload.bin" {
        assert_eq!(
            Some(sha256_hex(&expected_payload).as_str()),
            meta.get("payload_sha256").str(),
            "{case}: payload.bin is what meta.json describes"
        );
    }
    assert_eq!(
        Some(sha256_hex(&expected_payload).as_str()),
        meta.get("pyas2lib_receive").get("payload_sha256").str(),
        "{case}: {delivered} is what pyas2lib's receiver delivered"
    );
    assert!(
        received.payload == expected_payload,
        "{case}: payload differs from {delivered} ({} vs {} bytes)",
        received.payload.len(),
        expected_payload.len()
    );
    assert!(!received.duplicate, "{case}");
    assert!(
        received
            .content_type
            .eq_ignore_ascii_case(meta.get("content_type").str().unwrap()),
        "{case}: content type {}",
        received.content_type
    );
    assert_eq!(
        received.file_name.as_deref(),
        meta.get("filename").str(),
        "{case}"
    );

    // Layers, outermost first: pyas2lib compresses, then signs, then encrypts.
    let mut layers = Vec::new();
    layers.extend(named.cipher.map(Layer::Encrypted));
    layers.extend(named.sign.map(Layer::Signed));
    if named.compressed {
        layers.push(Layer::Compressed);
    }
    assert_eq!(received.layers, layers, "{case}");
    assert_eq!(received.encryption(), named.cipher, "{case}");
    assert_eq!(received.compressed(), named.compressed, "{case}");
    assert_eq!(
        received.signature.as_ref().map(|v| v.digest),
        named.sign,
        "{case}"
    );
    if let Some(verified) = &received.signature {
        assert_eq!(verified.signer, partner[0], "{case}: signer certificate");
    }

    // MIC: pyas2lib's own value for signed messages; for unsigned ones pyas2lib computes
    // none, while we compute one whenever a receipt was requested.
    match meta.get("mic").str() {
        Some(field) => {
            let expected = Mic::parse_field(field)
                .unwrap_or_else(|| panic!("{case}: unparsable mic {field:?}"));
            assert_eq!(Some(expected.algorithm), named.sign, "{case}");
            let mic = received.mic.as_ref().expect("MIC of a signed message");
            assert_eq!(mic.algorithm, expected.algorithm, "{case}");
            assert_eq!(
                mic.digest,
                expected.digest,
                "{case}: MIC {} vs pyas2lib {field}",
                mic.to_field(MicNameStyle::Legacy)
            );
        }
        None => {
            assert!(named.sign.is_none(), "{case}: signed but no MIC in meta");
            assert_eq!(
                received.mic.is_some(),
                mdn != "none",
                "{case}: {:?}",
                received.mic
            );
        }
    }
}

fn check_mdn_fixture(dir: &Path, case: &str, meta: &Json) {
    let limits = Limits::default();
    // The message half was built by pyas2lib standing in for us: still a message.
    let headers = load_headers(&dir.join("headers.json"));
    let body = read(&dir.join("body.bin"));
    let incoming = inbound::handle(&headers, &body, &limits)
        .unwrap_or_else(|e| panic!("{case}: message: {e}"));
    assert_eq!(incoming.kind, IncomingKind::Message, "{case}");
    // The MDN, as it reaches us (sync response or async POST to our endpoint).
    let headers = load_headers(&dir.join("mdn/headers.json"));
    let body = read(&dir.join("mdn/body.bin"));
    let incoming =
        inbound::handle(&headers, &body, &limits).unwrap_or_else(|e| panic!("{case}: mdn: {e}"));
    assert_eq!(incoming.kind, IncomingKind::Mdn, "{case}");
    let parsed = incoming
        .parse_mdn(&limits)
        .unwrap_or_else(|e| panic!("{case}: parse: {e}"));
    let expect = meta.get("mdn_expect");
    assert_eq!(parsed.is_signed(), expect.get("signed").bool(), "{case}");
    assert_eq!(
        Some(parsed.disposition.as_str()),
        expect.get("disposition").str(),
        "{case}"
    );
    assert_eq!(
        parsed.received_mic.as_deref(),
        expect.get("received_mic").str(),
        "{case}"
    );
    assert_eq!(
        parsed.message_id.as_ref().map(|m| m.bare()),
        expect.get("mdn_message_id").str(),
        "{case}"
    );
    assert_eq!(parsed.from.as_ref().map(As2Id::as_str), Some("pyas2lib_A"));
    assert_eq!(parsed.original_recipient.as_deref(), Some("pyas2lib_A"));

    // Verify as the original sender would: its Message-ID and MIC, pyas2lib_A's certificate.
    let message_id = meta.get("message_id").str().unwrap();
    let partner = vec![load_cert(&fixtures_dir().join("pki/pyas2lib_A/sign.crt"))];
    let mut sent = SentMessage::new(
        MessageId::parse(message_id.as_bytes()).unwrap(),
        As2Id::new("pyas2lib_A").unwrap(),
        partner,
        meta.get("mic").str().map(|m| Mic::parse_field(m).unwrap()),
    );
    sent.require_signed_mdn = meta
        .get("mdn")
        .str()
        .is_some_and(|m| m.ends_with("-signed"));
    let sent = parsed
        .find(|id| (id == message_id).then(|| sent.clone()))
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    let verdict = parsed
        .verify(&sent, &limits)
        .unwrap_or_else(|e| panic!("{case}: verify: {e}"));
    assert_eq!(
        verdict.is_authentic(),
        expect.get("signed").bool(),
        "{case}"
    );
    if let Authenticity::Signed(v) = &verdict.authenticity {
        assert_eq!(
            Some(v.digest),
            expect.get("micalg").str().map(digest_named),
            "{case}"
        );
    }
    let status = match &verdict.status {
        MdnStatus::Processed => ("processed", None),
        MdnStatus::Error(m) => ("processed/Error", Some(m.as_str())),
        MdnStatus::Failed(m) => ("failed/Failure", Some(m.as_str())),
        other => panic!("{case}: unexpected status {other:?}"),
    };
    assert_eq!(
        (Some(status.0), status.1),
        (
            expect.get("status").str(),
            expect.get("detailed_status").str()
        ),
        "{case}"
    );
    assert_eq!(verdict.is_success(), status.0 == "processed", "{case}");
    if status.0 == "processed" {
        let want = if sent.mic.is_some() {
            MicCheck::Matched
        } else {
            MicCheck::NotExpected
        };
        assert_eq!(verdict.mic, want, "{case}");
    }
    // The same MDN against another message's MIC is not a success.
    if let Some(mut wrong) = sent.mic.clone() {
        wrong.digest[0] ^= 1;
        let mut other = sent.clone();
        other.mic = Some(wrong);
        let verdict = parsed.verify(&other, &limits).unwrap();
        if status.0 == "processed" {
            assert!(!verdict.is_success(), "{case}: MIC mismatch accepted");
            assert_eq!(verdict.failure_code(), Some(ErrorCode::VerificationFailed));
        }
    }
    // With the wrong partner certificate a signed MDN fails.
    if parsed.is_signed() {
        let mut wrong = sent.clone();
        wrong.partner_certificates =
            vec![load_cert(&fixtures_dir().join("pki/as2proto_B/sign.crt"))];
        assert!(parsed.verify(&wrong, &limits).is_err(), "{case}");
    }
}

#[test]
fn pyas2lib_fixtures_are_accepted() {
    let mut cases: Vec<(String, PathBuf)> = std::fs::read_dir(fixtures_dir())
        .expect("tests/data/pyas2lib")
        .map(|e| e.expect("dir entry"))
        .filter(|e| e.file_type().expect("file type").is_dir() && e.file_name() != "pki")
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    cases.sort();
    let (mut messages, mut mdns) = (0, 0);
    for (case, dir) in &cases {
        let meta = Json::read(&dir.join("meta.json"));
        assert_eq!(meta.get("case").str(), Some(case.as_str()));
        match meta.get("kind").str() {
            Some("message") => {
                assert!(!case.starts_with("mdn_"), "{case}");
                check_message_fixture(dir, case, &meta);
                messages += 1;
            }
            Some("mdn") => {
                assert!(case.starts_with("mdn_"), "{case}");
                check_mdn_fixture(dir, case, &meta);
                mdns += 1;
            }
            other => panic!("{case}: unknown kind {other:?}"),
        }
    }
    assert_eq!(messages, MESSAGE_CASES, "message cases");
    assert_eq!(mdns, MDN_CASES, "MDN cases");
}

// ---------------------------------------------------------------------------------------
// 2. Our messages, received by pyas2lib.

const PEER_IGNORE: &str = "needs the pyas2lib venv: run tests/pyas2lib/setup.sh, then cargo test --test interop_pyas2lib -- --ignored";

struct Peer {
    python: PathBuf,
    script: PathBuf,
}

impl Peer {
    fn from_env() -> Peer {
        let python = std::env::var_os("AS2_PEER_PYTHON").unwrap_or_else(|| {
            panic!(
                "AS2_PEER_PYTHON is not set. Run `tests/pyas2lib/setup.sh` and set \
                 AS2_PEER_PYTHON to the python path it prints last ({PEER_IGNORE})"
            )
        });
        let python = PathBuf::from(python);
        assert!(
            python.is_file(),
            "AS2_PEER_PYTHON={} is not a file",
            python.display()
        );
        Peer {
            python,
            script: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyas2lib/peer.py"),
        }
    }

    /// Runs `peer.py args...`, returning the exit code, stdout and stderr.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(&self.python)
            .arg(&self.script)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.python.display()));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// The binary payload: NUL, bare CR, bare LF, CRLF, `--` lines, every byte value, no final
/// newline.
fn binary_payload() -> Vec<u8> {
    let mut p = b"as2-proto binary\x00NUL\r\n--looks like a boundary\r\n--\r\nbare LF\n".to_vec();
    p.extend_from_slice(b"bare CR\rCRLF\r\n\r\n");
    p.extend(0..=255u8);
    p.extend_from_slice(b"\n--=_x\x00\x00\xff\xfe end");
    p
}

/// An X12 850 purchase order, CRLF after every segment.
fn x12_payload() -> Vec<u8> {
    [
        "ISA*00*          *00*          *ZZ*AS2PROTOA      *ZZ*PYAS2LIBB      *240101*1200*U*00401*000000042*0*P*>~",
        "GS*PO*AS2PROTOA*PYAS2LIBB*20240101*1200*42*X*004010~",
        "ST*850*0001~",
        "BEG*00*SA*PO-4711**20240101~",
        "PO1*1*10*EA*9.95**VP*WIDGET-1~",
        "CTT*1~",
        "SE*6*0001~",
        "GE*1*42~",
        "IEA*1*000000042~",
    ]
    .iter()
    .map(|s| format!("{s}\r\n"))
    .collect::<String>()
    .into_bytes()
}

struct PeerCase<'p> {
    payload: &'p [u8],
    content_type: &'static str,
    file_name: &'static str,
    sign: Option<DigestAlgorithm>,
    cipher: Option<ContentEncryption>,
    compression: Compression,
    style: MicNameStyle,
    /// A signed receipt is requested (sha256), else an unsigned one.
    signed_mdn: bool,
}

impl PeerCase<'_> {
    fn label(&self) -> String {
        format!(
            "{} sign={:?} cipher={:?} compression={:?} style={:?}",
            self.content_type, self.sign, self.cipher, self.compression, self.style
        )
    }
}

struct OurSide {
    sign_cert: Certificate,
    sign_key: PrivateKey,
    partner_enc: Certificate,
}

/// Builds one message as as2proto_A for pyas2lib_B.
fn build_for_peer(
    us: &OurSide,
    case: &PeerCase<'_>,
    recipient: &Certificate,
    seed: u64,
) -> outbound::BuiltMessage {
    let mut msg = OutboundMessage::new(
        As2Id::new("as2proto_A").unwrap(),
        As2Id::new("pyas2lib_B").unwrap(),
        case.payload,
    );
    msg.content_type = case.content_type.into();
    msg.file_name = Some(case.file_name.into());
    msg.subject = Some(format!("interop case {seed}"));
    msg.compression = case.compression;
    msg.mdn = MdnRequest::sync();
    if case.signed_mdn {
        msg.mdn = MdnRequest::sync().signed(&[DigestAlgorithm::Sha256]);
    }
    msg.mic_style = case.style;
    if let Some(digest) = case.sign {
        let mut options = SignOptions::default();
        options.digest = digest;
        msg.signing = Some((Signer::new(&us.sign_cert, &us.sign_key), options));
    }
    if let Some(cipher) = case.cipher {
        msg.encryption.0 = vec![recipient];
        msg.encryption.1.cipher = cipher;
    }
    outbound::build(&msg, common::now(), &mut common::rng(seed))
        .unwrap_or_else(|e| panic!("{}: build failed: {e}", case.label()))
}

/// Writes headers.json/body.bin under `work/name` and runs `peer.py receive` as
/// pyas2lib_B, requiring the layers `case` applies. Returns the exit code, result.json and
/// the output directory.
fn peer_receive(
    peer: &Peer,
    pki: &Path,
    work: &Path,
    name: &str,
    case: &PeerCase<'_>,
    headers: &HttpHeaders,
    body: &[u8],
) -> Result<(i32, Json, PathBuf), String> {
    let dir = work.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let headers_path = dir.join("headers.json");
    let body_path = dir.join("body.bin");
    let out = dir.join("out");
    std::fs::write(&headers_path, headers_json(headers)).unwrap();
    std::fs::write(&body_path, body).unwrap();
    let mut args = vec![
        "receive",
        "--pki",
        pki.to_str().unwrap(),
        "--headers",
        headers_path.to_str().unwrap(),
        "--body",
        body_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--as",
        "pyas2lib_B",
        "--traceback",
    ];
    // Make pyas2lib insist on the layers we applied.
    if case.sign.is_some() {
        args.push("--require-signed");
    }
    if case.cipher.is_some() {
        args.push("--require-encrypted");
    }
    let (code, _, stderr) = peer.run(&args);
    let result_path = out.join("result.json");
    if !result_path.exists() {
        return Err(format!(
            "peer exit {code}, no result.json; stderr:\n{stderr}"
        ));
    }
    Ok((code, Json::read(&result_path), out))
}

/// Verifies the MDN pyas2lib_B wrote under `out/mdn` against the message we sent.
fn verify_peer_mdn(
    pki: &Path,
    out: &Path,
    built: &outbound::BuiltMessage,
) -> Result<mdn::Verdict, as2_proto::Error> {
    let limits = Limits::default();
    let headers = load_headers(&out.join("mdn/headers.json"));
    let body = read(&out.join("mdn/body.bin"));
    let parsed = mdn::parse(&headers, &body, &limits)?;
    let sent = SentMessage::from_built(built, vec![load_cert(&pki.join("pyas2lib_B/sign.crt"))]);
    parsed.verify(&sent, &limits)
}

/// Builds one message, has pyas2lib receive it, and returns what went wrong (if anything).
fn exchange_with_peer(
    peer: &Peer,
    pki: &Path,
    work: &Path,
    us: &OurSide,
    case: &PeerCase<'_>,
    seed: u64,
) -> Result<(), String> {
    let built = build_for_peer(us, case, &us.partner_enc, seed);
    let (code, result, out) = peer_receive(
        peer,
        pki,
        work,
        &format!("case-{seed:03}"),
        case,
        &built.headers,
        &built.body,
    )?;
    let mut problems = Vec::new();
    if code != 0 || result.get("status").str() != Some("processed") {
        problems.push(format!(
            "peer exit {code}, status {:?}, detailed {:?}, exception {:?}\n{}",
            result.get("status").str(),
            result.get("detailed_status").str(),
            result.get("exception").str(),
            result.get("traceback").str().unwrap_or_default()
        ));
        return Err(problems.join("; "));
    }
    for (field, want) in [
        ("signed", case.sign.is_some()),
        ("encrypted", case.cipher.is_some()),
        ("compressed", case.compression != Compression::None),
    ] {
        if result.get(field).bool() != want {
            problems.push(format!("pyas2lib says {field}={}", !want));
        }
    }
    if !result
        .get("payload_content_type")
        .str()
        .is_some_and(|ct| ct.eq_ignore_ascii_case(case.content_type))
    {
        problems.push(format!(
            "payload content type {:?}",
            result.get("payload_content_type").str()
        ));
    }
    if result.get("payload_filename").str() != Some(case.file_name) {
        problems.push(format!(
            "payload filename {:?}",
            result.get("payload_filename").str()
        ));
    }
    let delivered = std::fs::read(out.join("payload.bin")).unwrap_or_default();
    let want_sha = sha256_hex(case.payload);
    if result.get("payload_sha256").str() != Some(want_sha.as_str()) || delivered != case.payload {
        problems.push(format!(
            "payload differs: pyas2lib delivered {} bytes (sha256 {:?}), we sent {} (sha256 {want_sha})",
            delivered.len(),
            result.get("payload_sha256").str(),
            case.payload.len()
        ));
    }
    // The MIC pyas2lib would return in its MDN must be the one we expect.
    let their_mic = result.get("mic").str();
    match (case.sign, their_mic) {
        (Some(digest), Some(field)) => match (Mic::parse_field(field), &built.mic) {
            (Some(theirs), Some(ours)) if theirs == *ours && theirs.algorithm == digest => {}
            (theirs, ours) => problems.push(format!(
                "MIC mismatch: pyas2lib {field:?} ({theirs:?}), ours {:?}",
                ours.as_ref().map(|m| m.to_field(MicNameStyle::Legacy))
            )),
        },
        (Some(_), None) => problems.push("pyas2lib computed no MIC".into()),
        // pyas2lib computes a MIC only for signed messages.
        (None, Some(field)) => problems.push(format!("unexpected MIC {field:?}")),
        (None, None) => {}
    }
    // A signed synchronous MDN was requested (sha256).
    let mdn = result.get("mdn");
    if mdn == &Json::Null {
        problems.push("no MDN built".into());
    } else {
        if mdn.get("mode").str() != Some("SYNC") {
            problems.push(format!("MDN mode {:?}", mdn.get("mode").str()));
        }
        if !mdn.get("signed").bool() || mdn.get("digest_alg").str() != Some("sha256") {
            problems.push(format!(
                "MDN signed={:?} digest {:?}",
                mdn.get("signed"),
                mdn.get("digest_alg").str()
            ));
        }
        if !out.join("mdn/body.bin").is_file() {
            problems.push("mdn/body.bin missing".into());
        } else {
            // pyas2lib's MDN, verified by us as the sender.
            // pyas2lib leaves Received-Content-MIC out of its signed receipts of unsigned
            // messages, which RFC 4130 §7.4.3 requires in every signed receipt: such a
            // receipt proves no content, and the transfer is not a success.
            match verify_peer_mdn(pki, &out, &built) {
                Ok(verdict) if verdict.is_success() && verdict.is_authentic() => {}
                Ok(verdict)
                    if case.sign.is_none()
                        && verdict.is_authentic()
                        && verdict.mic == MicCheck::Missing
                        && verdict.failure_code() == Some(ErrorCode::VerificationFailed) => {}
                Ok(verdict) => problems.push(format!("our verdict on its MDN: {verdict:?}")),
                Err(e) => problems.push(format!("its MDN does not verify: {e}")),
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[test]
#[ignore = "needs the pyas2lib venv: run tests/pyas2lib/setup.sh, then cargo test --test interop_pyas2lib -- --ignored"]
fn our_messages_are_accepted_by_pyas2lib() {
    let peer = Peer::from_env();
    let work = tempfile::tempdir().expect("tempdir");
    let pki = work.path().join("pki");
    let (code, stdout, stderr) = peer.run(&[
        "mkpki",
        "--out",
        pki.to_str().unwrap(),
        "--parties",
        "as2proto_A,pyas2lib_B",
    ]);
    assert_eq!(code, 0, "peer.py mkpki failed:\n{stdout}\n{stderr}");
    let us = OurSide {
        sign_cert: load_cert(&pki.join("as2proto_A/sign.crt")),
        sign_key: load_key(&pki.join("as2proto_A/sign.key")),
        partner_enc: load_cert(&pki.join("pyas2lib_B/enc.crt")),
    };

    let binary = binary_payload();
    let x12 = x12_payload();
    let payloads: [(&[u8], &str, &str); 2] = [
        (&binary, "application/octet-stream", "blob.bin"),
        (&x12, "application/EDI-X12", "po-4711.x12"),
    ];
    let signs = [
        None,
        Some(DigestAlgorithm::Sha1),
        Some(DigestAlgorithm::Sha256),
        Some(DigestAlgorithm::Sha384),
        Some(DigestAlgorithm::Sha512),
    ];
    let ciphers = [
        None,
        Some(ContentEncryption::Aes128Cbc),
        Some(ContentEncryption::Aes192Cbc),
        Some(ContentEncryption::Aes256Cbc),
        Some(ContentEncryption::TripleDesCbc),
    ];
    let compressions = [
        Compression::None,
        Compression::BeforeSigning,
        Compression::AfterSigning,
    ];

    let mut failures = Vec::new();
    let mut seed = 0u64;
    for (payload, content_type, file_name) in payloads {
        for sign in signs {
            for cipher in ciphers {
                for compression in compressions {
                    // Unsigned: before and after signing are the same message.
                    if sign.is_none() && compression == Compression::AfterSigning {
                        continue;
                    }
                    seed += 1;
                    let case = PeerCase {
                        payload,
                        content_type,
                        file_name,
                        sign,
                        cipher,
                        compression,
                        style: if seed.is_multiple_of(2) {
                            MicNameStyle::Dashed
                        } else {
                            MicNameStyle::Legacy
                        },
                        signed_mdn: true,
                    };
                    if let Err(why) = exchange_with_peer(&peer, &pki, work.path(), &us, &case, seed)
                    {
                        failures.push(format!("case-{seed:03} {}: {why}", case.label()));
                    }
                }
            }
        }
    }
    assert_eq!(seed, 2 * (5 * 5 * 3 - 5), "matrix size");
    assert!(
        failures.is_empty(),
        "{} of {seed} messages not accepted by pyas2lib:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Controls: the peer really verifies and decrypts, so the acceptances above mean
    // something.
    let control = PeerCase {
        payload: &binary,
        content_type: "application/octet-stream",
        file_name: "blob.bin",
        sign: Some(DigestAlgorithm::Sha256),
        cipher: None,
        compression: Compression::None,
        style: MicNameStyle::Dashed,
        signed_mdn: true,
    };
    let mut tampered = build_for_peer(&us, &control, &us.partner_enc, 1001);
    let at = tampered
        .body
        .windows(16)
        .position(|w| w == b"as2-proto binary")
        .expect("payload in the signed body");
    tampered.body[at] ^= 0x20;
    let (code, result, _) = peer_receive(
        &peer,
        &pki,
        work.path(),
        "control-tampered",
        &control,
        &tampered.headers,
        &tampered.body,
    )
    .unwrap();
    assert_eq!(code, 1, "tampered message: {result:?}");
    assert_eq!(result.get("status").str(), Some("processed/Error"));
    assert_eq!(
        result.get("detailed_status").str(),
        Some("authentication-failed")
    );
    // Its error MDN, signed, verified by us.
    let verdict = verify_peer_mdn(&pki, &work.path().join("control-tampered/out"), &tampered)
        .expect("pyas2lib's error MDN verifies");
    assert!(verdict.is_authentic());
    assert!(!verdict.is_success());
    assert_eq!(
        verdict.status,
        MdnStatus::Error(Modifier::AuthenticationFailed)
    );
    assert_eq!(verdict.failure_code(), Some(ErrorCode::VerificationFailed));

    // Encrypted to our own certificate instead of pyas2lib_B's.
    let wrong_key = PeerCase {
        cipher: Some(ContentEncryption::Aes256Cbc),
        ..control
    };
    let stranger = load_cert(&pki.join("as2proto_A/enc.crt"));
    let misdirected = build_for_peer(&us, &wrong_key, &stranger, 1002);
    let (code, result, _) = peer_receive(
        &peer,
        &pki,
        work.path(),
        "control-wrong-recipient",
        &wrong_key,
        &misdirected.headers,
        &misdirected.body,
    )
    .unwrap();
    assert_eq!(code, 1, "misdirected message: {result:?}");
    assert_eq!(result.get("status").str(), Some("processed/Error"));
    assert_eq!(
        result.get("detailed_status").str(),
        Some("decryption-failed")
    );
}

/// Issue 13, item 1: pyas2lib's unsigned receipt of an unsigned message (encrypted only,
/// or plain) carries no Received-Content-MIC, which RFC 4130 allows. It verifies, with the
/// MIC "not returned"; the same receipt for a message declared signed does not.
#[test]
#[ignore = "needs the pyas2lib venv: run tests/pyas2lib/setup.sh, then cargo test --test interop_pyas2lib -- --ignored"]
fn unsigned_receipts_without_a_mic_from_pyas2lib_verify() {
    let peer = Peer::from_env();
    let work = tempfile::tempdir().expect("tempdir");
    let pki = work.path().join("pki");
    let (code, stdout, stderr) = peer.run(&[
        "mkpki",
        "--out",
        pki.to_str().unwrap(),
        "--parties",
        "as2proto_A,pyas2lib_B",
    ]);
    assert_eq!(code, 0, "peer.py mkpki failed:\n{stdout}\n{stderr}");
    let us = OurSide {
        sign_cert: load_cert(&pki.join("as2proto_A/sign.crt")),
        sign_key: load_key(&pki.join("as2proto_A/sign.key")),
        partner_enc: load_cert(&pki.join("pyas2lib_B/enc.crt")),
    };
    let partner = vec![load_cert(&pki.join("pyas2lib_B/sign.crt"))];
    let limits = Limits::default();
    let x12 = x12_payload();
    for (seed, name, cipher) in [
        (2001, "encrypted-only", Some(ContentEncryption::Aes256Cbc)),
        (2002, "plain", None),
    ] {
        let case = PeerCase {
            payload: &x12,
            content_type: "application/EDI-X12",
            file_name: "po-4711.x12",
            sign: None,
            cipher,
            compression: Compression::None,
            style: MicNameStyle::Dashed,
            signed_mdn: false,
        };
        let built = build_for_peer(&us, &case, &us.partner_enc, seed);
        assert!(!built.signed && !built.signed_mdn_requested && built.mic.is_some());
        let (code, result, out) = peer_receive(
            &peer,
            &pki,
            work.path(),
            name,
            &case,
            &built.headers,
            &built.body,
        )
        .unwrap();
        assert_eq!(code, 0, "{name}: {result:?}");
        assert_eq!(result.get("status").str(), Some("processed"), "{name}");
        assert!(!result.get("mdn").get("signed").bool(), "{name}");
        let headers = load_headers(&out.join("mdn/headers.json"));
        let body = read(&out.join("mdn/body.bin"));
        let parsed = mdn::parse(&headers, &body, &limits).unwrap();
        assert!(!parsed.is_signed(), "{name}");
        assert_eq!(parsed.received_mic, None, "{name}: pyas2lib returned a MIC");
        let verdict = verify_peer_mdn(&pki, &out, &built).unwrap();
        assert_eq!(verdict.mic, MicCheck::NotReturned, "{name}");
        assert!(verdict.is_success(), "{name}: {verdict:?}");
        assert!(!verdict.is_authentic());
        // Had the message been signed, the missing MIC would fail the transfer.
        let mut signed = SentMessage::from_built(&built, partner.clone());
        signed.require_mic = true;
        let verdict = parsed.verify(&signed, &limits).unwrap();
        assert_eq!(verdict.mic, MicCheck::Missing, "{name}");
        assert!(!verdict.is_success());
    }
}

// ---------------------------------------------------------------------------------------
// 3. Our MDNs, verified by pyas2lib's `Mdn.parse`.

/// Receives a pyas2lib fixture message as as2proto_B (optionally damaged), answers with
/// our MDN, and has pyas2lib verify it as pyas2lib_A. Returns peer.py's report.
/// `damage` flips a byte at that fraction of the body (the signed content or ciphertext).
fn our_mdn_to_peer(peer: &Peer, work: &Path, case: &str, damage: Option<f64>) -> (i32, Json) {
    let dir = fixtures_dir().join(case);
    let pki = fixtures_dir().join("pki");
    let meta = Json::read(&dir.join("meta.json"));
    let decryption = [(
        load_cert(&pki.join("as2proto_B/enc.crt")),
        load_key(&pki.join("as2proto_B/enc.key")),
    )];
    let partner = [load_cert(&pki.join("pyas2lib_A/sign.crt"))];
    let (sign_cert, sign_key) = (
        load_cert(&pki.join("as2proto_B/sign.crt")),
        load_key(&pki.join("as2proto_B/sign.key")),
    );
    let limits = Limits::default();
    let headers = load_headers(&dir.join("headers.json"));
    let mut body = read(&dir.join("body.bin"));
    if let Some(fraction) = damage {
        let at = (body.len() as f64 * fraction) as usize;
        body[at] ^= 0x5a;
    }
    let incoming = inbound::handle(&headers, &body, &limits).unwrap();
    let mut policy = InboundPolicy::new(&decryption, &partner, &limits);
    policy.require_signature = meta.get("signed").bool();
    let mut rng = common::rng(7);
    let report = match incoming.accept(&policy, &mut NoDuplicateCheck, &mut rng) {
        Ok(received) => Report::received(&received),
        Err(rejected) => Report::rejected(&rejected),
    };
    let settings = MdnSettings::signed(Signer::new(&sign_cert, &sign_key));
    let reply = mdn::reply(&incoming, &report, &settings, common::now(), &mut rng).unwrap();
    let built = reply.mdn.expect("an MDN was requested");
    let out = work.join(format!("{case}-{}", damage.is_some()));
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("headers.json"), headers_json(&built.headers)).unwrap();
    std::fs::write(out.join("body.bin"), &built.body).unwrap();
    let mut args = vec![
        "verify-mdn".to_owned(),
        "--pki".into(),
        pki.to_str().unwrap().into(),
        "--mdn-headers".into(),
        out.join("headers.json").to_str().unwrap().into(),
        "--mdn-body".into(),
        out.join("body.bin").to_str().unwrap().into(),
        "--orig-message-id".into(),
        meta.get("message_id").str().unwrap().into(),
        "--out".into(),
        out.join("report.json").to_str().unwrap().into(),
    ];
    if let Some(mic) = &report.mic {
        args.push("--expected-mic".into());
        args.push(mic.to_field(MicNameStyle::Legacy));
    }
    if built.signed.is_some() {
        args.push("--require-signed".into());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = peer.run(&refs);
    let path = out.join("report.json");
    assert!(
        path.is_file(),
        "{case}: peer exit {code}\n{stdout}\n{stderr}"
    );
    (code, Json::read(&path))
}

#[test]
#[ignore = "needs the pyas2lib venv: run tests/pyas2lib/setup.sh, then cargo test --test interop_pyas2lib -- --ignored"]
fn our_mdns_are_verified_by_pyas2lib() {
    let peer = Peer::from_env();
    let work = tempfile::tempdir().expect("tempdir");
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let entry = entry.unwrap();
        let case = entry.file_name().to_string_lossy().into_owned();
        if case == "pki" || case.starts_with("mdn_") || !entry.path().is_dir() {
            continue;
        }
        let meta = Json::read(&entry.path().join("meta.json"));
        if meta.get("mdn").str() == Some("none") {
            continue;
        }
        checked += 1;
        let (code, report) = our_mdn_to_peer(&peer, work.path(), &case, None);
        let ok = code == 0
            && report.get("status").str() == Some("processed")
            && report.get("orig_message_id").str() == meta.get("message_id").str()
            && report.get("mic_matches") != &Json::Bool(false)
            && report.get("signed").bool() == meta.get("mdn").str().unwrap().ends_with("-signed");
        if !ok {
            failures.push(format!("{case}: exit {code}, {report:?}"));
        }
    }
    assert_eq!(checked, 10, "fixture messages requesting an MDN");
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Error MDNs: a damaged signed message and a damaged encrypted one.
    for (case, fraction, detailed) in [
        ("sign_sha256_binary", 0.065, "integrity-check-failed"),
        ("sign_sha512_aes256_binary", 0.6, "decryption-failed"),
    ] {
        let (code, report) = our_mdn_to_peer(&peer, work.path(), case, Some(fraction));
        assert_eq!(code, 1, "{case}: {report:?}");
        assert_eq!(
            report.get("status").str(),
            Some("processed/Error"),
            "{case}: {report:?}"
        );
        assert_eq!(
            report.get("detailed_status").str(),
            Some(detailed),
            "{case}: {report:?}"
        );
        assert_eq!(report.get("signed"), &Json::Bool(true), "{case}");
    }
}
