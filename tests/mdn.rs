//! MDNs: every disposition built by the receiver and verified by the sender, sync and
//! async, signed with each digest and unsigned; MDNs as real products write them; and the
//! negative cases (tampering, wrong signer, MIC mismatch, wrong Original-Message-ID,
//! unsigned when a signed receipt is required). OpenSSL checks our MDN signatures.

mod common;

use std::collections::HashSet;

use as2_proto::cms::algorithm::{ContentEncryption, DigestAlgorithm};
use as2_proto::cms::signed::{SignOptions, Signer};
use as2_proto::mdn::{
    self, Authenticity, DispositionField, MdnSettings, MdnStatus, MicCheck, Report, SentMessage,
};
use as2_proto::message::headers::{As2Id, HttpHeaders, MessageId};
use as2_proto::message::inbound::{
    self, DuplicateCheck, InboundPolicy, IncomingKind, NoDuplicateCheck,
};
use as2_proto::message::outbound::{self, BuiltMessage, Compression, MdnRequest, OutboundMessage};
use as2_proto::mic::{Mic, MicNameStyle};
use as2_proto::{Error, ErrorCode, Limits, Modifier, PolicyError, VerificationError};
use common::{Identity, Pki};

struct World {
    pki: Pki,
    /// The sender (us, waiting for the MDN).
    a: Identity,
    /// The receiver (the partner, writing the MDN).
    b: Identity,
}

impl World {
    fn new() -> World {
        let pki = Pki::new();
        let a = pki.party("a", 2048);
        let b = pki.party("b", 2048);
        World { pki, a, b }
    }
}

#[derive(Clone)]
struct Send {
    sign: Option<DigestAlgorithm>,
    encrypt: bool,
    mdn: MdnRequest,
    micalgs: Vec<DigestAlgorithm>,
}

impl Default for Send {
    fn default() -> Self {
        Send {
            sign: Some(DigestAlgorithm::Sha256),
            encrypt: true,
            mdn: MdnRequest::sync(),
            micalgs: vec![DigestAlgorithm::Sha256],
        }
    }
}

const PAYLOAD: &[u8] =
    b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER~\r\nIEA*1*000000001~\r\n";

fn send(w: &World, s: &Send, seed: u64) -> BuiltMessage {
    let mut msg = OutboundMessage::new(
        As2Id::new("Partner A").unwrap(),
        As2Id::new("PartnerB").unwrap(),
        PAYLOAD,
    );
    msg.content_type = "application/EDI-X12".into();
    msg.file_name = Some("po.x12".into());
    msg.compression = Compression::BeforeSigning;
    msg.mdn = s.mdn.clone();
    if s.mdn.is_requested() && !s.micalgs.is_empty() {
        msg.mdn = s.mdn.clone().signed(&s.micalgs);
    }
    if let Some(digest) = s.sign {
        let mut options = SignOptions::default();
        options.digest = digest;
        msg.signing = Some((Signer::new(&w.a.cert, &w.a.key), options));
    }
    if s.encrypt {
        msg.encryption.0 = vec![&w.b.cert];
        msg.encryption.1.cipher = ContentEncryption::Aes256Cbc;
    }
    outbound::build(&msg, common::now(), &mut common::rng(seed)).unwrap()
}

/// Receives `built` as B (optionally tweaking the policy) and returns B's reply.
fn receive(
    w: &World,
    headers: &HttpHeaders,
    body: &[u8],
    settings: &MdnSettings<'_>,
    duplicates: &mut dyn DuplicateCheck,
    require_encryption: bool,
    seed: u64,
) -> mdn::Reply {
    let limits = Limits::default();
    let incoming = inbound::handle(headers, body, &limits).unwrap();
    assert_eq!(incoming.kind, IncomingKind::Message);
    let keys = [(w.b.cert.clone(), w.b.key.clone())];
    let partner = [w.a.cert.clone()];
    let mut policy = InboundPolicy::new(&keys, &partner, &limits);
    policy.require_encryption = require_encryption;
    let mut rng = common::rng(seed);
    let report = match incoming.accept(&policy, duplicates, &mut rng) {
        Ok(received) => Report::received(&received),
        Err(rejected) => Report::rejected(&rejected),
    };
    mdn::reply(&incoming, &report, settings, common::now(), &mut rng).unwrap()
}

/// The MDN as the sender gets it: the sync response, or the async POST read through the
/// inbound entry point.
fn sender_verifies(
    w: &World,
    built: &BuiltMessage,
    reply: &mdn::Reply,
) -> Result<mdn::Verdict, Error> {
    let limits = Limits::default();
    let mdn = reply.mdn.as_ref().expect("an MDN was requested");
    let (headers, body) = if mdn.async_url.is_some() {
        assert_eq!(reply.response.status, 200);
        assert!(
            reply
                .response
                .headers
                .iter()
                .any(|(n, v)| n == "Content-Type" && v.starts_with(b"text/plain"))
        );
        (mdn.headers.clone(), mdn.body.clone())
    } else {
        assert_eq!(reply.response.headers, mdn.headers.clone());
        assert_eq!(reply.response.body, mdn.body);
        (reply.response.headers.clone(), reply.response.body.clone())
    };
    let sent = SentMessage::from_built(built, vec![w.b.cert.clone()]);
    if mdn.async_url.is_some() {
        let incoming = inbound::handle(&headers, &body, &limits).unwrap();
        assert_eq!(incoming.kind, IncomingKind::Mdn);
        let parsed = incoming.parse_mdn(&limits)?;
        let sent = parsed.find(|id| (id == built.message_id.bare()).then(|| sent.clone()))?;
        return parsed.verify(&sent, &limits);
    }
    let parsed = mdn::parse(&headers, &body, &limits)?;
    assert_eq!(parsed.from.as_ref().map(As2Id::as_str), Some("PartnerB"));
    assert_eq!(parsed.to.as_ref().map(As2Id::as_str), Some("Partner A"));
    assert_eq!(parsed.original_recipient.as_deref(), Some("PartnerB"));
    assert_eq!(parsed.final_recipient.as_deref(), Some("PartnerB"));
    assert_eq!(
        parsed.original_message_id.as_deref(),
        Some(built.message_id.as_str())
    );
    assert!(
        parsed
            .reporting_ua
            .as_deref()
            .unwrap()
            .starts_with("as2-proto/")
    );
    assert!(!parsed.text.is_empty());
    parsed.verify(&sent, &limits)
}

fn tamper(body: &mut [u8], needle: &[u8]) {
    let at = body
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not in body", String::from_utf8_lossy(needle)));
    body[at] ^= 0x01;
}

#[test]
fn processed_signed_sync_round_trip() {
    let w = World::new();
    let built = send(&w, &Send::default(), 1);
    let signer = Signer::new(&w.b.cert, &w.b.key);
    let reply = receive(
        &w,
        &built.headers,
        &built.body,
        &MdnSettings::signed(signer),
        &mut NoDuplicateCheck,
        false,
        2,
    );
    assert_eq!(reply.response.status, 200);
    let mdn = reply.mdn.as_ref().unwrap();
    assert_eq!(mdn.signed, Some(DigestAlgorithm::Sha256));
    assert_eq!(mdn.original_message_id, built.message_id.as_str());
    // AS2 headers swapped, own Message-ID, Date, AS2-Version.
    let get = |name: &str| mdn.headers.get_str(name);
    assert_eq!(get("AS2-From"), Some("PartnerB"));
    assert_eq!(get("AS2-To"), Some("\"Partner A\""));
    assert_eq!(get("AS2-Version"), Some("1.2"));
    assert_eq!(get("Message-ID"), Some(mdn.message_id.as_str()));
    assert_ne!(mdn.message_id, built.message_id);
    assert!(get("Date").is_some_and(|d| d.ends_with(" GMT")));
    assert!(
        get("Content-Type")
            .unwrap()
            .starts_with("multipart/signed;")
    );
    let body = String::from_utf8_lossy(&mdn.body);
    assert!(body.contains("Content-Type: multipart/report; report-type=disposition-notification"));
    assert!(body.contains("Original-Recipient: rfc822; PartnerB\r\n"));
    assert!(body.contains(&format!(
        "Original-Message-ID: {}\r\n",
        built.message_id.as_str()
    )));
    assert!(body.contains(&format!(
        "Received-Content-MIC: {}\r\n",
        built.mic.as_ref().unwrap().to_field(MicNameStyle::Dashed)
    )));

    let verdict = sender_verifies(&w, &built, &reply).unwrap();
    assert!(verdict.is_success());
    assert!(verdict.is_authentic());
    assert_eq!(verdict.status, MdnStatus::Processed);
    assert_eq!(verdict.mic, MicCheck::Matched);
    assert_eq!(verdict.failure_code(), None);
    assert_eq!(
        verdict.disposition.as_str(),
        "automatic-action/MDN-sent-automatically; processed"
    );
    match &verdict.authenticity {
        Authenticity::Signed(v) => {
            assert_eq!(v.digest, DigestAlgorithm::Sha256);
            assert_eq!(v.signer, w.b.cert);
            assert!(v.algorithm_protection, "RFC 6211 on by default");
        }
        other => panic!("not signed: {other:?}"),
    }
}

#[test]
fn each_digest_sync_and_async_signed_and_unsigned() {
    let w = World::new();
    let signer = Signer::new(&w.b.cert, &w.b.key);
    let mut seed = 10;
    for digest in [
        DigestAlgorithm::Sha1,
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha384,
        DigestAlgorithm::Sha512,
    ] {
        for mode in [
            MdnRequest::sync(),
            MdnRequest::asynchronous("https://a.example/as2/mdn"),
        ] {
            for signed_mdn in [true, false] {
                seed += 1;
                let s = Send {
                    sign: Some(digest),
                    mdn: mode.clone(),
                    micalgs: if signed_mdn { vec![digest] } else { vec![] },
                    ..Send::default()
                };
                let built = send(&w, &s, seed);
                let reply = receive(
                    &w,
                    &built.headers,
                    &built.body,
                    &MdnSettings::signed(signer),
                    &mut NoDuplicateCheck,
                    false,
                    seed + 1000,
                );
                let mdn = reply.mdn.as_ref().unwrap();
                let label = format!("{digest:?} {mode:?} signed={signed_mdn}");
                assert_eq!(mdn.signed, signed_mdn.then_some(digest), "{label}");
                match &mode {
                    MdnRequest::Async { url, .. } => {
                        assert_eq!(mdn.async_url.as_deref(), Some(url.as_str()), "{label}");
                        assert_ne!(reply.response.body, mdn.body, "{label}");
                    }
                    _ => assert_eq!(mdn.async_url, None, "{label}"),
                }
                let verdict = sender_verifies(&w, &built, &reply).unwrap();
                assert!(verdict.is_success(), "{label}: {verdict:?}");
                assert_eq!(verdict.is_authentic(), signed_mdn, "{label}");
                assert_eq!(verdict.mic, MicCheck::Matched, "{label}");
                if let Authenticity::Signed(v) = &verdict.authenticity {
                    assert_eq!(v.digest, digest, "{label}");
                }
            }
        }
    }
}

#[test]
fn signs_with_the_first_supported_micalg_not_the_last() {
    let w = World::new();
    let built = send(&w, &Send::default(), 20);
    // Rewrite the request: md5 (unsupported) first, then sha384, then sha256.
    let mut headers = built.headers.clone();
    headers.set("Disposition-Notification-Options", "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, md5, SHA384, sha-256");
    let signer = Signer::new(&w.b.cert, &w.b.key);
    let reply = receive(
        &w,
        &headers,
        &built.body,
        &MdnSettings::signed(signer),
        &mut NoDuplicateCheck,
        false,
        21,
    );
    assert_eq!(
        reply.mdn.as_ref().unwrap().signed,
        Some(DigestAlgorithm::Sha384)
    );
    let verdict = sender_verifies(&w, &built, &reply).unwrap();
    assert!(verdict.is_success());
}

/// The MDN names the MIC algorithm as the sender did in its request (`sha256` or
/// `sha-256`), in Received-Content-MIC and in the signature's micalg, unless the receiver
/// chose a spelling; the sender verifies it either way.
#[test]
fn the_mdn_spells_the_micalg_as_requested() {
    let w = World::new();
    let signer = Signer::new(&w.b.cert, &w.b.key);
    for (request_style, configured, expected) in [
        (MicNameStyle::Legacy, None, "sha256"),
        (MicNameStyle::Dashed, None, "sha-256"),
        (MicNameStyle::Legacy, Some(MicNameStyle::Dashed), "sha-256"),
        (MicNameStyle::Dashed, Some(MicNameStyle::Legacy), "sha256"),
    ] {
        let mut msg = OutboundMessage::new(
            As2Id::new("Partner A").unwrap(),
            As2Id::new("PartnerB").unwrap(),
            PAYLOAD,
        );
        msg.mdn = MdnRequest::sync().signed(&[DigestAlgorithm::Sha256]);
        msg.mic_style = request_style;
        msg.signing = Some((Signer::new(&w.a.cert, &w.a.key), SignOptions::default()));
        let built = outbound::build(&msg, common::now(), &mut common::rng(31)).unwrap();
        let requested = built
            .headers
            .get_str("Disposition-Notification-Options")
            .unwrap();
        let mut settings = MdnSettings::signed(signer);
        settings.mic_style = configured;
        let reply = receive(
            &w,
            &built.headers,
            &built.body,
            &settings,
            &mut NoDuplicateCheck,
            false,
            32,
        );
        let label = format!("{requested} / {configured:?}");
        let mdn = reply.mdn.as_ref().unwrap();
        let body = String::from_utf8_lossy(&mdn.body);
        let field = body
            .lines()
            .find_map(|l| l.strip_prefix("Received-Content-MIC: "))
            .unwrap();
        assert!(
            field.ends_with(&format!(", {expected}")),
            "{label}: {field}"
        );
        let content_type = mdn.headers.get_str("Content-Type").unwrap();
        assert!(
            content_type.contains(&format!("micalg={expected};")),
            "{label}: {content_type}"
        );
        let verdict = sender_verifies(&w, &built, &reply).unwrap();
        assert!(verdict.is_success() && verdict.is_authentic(), "{label}");
        assert_eq!(verdict.mic, MicCheck::Matched, "{label}");
    }
}

/// One outcome of the inbound parser and the disposition it must produce.
struct Outcome {
    name: &'static str,
    status: MdnStatus,
    code: Option<ErrorCode>,
}

#[test]
fn every_disposition_round_trips() {
    let w = World::new();
    let stranger = w.pki.party("stranger", 2048);
    let signer = Signer::new(&w.b.cert, &w.b.key);
    let settings = MdnSettings::signed(signer);
    let limits = Limits::default();
    let mut checked = 0;
    let mut check = |outcome: Outcome, built: &BuiltMessage, reply: mdn::Reply| {
        // OpenSSL (text mode, as S/MIME mail agents verify) accepts every signed MDN too.
        if reply.mdn.as_ref().is_some_and(|m| m.signed.is_some()) {
            openssl_verify(&w.pki, &reply.response);
        }
        let mdn = reply.mdn.as_ref().expect(outcome.name);
        assert_eq!(mdn.disposition.status, outcome.status, "{}", outcome.name);
        let verdict = sender_verifies(&w, built, &reply)
            .unwrap_or_else(|e| panic!("{}: sender could not verify: {e}", outcome.name));
        assert_eq!(verdict.status, outcome.status, "{}", outcome.name);
        let accepted = matches!(outcome.status, MdnStatus::Processed | MdnStatus::Warning(_));
        assert_eq!(verdict.is_success(), accepted, "{}", outcome.name);
        assert_eq!(verdict.failure_code(), outcome.code, "{}", outcome.name);
        checked += 1;
    };

    // processed
    let built = send(&w, &Send::default(), 30);
    let mut seen = HashSet::new();
    let reply = receive(
        &w,
        &built.headers,
        &built.body,
        &settings,
        &mut seen,
        false,
        31,
    );
    check(
        Outcome {
            name: "processed",
            status: MdnStatus::Processed,
            code: None,
        },
        &built,
        reply,
    );
    // processed/Warning: duplicate-document (the same message again)
    let reply = receive(
        &w,
        &built.headers,
        &built.body,
        &settings,
        &mut seen,
        false,
        32,
    );
    check(
        Outcome {
            name: "duplicate",
            status: MdnStatus::Warning(Modifier::DuplicateDocument),
            code: None,
        },
        &built,
        reply,
    );

    // processed/Error: decryption-failed (encrypted to someone else)
    let mut msg_to_stranger = OutboundMessage::new(
        As2Id::new("Partner A").unwrap(),
        As2Id::new("PartnerB").unwrap(),
        PAYLOAD,
    );
    msg_to_stranger.mdn = MdnRequest::sync().signed(&[DigestAlgorithm::Sha256]);
    msg_to_stranger.signing = Some((Signer::new(&w.a.cert, &w.a.key), SignOptions::default()));
    msg_to_stranger.encryption.0 = vec![&stranger.cert];
    let built = outbound::build(&msg_to_stranger, common::now(), &mut common::rng(33)).unwrap();
    let reply = receive(
        &w,
        &built.headers,
        &built.body,
        &settings,
        &mut NoDuplicateCheck,
        false,
        34,
    );
    check(
        Outcome {
            name: "decryption-failed",
            status: MdnStatus::Error(Modifier::DecryptionFailed),
            code: Some(ErrorCode::DecryptFailed),
        },
        &built,
        reply,
    );

    // processed/Error: authentication-failed (signed by a key the agreement does not know)
    let mut by_stranger = msg_to_stranger.clone();
    by_stranger.encryption.0 = vec![&w.b.cert];
    by_stranger.signing = Some((
        Signer::new(&stranger.cert, &stranger.key),
        SignOptions::default(),
    ));
    let built = outbound::build(&by_stranger, common::now(), &mut common::rng(35)).unwrap();
    let reply = receive(
        &w,
        &built.headers,
        &built.body,
        &settings,
        &mut NoDuplicateCheck,
        false,
        36,
    );
    check(
        Outcome {
            name: "authentication-failed",
            status: MdnStatus::Error(Modifier::AuthenticationFailed),
            code: Some(ErrorCode::VerificationFailed),
        },
        &built,
        reply,
    );

    // processed/Error: integrity-check-failed (content changed after signing)
    let s = Send {
        encrypt: false,
        ..Send::default()
    };
    let mut unencrypted = send(&w, &Send { ..s.clone() }, 37);
    let mut plain = OutboundMessage::new(
        As2Id::new("Partner A").unwrap(),
        As2Id::new("PartnerB").unwrap(),
        PAYLOAD,
    );
    plain.mdn = MdnRequest::sync().signed(&[DigestAlgorithm::Sha256]);
    plain.signing = Some((Signer::new(&w.a.cert, &w.a.key), SignOptions::default()));
    let mut tampered = outbound::build(&plain, common::now(), &mut common::rng(38)).unwrap();
    tamper(&mut tampered.body, b"RECEIVER");
    let reply = receive(
        &w,
        &tampered.headers,
        &tampered.body,
        &settings,
        &mut NoDuplicateCheck,
        false,
        39,
    );
    check(
        Outcome {
            name: "integrity-check-failed",
            status: MdnStatus::Error(Modifier::IntegrityCheckFailed),
            code: Some(ErrorCode::VerificationFailed),
        },
        &tampered,
        reply,
    );

    // processed/Error: insufficient-message-security (agreement requires encryption)
    let reply = receive(
        &w,
        &unencrypted.headers,
        &unencrypted.body,
        &settings,
        &mut NoDuplicateCheck,
        true,
        40,
    );
    check(
        Outcome {
            name: "insufficient-message-security",
            status: MdnStatus::Error(Modifier::InsufficientMessageSecurity),
            code: Some(ErrorCode::InsufficientMessageSecurityUnencrypted),
        },
        &unencrypted,
        reply,
    );

    // Errors raised outside `accept` (no agreement) or built straight from an error.
    let headers = unencrypted.headers.clone();
    let incoming = inbound::handle(&headers, &unencrypted.body, &limits).unwrap();
    assert_eq!(
        Report::rejected(&incoming.unknown_partner()).code,
        Some(ErrorCode::AgreementNotFound)
    );
    for (seed, (error, name, status, code)) in [
        (
            Error::UnknownTradingPartner,
            "unknown-trading-relationship",
            MdnStatus::Error(Modifier::UnknownTradingRelationship),
            ErrorCode::AgreementNotFound,
        ),
        (
            Error::DecompressionFailed,
            "decompression-failed",
            MdnStatus::Error(Modifier::DecompressionFailed),
            ErrorCode::DecompressionFailed,
        ),
        (
            Error::UnsupportedFormat("multipart payload"),
            "unsupported format",
            MdnStatus::Failed(Modifier::UnsupportedFormat),
            ErrorCode::InvalidSmimeFormat,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let report = Report::error(&error);
        let reply = mdn::reply(
            &incoming,
            &report,
            &settings,
            common::now(),
            &mut common::rng(41 + seed as u64),
        )
        .unwrap();
        check(
            Outcome {
                name,
                status,
                code: Some(code),
            },
            &unencrypted,
            reply,
        );
    }

    // failed/Failure: unsupported MIC-algorithms (only md5 offered, as required): unsigned.
    unencrypted.headers.set(
        "Disposition-Notification-Options",
        "signed-receipt-protocol=required, pkcs7-signature; signed-receipt-micalg=required, md5",
    );
    let reply = receive(
        &w,
        &unencrypted.headers,
        &unencrypted.body,
        &settings,
        &mut NoDuplicateCheck,
        false,
        44,
    );
    // A sender offering only md5 cannot insist on a signature it could check.
    unencrypted.signed_mdn_requested = false;
    assert_eq!(
        reply.mdn.as_ref().unwrap().signed,
        None,
        "cannot sign with an algorithm the sender accepts"
    );
    check(
        Outcome {
            name: "unsupported MIC-algorithms",
            status: MdnStatus::Failed(Modifier::UnsupportedMicAlgorithms),
            code: Some(ErrorCode::VerificationFailed),
        },
        &unencrypted,
        reply,
    );
    assert_eq!(checked, 10);
}

#[test]
fn no_mdn_requested_gets_a_plain_acknowledgement() {
    let w = World::new();
    let s = Send {
        mdn: MdnRequest::None,
        micalgs: vec![],
        ..Send::default()
    };
    let built = send(&w, &s, 50);
    let reply = receive(
        &w,
        &built.headers,
        &built.body,
        &MdnSettings::new(),
        &mut NoDuplicateCheck,
        false,
        51,
    );
    assert!(reply.mdn.is_none());
    assert_eq!(reply.response.status, 200);
    // Refused without an MDN: the HTTP status carries it.
    let reply = receive(
        &w,
        &built.headers,
        &built.body[..built.body.len() / 2],
        &MdnSettings::new(),
        &mut NoDuplicateCheck,
        false,
        52,
    );
    assert!(reply.mdn.is_none());
    assert_eq!(reply.response.status, 400);
    assert!(
        String::from_utf8_lossy(&reply.response.body)
            .contains("DECRYPT_FAILED_INVALID_SMIME_FORMAT")
    );
}

#[test]
fn signed_receipt_without_a_signing_key() {
    let w = World::new();
    let built = send(&w, &Send::default(), 60);
    // Unsigned by default policy...
    let reply = receive(
        &w,
        &built.headers,
        &built.body,
        &MdnSettings::new(),
        &mut NoDuplicateCheck,
        false,
        61,
    );
    assert_eq!(reply.mdn.as_ref().unwrap().signed, None);
    // ...which the sender refuses, since it asked for a signed receipt.
    let err = sender_verifies(&w, &built, &reply).unwrap_err();
    assert_eq!(err, Error::Policy(PolicyError::SignatureRequired));
    assert_eq!(err.code(), ErrorCode::VerificationFailed);
    // A sender that accepts unsigned receipts gets a successful verdict.
    let limits = Limits::default();
    let parsed = mdn::parse(&reply.response.headers, &reply.response.body, &limits).unwrap();
    let mut relaxed = SentMessage::new(
        built.message_id.clone(),
        partner_b(),
        vec![w.b.cert.clone()],
        built.mic.clone(),
    );
    relaxed.require_signed_mdn = false;
    let verdict = parsed.verify(&relaxed, &limits).unwrap();
    assert!(verdict.is_success());
    assert!(!verdict.is_authentic());
    // An agreement that insists on signing fails instead.
    let mut strict = MdnSettings::new();
    strict.require_signing = true;
    let h = built.headers.clone();
    let incoming = inbound::handle(&h, &built.body, &limits).unwrap();
    let report = Report::with_status(MdnStatus::Processed, built.mic.clone());
    let err = mdn::reply(
        &incoming,
        &report,
        &strict,
        common::now(),
        &mut common::rng(62),
    )
    .unwrap_err();
    assert!(matches!(err, Error::SigningFailed(_)));
}

fn signed_reply(w: &World, seed: u64) -> (BuiltMessage, mdn::Reply) {
    let built = send(w, &Send::default(), seed);
    let reply = receive(
        w,
        &built.headers,
        &built.body,
        &MdnSettings::signed(Signer::new(&w.b.cert, &w.b.key)),
        &mut NoDuplicateCheck,
        false,
        seed + 1,
    );
    (built, reply)
}

#[test]
fn tampered_mdn_text_fails() {
    let w = World::new();
    let (built, mut reply) = signed_reply(&w, 70);
    // "processed" -> "procesSed" in the signed Disposition field.
    let body = &mut reply.response.body;
    let at = body
        .windows(18)
        .position(|w| w == b"automatically; pro")
        .unwrap();
    body[at + 20] ^= 0x20;
    let limits = Limits::default();
    let parsed = mdn::parse(&reply.response.headers, body, &limits).unwrap();
    let err = parsed
        .verify(
            &SentMessage::from_built(&built, vec![w.b.cert.clone()]),
            &limits,
        )
        .unwrap_err();
    assert_eq!(err, Error::Verification(VerificationError::DigestMismatch));
    assert_eq!(err.code(), ErrorCode::VerificationFailed);
}

#[test]
fn wrong_signer_fails() {
    let w = World::new();
    let (built, reply) = signed_reply(&w, 80);
    let limits = Limits::default();
    let parsed = mdn::parse(&reply.response.headers, &reply.response.body, &limits).unwrap();
    // Verified against the wrong partner certificate: the embedded one is not trusted.
    let err = parsed
        .verify(
            &SentMessage::from_built(&built, vec![w.a.cert.clone()]),
            &limits,
        )
        .unwrap_err();
    assert_eq!(err, Error::Verification(VerificationError::SignerNotFound));
    let err = parsed
        .verify(&SentMessage::from_built(&built, Vec::new()), &limits)
        .unwrap_err();
    assert_eq!(err, Error::Verification(VerificationError::SignerNotFound));
}

#[test]
fn mic_mismatch_is_never_success() {
    let w = World::new();
    let (built, reply) = signed_reply(&w, 90);
    let limits = Limits::default();
    let parsed = mdn::parse(&reply.response.headers, &reply.response.body, &limits).unwrap();
    let mut sent = SentMessage::from_built(&built, vec![w.b.cert.clone()]);
    let ours = built.mic.clone().unwrap();
    // Same algorithm, other digest.
    let mut other = ours.clone();
    other.digest[0] ^= 1;
    sent.mic = Some(other);
    let verdict = parsed.verify(&sent, &limits).unwrap();
    assert_eq!(verdict.status, MdnStatus::Processed);
    assert!(matches!(verdict.mic, MicCheck::Mismatched { .. }));
    assert!(!verdict.is_success());
    assert_eq!(verdict.failure_code(), Some(ErrorCode::VerificationFailed));
    let err = verdict.mic_error().unwrap();
    assert_eq!(err, Error::Verification(VerificationError::MicMismatch));
    assert_eq!(err.code(), ErrorCode::VerificationFailed);
    // Same digest bytes under another algorithm name is a mismatch too.
    sent.mic = Some(Mic {
        algorithm: DigestAlgorithm::Sha1,
        digest: ours.digest[..20].to_vec(),
    });
    let verdict = parsed.verify(&sent, &limits).unwrap();
    assert!(!verdict.is_success());
    // Missing MIC.
    let report = Report::with_status(MdnStatus::Processed, None);
    let h = built.headers.clone();
    let incoming = inbound::handle(&h, &built.body, &limits).unwrap();
    let reply = mdn::reply(
        &incoming,
        &report,
        &MdnSettings::new(),
        common::now(),
        &mut common::rng(91),
    )
    .unwrap();
    let parsed = mdn::parse(&reply.response.headers, &reply.response.body, &limits).unwrap();
    let mut unsigned_ok = SentMessage::new(
        built.message_id.clone(),
        partner_b(),
        Vec::new(),
        Some(ours),
    );
    unsigned_ok.require_signed_mdn = false;
    let verdict = parsed.verify(&unsigned_ok, &limits).unwrap();
    assert_eq!(verdict.mic, MicCheck::Missing);
    assert!(!verdict.is_success());
    // A caller that lost the MIC of a signed message does not pass silently.
    let signed_reply = signed_reply(&w, 92).1;
    let parsed_signed = mdn::parse(
        &signed_reply.response.headers,
        &signed_reply.response.body,
        &limits,
    )
    .unwrap();
    let mut lost = SentMessage::new(
        MessageId::parse(
            parsed_signed
                .original_message_id
                .as_deref()
                .unwrap()
                .as_bytes(),
        )
        .unwrap(),
        partner_b(),
        vec![w.b.cert.clone()],
        None,
    );
    lost.require_mic = true;
    let verdict = parsed_signed.verify(&lost, &limits).unwrap();
    assert_eq!(verdict.mic, MicCheck::Missing);
    assert!(!verdict.is_success());
    assert_eq!(
        verdict.mic_error(),
        Some(Error::Verification(VerificationError::MicMissing))
    );
}

#[test]
fn wrong_or_unknown_original_message_id() {
    let w = World::new();
    let (built, reply) = signed_reply(&w, 100);
    let limits = Limits::default();
    let parsed = mdn::parse(&reply.response.headers, &reply.response.body, &limits).unwrap();
    let mut sent = SentMessage::from_built(&built, vec![w.b.cert.clone()]);
    sent.message_id = MessageId::parse(b"<another@partner-a>").unwrap();
    let err = parsed.verify(&sent, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidHeader {
                header: "Original-Message-ID",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), ErrorCode::InvalidRequest);
    let err = parsed.find(|_| None::<SentMessage>).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidHeader {
            header: "Original-Message-ID",
            reason: "names no message we sent"
        }
    ));
    assert_eq!(err.code(), ErrorCode::InvalidRequest);
    // The lookup gets the bare id.
    let found = parsed
        .find(|id| (id == built.message_id.bare()).then_some(7))
        .unwrap();
    assert_eq!(found, 7);
}

#[test]
fn openssl_verifies_our_signed_mdn() {
    let w = World::new();
    let (_, reply) = signed_reply(&w, 110);
    let text = openssl_verify(&w.pki, &reply.response);
    assert!(text.contains("message/disposition-notification"), "{text}");
    assert!(text.contains("Disposition: automatic-action/MDN-sent-automatically; processed"));
}

/// `openssl cms -verify` on the MDN as an S/MIME mail; returns the verified content.
fn openssl_verify(pki: &Pki, response: &mdn::HttpResponse) -> String {
    let ct = response.headers.get_str("Content-Type").unwrap();
    let mut smime = format!("MIME-Version: 1.0\r\nContent-Type: {ct}\r\n\r\n").into_bytes();
    smime.extend_from_slice(&response.body);
    let path = pki.write("mdn.eml", &smime);
    let out = common::openssl(
        pki.path(),
        &[
            "cms",
            "-verify",
            "-inform",
            "SMIME",
            "-in",
            path.to_str().unwrap(),
            "-CAfile",
            "ca.crt",
            "-purpose",
            "any",
        ],
    );
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------
// MDNs as real products write them.

const SENT_ID: &str = "<20261121-0001@partner-a.example>";

/// A report body with the given fields, text part headers and line ends.
fn report_body(boundary: &str, text_headers: &str, fields: &str) -> String {
    format!(
        "--{boundary}\r\n{text_headers}\r\nYour message was received.\r\n\r\n--{boundary}\r\nContent-Type: message/disposition-notification\r\n\r\n{fields}\r\n--{boundary}--\r\n"
    )
}

fn product_headers(content_type: &str, extra: &[(&str, &str)]) -> HttpHeaders {
    let mut v: Vec<(String, Vec<u8>)> =
        vec![("Content-Type".into(), content_type.as_bytes().to_vec())];
    for (n, val) in extra {
        v.push(((*n).to_owned(), val.as_bytes().to_vec()));
    }
    v.into_iter().collect()
}

/// The partner the products' MDNs come from.
fn partner_b() -> As2Id {
    As2Id::new("PartnerB").unwrap()
}

/// A message sent to PartnerB; an unsigned MDN is accepted.
fn sent(mic: Option<&str>) -> SentMessage {
    let mut sent = SentMessage::new(
        MessageId::parse(SENT_ID.as_bytes()).unwrap(),
        partner_b(),
        Vec::new(),
        mic.map(|m| Mic::parse_field(m).unwrap()),
    );
    sent.require_signed_mdn = false;
    sent
}

/// Name, text part headers, disposition-notification fields, HTTP headers.
type ProductCase = (
    &'static str,
    &'static str,
    String,
    Vec<(&'static str, &'static str)>,
);

const MIC: &str = "mu0DXf4XDq5sU3Oeiw1mLwd24bLp/erETo3WUupXZR0=, sha256";

#[test]
fn unsigned_mdns_from_real_products() {
    let limits = Limits::default();
    let cases: [ProductCase; 4] = [
        (
            "TIBCO: no Original-Recipient",
            "Content-Type: text/plain\r\n",
            format!(
                "Reporting-UA: TIBCO BusinessConnect\r\nFinal-Recipient: rfc822; PartnerB\r\nOriginal-Message-ID: {SENT_ID}\r\nDisposition: automatic-action/MDN-sent-automatically; processed\r\nReceived-Content-MIC: {MIC}\r\n"
            ),
            vec![
                ("AS2-From", "PartnerB"),
                ("AS2-To", "\"Partner A\""),
                ("Message-ID", "<t1@tibco>"),
            ],
        ),
        (
            "SEEBURGER: recipients without rfc822;",
            "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n",
            format!(
                "Reporting-UA: SEEBURGER BIS\r\nOriginal-Recipient: PartnerB\r\nFinal-Recipient: PartnerB\r\nOriginal-Message-ID: {SENT_ID}\r\nDisposition: automatic-action/MDN-sent-automatically; processed\r\nReceived-Content-MIC: {}\r\n",
                MIC.replace("sha256", "SHA-256")
            ),
            vec![("AS2-From", "PartnerB"), ("AS2-To", "Partner A")],
        ),
        (
            "IBM Sterling: any case, any order, no spaces, text part without Content-Type",
            "",
            format!(
                "received-content-mic: {MIC}\r\ndisposition: Automatic-action/mdn-sent-automatically;processed\r\nORIGINAL-MESSAGE-ID: {SENT_ID}\r\nfinal-recipient: rfc822;PartnerB\r\n"
            ),
            vec![("as2-from", "\"PartnerB\""), ("as2-to", "\"Partner A\"")],
        ),
        (
            "async MDN with no Message-ID, last field without line end, folded field",
            "Content-Type: text/plain\r\n",
            format!(
                "Original-Message-ID:\r\n {SENT_ID}\r\nDisposition: automatic-action/MDN-sent-automatically;\r\n\tprocessed\r\nReceived-Content-MIC: {MIC}"
            ),
            vec![("AS2-From", "PartnerB"), ("AS2-To", "Partner A")],
        ),
    ];
    for (name, text_headers, fields, extra) in cases {
        let body = report_body("b0und", text_headers, &fields);
        for crlf in [true, false] {
            let body = if crlf {
                body.clone()
            } else {
                body.replace("\r\n", "\n")
            };
            let headers = product_headers(
                "multipart/report; report-type=\"disposition-notification\"; boundary=\"b0und\"",
                &extra,
            );
            let parsed = mdn::parse(&headers, body.as_bytes(), &limits)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!parsed.is_signed());
            assert_eq!(
                parsed.original_message_id.as_deref(),
                Some(SENT_ID),
                "{name}"
            );
            assert_eq!(parsed.disposition.status, MdnStatus::Processed, "{name}");
            assert_eq!(parsed.text, "Your message was received.", "{name}");
            assert_eq!(
                parsed.from.as_ref().map(As2Id::as_str),
                Some("PartnerB"),
                "{name}"
            );
            let verdict = parsed.verify(&sent(Some(MIC)), &limits).unwrap();
            assert!(verdict.is_success(), "{name} (crlf={crlf}): {verdict:?}");
            assert_eq!(verdict.mic, MicCheck::Matched, "{name}");
        }
    }
}

/// Signs `entity` with the OpenSSL CLI (detached, DER) as `who`.
fn openssl_sign(pki: &Pki, who: &Identity, entity: &[u8], name: &str) -> Vec<u8> {
    let input = pki.write(&format!("{name}.in"), entity);
    let out = pki.path().join(format!("{name}.p7s"));
    common::openssl(
        pki.path(),
        &[
            "cms",
            "-sign",
            "-binary",
            "-md",
            "sha256",
            "-outform",
            "DER",
            "-in",
            input.to_str().unwrap(),
            "-signer",
            who.cert_path.to_str().unwrap(),
            "-inkey",
            who.key_path.to_str().unwrap(),
            "-out",
            out.to_str().unwrap(),
        ],
    );
    std::fs::read(out).unwrap()
}

#[test]
fn signed_mdns_from_real_products() {
    let w = World::new();
    let limits = Limits::default();
    let fields = format!(
        "Reporting-UA: IBM Sterling B2B Integrator\r\nOriginal-Recipient: rfc822; PartnerB\r\nFinal-Recipient: rfc822; PartnerB\r\nOriginal-Message-ID: {SENT_ID}\r\nDisposition: Automatic-action/mdn-sent-automatically;processed\r\nReceived-Content-MIC: {MIC}\r\n"
    );
    let report = format!(
        "Content-Type: multipart/report; report-type=disposition-notification; boundary=\"inner\"\r\n\r\n{}",
        report_body("inner", "", &fields)
    );
    let der = openssl_sign(&w.pki, &w.b, report.as_bytes(), "sterling");
    let b64 = {
        let mut pem = common::openssl(w.pki.path(), &["base64", "-in", "sterling.p7s"]);
        pem.retain(|b| *b != b'\r');
        String::from_utf8(pem).unwrap().replace('\n', "\r\n")
    };
    // Raw DER with no Content-Transfer-Encoding (IBM Sterling), base64 without saying so,
    // and the proper base64 form; the signature part in x-pkcs7-signature too.
    let signature_parts: Vec<(&str, Vec<u8>)> = vec![
        ("raw DER, no CTE", [b"Content-Type: application/pkcs7-signature\r\n\r\n".to_vec(), der.clone()].concat()),
        ("base64, no CTE", format!("Content-Type: application/x-pkcs7-signature; name=smime.p7s\r\n\r\n{b64}").into_bytes()),
        ("base64", format!("Content-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}").into_bytes()),
    ];
    for (name, sig_part) in signature_parts {
        let mut body = b"--outer\r\n".to_vec();
        body.extend_from_slice(report.as_bytes());
        body.extend_from_slice(b"\r\n--outer\r\n");
        body.extend_from_slice(&sig_part);
        body.extend_from_slice(b"\r\n--outer--\r\n");
        let headers = product_headers(
            "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha256; boundary=outer",
            &[("AS2-From", "PartnerB"), ("AS2-To", "\"Partner A\"")],
        );
        let parsed = mdn::parse(&headers, &body, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(parsed.is_signed(), "{name}");
        let mut s = sent(Some(MIC));
        s.require_signed_mdn = true;
        s.partner_certificates = vec![w.b.cert.clone()];
        let verdict = parsed
            .verify(&s, &limits)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(verdict.is_success(), "{name}");
        assert!(verdict.is_authentic(), "{name}");
        // Signed by B, but the sender trusts only A's certificate.
        s.partner_certificates = vec![w.a.cert.clone()];
        let err = parsed.verify(&s, &limits).unwrap_err();
        assert_eq!(
            err,
            Error::Verification(VerificationError::SignerNotFound),
            "{name}"
        );
    }
}

#[test]
fn negative_mdns_from_real_products() {
    let limits = Limits::default();
    for (disposition, status, code) in [
        (
            "automatic-action/MDN-sent-automatically; processed/error: decryption-failed",
            MdnStatus::Error(Modifier::DecryptionFailed),
            Some(ErrorCode::DecryptFailed),
        ),
        (
            "automatic-action/MDN-sent-automatically; processed/Error: authentication-failed",
            MdnStatus::Error(Modifier::AuthenticationFailed),
            Some(ErrorCode::VerificationFailed),
        ),
        (
            "automatic-action/MDN-sent-automatically; failed/Failure: unsupported MIC-algorithms",
            MdnStatus::Failed(Modifier::UnsupportedMicAlgorithms),
            Some(ErrorCode::VerificationFailed),
        ),
        (
            "automatic-action/MDN-sent-automatically; processed/Error: unexpected-processing-error",
            MdnStatus::Error(Modifier::UnexpectedProcessingError),
            None,
        ),
        (
            "automatic-action/MDN-sent-automatically; processed/Warning: duplicate-document",
            MdnStatus::Warning(Modifier::DuplicateDocument),
            None,
        ),
        // The AS2 1.3 draft's additions (draft-petta-rfc4130bis).
        (
            "automatic-action/MDN-sent-automatically; processed/Error: duplicate-filename",
            MdnStatus::Error(Modifier::DuplicateFilename),
            Some(ErrorCode::DuplicateMessage),
        ),
        (
            "automatic-action/MDN-sent-automatically; processed/Error: illegal-filename",
            MdnStatus::Error(Modifier::IllegalFilename),
            Some(ErrorCode::InvalidRequest),
        ),
        (
            "automatic-action/MDN-sent-automatically; processed/Error: Invalid-Message-ID",
            MdnStatus::Error(Modifier::InvalidMessageId),
            Some(ErrorCode::InvalidRequest),
        ),
        (
            "automatic-action/MDN-sent-automatically; processed/Error: unknown-trading-relationship",
            MdnStatus::Error(Modifier::UnknownTradingRelationship),
            Some(ErrorCode::AgreementNotFound),
        ),
        // An unknown modifier is kept exactly and has no code.
        (
            "automatic-action/MDN-sent-automatically; processed/Error: Vendor Code 17",
            MdnStatus::Error(Modifier::Other("Vendor Code 17".into())),
            None,
        ),
    ] {
        let fields = format!("Original-Message-ID: {SENT_ID}\r\nDisposition: {disposition}\r\n");
        let body = report_body("b", "Content-Type: text/plain\r\n", &fields);
        let headers = product_headers(
            "multipart/report; report-type=disposition-notification; boundary=b",
            &[("AS2-From", "PartnerB")],
        );
        let parsed = mdn::parse(&headers, body.as_bytes(), &limits).unwrap();
        assert_eq!(parsed.disposition, DispositionField::parse(disposition));
        let verdict = parsed.verify(&sent(None), &limits).unwrap();
        assert_eq!(verdict.status, status, "{disposition}");
        assert_eq!(verdict.failure_code(), code, "{disposition}");
        assert_eq!(
            verdict.is_success(),
            matches!(status, MdnStatus::Warning(_)),
            "{disposition}"
        );
    }
}

#[test]
fn not_an_mdn() {
    let limits = Limits::default();
    for (ct, body) in [
        ("application/EDI-X12", &b"ISA*00~"[..]),
        ("multipart/report; report-type=disposition-notification; boundary=b", b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"),
        ("multipart/report; boundary=b", b"--b\r\nContent-Type: message/disposition-notification\r\n\r\nReporting-UA: x\r\n\r\n--b--\r\n"),
    ] {
        let headers = product_headers(ct, &[]);
        let err = mdn::parse(&headers, body, &limits).unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedFormat(_) | Error::InvalidHeader { .. }),
            "{ct}: {err:?}"
        );
    }
    // Content-Type missing entirely.
    let err = mdn::parse(&HttpHeaders::new(), b"x", &limits).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidHeader {
            header: "Content-Type",
            ..
        }
    ));
    // Over the body limit.
    let mut small = Limits::default();
    small.max_body_size = 4;
    let err = mdn::parse(
        &product_headers("multipart/report; boundary=b", &[]),
        b"12345",
        &small,
    )
    .unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { .. }));
}

/// An older partner that expects `unknown-trading-partner` instead of the reference's
/// `unknown-trading-relationship`.
struct LegacyPartner;

impl as2_proto::record::ErrorPolicy for LegacyPartner {
    fn disposition(&self, error: &Error) -> as2_proto::Disposition {
        match error {
            Error::UnknownTradingPartner => {
                as2_proto::Disposition::Error(Modifier::Other("unknown-trading-partner".into()))
            }
            other => other.disposition(),
        }
    }
}

#[test]
fn error_policy_overrides_the_modifier() {
    let w = World::new();
    let built = send(&w, &Send::default(), 120);
    let limits = Limits::default();
    let headers = built.headers.clone();
    let incoming = inbound::handle(&headers, &built.body, &limits).unwrap();
    let report = Report::rejected_with(&incoming.unknown_partner(), &LegacyPartner);
    assert_eq!(report.code, Some(ErrorCode::AgreementNotFound));
    let settings = MdnSettings::signed(Signer::new(&w.b.cert, &w.b.key));
    let reply = mdn::reply(
        &incoming,
        &report,
        &settings,
        common::now(),
        &mut common::rng(121),
    )
    .unwrap();
    let verdict = sender_verifies(&w, &built, &reply).unwrap();
    assert_eq!(
        verdict.status,
        MdnStatus::Error(Modifier::Other("unknown-trading-partner".into()))
    );
    assert_eq!(verdict.failure_code(), Some(ErrorCode::AgreementNotFound));
    // Other errors keep the reference mapping.
    let report = Report::error_with(&Error::DecryptionFailed, &LegacyPartner);
    assert_eq!(
        report.disposition.as_str(),
        "automatic-action/MDN-sent-automatically; processed/Error: decryption-failed"
    );
}

// ---------------------------------------------------------------------------------------
// MDNs bound to the partner the message was sent to (issue 12, finding 4).

/// B's reply to `built`, signed by `signer` (B itself, or an impostor).
fn reply_signed_by(w: &World, built: &BuiltMessage, signer: &Identity, seed: u64) -> mdn::Reply {
    receive(
        w,
        &built.headers,
        &built.body,
        &MdnSettings::signed(Signer::new(&signer.cert, &signer.key)),
        &mut NoDuplicateCheck,
        false,
        seed,
    )
}

/// `headers` with AS2-From replaced by `from` (removed when `None`): HTTP headers are not
/// signed, anyone on the path can change them.
fn with_as2_from(headers: &HttpHeaders, from: Option<&str>) -> HttpHeaders {
    let mut out = HttpHeaders::new();
    for (n, v) in headers.iter() {
        if n.eq_ignore_ascii_case("AS2-From") {
            if let Some(f) = from {
                out.push(n, f.as_bytes());
            }
        } else {
            out.push(n, v);
        }
    }
    out
}

#[test]
fn mdns_are_bound_to_the_partner_the_message_was_sent_to() {
    let w = World::new();
    // Another partner our PKI knows.
    let c = w.pki.party("c", 2048);
    let limits = Limits::default();
    let built = send(&w, &Send::default(), 200);
    assert_eq!(built.to.as_str(), "PartnerB");
    let sent = SentMessage::from_built(&built, vec![w.b.cert.clone()]);
    assert!(sent.require_signed_mdn && sent.require_mic);

    // The genuine receipt.
    let genuine = reply_signed_by(&w, &built, &w.b, 201);
    let parsed = mdn::parse(&genuine.response.headers, &genuine.response.body, &limits).unwrap();
    let verdict = parsed.verify(&sent, &limits).unwrap();
    assert!(verdict.is_success() && verdict.is_authentic());

    // Signed by another partner, or by ourselves, with B's AS2-From: the signer is not B.
    for (who, signer) in [("another partner", &c), ("ourselves", &w.a)] {
        let forged = reply_signed_by(&w, &built, signer, 202);
        let parsed = mdn::parse(&forged.response.headers, &forged.response.body, &limits).unwrap();
        assert_eq!(parsed.from.as_ref().map(As2Id::as_str), Some("PartnerB"));
        let err = parsed.verify(&sent, &limits).unwrap_err();
        assert_eq!(
            err,
            Error::Verification(VerificationError::SignerNotFound),
            "{who}"
        );
        assert_eq!(err.code(), ErrorCode::VerificationFailed, "{who}");
    }

    // B's genuine signature, but AS2-From says someone else, other case, or nothing.
    for from in [Some("PartnerC"), Some("Partner A"), Some("partnerb"), None] {
        let headers = with_as2_from(&genuine.response.headers, from);
        let parsed = mdn::parse(&headers, &genuine.response.body, &limits).unwrap();
        let err = parsed.verify(&sent, &limits).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidHeader {
                    header: "AS2-From",
                    ..
                }
            ),
            "{from:?}: {err:?}"
        );
        assert_eq!(err.code(), ErrorCode::InvalidRequest);
    }

    // A receipt that C signed and sent as itself, for a message that went to B: refused
    // on AS2-From even by a caller that hands in C's certificate too.
    let forged = reply_signed_by(&w, &built, &c, 203);
    let headers = with_as2_from(&forged.response.headers, Some("PartnerC"));
    let parsed = mdn::parse(&headers, &forged.response.body, &limits).unwrap();
    let mut careless = sent.clone();
    careless.partner_certificates.push(c.cert.clone());
    let err = parsed.verify(&careless, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidHeader {
                header: "AS2-From",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_requested_signed_receipt_is_required_by_default() {
    let w = World::new();
    let limits = Limits::default();
    let built = send(&w, &Send::default(), 210);
    assert!(built.signed_mdn_requested);
    let reply = receive(
        &w,
        &built.headers,
        &built.body,
        &MdnSettings::new(),
        &mut NoDuplicateCheck,
        false,
        211,
    );
    assert_eq!(reply.mdn.as_ref().unwrap().signed, None);
    let parsed = mdn::parse(&reply.response.headers, &reply.response.body, &limits).unwrap();
    for sent in [
        SentMessage::from_built(&built, vec![w.b.cert.clone()]),
        SentMessage::new(
            built.message_id.clone(),
            partner_b(),
            vec![w.b.cert.clone()],
            built.mic.clone(),
        ),
    ] {
        assert!(sent.require_signed_mdn);
        let err = parsed.verify(&sent, &limits).unwrap_err();
        assert_eq!(err, Error::Policy(PolicyError::SignatureRequired));
    }
    // An unsigned receipt that was asked for is fine.
    let unsigned_request = Send {
        micalgs: Vec::new(),
        ..Send::default()
    };
    let built = send(&w, &unsigned_request, 212);
    assert!(!built.signed_mdn_requested);
    let reply = receive(
        &w,
        &built.headers,
        &built.body,
        &MdnSettings::new(),
        &mut NoDuplicateCheck,
        false,
        213,
    );
    let parsed = mdn::parse(&reply.response.headers, &reply.response.body, &limits).unwrap();
    let verdict = parsed
        .verify(
            &SentMessage::from_built(&built, vec![w.b.cert.clone()]),
            &limits,
        )
        .unwrap();
    assert!(verdict.is_success() && !verdict.is_authentic());
}

// ---------------------------------------------------------------------------------------
// Receipts without a MIC (issue 13, item 1).

/// A product-style MDN from PartnerB for SENT_ID without Received-Content-MIC, or with
/// `mic`; signed by `signer` with the OpenSSL CLI when given.
fn product_mdn(
    w: &World,
    mic: Option<&str>,
    signer: Option<&Identity>,
    name: &str,
) -> (HttpHeaders, Vec<u8>) {
    let mut fields = format!(
        "Original-Message-ID: {SENT_ID}\r\nDisposition: automatic-action/MDN-sent-automatically; processed\r\n"
    );
    if let Some(m) = mic {
        fields.push_str(&format!("Received-Content-MIC: {m}\r\n"));
    }
    let inner_ct = "multipart/report; report-type=disposition-notification; boundary=\"inner\"";
    let report = report_body("inner", "Content-Type: text/plain\r\n", &fields);
    let from = [("AS2-From", "PartnerB"), ("AS2-To", "\"Partner A\"")];
    let Some(signer) = signer else {
        return (product_headers(inner_ct, &from), report.into_bytes());
    };
    let entity = format!("Content-Type: {inner_ct}\r\n\r\n{report}");
    let der = openssl_sign(&w.pki, signer, entity.as_bytes(), name);
    let mut body = b"--outer\r\n".to_vec();
    body.extend_from_slice(entity.as_bytes());
    body.extend_from_slice(b"\r\n--outer\r\nContent-Type: application/pkcs7-signature\r\n\r\n");
    body.extend_from_slice(&der);
    body.extend_from_slice(b"\r\n--outer--\r\n");
    let headers = product_headers(
        "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha256; boundary=outer",
        &from,
    );
    (headers, body)
}

#[test]
fn a_mic_may_be_missing_only_from_an_unsigned_receipt_of_an_unsigned_message() {
    use as2_proto::record::{StatusCode, StatusRecord};
    let w = World::new();
    let limits = Limits::default();
    // The message was not signed (encrypted only, or plain): require_mic is off.
    let mut unsigned_message = sent(Some(MIC));
    unsigned_message.require_mic = false;
    unsigned_message.partner_certificates = vec![w.b.cert.clone()];

    // Unsigned receipt without a MIC: "not returned", a success the record shows.
    let (headers, body) = product_mdn(&w, None, None, "plain");
    let parsed = mdn::parse(&headers, &body, &limits).unwrap();
    let verdict = parsed.verify(&unsigned_message, &limits).unwrap();
    assert_eq!(verdict.mic, MicCheck::NotReturned);
    assert!(verdict.is_success());
    assert_eq!(verdict.failure_code(), None);
    assert_eq!(verdict.mic_error(), None);
    let mut record = StatusRecord::default();
    assert_eq!(record.set_verdict(&verdict), StatusCode::Completed);
    assert_eq!(record.mic_check.as_deref(), Some("not-returned"));
    assert!(record.to_json().contains("\"mic-check\": \"not-returned\""));
    assert_eq!(record.failure_code, None);

    // The same receipt for a signed message: missing, a failure.
    let signed_message = sent(Some(MIC));
    assert!(signed_message.require_mic);
    let verdict = parsed.verify(&signed_message, &limits).unwrap();
    assert_eq!(verdict.mic, MicCheck::Missing);
    assert!(!verdict.is_success());
    let mut record = StatusRecord::default();
    assert_eq!(record.set_verdict(&verdict), StatusCode::Failed);
    assert_eq!(record.mic_check.as_deref(), Some("missing"));
    assert_eq!(record.failure_code.as_deref(), Some("VERIFICATION_FAILED"));

    // A signed receipt must carry the MIC, even for an unsigned message.
    let (headers, body) = product_mdn(&w, None, Some(&w.b), "signed-no-mic");
    let parsed = mdn::parse(&headers, &body, &limits).unwrap();
    let verdict = parsed.verify(&unsigned_message, &limits).unwrap();
    assert!(verdict.is_authentic());
    assert_eq!(verdict.mic, MicCheck::Missing);
    assert!(!verdict.is_success());
    assert_eq!(verdict.failure_code(), Some(ErrorCode::VerificationFailed));

    // A MIC that is present must match, signed or not.
    let wrong = MIC.replacen('m', "n", 1);
    let (headers, body) = product_mdn(&w, Some(&wrong), None, "wrong");
    let parsed = mdn::parse(&headers, &body, &limits).unwrap();
    let verdict = parsed.verify(&unsigned_message, &limits).unwrap();
    assert!(matches!(verdict.mic, MicCheck::Mismatched { .. }));
    assert!(!verdict.is_success());
    let (headers, body) = product_mdn(&w, Some(MIC), None, "right");
    let parsed = mdn::parse(&headers, &body, &limits).unwrap();
    let verdict = parsed.verify(&unsigned_message, &limits).unwrap();
    assert_eq!(verdict.mic, MicCheck::Matched);
    let mut record = StatusRecord::default();
    record.set_verdict(&verdict);
    assert_eq!(record.mic_check.as_deref(), Some("matched"));

    // What the builder keeps: the MIC is required back only for a signed message.
    for (sign, required) in [(None, false), (Some(DigestAlgorithm::Sha256), true)] {
        let built = send(
            &w,
            &Send {
                sign,
                ..Send::default()
            },
            220,
        );
        assert!(built.mic.is_some());
        let kept = SentMessage::from_built(&built, Vec::new());
        assert_eq!(kept.require_mic, required);
    }
}

// ---------------------------------------------------------------------------------------
// Several signers (issue 12, finding 7).

#[test]
fn the_partners_signer_is_tried_before_others() {
    // The stranger's certificate is made first: its lower serial number puts its
    // SignerInfo first in the DER SET OF that OpenSSL writes.
    let pki = Pki::new();
    let stranger = pki.party("stranger", 2048);
    let (a, b) = (pki.party("a", 2048), pki.party("b", 2048));
    let w = World { pki, a, b };
    let limits = Limits::default();
    let fields = format!(
        "Original-Message-ID: {SENT_ID}\r\nDisposition: automatic-action/MDN-sent-automatically; processed\r\nReceived-Content-MIC: {MIC}\r\n"
    );
    let inner_ct = "multipart/report; report-type=disposition-notification; boundary=\"inner\"";
    let entity = format!(
        "Content-Type: {inner_ct}\r\n\r\n{}",
        report_body("inner", "Content-Type: text/plain\r\n", &fields)
    );
    // Two SignerInfos, the stranger's (its certificate embedded) first, then B's.
    let input = w.pki.write("two.in", entity.as_bytes());
    common::openssl(
        w.pki.path(),
        &[
            "cms",
            "-sign",
            "-binary",
            "-md",
            "sha256",
            "-outform",
            "DER",
            "-in",
            input.to_str().unwrap(),
            "-signer",
            stranger.cert_path.to_str().unwrap(),
            "-inkey",
            stranger.key_path.to_str().unwrap(),
            "-signer",
            w.b.cert_path.to_str().unwrap(),
            "-inkey",
            w.b.key_path.to_str().unwrap(),
            "-out",
            "two.p7s",
        ],
    );
    let der = std::fs::read(w.pki.path().join("two.p7s")).unwrap();
    let sd = as2_proto::cms::signed::SignedData::parse(&der, &limits).unwrap();
    // The stranger's SignerInfo comes first and is valid on its own (with its embedded
    // certificate).
    let alone = sd.verify(Some(entity.as_bytes()), &[]).unwrap();
    assert_eq!(alone.signer, stranger.cert);
    let mut body = b"--outer\r\n".to_vec();
    body.extend_from_slice(entity.as_bytes());
    body.extend_from_slice(b"\r\n--outer\r\nContent-Type: application/pkcs7-signature\r\n\r\n");
    body.extend_from_slice(&der);
    body.extend_from_slice(b"\r\n--outer--\r\n");
    let headers = product_headers(
        "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha256; boundary=outer",
        &[("AS2-From", "PartnerB"), ("AS2-To", "\"Partner A\"")],
    );
    let parsed = mdn::parse(&headers, &body, &limits).unwrap();
    let mut s = sent(Some(MIC));
    s.require_signed_mdn = true;
    s.partner_certificates = vec![w.b.cert.clone()];
    let verdict = parsed.verify(&s, &limits).unwrap();
    match &verdict.authenticity {
        Authenticity::Signed(v) => assert_eq!(v.signer, w.b.cert),
        other => panic!("{other:?}"),
    }
    assert!(verdict.is_success());
}

// ---------------------------------------------------------------------------------------
// Receipt-Delivery-Option (issue 12, finding 7).

#[test]
fn receipt_delivery_option_must_be_an_absolute_http_url() {
    let w = World::new();
    let limits = Limits::default();
    let built = send(
        &w,
        &Send {
            mdn: MdnRequest::asynchronous("http://127.0.0.1:5081/as2"),
            ..Send::default()
        },
        230,
    );
    let with_option = |value: &[u8]| -> HttpHeaders {
        let mut h = HttpHeaders::new();
        for (n, v) in built.headers.clone().iter() {
            if n.eq_ignore_ascii_case("Receipt-Delivery-Option") {
                h.push(n, value);
            } else {
                h.push(n, v);
            }
        }
        h
    };
    let good = with_option(b"https://as2.example.com:8443/mdn?p=1");
    let incoming = inbound::handle(&good, &built.body, &limits).unwrap();
    let receipt = incoming.receipt.as_ref().unwrap();
    assert_eq!(
        receipt.async_url.as_deref(),
        Some("https://as2.example.com:8443/mdn?p=1")
    );
    for bad in [
        &b"http://127.0.0.1/as2\r\nX-Injected: yes"[..],
        b"http://127.0.0.1/as2\nHost: evil",
        b"http://127.0.0.1/a s2",
        b"http://127.0.0.1/as2\x00",
        b"mailto:as2@example.com",
        b"file:///etc/passwd",
        b"//no-scheme/as2",
        b"http:///as2",
    ] {
        let headers = with_option(bad);
        let err = inbound::handle(&headers, &built.body, &limits).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidHeader {
                    header: "Receipt-Delivery-Option",
                    ..
                }
            ),
            "{:?}: {err:?}",
            String::from_utf8_lossy(bad)
        );
        assert_eq!(err.code(), ErrorCode::InvalidRequest);
    }
}

/// The builder applies the receivers' Receipt-Delivery-Option rule before any work: a URL
/// that would inject a header or is not absolute http(s) is never sent.
#[test]
fn outbound_async_mdn_urls_are_checked_before_building() {
    for bad in [
        "http://127.0.0.1/as2\r\nX-Injected: yes",
        "mailto:as2@example.com",
        "/relative",
        "",
    ] {
        let mut m = OutboundMessage::new(
            As2Id::new("PartnerA").unwrap(),
            As2Id::new("PartnerB").unwrap(),
            b"ISA~",
        );
        m.mdn = MdnRequest::asynchronous(bad);
        let err = outbound::build(&m, common::now(), &mut common::rng(1)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidHeader {
                    header: "Receipt-Delivery-Option",
                    ..
                }
            ),
            "{bad:?}: {err:?}"
        );
    }
    let mut m = OutboundMessage::new(
        As2Id::new("PartnerA").unwrap(),
        As2Id::new("PartnerB").unwrap(),
        b"ISA~",
    );
    m.mdn = MdnRequest::asynchronous("https://a.example/as2/mdn");
    assert!(outbound::build(&m, common::now(), &mut common::rng(1)).is_ok());
}

// ---------------------------------------------------------------------------------------
// Signed MDNs go through the streaming `multipart/signed` verifier inbound messages use
// (the one-push loop over it): its delimiter grammar, its `micalg` rule, its canonical
// fallback. (Chunk splits at every position are in `smime::verify`'s unit tests.)

/// The outer boundary of a signed MDN's `Content-Type`.
fn outer_boundary(headers: &HttpHeaders) -> String {
    let ct = headers.get_str("Content-Type").unwrap();
    let at = ct.find("boundary=").unwrap() + "boundary=".len();
    ct[at..]
        .split(';')
        .next()
        .unwrap()
        .trim()
        .trim_matches('"')
        .to_owned()
}

fn replace_all(body: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn a_signed_mdn_verifies_wherever_its_delimiters_fall() {
    let w = World::new();
    let (built, reply) = signed_reply(&w, 300);
    let limits = Limits::default();
    let headers = &reply.response.headers;
    let body = &reply.response.body;
    let delimiter = format!("--{}", outer_boundary(headers)).into_bytes();
    assert!(body.starts_with(&delimiter));
    let sent = SentMessage::from_built(&built, vec![w.b.cert.clone()]);
    // A window of layouts that move each delimiter line: a preamble, transport padding
    // after every delimiter, an epilogue, and LF instead of CRLF around the delimiters
    // (the line end before a delimiter belongs to it, so the signed bytes are the same).
    let mut variants: Vec<(String, Vec<u8>)> = Vec::new();
    for k in 0..8 {
        let mut preamble = vec![b'.'; k];
        preamble.extend_from_slice(b"\r\n");
        preamble.extend_from_slice(body);
        variants.push((format!("preamble {k}"), preamble));
        let padding = [delimiter.clone(), vec![b' '; k], b"\r\n".to_vec()].concat();
        let mut padded = replace_all(
            body,
            &[delimiter.clone(), b"\r\n".to_vec()].concat(),
            &padding,
        );
        let close = [delimiter.clone(), b"--".to_vec()].concat();
        padded = replace_all(&padded, &close, &[close.clone(), vec![b'\t'; k]].concat());
        variants.push((format!("padding {k}"), padded));
        let mut epilogue = body.clone();
        epilogue.extend(std::iter::repeat_n(b'x', k));
        variants.push((format!("epilogue {k}"), epilogue));
    }
    let lf = replace_all(
        &replace_all(
            body,
            &[b"\r\n".as_slice(), &delimiter].concat(),
            &[b"\n".as_slice(), &delimiter].concat(),
        ),
        &[delimiter.as_slice(), b"\r\n"].concat(),
        &[delimiter.as_slice(), b"\n"].concat(),
    );
    variants.push(("LF delimiter lines".into(), lf));
    for (name, body) in variants {
        let parsed = mdn::parse(headers, &body, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(parsed.is_signed(), "{name}");
        let verdict = parsed
            .verify(&sent, &limits)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(verdict.is_success() && verdict.is_authentic(), "{name}");
        assert_eq!(verdict.mic, MicCheck::Matched, "{name}");
    }
}

#[test]
fn a_signature_stripped_mdn_is_refused_when_a_signed_one_was_requested() {
    let w = World::new();
    let (built, reply) = signed_reply(&w, 310);
    let limits = Limits::default();
    let headers = &reply.response.headers;
    let body = &reply.response.body;
    let sent = SentMessage::from_built(&built, vec![w.b.cert.clone()]);
    assert!(sent.require_signed_mdn);
    let delimiter = format!("\r\n--{}", outer_boundary(headers)).into_bytes();
    let second = body
        .windows(delimiter.len())
        .enumerate()
        .filter(|(_, w)| *w == delimiter.as_slice())
        .map(|(i, _)| i)
        .next()
        .unwrap();
    // The body opens with `--boundary` and CRLF, as long as `delimiter`.
    let report_part = &body[delimiter.len()..second];
    let close = [delimiter.as_slice(), b"--\r\n"].concat();

    // The signature part removed: one part left.
    let removed = [&body[..second], close.as_slice()].concat();
    assert_eq!(
        mdn::parse(headers, &removed, &limits).unwrap_err(),
        Error::UnsupportedFormat("multipart/signed must have exactly two parts")
    );

    // The signature part replaced by an unsigned part: no SignedData to verify, so no
    // signature (the message path reports the same for the same part).
    let mut replaced = body[..second].to_vec();
    replaced.extend_from_slice(&delimiter);
    replaced.extend_from_slice(b"\r\nContent-Type: text/plain\r\n\r\nno signature here");
    replaced.extend_from_slice(&close);
    let parsed = mdn::parse(headers, &replaced, &limits).unwrap();
    assert!(parsed.is_signed());
    let err = parsed.verify(&sent, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Malformed {
                what: "ContentInfo",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), ErrorCode::InvalidSmimeFormat);

    // The report taken out of multipart/signed and sent alone (its own Content-Type in the
    // HTTP headers): unsigned, refused as such.
    let report = as2_proto::__internal::mime::parse_part(
        report_part,
        &as2_proto::__internal::mime::limits(&limits),
    )
    .unwrap();
    let report_ct = report
        .header("Content-Type")
        .unwrap()
        .unfolded_value()
        .into_owned();
    let mut unwrapped_headers = headers.clone();
    unwrapped_headers.set("Content-Type", report_ct);
    let parsed = mdn::parse(&unwrapped_headers, report.body(), &limits).unwrap();
    assert!(!parsed.is_signed());
    assert_eq!(
        parsed.verify(&sent, &limits).unwrap_err(),
        Error::Policy(PolicyError::SignatureRequired)
    );
    // Accepted as unsigned only where an unsigned receipt was asked for.
    let mut unsigned_ok = sent.clone();
    unsigned_ok.require_signed_mdn = false;
    assert!(!parsed.verify(&unsigned_ok, &limits).unwrap().is_authentic());
}

/// `headers` with the `micalg` of their Content-Type replaced.
fn with_micalg(headers: &HttpHeaders, micalg: &str) -> HttpHeaders {
    let ct = headers.get_str("Content-Type").unwrap();
    let rewritten: Vec<String> = ct
        .split(';')
        .map(|p| {
            if p.trim().to_ascii_lowercase().starts_with("micalg=") {
                format!(" micalg={micalg}")
            } else {
                p.to_owned()
            }
        })
        .collect();
    let mut out = headers.clone();
    out.set("Content-Type", rewritten.join(";").into_bytes());
    out
}

#[test]
fn an_mdn_signed_with_a_digest_not_in_micalg_is_refused_like_a_message() {
    let w = World::new();
    let limits = Limits::default();
    // The MDN is signed with SHA-256 (what the message asked for).
    let (built, reply) = signed_reply(&w, 320);
    assert_eq!(
        reply.mdn.as_ref().unwrap().signed,
        Some(DigestAlgorithm::Sha256)
    );
    let sent = SentMessage::from_built(&built, vec![w.b.cert.clone()]);
    // An unsigned message with the same signature rewritten the same way: the same refusal.
    let message = send(
        &w,
        &Send {
            encrypt: false,
            ..Send::default()
        },
        321,
    );
    let partner = [w.a.cert.clone()];
    let policy = InboundPolicy::new(&[], &partner, &limits);
    for (micalg, refused) in [
        ("sha-384", true),
        ("\"sha-512,sha1\"", true),
        ("\"sha-384,sha-256\"", false),
        ("sha-256", false),
        // Names nothing we know: every supported digest is computed.
        ("x-unknown", false),
    ] {
        let headers = with_micalg(&reply.response.headers, micalg);
        let parsed = mdn::parse(&headers, &reply.response.body, &limits).unwrap();
        let mdn_result = parsed.verify(&sent, &limits);
        let headers = with_micalg(&message.headers, micalg);
        let incoming = inbound::handle(&headers, &message.body, &limits).unwrap();
        let message_result = incoming.accept(&policy, &mut NoDuplicateCheck, &mut common::rng(322));
        if refused {
            let unannounced = Error::Verification(VerificationError::UnannouncedDigest);
            assert_eq!(mdn_result.unwrap_err(), unannounced, "MDN, micalg={micalg}");
            assert_eq!(
                message_result.unwrap_err().error,
                unannounced,
                "message, micalg={micalg}"
            );
        } else {
            assert!(mdn_result.unwrap().is_authentic(), "MDN, micalg={micalg}");
            assert!(message_result.is_ok(), "message, micalg={micalg}");
        }
    }
}

#[test]
fn a_signed_mdn_stored_with_lf_line_ends_verifies_like_a_message() {
    // As `messages.rs` `signed_message_stored_with_lf_line_ends_still_verifies`: signed
    // over the canonical (CRLF) report, then saved by a tool that wrote LF only.
    let w = World::new();
    let limits = Limits::default();
    let fields = format!(
        "Original-Message-ID: {SENT_ID}\r\nDisposition: automatic-action/MDN-sent-automatically; processed\r\nReceived-Content-MIC: {MIC}\r\n"
    );
    let entity = format!(
        "Content-Type: multipart/report; report-type=disposition-notification; boundary=\"inner\"\r\n\r\n{}",
        report_body("inner", "Content-Type: text/plain\r\n", &fields)
    );
    let der = openssl_sign(&w.pki, &w.b, entity.as_bytes(), "lf-mdn");
    let signed_over_crlf = {
        let mut body = b"--outer\r\n".to_vec();
        body.extend_from_slice(entity.as_bytes());
        body.extend_from_slice(
            b"\r\n--outer\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        );
        body.extend_from_slice(as2_proto::__internal::mime::base64_encode_mime(&der).as_bytes());
        body.extend_from_slice(b"\r\n--outer--\r\n");
        body
    };
    let lf_only = replace_all(&signed_over_crlf, b"\r\n", b"\n");
    let headers = product_headers(
        "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=outer",
        &[("AS2-From", "PartnerB"), ("AS2-To", "\"Partner A\"")],
    );
    let mut s = sent(Some(MIC));
    s.require_signed_mdn = true;
    s.partner_certificates = vec![w.b.cert.clone()];
    for (name, body) in [("as signed", &signed_over_crlf), ("LF only", &lf_only)] {
        let parsed = mdn::parse(&headers, body, &limits).unwrap();
        let verdict = parsed
            .verify(&s, &limits)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(verdict.is_success() && verdict.is_authentic(), "{name}");
        match &verdict.authenticity {
            // The MIC of what was signed: the canonical form.
            Authenticity::Signed(v) => assert_eq!(
                v.content_digest,
                DigestAlgorithm::Sha256.digest(entity.as_bytes()),
                "{name}"
            ),
            other => panic!("{name}: {other:?}"),
        }
    }
    // A change beyond line ends still fails, LF or not.
    let mut tampered = lf_only.clone();
    tamper(&mut tampered, b"processed");
    let parsed = mdn::parse(&headers, &tampered, &limits).unwrap();
    assert_eq!(
        parsed.verify(&s, &limits).unwrap_err(),
        Error::Verification(VerificationError::DigestMismatch)
    );
}
