//! The fuzz target bodies, one function per target, shared by the cargo-fuzz binaries
//! (`fuzz/fuzz_targets/*.rs`) and by `tests/fuzz_regressions.rs`, which replays every
//! crash input and seed through them in the normal `cargo test`.
//!
//! Each function takes the raw fuzz input. Beyond "no panic", a target asserts what it
//! can: what we build parses back to what went in, our own MDN answers read back with the
//! status we sent, a tampered envelope never yields the original payload, a decryption
//! failure carries no detail. Keys are fixed test keys from `tests/data/`.
//!
//! Requests (the `inbound` and `mdn` targets) are written as an HTTP header block
//! (`Name: value` lines, CRLF or LF) and an empty line, then the body: see
//! [`split_request`] and [`request_bytes`].

use std::sync::LazyLock;
use std::time::SystemTime;

use arbitrary::{Arbitrary, Unstructured};
use as2_proto::__internal::ber::Reader;
use as2_proto::__internal::mime;
use as2_proto::cms::algorithm::{
    ContentEncryption, DigestAlgorithm, KeyTransport, SignatureScheme,
};
use as2_proto::cms::compressed::{self, CompressOptions, CompressedData};
use as2_proto::cms::enveloped::{self, EncryptOptions, EnvelopedData};
use as2_proto::cms::signed::{self, SignOptions, SignedData, Signer, SignerSource};
use as2_proto::mdn::{self, MdnSettings, MicCheck, Report, SentMessage};
use as2_proto::message::headers::{
    As2Id, DispositionOptions, EdiintFeatures, HttpHeaders, MessageId, SignedReceipt,
    check_as2_version,
};
use as2_proto::message::inbound::{
    self, InboundPolicy, Incoming, IncomingKind, Layer, NoDuplicateCheck, Received, Rejected,
};
use as2_proto::message::outbound::{self, Compression, MdnRequest, OutboundMessage};
use as2_proto::mic::{Mic, MicNameStyle};
use as2_proto::{Certificate, Error, Limit, Limits, PolicyError, PrivateKey, record, unix_time};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

/// A target: a name and the function the fuzzer calls.
pub type Target = (&'static str, fn(&[u8]));

/// Every target by name, in the order `.ci/run` and the regression test run them.
pub const ALL: &[Target] = &[
    ("inbound", inbound),
    ("inbound_built", inbound_built),
    ("mdn", mdn),
    ("mime", mime),
    ("ber", ber),
    ("signed", signed),
    ("enveloped", enveloped),
    ("auth_enveloped", auth_enveloped),
    ("compressed", compressed),
    ("headers", headers),
    ("keys", keys),
    ("pkcs12", pkcs12),
    ("kari", kari),
    ("cem_xml", cem_xml),
    ("related", related),
];

/// The fixed identities: we are `as2proto_B`, the partner is `pyas2lib_A` (the PKI of
/// `tests/data/pyas2lib/pki`, so the pyas2lib fixtures decrypt and verify).
pub struct Keys {
    /// Our decryption identity (`as2proto_B/enc`).
    pub decryption: Vec<(Certificate, PrivateKey)>,
    /// Our MDN signing identity (`as2proto_B/sign`).
    pub our_sign: (Certificate, PrivateKey),
    /// The partner's signing identity (`pyas2lib_A/sign`).
    pub partner_sign: (Certificate, PrivateKey),
    /// The partner's encryption identity (`pyas2lib_A/enc`), a second recipient.
    pub partner_enc: (Certificate, PrivateKey),
    /// An identity that is never a recipient (`tests/data/keys/doc`).
    pub stranger: (Certificate, PrivateKey),
    /// The certificates we trust for signatures: the partner's, then ours (so that MDNs
    /// we sign ourselves verify too).
    pub trusted: Vec<Certificate>,
}

fn identity(cert: &[u8], key: &[u8]) -> (Certificate, PrivateKey) {
    (
        Certificate::from_pem(cert).expect("fixed test certificate"),
        PrivateKey::from_pem(key, None).expect("fixed test key"),
    )
}

/// The fixed identities, parsed once.
pub static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let our_enc = identity(
        include_bytes!("../../tests/data/pyas2lib/pki/as2proto_B/enc.crt"),
        include_bytes!("../../tests/data/pyas2lib/pki/as2proto_B/enc.key"),
    );
    let our_sign = identity(
        include_bytes!("../../tests/data/pyas2lib/pki/as2proto_B/sign.crt"),
        include_bytes!("../../tests/data/pyas2lib/pki/as2proto_B/sign.key"),
    );
    let partner_sign = identity(
        include_bytes!("../../tests/data/pyas2lib/pki/pyas2lib_A/sign.crt"),
        include_bytes!("../../tests/data/pyas2lib/pki/pyas2lib_A/sign.key"),
    );
    let partner_enc = identity(
        include_bytes!("../../tests/data/pyas2lib/pki/pyas2lib_A/enc.crt"),
        include_bytes!("../../tests/data/pyas2lib/pki/pyas2lib_A/enc.key"),
    );
    let stranger = identity(
        include_bytes!("../../tests/data/keys/doc.crt"),
        include_bytes!("../../tests/data/keys/doc.key"),
    );
    let trusted = vec![partner_sign.0.clone(), our_sign.0.clone()];
    Keys {
        decryption: vec![our_enc],
        our_sign,
        partner_sign,
        partner_enc,
        stranger,
        trusted,
    }
});

/// A fixed "now" inside the fixed certificates' validity.
pub fn now() -> SystemTime {
    unix_time(1_800_000_000)
}

/// A fixed random source: runs are reproducible.
pub fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(0x00a5_2f22)
}

/// Splits a request written as `Name: value` lines, an empty line, then the body. Lines
/// without a colon are skipped; values are trimmed as an HTTP server would.
pub fn split_request(data: &[u8]) -> (HttpHeaders, &[u8]) {
    let mut headers = HttpHeaders::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (
                rest.get(..i).unwrap_or_default(),
                rest.get(i + 1..).unwrap_or_default(),
            ),
            None => (rest, &[][..]),
        };
        rest = next;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = String::from_utf8_lossy(line.get(..colon).unwrap_or_default());
            let value = line.get(colon + 1..).unwrap_or_default().trim_ascii();
            headers.push(name.trim().to_owned(), value.to_vec());
        }
    }
    (headers, rest)
}

/// The inverse of [`split_request`] (for writing seeds).
pub fn request_bytes<N: AsRef<str>, V: AsRef<[u8]>>(headers: &[(N, V)], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in headers {
        out.extend_from_slice(n.as_ref().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_ref());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

// ---------------------------------------------------------------------------------------
// inbound: the whole entry point, raw bytes
// ---------------------------------------------------------------------------------------

/// The inbound entry point on a raw request: [`inbound::handle`], then
/// [`Incoming::accept`] with our keys under each [`Policies`] (or MDN parsing and
/// verification for an MDN), then the reply: our MDN must parse back with the status and
/// MIC we reported, and verify.
pub fn inbound(data: &[u8]) {
    let (headers, body) = split_request(data);
    let limits = Limits::default();
    let Ok(incoming) = inbound::handle(&headers, body, &limits) else {
        return;
    };
    if incoming.kind == IncomingKind::Mdn {
        if let Ok(mdn) = incoming.parse_mdn(&limits) {
            check_mdn(&mdn, &limits);
        }
        return;
    }
    let outcomes = Policies::new(&limits, false).accept(&incoming, body);
    outcomes.check();
    answer(&incoming, &outcomes.required, &limits);
}

/// The three policies a receiver may run: the default (a signature required, as
/// [`InboundPolicy::new`] sets it with partner certificates), unsigned messages allowed,
/// and unsigned messages allowed with header-less (bare) payloads.
struct Policies<'a> {
    required: InboundPolicy<'a>,
    unsigned: InboundPolicy<'a>,
    bare: InboundPolicy<'a>,
}

/// What each of [`Policies`] made of one message.
struct Outcomes {
    required: Result<Received, Rejected>,
    unsigned: Result<Received, Rejected>,
    bare: Result<Received, Rejected>,
}

impl<'a> Policies<'a> {
    fn new(limits: &'a Limits, binary_canonicalization: bool) -> Self {
        let keys = &*KEYS;
        let mut required = InboundPolicy::new(&keys.decryption, &keys.trusted, limits);
        assert!(
            required.require_signature,
            "partner certificates: signed by default"
        );
        assert!(
            !required.accept_bare_payload,
            "bare payloads: off by default"
        );
        required.binary_canonicalization = binary_canonicalization;
        let mut unsigned = required;
        unsigned.require_signature = false;
        let mut bare = unsigned;
        bare.accept_bare_payload = true;
        Policies {
            required,
            unsigned,
            bare,
        }
    }

    /// Each policy's outcome for the whole body in one push, checked against the same
    /// body pushed in chunks split at places drawn from the body itself.
    fn accept(&self, incoming: &Incoming<'_>, body: &[u8]) -> Outcomes {
        // `Rejected` is large by design (see `Incoming::accept`).
        #[allow(clippy::result_large_err)]
        let run = |policy: &InboundPolicy<'_>| {
            let whole = incoming.accept(policy, &mut NoDuplicateCheck, &mut rng());
            check_chunked(incoming, policy, body, &whole);
            whole
        };
        Outcomes {
            required: run(&self.required),
            unsigned: run(&self.unsigned),
            bare: run(&self.bare),
        }
    }
}

/// The streaming receiver fed `body` in chunks of 1 byte to 8 KiB (sizes from a
/// generator seeded by the body) must reach `whole`, byte for byte: chunk borders are
/// invisible in results.
fn check_chunked(
    incoming: &Incoming<'_>,
    policy: &InboundPolicy<'_>,
    body: &[u8],
    whole: &Result<Received, Rejected>,
) {
    let mut state = body.iter().fold(0x9e37_79b9_7f4a_7c15u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    }) | 1;
    let mut sink = Vec::new();
    let mut receiver = incoming.receive(policy);
    let mut rest = body;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let r = (state >> 8) as usize;
        let n = match state % 4 {
            0 => 1,
            1 => r % 16 + 1,
            2 => r % 512 + 1,
            _ => r % 8192 + 1,
        }
        .min(rest.len());
        receiver.push(&rest[..n], &mut sink, &mut rng());
        rest = &rest[n..];
    }
    let mut chunked = receiver.finish(&mut sink, &mut NoDuplicateCheck, &mut rng());
    if let Ok(received) = &mut chunked {
        received.payload = sink;
    }
    assert_eq!(
        format!("{chunked:?}"),
        format!("{whole:?}"),
        "the chunking changed the outcome"
    );
}

impl Outcomes {
    /// What holds for any request: refusals conceal as they must; the default policy
    /// accepts only signed messages; each policy only widens the one before (same
    /// payload, same signature).
    fn check(&self) {
        for outcome in [&self.required, &self.unsigned, &self.bare] {
            if let Err(rejected) = outcome {
                check_rejected(rejected);
            }
        }
        if let Ok(received) = &self.required {
            assert!(
                received.signature.is_some(),
                "accepted unsigned with a signature required"
            );
            assert!(
                received
                    .layers
                    .iter()
                    .any(|l| matches!(l, Layer::Signed(_)))
            );
        }
        for (narrow, wide) in [
            (&self.required, &self.unsigned),
            (&self.unsigned, &self.bare),
        ] {
            if let Ok(narrow) = narrow {
                let wide = match wide {
                    Ok(w) => w,
                    Err(e) => panic!("a wider policy refuses what a narrower accepts: {e:?}"),
                };
                assert_eq!(wide.payload, narrow.payload);
                assert_eq!(wide.signature.is_some(), narrow.signature.is_some());
                assert_eq!(wide.layers, narrow.layers);
            }
        }
    }
}

/// A refusal carries no detail about the plaintext: a cause hidden from the sender is
/// always hidden behind the one decryption failure, with no MIC and no layer found inside
/// the envelope; a decryption failure is one error, one code, one modifier.
fn check_rejected(rejected: &Rejected) {
    if rejected.concealed.is_some() {
        assert_eq!(rejected.error, Error::DecryptionFailed);
        assert!(
            rejected.mic.is_none(),
            "a MIC over unauthenticated plaintext"
        );
        // Only the envelope itself (and what lay outside it) is reported.
        assert!(
            matches!(rejected.layers.last(), Some(Layer::Encrypted(_))),
            "layers inside the envelope reported: {:?}",
            rejected.layers
        );
        assert!(
            !rejected
                .layers
                .iter()
                .any(|l| matches!(l, Layer::Signed(_))),
            "concealed after a signature verified: {:?}",
            rejected.layers
        );
    }
    if rejected.error.code() == as2_proto::ErrorCode::DecryptFailed {
        assert_eq!(rejected.error, Error::DecryptionFailed);
        assert_eq!(rejected.error.disposition().text(), "decryption-failed");
    }
}

/// Replies to `incoming` and reads our own MDN back.
fn answer(incoming: &Incoming<'_>, outcome: &Result<Received, Rejected>, limits: &Limits) {
    let keys = &*KEYS;
    let report = match outcome {
        Ok(received) => Report::received(received),
        Err(rejected) => Report::rejected(rejected),
    };
    let settings = MdnSettings::signed(Signer::new(&keys.our_sign.0, &keys.our_sign.1));
    let reply = match mdn::reply(incoming, &report, &settings, now(), &mut rng()) {
        Ok(reply) => reply,
        // Signing can fail only for the key; building only for a missing Message-ID.
        Err(e) => panic!("no reply to an accepted request: {e:?}"),
    };
    let Some(built) = reply.mdn else {
        return;
    };
    let headers = built.headers.clone();
    let parsed = match mdn::parse(&headers, &built.body, limits) {
        Ok(p) => p,
        Err(e) => panic!("our own MDN does not parse: {e:?}"),
    };
    assert_eq!(parsed.disposition.status, report.disposition.status);
    assert_eq!(parsed.is_signed(), built.signed.is_some());
    let message_id = incoming
        .message_id
        .clone()
        .expect("handle() requires a Message-ID on messages");
    // The MDN comes from the party the message was addressed to.
    let mut sent = SentMessage::new(
        message_id,
        incoming.to.clone(),
        keys.trusted.to_vec(),
        report.mic.clone(),
    );
    sent.require_signed_mdn = built.signed.is_some();
    let verdict = match parsed.verify(&sent, limits) {
        Ok(v) => v,
        Err(e) => panic!("our own MDN does not verify: {e:?}"),
    };
    assert_eq!(verdict.status, report.disposition.status);
    if report.mic.is_some() {
        assert_eq!(verdict.mic, MicCheck::Matched);
    }
}

// ---------------------------------------------------------------------------------------
// inbound_built: structure-aware, build -> mutate -> accept
// ---------------------------------------------------------------------------------------

/// What the structure-aware target builds.
#[derive(Arbitrary, Debug)]
struct BuildCase {
    payload: Vec<u8>,
    content_type: ContentTypeChoice,
    file_name: Option<String>,
    subject: Option<String>,
    compression: u8,
    sign: Option<(u8, bool, bool, bool, bool)>,
    encrypt: Option<(u8, u8, bool)>,
    mdn: u8,
    signed_mdn_micalgs: Vec<u8>,
    legacy_names: bool,
    binary_canonicalization: bool,
    mutations: Vec<(u16, u8)>,
    cbc: Vec<CbcMutation>,
}

/// What an attacker does to a CBC envelope without the key: applied to the IV and the
/// encrypted content found with the BER reader, the DER lengths rewritten around them.
#[derive(Arbitrary, Debug)]
enum CbcMutation {
    /// XOR a byte of the IV: the same bytes of the first plaintext block change.
    FlipIv(u8, u8),
    /// XOR a ciphertext byte: its block decrypts to garbage, the next one flips.
    FlipCiphertext(u16, u8),
    /// Swap two ciphertext blocks.
    SwapBlocks(u16, u16),
    /// Repeat a block after itself.
    DuplicateBlock(u16),
    /// Remove a block.
    DropBlock(u16),
    /// Keep only the first n blocks.
    KeepBlocks(u16),
    /// Vaudenay: the ciphertext becomes `X || C_i` (X the first block-size bytes given),
    /// which has valid padding for some X and decrypts to garbage.
    TwoBlocks(u16, [u8; 16]),
}

/// Where the IV and the encrypted content of a DER EnvelopedData lie in a message body,
/// with the definite-length values enclosing the content (outermost first) so that its
/// length can change.
struct Envelope {
    /// (identifier byte, offset, contents offset, end) of each value enclosing the
    /// encrypted content, outermost first, then the content itself.
    path: Vec<(u8, usize, usize, usize)>,
    iv: core::ops::Range<usize>,
}

impl Envelope {
    /// Finds them (`None` unless `body` is a DER EnvelopedData with one-byte identifiers
    /// and primitive encrypted content, as ours are).
    fn find(body: &[u8], limits: &Limits) -> Option<Envelope> {
        fn step(tlv: &as2_proto::__internal::ber::Tlv<'_>) -> Option<(u8, usize, usize, usize)> {
            let id = *tlv.raw.first()?;
            (!tlv.indefinite && id & 0x1f != 0x1f).then_some((
                id,
                tlv.offset,
                tlv.contents_offset,
                tlv.offset + tlv.raw.len(),
            ))
        }
        let content_info = Reader::new(body, limits).read("ci").ok()?;
        let mut r = content_info.children("ci").ok()?;
        let _oid = r.read("oid").ok()?;
        let explicit = r.read("[0]").ok()?;
        let enveloped = explicit.children("[0]").ok()?.read("ed").ok()?;
        let mut r = enveloped.children("ed").ok()?;
        let _version = r.read("version").ok()?;
        let mut eci = None;
        while let Ok(tlv) = r.read("ed field") {
            if tlv.raw.first() == Some(&0x30) {
                eci = Some(tlv);
                break;
            }
        }
        let eci = eci?;
        let mut r = eci.children("eci").ok()?;
        let _type = r.read("type").ok()?;
        let algorithm = r.read("alg").ok()?;
        let content = r.read("content").ok()?;
        if content.raw.first() != Some(&0x80) {
            return None;
        }
        let mut a = algorithm.children("alg").ok()?;
        let _oid = a.read("oid").ok()?;
        let iv = a.read("iv").ok()?;
        if iv.raw.first() != Some(&0x04) || iv.indefinite {
            return None;
        }
        let iv = iv.contents_offset..iv.contents_offset + iv.contents.len();
        let path = [&content_info, &explicit, &enveloped, &eci, &content]
            .into_iter()
            .map(step)
            .collect::<Option<Vec<_>>>()?;
        Some(Envelope { path, iv })
    }

    /// Applies `mutations` to a copy of `body`.
    fn mutate(&self, body: &[u8], mutations: &[CbcMutation]) -> Vec<u8> {
        let mut body = body.to_vec();
        let Some(&(_, _, start, end)) = self.path.last() else {
            return body;
        };
        let block = self.iv.len().max(1);
        let mut ct = body.get(start..end).unwrap_or_default().to_vec();
        let blocks = |ct: &Vec<u8>| ct.len() / block;
        let range = |i: u16, n: usize| {
            let i = usize::from(i) % n.max(1);
            i * block..(i + 1) * block
        };
        for m in mutations {
            let n = blocks(&ct);
            match m {
                CbcMutation::FlipIv(i, x) => {
                    let at = self.iv.start + usize::from(*i) % block;
                    if let Some(b) = body.get_mut(at) {
                        *b ^= x;
                    }
                }
                CbcMutation::FlipCiphertext(i, x) if !ct.is_empty() => {
                    let at = usize::from(*i) % ct.len();
                    ct[at] ^= x;
                }
                CbcMutation::SwapBlocks(i, j) if n > 0 => {
                    let (a, b) = (range(*i, n), range(*j, n));
                    let (x, y) = (ct[a.clone()].to_vec(), ct[b.clone()].to_vec());
                    ct[a].copy_from_slice(&y);
                    ct[b].copy_from_slice(&x);
                }
                CbcMutation::DuplicateBlock(i) if n > 0 => {
                    let a = range(*i, n);
                    let copy = ct[a.clone()].to_vec();
                    ct.splice(a.end..a.end, copy);
                }
                CbcMutation::DropBlock(i) if n > 0 => {
                    ct.drain(range(*i, n));
                }
                CbcMutation::KeepBlocks(k) => ct.truncate(usize::from(*k) % (n + 1) * block),
                CbcMutation::TwoBlocks(i, x) if n > 0 => {
                    let c = ct[range(*i, n)].to_vec();
                    ct = x.get(..block).unwrap_or(x).to_vec();
                    ct.resize(block, 0);
                    ct.extend_from_slice(&c);
                }
                _ => {}
            }
        }
        // Re-encode from the content outwards, each value's length rewritten.
        let mut inner = Vec::new();
        let mut child: Option<(usize, usize)> = None;
        for &(id, offset, contents, end) in self.path.iter().rev() {
            let mut value = match child {
                None => ct.clone(),
                Some((c_off, c_end)) => {
                    let mut v = body[contents..c_off].to_vec();
                    v.extend_from_slice(&inner);
                    v.extend_from_slice(&body[c_end..end]);
                    v
                }
            };
            inner = der_header(id, value.len());
            inner.append(&mut value);
            child = Some((offset, end));
        }
        if let Some((offset, end)) = child {
            body.splice(offset..end, inner);
        }
        body
    }
}

/// A DER identifier and definite length.
fn der_header(id: u8, len: usize) -> Vec<u8> {
    let mut out = vec![id];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out
}

#[derive(Arbitrary, Debug)]
enum ContentTypeChoice {
    Known(u8),
    Any(String),
}

const CONTENT_TYPES: &[&str] = &[
    "application/octet-stream",
    "application/edi-x12",
    "application/EDIFACT",
    "application/xml",
    "text/plain",
    "text/plain; charset=utf-8",
    "application/pkcs7-mime",
    "multipart/mixed; boundary=x",
];

fn digest(choice: u8) -> DigestAlgorithm {
    match choice % 4 {
        0 => DigestAlgorithm::Sha1,
        1 => DigestAlgorithm::Sha256,
        2 => DigestAlgorithm::Sha384,
        _ => DigestAlgorithm::Sha512,
    }
}

fn cipher(choice: u8) -> ContentEncryption {
    match choice % 4 {
        0 => ContentEncryption::Aes128Cbc,
        1 => ContentEncryption::Aes192Cbc,
        2 => ContentEncryption::Aes256Cbc,
        _ => ContentEncryption::TripleDesCbc,
    }
}

fn key_transport(choice: u8) -> KeyTransport {
    match choice % 4 {
        0 => KeyTransport::RsaPkcs1v15,
        1 => KeyTransport::RsaOaep(DigestAlgorithm::Sha1),
        2 => KeyTransport::RsaOaep(DigestAlgorithm::Sha256),
        _ => KeyTransport::RsaOaep(DigestAlgorithm::Sha512),
    }
}

fn sign_options(d: u8, pss: bool, protection: bool, certs: bool, ski: bool) -> SignOptions {
    let mut o = SignOptions::default();
    o.digest = digest(d);
    o.scheme = if pss {
        SignatureScheme::Pss
    } else {
        SignatureScheme::Pkcs1v15
    };
    o.algorithm_protection = protection;
    o.include_certificates = certs;
    o.use_subject_key_id = ski;
    o
}

/// Builds a message from options chosen by the input, attacks its envelope as CBC
/// allows (IV and block mutations), flips bytes of the body, and accepts it under each of
/// [`Policies`]. Unmutated, the payload, content type, file name, layers and MIC come back
/// exactly under the policy the sender's agreement has. Mutated, a message built signed is
/// either refused or accepted signed with the original payload, under every policy; and
/// when only the ciphertext was attacked, a signature-requiring receiver answers every
/// refusal with the one decryption failure (no padding oracle, no garbage oracle).
pub fn inbound_built(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(case) = BuildCase::arbitrary(&mut u) else {
        return;
    };
    let keys = &*KEYS;
    let limits = Limits::default();
    let from = As2Id::new("pyas2lib_A").expect("valid id");
    let to = As2Id::new("as2proto_B").expect("valid id");
    let mut message = OutboundMessage::new(from, to, &case.payload);
    message.content_type = match &case.content_type {
        ContentTypeChoice::Known(i) => CONTENT_TYPES
            .get(usize::from(*i) % CONTENT_TYPES.len())
            .copied()
            .unwrap_or_default()
            .to_owned(),
        ContentTypeChoice::Any(s) => s.clone(),
    };
    message.file_name = case.file_name.clone();
    message.subject = case.subject.clone();
    message.compression = match case.compression % 3 {
        0 => Compression::None,
        1 => Compression::BeforeSigning,
        _ => Compression::AfterSigning,
    };
    if let Some((d, pss, protection, certs, ski)) = case.sign {
        let signer = Signer::new(&keys.partner_sign.0, &keys.partner_sign.1);
        message.signing = Some((signer, sign_options(d, pss, protection, certs, ski)));
    }
    if let Some((c, t, ski)) = case.encrypt {
        let mut o = EncryptOptions::default();
        o.cipher = cipher(c);
        o.key_transport = key_transport(t);
        o.use_subject_key_id = ski;
        message.encryption = (vec![&keys.decryption[0].0], o);
    }
    message.mdn = match case.mdn % 3 {
        0 => MdnRequest::None,
        1 => MdnRequest::sync(),
        _ => MdnRequest::asynchronous("https://example.invalid/mdn"),
    };
    let micalgs: Vec<DigestAlgorithm> = case
        .signed_mdn_micalgs
        .iter()
        .take(4)
        .map(|d| digest(*d))
        .collect();
    // An empty list asked for an unsigned receipt (the field's old meaning, kept for
    // the corpus).
    if message.mdn.is_requested() && !micalgs.is_empty() {
        message.mdn = message.mdn.clone().signed(&micalgs);
    }
    message.mic_style = if case.legacy_names {
        MicNameStyle::Legacy
    } else {
        MicNameStyle::Dashed
    };
    let Ok(built) = outbound::build(&message, now(), &mut rng()) else {
        return;
    };
    let original = &built.body;
    let mut body = match Envelope::find(original, &limits) {
        Some(envelope) if !case.cbc.is_empty() => envelope.mutate(original, &case.cbc),
        _ => original.clone(),
    };
    let attacked = body != *original;
    let mut flipped = false;
    for (at, xor) in &case.mutations {
        if body.is_empty() || *xor == 0 {
            continue;
        }
        let i = usize::from(*at) % body.len();
        if let Some(b) = body.get_mut(i) {
            *b ^= xor;
            flipped = true;
        }
    }
    let mutated = body != *original;
    // Only the IV and ciphertext attacked, every other byte as built.
    let cbc_only = attacked && !flipped;
    let headers = built.headers.clone();
    let incoming = match inbound::handle(&headers, &body, &limits) {
        Ok(i) => i,
        Err(e) => panic!("our own message's headers are refused: {e:?}"),
    };
    let outcomes = Policies::new(&limits, case.binary_canonicalization).accept(&incoming, &body);
    outcomes.check();
    // A payload that is itself S/MIME or multipart is unwrapped further by the receiver.
    let layered = mime::ContentType::parse(message.content_type.as_bytes()).is_ok_and(|ct| {
        ct.is_multipart() || ct.is("application/pkcs7-mime") || ct.is("application/x-pkcs7-mime")
    });
    let encrypted = case.encrypt.map(|(c, _, _)| cipher(c));
    // The agreement a partner who sends this way has: a signature required (the default
    // with partner certificates) when it signs, unsigned messages allowed when it does not.
    let agreed = if built.signed {
        &outcomes.required
    } else {
        &outcomes.unsigned
    };
    if mutated {
        // Signature stripping: damage must never turn a message built signed into one
        // accepted unsigned (whose payload is then whatever the damage made of it) by a
        // receiver that requires a signature, as the default policy does. (Where unsigned
        // messages are allowed, CBC lets an attacker reshape the first block, so there a
        // stripped message is just an unsigned one: nothing but a signature tells them
        // apart.)
        if built.signed
            && let Ok(received) = &outcomes.required
        {
            assert!(
                received.signature.is_some(),
                "a message built signed was accepted unsigned\n{case:?}"
            );
        }
        for outcome in [&outcomes.required, &outcomes.unsigned, &outcomes.bare] {
            if let Ok(received) = outcome
                && received.signature.is_some()
                && !layered
            {
                assert_eq!(received.payload, case.payload, "a signed payload changed");
            }
        }
        if cbc_only {
            // The padding oracle: whatever the ciphertext decrypts to (bad padding, good
            // padding over garbage, a valid but unsigned entity), a receiver that requires
            // a signature says the same thing unless the signature verifies.
            if let Err(rejected) = &outcomes.required
                && !rejected
                    .layers
                    .iter()
                    .any(|l| matches!(l, Layer::Signed(_)))
            {
                assert_eq!(
                    (&rejected.error, &rejected.mic, &rejected.layers[..]),
                    (
                        &Error::DecryptionFailed,
                        &None,
                        &[Layer::Encrypted(encrypted.expect("attacked: encrypted"))][..]
                    ),
                    "an attacked ciphertext is refused otherwise: {:?}\n{case:?}",
                    rejected.concealed
                );
            }
        }
    } else if !layered {
        check_unmutated(&case, &message, &built, agreed, encrypted);
        // The wider policies accept it as the agreement does; the default one refuses it
        // unless it is signed, as the one decryption failure when it is encrypted.
        match (&outcomes.required, built.signed, encrypted) {
            (Ok(_), true, _) => {}
            (Err(rejected), false, Some(c)) => {
                assert_eq!(rejected.error, Error::DecryptionFailed);
                assert!(rejected.concealed.is_some());
                assert_eq!(
                    rejected.cause(),
                    &Error::Policy(PolicyError::SignatureRequired)
                );
                assert_eq!(rejected.layers, [Layer::Encrypted(c)]);
            }
            (Err(rejected), false, None) => {
                assert_eq!(
                    rejected.error,
                    Error::Policy(PolicyError::SignatureRequired)
                );
            }
            (Err(rejected), true, _) => {
                assert!(matches!(rejected.error, Error::UnsupportedFormat(_)));
            }
            (Ok(_), false, _) => panic!("an unsigned message accepted with a signature required"),
        }
    }
    answer(&incoming, agreed, &limits);
}

/// An unmutated message under its agreement's policy: payload, type, file name, layers and
/// MIC as built, or only a refusal that depends on the payload.
fn check_unmutated(
    case: &BuildCase,
    message: &OutboundMessage<'_>,
    built: &outbound::BuiltMessage,
    outcome: &Result<Received, Rejected>,
    encrypted: Option<ContentEncryption>,
) {
    match outcome {
        Ok(received) => {
            assert_eq!(received.payload, case.payload);
            let expected_type = mime::ContentType::parse(message.content_type.as_bytes())
                .expect("build() accepted this content type")
                .mime_type();
            assert_eq!(received.content_type, expected_type);
            assert_eq!(
                received.file_name.as_deref(),
                message
                    .file_name
                    .as_deref()
                    .map(|n| n.replace(['\r', '\n', '\0'], ""))
                    // An empty name is no name.
                    .filter(|n| !n.is_empty())
                    .as_deref()
            );
            assert_eq!(received.signature.is_some(), built.signed);
            assert_eq!(received.compressed(), !case.compression.is_multiple_of(3));
            assert_eq!(received.encryption(), encrypted);
            assert_eq!(
                received
                    .layers
                    .iter()
                    .filter(|l| matches!(l, Layer::Signed(_)))
                    .count(),
                usize::from(built.signed)
            );
            if built.signed || message.mdn != MdnRequest::None {
                assert_eq!(received.mic, built.mic);
            }
        }
        // Only payload-dependent refusals are expected for a message we built.
        Err(rejected) => match rejected.cause() {
            Error::UnsupportedFormat(_) => {}
            e => panic!("our own message is refused: {e:?}\n{case:?}"),
        },
    }
}

// ---------------------------------------------------------------------------------------
// mdn
// ---------------------------------------------------------------------------------------

/// MDN parsing and verification on a raw request (headers, empty line, body).
pub fn mdn(data: &[u8]) {
    let (headers, body) = split_request(data);
    let limits = Limits::default();
    if let Ok(mdn) = mdn::parse(&headers, body, &limits) {
        check_mdn(&mdn, &limits);
    }
}

fn check_mdn(mdn: &mdn::Mdn<'_>, limits: &Limits) {
    let again = mdn::DispositionField::parse(mdn.disposition.as_str());
    assert_eq!(again, mdn.disposition);
    let _ = mdn.find(|id| Some(id.len()));
    let Some(original) = &mdn.original_message_id else {
        return;
    };
    let Ok(id) = MessageId::parse(original.as_bytes()) else {
        return;
    };
    // Expect exactly the MIC the MDN carries, so that the signature path is reached.
    let mic = mdn.received_mic.as_deref().and_then(Mic::parse_field);
    let Some(from) = mdn.from.clone() else {
        return;
    };
    let mut sent = SentMessage::new(id, from, KEYS.trusted.to_vec(), mic.clone());
    sent.require_signed_mdn = false;
    if let Ok(verdict) = mdn.verify(&sent, limits) {
        if mic.is_some() {
            assert_eq!(verdict.mic, MicCheck::Matched);
        }
        let _ = (
            verdict.is_success(),
            verdict.failure_code(),
            verdict.mic_error(),
        );
    }
}

// ---------------------------------------------------------------------------------------
// mime
// ---------------------------------------------------------------------------------------

/// The MIME parser on an entity, on a body with its Content-Type in the first line, and
/// the header-value parsers; canonicalisation is idempotent and base64 round-trips.
pub fn mime(data: &[u8]) {
    let limits = mime::limits(&Limits::default());
    if let Ok(part) = mime::parse_part(data, &limits) {
        check_part(&part, data);
        // Canonicalisation is idempotent: the canonical form of the canonical form is
        // itself (it may no longer parse, e.g. a header line grown past the limit).
        let canonical = mime::canonical_entity(&part, false);
        if let Ok(again) = mime::parse_part(&canonical, &limits) {
            assert_eq!(mime::canonical_entity(&again, false), canonical);
        }
    }
    let (first, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (
            data.get(..i).unwrap_or_default(),
            data.get(i + 1..).unwrap_or_default(),
        ),
        None => (data, &[][..]),
    };
    if let Ok(part) = mime::Part::from_body(body, first, &limits) {
        check_part(&part, body);
    }
    if let Ok(ct) = mime::ContentType::parse(data) {
        let _ = (
            ct.mime_type(),
            ct.boundary(),
            ct.micalg(),
            ct.charset(),
            ct.name(),
        );
    }
    if let Ok(cd) = mime::ContentDisposition::parse(data) {
        let _ = cd.filename();
    }
    let canonical = mime::canonicalize_text(data);
    assert_eq!(mime::canonicalize_text(&canonical), canonical);
    let _ = mime::quoted_printable_decode(data);
    let _ = mime::base64_decode(data);
    assert_eq!(
        mime::base64_decode(mime::base64_encode(data).as_bytes()).as_deref(),
        Ok(data)
    );
    assert_eq!(
        mime::base64_decode(mime::base64_encode_mime(data).as_bytes()).as_deref(),
        Ok(data)
    );
}

fn check_part(part: &mime::Part<'_>, root: &[u8]) {
    assert_eq!(part.root(), root);
    let range = part.range();
    let (header, body) = (part.header_range(), part.body_range());
    assert!(range.start <= header.start && header.end <= body.start && body.end <= range.end);
    assert_eq!(root.get(range), Some(part.raw()));
    assert_eq!(root.get(header), Some(part.header_bytes()));
    assert_eq!(root.get(body.clone()), Some(part.body()));
    for h in part.headers().iter() {
        let _ = h.unfolded_value();
        assert_eq!(
            root.get(h.offset.clone()).map(<[u8]>::len),
            Some(h.offset.len())
        );
    }
    let _ = part.decoded_body();
    let _ = mime::canonical_entity(part, false);
    assert_eq!(&*mime::canonical_entity(part, true), part.raw());
    for child in part.children() {
        let r = child.range();
        assert!(body.start <= r.start && r.end <= body.end);
        assert!(child.depth() == part.depth() + 1);
        check_part(child, root);
    }
}

// ---------------------------------------------------------------------------------------
// ber
// ---------------------------------------------------------------------------------------

/// The BER reader (`as2_proto::__internal::ber`, not public API), walking every value: offsets point into the
/// input, and `to_der` gives a definite-length encoding that reads back to the same
/// value and octets.
pub fn ber(data: &[u8]) {
    let limits = Limits::default();
    walk(&mut Reader::new(data, &limits), data, &limits);
    let _ = as2_proto::cms::content_type(data, &limits);
}

fn walk(reader: &mut Reader<'_>, input: &[u8], limits: &Limits) {
    while !reader.is_empty() {
        let Ok(tlv) = reader.read("fuzz") else {
            return;
        };
        assert_eq!(
            input.get(tlv.offset..tlv.offset + tlv.raw.len()),
            Some(tlv.raw)
        );
        assert_eq!(
            input.get(tlv.contents_offset..tlv.contents_offset + tlv.contents.len()),
            Some(tlv.contents)
        );
        let _ = (tlv.oid("fuzz"), tlv.small_uint("fuzz"));
        let octets = tlv.octets("fuzz");
        if let Ok(der) = tlv.to_der() {
            let mut again = Reader::new(&der, limits);
            let copy = match again.read("der") {
                Ok(t) => t,
                Err(e) => panic!("to_der output does not read back: {e:?}"),
            };
            assert!(again.is_empty(), "to_der output has trailing bytes");
            assert!(!copy.indefinite);
            assert!(copy.tag.same_type(tlv.tag));
            if let Ok(octets) = &octets {
                assert_eq!(copy.octets("der").as_deref(), Ok(&**octets));
            }
            assert_eq!(
                copy.to_der().as_deref(),
                Ok(&*der),
                "to_der is not idempotent"
            );
        }
        if tlv.tag.constructed
            && let Ok(mut children) = tlv.children("fuzz")
        {
            walk(&mut children, input, limits);
        }
    }
}

// ---------------------------------------------------------------------------------------
// signed
// ---------------------------------------------------------------------------------------

/// SignedData parsing and verification. Inputs whose first byte has a zero low nibble
/// also sign the rest with options from the high nibble and check that it verifies.
pub fn signed(data: &[u8]) {
    let limits = Limits::default();
    if let Some((&mode, rest)) = data.split_first()
        && mode & 0x0f == 0
    {
        signed_round_trip(mode >> 4, rest, &limits);
    }
    let Ok(sd) = SignedData::parse(data, &limits) else {
        return;
    };
    let trusted = &KEYS.trusted;
    let _ = (sd.content_type(), sd.certificates().len());
    let _ = sd.verify(None, trusted);
    let _ = sd.verify(Some(b"payload"), trusted);
    let _ = sd.into_content();
}

fn signed_round_trip(mode: u8, payload: &[u8], limits: &Limits) {
    let keys = &*KEYS;
    let options = sign_options(
        mode & 3,
        mode & 4 != 0,
        payload.len().is_multiple_of(2),
        payload.len().is_multiple_of(3),
        payload.len().is_multiple_of(5),
    );
    let encapsulated = mode & 8 != 0;
    let signer = Signer::new(&keys.partner_sign.0, &keys.partner_sign.1);
    let signature = if encapsulated {
        signed::sign_encapsulated(payload, &signer, &options, now(), &mut rng())
    } else {
        signed::sign_detached(payload, &signer, &options, now(), &mut rng())
    }
    .expect("signing with a fixed 2048-bit key works");
    let sd = SignedData::parse(&signature, limits).expect("our SignedData parses");
    let detached = (!encapsulated).then_some(payload);
    let verified = sd
        .verify(detached, std::slice::from_ref(&keys.partner_sign.0))
        .expect("our signature verifies");
    assert_eq!(verified.digest, options.digest);
    assert_eq!(verified.source, SignerSource::Supplied);
    if encapsulated {
        assert_eq!(sd.content(), Some(payload));
    } else {
        let mut other = payload.to_vec();
        other.push(0);
        assert!(sd.verify(Some(&other), &keys.trusted).is_err());
    }
    // Another trusted set: the embedded certificate may be found, but never "Supplied".
    if let Ok(v) = sd.verify(detached, std::slice::from_ref(&keys.stranger.0)) {
        assert_eq!(v.source, SignerSource::Embedded);
    }
}

// ---------------------------------------------------------------------------------------
// enveloped
// ---------------------------------------------------------------------------------------

/// EnvelopedData parsing and decryption with our key. Inputs whose first byte has a zero
/// low nibble also encrypt the rest (options from the high nibble) and check that it
/// decrypts for both recipients, not for a stranger, and never after tampering.
pub fn enveloped(data: &[u8]) {
    let limits = Limits::default();
    if let Some((&mode, rest)) = data.split_first()
        && mode & 0x0f == 0
    {
        enveloped_round_trip(mode >> 4, rest, &limits);
    }
    let Ok(envelope) = EnvelopedData::parse(data, &limits) else {
        return;
    };
    let _ = envelope.content_encryption();
    let (cert, key) = &KEYS.decryption[0];
    let recipient = envelope.is_recipient(cert);
    match envelope.decrypt(cert, key, &mut rng()) {
        Ok(_) => assert!(recipient),
        Err(Error::NoMatchingRecipient) => assert!(!recipient),
        Err(
            Error::DecryptionFailed
            | Error::UnsupportedAlgorithm { .. }
            | Error::Malformed { .. }
            | Error::LimitExceeded { .. },
        ) => assert!(recipient),
        Err(e) => panic!("unexpected decryption error {e:?}"),
    }
}

fn enveloped_round_trip(mode: u8, payload: &[u8], limits: &Limits) {
    let keys = &*KEYS;
    let mut options = EncryptOptions::default();
    options.cipher = cipher(mode);
    options.key_transport = key_transport(mode >> 2);
    options.use_subject_key_id = payload.len() % 2 == 1;
    let ours = &keys.decryption[0];
    let recipients = [&ours.0, &keys.partner_enc.0];
    let mut envelope =
        enveloped::encrypt(payload, &recipients, &options, &mut rng()).expect("encryption works");
    let parsed = EnvelopedData::parse(&envelope, limits).expect("our EnvelopedData parses");
    assert_eq!(parsed.content_encryption(), options.cipher);
    for (cert, key) in [ours, &keys.partner_enc] {
        assert!(parsed.is_recipient(cert));
        assert_eq!(
            parsed.decrypt(cert, key, &mut rng()).as_deref(),
            Ok(payload)
        );
    }
    assert!(!parsed.is_recipient(&keys.stranger.0));
    assert_eq!(
        parsed.decrypt(&keys.stranger.0, &keys.stranger.1, &mut rng()),
        Err(Error::NoMatchingRecipient)
    );
    // Damage the last ciphertext byte (the end of the envelope): never the payload back,
    // and a failure is the one opaque error.
    if let Some(last) = envelope.last_mut() {
        *last ^= 0x01;
    }
    let damaged = EnvelopedData::parse(&envelope, limits).expect("still well-formed");
    match damaged.decrypt(&ours.0, &ours.1, &mut rng()) {
        Ok(plain) => assert_ne!(plain, payload),
        Err(e) => assert_eq!(e, Error::DecryptionFailed),
    }
}

// ---------------------------------------------------------------------------------------
// auth_enveloped
// ---------------------------------------------------------------------------------------

/// AuthEnvelopedData (AES-GCM/CCM): arbitrary input decrypts or fails with a typed error,
/// never panics; received as the body of an `authEnveloped-data` message it gives the same
/// outcome whole and chunked (`check_chunked`). A first byte with a zero low nibble also
/// runs a round trip of the rest: our envelope decrypts for both recipients, and one
/// flipped bit in the tag or the ciphertext is the one `DecryptionFailed`.
pub fn auth_enveloped(data: &[u8]) {
    let limits = Limits::default();
    let keys = &*KEYS;
    if let Some((&mode, rest)) = data.split_first()
        && mode & 0x0f == 0
    {
        auth_enveloped_round_trip(mode >> 4, rest, &limits);
    }
    match as2_proto::cms::auth_enveloped::decrypt(data, &keys.decryption, &limits, &mut rng()) {
        Ok(_) => {}
        Err(
            Error::DecryptionFailed
            | Error::NoMatchingRecipient
            | Error::UnsupportedAlgorithm { .. }
            | Error::UnsupportedFormat(_)
            | Error::Malformed { .. }
            | Error::LimitExceeded { .. },
        ) => {}
        Err(e) => panic!("unexpected decryption error {e:?}"),
    }
    let mut headers = HttpHeaders::new();
    headers.push("AS2-From", b"pyas2lib_A");
    headers.push("AS2-To", b"as2proto_B");
    headers.push("Message-ID", b"<fuzz@auth-enveloped>");
    headers.push(
        "Content-Type",
        b"application/pkcs7-mime; smime-type=authEnveloped-data",
    );
    let Ok(incoming) = inbound::handle(&headers, data, &limits) else {
        return;
    };
    let mut policy = InboundPolicy::new(&keys.decryption, &keys.trusted, &limits);
    policy.require_signature = false;
    let whole = incoming.accept(&policy, &mut NoDuplicateCheck, &mut rng());
    check_chunked(&incoming, &policy, data, &whole);
}

fn auth_enveloped_round_trip(mode: u8, payload: &[u8], limits: &Limits) {
    let keys = &*KEYS;
    let mut options = EncryptOptions::default();
    options.cipher = match mode % 4 {
        0 => ContentEncryption::Aes128Gcm,
        1 => ContentEncryption::Aes256Gcm,
        2 => ContentEncryption::Aes128Ccm,
        _ => ContentEncryption::Aes256Ccm,
    };
    options.key_transport = key_transport(mode >> 2);
    let ours = &keys.decryption[0];
    let recipients = [&ours.0, &keys.partner_enc.0];
    let envelope =
        enveloped::encrypt(payload, &recipients, &options, &mut rng()).expect("encryption works");
    for identity in [ours, &keys.partner_enc] {
        let plain = as2_proto::cms::auth_enveloped::decrypt(
            &envelope,
            std::slice::from_ref(identity),
            limits,
            &mut rng(),
        );
        assert_eq!(plain.as_deref(), Ok(payload));
    }
    assert_eq!(
        as2_proto::cms::auth_enveloped::decrypt(
            &envelope,
            std::slice::from_ref(&keys.stranger),
            limits,
            &mut rng()
        ),
        Err(Error::NoMatchingRecipient)
    );
    // DER: the 16-octet tag last, the ciphertext (as long as the payload) before its header.
    let mut at = vec![envelope.len() - 1];
    if !payload.is_empty() {
        at.push(envelope.len() - 18 - 1 - usize::from(mode) % payload.len());
    }
    for i in at {
        let mut damaged = envelope.clone();
        damaged[i] ^= 1 << (mode % 8);
        assert_eq!(
            as2_proto::cms::auth_enveloped::decrypt(
                &damaged,
                std::slice::from_ref(ours),
                limits,
                &mut rng()
            ),
            Err(Error::DecryptionFailed)
        );
    }
}

// ---------------------------------------------------------------------------------------
// compressed
// ---------------------------------------------------------------------------------------

/// CompressedData: the input parsed and decompressed within limits, and the input
/// compressed then decompressed gives it back.
pub fn compressed(data: &[u8]) {
    let limits = Limits::default();
    if let Ok(cd) = CompressedData::parse(data, &limits)
        && let Ok(out) = cd.decompress(&limits)
    {
        let by_ratio = cd
            .compressed()
            .len()
            .saturating_mul(limits.max_expansion_ratio);
        assert!(out.len() <= limits.max_decompressed_size && out.len() <= by_ratio);
    }
    let mut options = CompressOptions::default();
    options.level = data.first().map_or(6, |b| b % 11);
    let packed = compressed::compress(data, options);
    let cd = CompressedData::parse(&packed, &limits).expect("our CompressedData parses");
    match cd.decompress(&limits) {
        Ok(out) => assert_eq!(out, data),
        Err(Error::LimitExceeded {
            limit: Limit::ExpansionRatio,
            ..
        }) => assert!(data.len() > cd.compressed().len() * limits.max_expansion_ratio),
        Err(e) => panic!("our CompressedData does not decompress: {e:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// headers
// ---------------------------------------------------------------------------------------

/// AS2 header and field parsers: MIC, Disposition-Notification-Options, EDIINT-Features,
/// Message-ID, AS2-From/To, AS2-Version, Disposition, and the status-record readers.
/// Every value that parses survives being written and parsed again.
pub fn headers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some(mic) = Mic::parse_field(&text) {
        for style in [MicNameStyle::Dashed, MicNameStyle::Legacy] {
            assert_eq!(Mic::parse_field(&mic.to_field(style)), Some(mic.clone()));
        }
    }
    let options = DispositionOptions::parse(data);
    let _ = (
        options.signed_receipt_requested(),
        options.signed_receipt_required(),
        options.micalg_names().len(),
    );
    if let Some(preferred) = options.preferred_micalg() {
        let again = DispositionOptions::parse(
            DispositionOptions::signed_request(
                &SignedReceipt::new(&[preferred]),
                MicNameStyle::Legacy,
            )
            .as_bytes(),
        );
        assert_eq!(again.preferred_micalg(), Some(preferred));
        assert!(again.signed_receipt_requested());
    }
    let _ = EdiintFeatures::parse(data).has("CEM");
    if let Ok(id) = MessageId::parse(data) {
        assert_eq!(MessageId::parse(id.as_str().as_bytes()).as_ref(), Ok(&id));
        let _ = id.bare();
    }
    if let Ok(id) = As2Id::from_header("AS2-From", data) {
        assert_eq!(
            As2Id::from_header("AS2-From", id.to_header().as_bytes()).as_ref(),
            Ok(&id)
        );
        let _ = id.message_id_domain();
    }
    if let Ok(id) = As2Id::new(&text) {
        assert_eq!(
            As2Id::from_header("AS2-To", id.to_header().as_bytes()).as_ref(),
            Ok(&id)
        );
    }
    let _ = check_as2_version(Some(data));
    let field = mdn::DispositionField::parse(&text);
    assert_eq!(mdn::DispositionField::parse(field.as_str()), field);
    let _ = field.status.error_code();
    if let Ok(time) = record::parse_rfc3339(&text) {
        // Written with microseconds, so the written form (not the time) is the fixed point.
        let written = record::rfc3339(time);
        assert_eq!(
            record::parse_rfc3339(&written).map(record::rfc3339),
            Ok(written)
        );
    }
    if let Ok(r) = record::StatusRecord::from_json(&text) {
        let _ = r.to_json();
    }
}

// ---------------------------------------------------------------------------------------
// keys
// ---------------------------------------------------------------------------------------

/// Certificate, PKCS#8 (plain and encrypted), PKCS#1 and PEM loading. A certificate that
/// loads reloads from its DER identically; a key that loads is checked against the fixed
/// certificates. PKCS#12 is not covered yet (the module is not merged).
pub fn keys(data: &[u8]) {
    let mut certs = Vec::new();
    certs.extend(Certificate::from_der(data).ok());
    certs.extend(Certificate::from_pem(data).ok());
    certs.extend(Certificate::chain_from_pem(data).unwrap_or_default());
    for cert in &certs {
        let again = Certificate::from_der(cert.der()).expect("a loaded certificate reloads");
        assert_eq!(again.der(), cert.der());
        assert_eq!(again.serial(), cert.serial());
        let _ = (
            cert.issuer_der(),
            cert.subject_der(),
            cert.subject_key_id(),
            cert.not_before(),
            cert.not_after(),
            cert.rsa_public_key().is_ok(),
            cert.key_algorithm(),
        );
    }
    let mut keys = Vec::new();
    keys.extend(PrivateKey::from_pkcs8_der(data).ok());
    keys.extend(PrivateKey::from_pkcs1_der(data).ok());
    keys.extend(PrivateKey::from_sec1_der(data).ok());
    keys.extend(PrivateKey::from_pkcs8_encrypted_der(data, b"fuzz").ok());
    keys.extend(PrivateKey::from_pem(data, None).ok());
    keys.extend(PrivateKey::from_pem(data, Some(b"fuzz")).ok());
    for key in &keys {
        let _ = (key.bits(), key.algorithm());
        let _ = key.matches(&KEYS.stranger.0);
        for cert in &certs {
            let _ = key.matches(cert);
        }
    }
}

/// `Pkcs12::parse` with the seeds' password (`fuzz`) and a small key-derivation budget (so
/// a hostile iteration count is refused quickly): a loaded key store's key matches its
/// certificate, and every certificate reloads from its DER identically.
pub fn pkcs12(data: &[u8]) {
    let mut limits = Limits::default();
    limits.max_kdf_iterations = 100_000;
    for password in [&b"fuzz"[..], b""] {
        match as2_proto::Pkcs12::parse(data, password, &limits) {
            Ok(store) => {
                assert!(store.key.matches(&store.certificate), "key and certificate");
                for cert in std::iter::once(&store.certificate).chain(&store.chain) {
                    let again = Certificate::from_der(cert.der()).expect("reloads");
                    assert_eq!(again.der(), cert.der());
                }
            }
            Err(Error::LimitExceeded { limit, value }) => {
                assert_eq!((limit, value), (Limit::KdfIterations, 100_000));
            }
            Err(_) => {}
        }
    }
}

/// Our EC decryption identities (`tests/data/keys/ec-p256`, `ec-p384`), for `kari`.
pub static EC_KEYS: LazyLock<[(Certificate, PrivateKey); 2]> = LazyLock::new(|| {
    [
        identity(
            include_bytes!("../../tests/data/keys/ec-p256.crt"),
            include_bytes!("../../tests/data/keys/ec-p256.key"),
        ),
        identity(
            include_bytes!("../../tests/data/keys/ec-p384.crt"),
            include_bytes!("../../tests/data/keys/ec-p384.key"),
        ),
    ]
});

/// An EnvelopedData whose recipientInfos SET holds `recipient_info` (the raw bytes, a
/// KeyAgreeRecipientInfo tagged `[1]` when well-formed) and whose content is two
/// AES-256-CBC blocks: the frame the `kari` target puts its input in.
pub fn envelope_around(recipient_info: &[u8]) -> Vec<u8> {
    use as2_proto::__internal::ber::{Tag, encode, encode_constructed};
    let aes256_cbc = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
    let data = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    let enveloped = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];
    let cipher = encode_constructed(
        Tag::SEQUENCE,
        &[
            &encode(Tag::OID, &aes256_cbc),
            &encode(Tag::OCTET_STRING, &[7; 16]),
        ],
    );
    let eci = encode_constructed(
        Tag::SEQUENCE,
        &[
            &encode(Tag::OID, &data),
            &cipher,
            &encode(Tag::context(0, false), &[9; 32]),
        ],
    );
    let body = encode_constructed(
        Tag::SEQUENCE,
        &[
            &encode(Tag::INTEGER, &[2]),
            &encode_constructed(Tag::SET, &[recipient_info]),
            &eci,
        ],
    );
    encode_constructed(
        Tag::SEQUENCE,
        &[
            &encode(Tag::OID, &enveloped),
            &encode_constructed(Tag::context(0, true), &[&body]),
        ],
    )
}

/// KeyAgreeRecipientInfo (ECDH, RFC 5753) reading and decryption. The input is taken as
/// one RecipientInfo inside a fixed envelope ([`envelope_around`]) and as a whole
/// EnvelopedData, each decrypted with our P-256 and P-384 keys: an error is one of the
/// kinds a decryption may give, and never `NoMatchingRecipient` for a recipient. First
/// byte `x0`: the rest is encrypted to our two EC keys and an RSA key (cipher from `x`),
/// each decrypts it, a stranger cannot, and one byte of the envelope's recipient infos is
/// flipped (position from the payload), which may fail only with those kinds.
pub fn kari(data: &[u8]) {
    let limits = Limits::default();
    if let Some((&mode, rest)) = data.split_first()
        && mode & 0x0f == 0
    {
        kari_round_trip(mode >> 4, rest, &limits);
    }
    for input in [envelope_around(data), data.to_vec()] {
        let Ok(envelope) = EnvelopedData::parse(&input, &limits) else {
            continue;
        };
        for (cert, key) in EC_KEYS.iter() {
            let recipient = envelope.is_recipient(cert);
            match envelope.decrypt(cert, key, &mut rng()) {
                Ok(_) => assert!(recipient),
                Err(Error::NoMatchingRecipient) => assert!(!recipient),
                Err(e) => {
                    assert!(recipient, "{e:?}");
                    assert_decryption_error(&e);
                }
            }
        }
    }
}

fn assert_decryption_error(e: &Error) {
    assert!(
        matches!(
            e,
            Error::DecryptionFailed
                | Error::UnsupportedAlgorithm { .. }
                | Error::Malformed { .. }
                | Error::LimitExceeded { .. }
        ),
        "unexpected decryption error {e:?}"
    );
}

fn kari_round_trip(mode: u8, payload: &[u8], limits: &Limits) {
    let keys = &*KEYS;
    let [p256, p384] = &*EC_KEYS;
    let mut options = EncryptOptions::default();
    options.cipher = cipher(mode);
    options.use_subject_key_id = payload.len() % 2 == 1;
    let rsa = &keys.decryption[0];
    let recipients = [&p256.0, &rsa.0, &p384.0];
    let mut envelope =
        enveloped::encrypt(payload, &recipients, &options, &mut rng()).expect("encryption works");
    let parsed = EnvelopedData::parse(&envelope, limits).expect("our EnvelopedData parses");
    for (cert, key) in [p256, rsa, p384] {
        assert!(parsed.is_recipient(cert));
        assert_eq!(
            parsed.decrypt(cert, key, &mut rng()).as_deref(),
            Ok(payload)
        );
    }
    assert_eq!(
        parsed.decrypt(&keys.stranger.0, &keys.stranger.1, &mut rng()),
        Err(Error::NoMatchingRecipient)
    );
    // The recipient infos end where the EncryptedContentInfo (with its fixed-length
    // content-type OID and cipher) starts: flip a byte before that.
    let tail = payload.len() + 64;
    let Some(span) = envelope.len().checked_sub(tail).filter(|n| *n > 20) else {
        return;
    };
    let seed = payload
        .iter()
        .fold(17usize, |h, b| h.wrapping_mul(31).wrapping_add(*b as usize));
    let at = 20 + seed % (span - 20);
    envelope[at] ^= 1 << (seed % 8);
    let Ok(damaged) = EnvelopedData::parse(&envelope, limits) else {
        return;
    };
    for (cert, key) in [p256, p384] {
        if let Err(e) = damaged.decrypt(cert, key, &mut rng())
            && e != Error::NoMatchingRecipient
        {
            assert_decryption_error(&e);
        }
    }
}

// ---------------------------------------------------------------------------------------
// cem_xml
// ---------------------------------------------------------------------------------------

/// CEM XML (`cem::parse_xml`) under the default limits, and the input as the XML part and
/// as a certs-only part of a CEM message (`CemMessage::from_parts`). A document that
/// parses is written and read back: the second reading is a fixed point (the first
/// normalises line ends, white space and sub-second dates).
pub fn cem_xml(data: &[u8]) {
    use as2_proto::cem::{self, CemDocument, CemLimits, CemMessage};
    let limits = CemLimits::default();
    let _ = as2_proto::cms::certs_only::parse(data, &Limits::default());
    let _ = CemMessage::from_parts(
        &[
            (cem::XML_CONTENT_TYPE, "<x@fuzz>", data),
            (cem::CERTS_ONLY_CONTENT_TYPE, "<c@fuzz>", data),
        ],
        &limits,
        &Limits::default(),
    );
    let Ok(first) = cem::parse_xml(data, &limits) else {
        return;
    };
    let mut wide = CemLimits::default();
    wide.max_xml_size = usize::MAX;
    let write = |d: &CemDocument| match d {
        CemDocument::Request(r) => r.to_xml(),
        CemDocument::Response(r) => r.to_xml(),
        _ => unreachable!("a new document kind"),
    };
    let second = cem::parse_xml(&write(&first), &wide).expect("our own XML reads back");
    let third = cem::parse_xml(&write(&second), &wide).expect("our own XML reads back");
    assert_eq!(second, third);
}

// ---------------------------------------------------------------------------------------
// related: multipart/related payloads (RFC 6362 multiple attachments)
// ---------------------------------------------------------------------------------------

/// A part-aware sink that keeps each part apart and checks the order of the calls.
#[derive(Default)]
struct PartSink {
    parts: Vec<(as2_proto::PartInfo, Vec<u8>)>,
    open: bool,
    outside: Vec<u8>,
}

impl as2_proto::PayloadSink for PartSink {
    fn write(&mut self, tentative: &[u8]) {
        match self.parts.last_mut() {
            Some((_, bytes)) if self.open => bytes.extend_from_slice(tentative),
            _ => self.outside.extend_from_slice(tentative),
        }
    }
    fn commit(&mut self) {
        assert!(!self.open, "committed inside a part");
    }
    fn abort(&mut self) {
        self.parts.clear();
        self.outside.clear();
        self.open = false;
    }
    fn begin_part(&mut self, part: &as2_proto::PartInfo) {
        assert!(!self.open, "a part begun inside another");
        assert_eq!(part.index, self.parts.len(), "parts out of order");
        self.parts.push((part.clone(), Vec::new()));
        self.open = true;
    }
    fn end_part(&mut self) {
        assert!(self.open, "a part ended that was not begun");
        self.open = false;
    }
}

/// One file of a built multipart payload.
#[derive(Arbitrary, Debug)]
struct RelatedFile {
    content_type: u8,
    name: Option<String>,
    data: Vec<u8>,
    base64: bool,
}

/// A multipart payload to build.
#[derive(Arbitrary, Debug)]
struct RelatedCase {
    files: Vec<RelatedFile>,
    layers: u8,
    max_attachments: u8,
    chunk: u16,
}

/// Multipart/related payloads two ways, chosen by the first byte: (even) a raw request
/// received whole and in chunks whose size the second byte picks, with a policy that
/// accepts attachments: the outcomes agree, the part-aware sink sees every decoded octet
/// inside a part, and the parts split the whole payload exactly; (odd) a payload of
/// arbitrary files built with arbitrary layers and received back: every file byte for
/// byte, with its type and (plain) name, the MIC the sender computed, or the typed limit
/// error when there are more parts than `max_attachments`.
pub fn related(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let Some((&chunk, request)) = rest.split_first() else {
            return;
        };
        related_raw(request, usize::from(chunk).max(1));
    } else {
        let mut u = Unstructured::new(rest);
        if let Ok(case) = RelatedCase::arbitrary(&mut u) {
            related_built(&case);
        }
    }
}

fn related_policy<'a>(limits: &'a Limits) -> InboundPolicy<'a> {
    let keys = &*KEYS;
    let mut policy = InboundPolicy::new(&keys.decryption, &keys.trusted, limits);
    policy.require_signature = false;
    policy.accept_attachments = true;
    policy
}

fn related_raw(request: &[u8], chunk: usize) {
    let (headers, body) = split_request(request);
    let mut limits = Limits::default();
    limits.max_attachments = 12;
    let Ok(incoming) = inbound::handle(&headers, body, &limits) else {
        return;
    };
    if incoming.kind == IncomingKind::Mdn {
        return;
    }
    let policy = related_policy(&limits);
    let whole = incoming.accept(&policy, &mut NoDuplicateCheck, &mut rng());
    let mut sink = PartSink::default();
    let mut receiver = incoming.receive(&policy);
    let mut r = rng();
    for piece in body.chunks(chunk) {
        receiver.push(piece, &mut sink, &mut r);
    }
    let streamed = receiver.finish(&mut sink, &mut NoDuplicateCheck, &mut r);
    match (&whole, &streamed) {
        (Ok(whole), Ok(streamed)) => {
            assert_eq!(whole.parts, streamed.parts);
            assert_eq!(whole.mic, streamed.mic);
            assert_eq!(whole.payload_len, streamed.payload_len);
            if whole.parts.is_empty() {
                assert!(sink.parts.is_empty());
                assert!(sink.outside == whole.payload);
            } else {
                assert_eq!(whole.content_type, "multipart/related");
                assert!(sink.outside.is_empty(), "octets outside a part");
                let total: u64 = whole.parts.iter().map(|p| p.len).sum();
                assert_eq!(total, whole.payload.len() as u64);
                let split = whole.part_payloads();
                assert_eq!(split.len(), sink.parts.len());
                for ((part, (info, bytes)), slice) in whole.parts.iter().zip(&sink.parts).zip(split)
                {
                    assert_eq!(part.content_type, info.content_type);
                    assert_eq!(part.file_name, info.file_name);
                    assert!(bytes.as_slice() == slice);
                }
            }
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.error, b.error);
            assert!(sink.parts.is_empty() && sink.outside.is_empty());
        }
        _ => panic!("whole {whole:?} vs streamed {streamed:?}"),
    }
}

/// Names the MIME layer carries unchanged both ways.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn related_built(case: &RelatedCase) {
    // No multipart/* part: arbitrary bytes typed multipart are refused where the
    // signature's canonical form parses the whole tree (the raw mode reads such parts).
    const TYPES: [&str; 5] = [
        "application/edi-x12",
        "text/plain",
        "application/octet-stream",
        "application/xml",
        "application/pkcs7-mime; smime-type=certs-only",
    ];
    let files: Vec<&RelatedFile> = case.files.iter().take(14).collect();
    let Some((first, rest)) = files.split_first() else {
        return;
    };
    let keys = &*KEYS;
    // A single payload typed pkcs7-mime or multipart would be read as a layer or refused
    // (the single-payload rule); inside multipart/related any type is a file.
    let single = files.len() == 1;
    let type_of = |f: &RelatedFile| {
        let types = if single { &TYPES[..4] } else { &TYPES[..] };
        types[usize::from(f.content_type) % types.len()]
    };
    let mut message = OutboundMessage::new(
        As2Id::new("pyas2lib_A").expect("valid id"),
        As2Id::new("as2proto_B").expect("valid id"),
        &first.data,
    );
    message.content_type = type_of(first).to_owned();
    message.file_name = first.name.clone();
    message.attachments = rest
        .iter()
        .map(|f| {
            let mut a = as2_proto::Attachment::new(type_of(f), &f.data);
            a.file_name = f.name.clone();
            if f.base64 { a.base64() } else { a }
        })
        .collect();
    message.mdn = MdnRequest::sync();
    if case.layers & 1 != 0 {
        let signer = Signer::new(&keys.partner_sign.0, &keys.partner_sign.1);
        message.signing = Some((signer, SignOptions::default()));
    }
    if case.layers & 2 != 0 {
        let mut o = EncryptOptions::default();
        o.cipher = if case.layers & 8 != 0 {
            ContentEncryption::Aes128Gcm
        } else {
            ContentEncryption::Aes128Cbc
        };
        message.encryption = (vec![&keys.decryption[0].0], o);
    }
    message.compression = match (case.layers >> 4) % 3 {
        0 => Compression::None,
        1 => Compression::BeforeSigning,
        _ => Compression::AfterSigning,
    };
    let Ok(built) = outbound::build(&message, now(), &mut rng()) else {
        // Only a name the receiver could not read back, or a content that holds the
        // random delimiter, is refused.
        return;
    };
    let mut limits = Limits::default();
    limits.max_attachments = usize::from(case.max_attachments % 16).max(1);
    let incoming = inbound::handle(&built.headers, &built.body, &limits).expect("our headers");
    let policy = related_policy(&limits);
    let mut sink = PartSink::default();
    let mut receiver = incoming.receive(&policy);
    let mut r = rng();
    for piece in built.body.chunks(usize::from(case.chunk).max(1)) {
        receiver.push(piece, &mut sink, &mut r);
    }
    let outcome = receiver.finish(&mut sink, &mut NoDuplicateCheck, &mut r);
    let parts = files.len();
    if parts > 1 && parts > limits.max_attachments {
        let rejected = outcome.expect_err("more parts than max_attachments");
        // Inside an envelope with no signature, every failure is the one decryption
        // failure (no oracle), with the real cause kept for the operator.
        let cause = match rejected.error {
            Error::DecryptionFailed => *rejected.concealed.expect("the concealed cause"),
            other => other,
        };
        assert_eq!(
            cause,
            Error::LimitExceeded {
                limit: Limit::Attachments,
                value: limits.max_attachments
            }
        );
        return;
    }
    let received = outcome.unwrap_or_else(|r| panic!("refused our own message: {r:?}"));
    assert_eq!(received.mic, built.mic);
    if parts == 1 {
        // No attachments: a single payload, no parts.
        assert!(sink.parts.is_empty() && received.parts.is_empty());
        assert!(sink.outside == first.data);
        return;
    }
    assert_eq!(sink.parts.len(), parts);
    for ((info, bytes), file) in sink.parts.iter().zip(&files) {
        assert!(bytes == &file.data, "part {} changed", info.index);
        let expected_type = type_of(file).split(';').next().unwrap_or_default();
        assert_eq!(info.content_type, expected_type);
        if let Some(name) = file.name.as_deref().filter(|n| plain_name(n)) {
            assert_eq!(info.file_name.as_deref(), Some(name));
        }
    }
}
