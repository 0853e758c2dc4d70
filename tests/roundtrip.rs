//! Build-then-parse round trips over the whole option matrix.

mod common;

use std::collections::HashSet;

use as2_proto::cms::algorithm::{ContentEncryption, DigestAlgorithm};
use as2_proto::cms::signed::{SignOptions, Signer};
use as2_proto::message::headers::{As2Id, HttpHeaders, MessageId};
use as2_proto::message::inbound::{self, InboundPolicy, IncomingKind, Layer, NoDuplicateCheck};
use as2_proto::message::outbound::{self, BuiltMessage, Compression, MdnRequest, OutboundMessage};
use as2_proto::{Certificate, Error, ErrorCode, Limits, PolicyError, PrivateKey};

struct Parties {
    _pki: common::Pki,
    sender: common::Identity,
    receiver: common::Identity,
}

fn parties() -> Parties {
    let pki = common::Pki::new();
    let sender = pki.party("sender", 2048);
    let receiver = pki.party("receiver", 2048);
    Parties {
        _pki: pki,
        sender,
        receiver,
    }
}

/// Payloads with the content type they are sent as: whatever the type, they must come
/// out byte for byte (bare LFs in text included).
fn payloads() -> Vec<(&'static str, Vec<u8>)> {
    let mut binary = b"\x00\x01NUL\x00 CR\r alone, bare LF\n--boundary-like\r\n--as2-\r\n".to_vec();
    binary.extend((0..=255u8).cycle().take(3000));
    vec![
        ("application/octet-stream", binary),
        ("application/octet-stream", Vec::new()),
        (
            "application/EDI-X12",
            b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       ~\nGS*PO~\n"
                .to_vec(),
        ),
        (
            "text/plain; charset=utf-8",
            b"line one\nline two\r\nno newline at end".to_vec(),
        ),
    ]
}

#[allow(clippy::too_many_arguments)]
fn exchange(
    p: &Parties,
    content_type: &str,
    payload: &[u8],
    sign: Option<DigestAlgorithm>,
    cipher: Option<ContentEncryption>,
    compression: Compression,
    seed: u64,
) {
    let mut rng = common::rng(seed);
    let mut msg = OutboundMessage::new(
        As2Id::new("Sender Co").unwrap(),
        As2Id::new("receiver").unwrap(),
        payload,
    );
    msg.file_name = Some("order 42.edi".into());
    msg.content_type = content_type.into();
    msg.compression = compression;
    msg.mdn = MdnRequest::sync().signed(&[DigestAlgorithm::Sha256, DigestAlgorithm::Sha1]);
    if let Some(d) = sign {
        let mut o = SignOptions::default();
        o.digest = d;
        msg.signing = Some((Signer::new(&p.sender.cert, &p.sender.key), o));
    }
    if let Some(c) = cipher {
        msg.encryption.0 = vec![&p.receiver.cert];
        msg.encryption.1.cipher = c;
    }
    let built = outbound::build(&msg, common::now(), &mut rng).unwrap();
    let headers = built.headers.clone();
    let limits = Limits::default();
    let incoming = inbound::handle(&headers, &built.body, &limits).unwrap();
    assert_eq!(incoming.kind, IncomingKind::Message);
    assert_eq!(incoming.from.as_str(), "Sender Co");
    assert_eq!(incoming.message_id.as_ref(), Some(&built.message_id));
    let decryption = [(p.receiver.cert.clone(), p.receiver.key.clone())];
    let partner = [p.sender.cert.clone()];
    // The agreement for a partner that signs (or not): a signature required when it does.
    let mut policy = InboundPolicy::new(&decryption, &partner, &limits);
    policy.require_signature = built.signed;
    let received = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut rng)
        .unwrap_or_else(|r| panic!("{sign:?} {cipher:?} {compression:?}: {}", r.error));
    assert_eq!(
        received.payload, payload,
        "{sign:?} {cipher:?} {compression:?}"
    );
    assert_eq!(received.file_name.as_deref(), Some("order 42.edi"));
    let expected_type = content_type.split(';').next().unwrap().to_ascii_lowercase();
    assert_eq!(received.content_type, expected_type);
    assert_eq!(
        received.mic, built.mic,
        "{sign:?} {cipher:?} {compression:?}"
    );
    assert_eq!(received.encryption(), cipher);
    assert_eq!(received.compressed(), compression != Compression::None);
    assert_eq!(
        received
            .layers
            .iter()
            .any(|l| matches!(l, Layer::Signed(_))),
        sign.is_some()
    );
    if let Some(d) = sign {
        assert_eq!(received.mic.as_ref().map(|m| m.algorithm), Some(d));
    }
}

#[test]
fn full_matrix() {
    let p = parties();
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
    let mut seed = 0;
    for (content_type, payload) in payloads() {
        for sign in signs {
            for cipher in ciphers {
                for compression in compressions {
                    seed += 1;
                    exchange(&p, content_type, &payload, sign, cipher, compression, seed);
                }
            }
        }
    }
}

#[test]
fn five_mib_payload() {
    let p = parties();
    let payload: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    exchange(
        &p,
        "application/octet-stream",
        &payload,
        Some(DigestAlgorithm::Sha256),
        Some(ContentEncryption::Aes256Cbc),
        Compression::BeforeSigning,
        99,
    );
}

fn build_simple(p: &Parties, encrypt: bool, id: Option<&str>) -> BuiltMessage {
    let mut rng = common::rng(5);
    let mut msg = OutboundMessage::new(
        As2Id::new("sender").unwrap(),
        As2Id::new("receiver").unwrap(),
        b"payload",
    );
    msg.signing = Some((
        Signer::new(&p.sender.cert, &p.sender.key),
        SignOptions::default(),
    ));
    if encrypt {
        msg.encryption.0 = vec![&p.receiver.cert];
    }
    msg.message_id = id.map(|i| MessageId::parse(i.as_bytes()).unwrap());
    outbound::build(&msg, common::now(), &mut rng).unwrap()
}

fn receive(
    p: &Parties,
    built: &BuiltMessage,
    headers: &HttpHeaders,
    require_encryption: bool,
    dup: &mut HashSet<(As2Id, String)>,
    keys: &[(Certificate, PrivateKey)],
) -> Result<inbound::Received, Error> {
    let limits = Limits::default();
    let incoming = inbound::handle(headers, &built.body, &limits)?;
    let partner = [p.sender.cert.clone()];
    let mut policy = InboundPolicy::new(keys, &partner, &limits);
    policy.require_encryption = require_encryption;
    incoming
        .accept(&policy, dup, &mut common::rng(8))
        .map_err(|r| r.error)
}

#[test]
fn negative_cases_map_to_codes() {
    let p = parties();
    let stranger = {
        let pki = common::Pki::new();
        pki.party("stranger", 2048)
    };
    let keys = [(p.receiver.cert.clone(), p.receiver.key.clone())];
    let mut dup = HashSet::new();

    // Unencrypted when encryption is required.
    let plain = build_simple(&p, false, None);
    let err = receive(&p, &plain, &plain.headers, true, &mut dup, &keys).unwrap_err();
    assert_eq!(err, Error::Policy(PolicyError::EncryptionRequired));
    assert_eq!(
        err.code(),
        ErrorCode::InsufficientMessageSecurityUnencrypted
    );
    assert_eq!(
        err.code().as_str(),
        "INSUFFICENT_MESSAGE_SECURITY_UNENCRYPTED"
    );

    // Wrong key: encrypted for the receiver, decrypting as a stranger.
    let enc = build_simple(&p, true, None);
    let wrong = [(stranger.cert.clone(), stranger.key.clone())];
    let err = receive(&p, &enc, &enc.headers, false, &mut dup, &wrong).unwrap_err();
    assert_eq!(err.code(), ErrorCode::NoDecryptionKeyFound);
    let wrong_key = [(p.receiver.cert.clone(), stranger.key.clone())];
    let err = receive(&p, &enc, &enc.headers, false, &mut dup, &wrong_key).unwrap_err();
    assert_eq!(err, Error::DecryptionFailed);
    assert_eq!(err.code(), ErrorCode::DecryptFailed);
    assert_eq!(
        err.disposition().to_string(),
        "processed/Error: decryption-failed"
    );

    // Tampered signed content.
    let mut tampered = build_simple(&p, false, None);
    let pos = tampered
        .body
        .windows(7)
        .position(|w| w == b"payload")
        .unwrap();
    tampered.body[pos] = b'P';
    let err = receive(&p, &tampered, &tampered.headers, false, &mut dup, &keys).unwrap_err();
    assert_eq!(err.code(), ErrorCode::VerificationFailed);
    assert_eq!(
        err.disposition().to_string(),
        "processed/Error: integrity-check-failed"
    );

    // Missing AS2-To.
    let mut headers = HttpHeaders::new();
    for (n, v) in &plain.headers {
        if !n.eq_ignore_ascii_case("AS2-To") {
            headers.push(n, v);
        }
    }
    let err = receive(&p, &plain, &headers, false, &mut dup, &keys).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidRequest);

    // Truncated and garbage bodies.
    let mut truncated = build_simple(&p, true, None);
    truncated.body.truncate(truncated.body.len() / 2);
    let err = receive(&p, &truncated, &truncated.headers, false, &mut dup, &keys).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidSmimeFormat);
    let mut garbage = build_simple(&p, true, None);
    garbage.body = b"this is not CMS".to_vec();
    let err = receive(&p, &garbage, &garbage.headers, false, &mut dup, &keys).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidSmimeFormat);

    // Duplicate Message-ID: accepted once, then reported as a duplicate, not delivered.
    let first = build_simple(&p, true, Some("<dup-1@sender>"));
    let ok = receive(&p, &first, &first.headers, false, &mut dup, &keys).unwrap();
    assert!(!ok.duplicate);
    assert_eq!(ok.payload, b"payload");
    let again = receive(&p, &first, &first.headers, false, &mut dup, &keys).unwrap();
    assert!(again.duplicate);
    assert!(again.payload.is_empty());
    assert_eq!(
        again.disposition(),
        "automatic-action/MDN-sent-automatically; processed/Warning: duplicate-document"
    );
    assert_eq!(
        ok.disposition(),
        "automatic-action/MDN-sent-automatically; processed"
    );
}

/// Non-ASCII file names go out as RFC 2231 parameters (plain ASCII on the wire, also when
/// Content-Disposition travels as an HTTP header) and come back unchanged, under every
/// layering; a hostile name comes back as sent and is neutralised where it is stored.
#[test]
fn file_names_round_trip() {
    use as2_proto::record::{self, StatusCode};
    let p = parties();
    let names = [
        "Bestellung-Größe-é.edi",
        "注文.edi",
        "order \"42\" \\ x.edi",
        "../../etc/passwd",
        "tab\there.edi",
    ];
    let layers = [
        (None, None, Compression::None),
        (Some(DigestAlgorithm::Sha256), None, Compression::None),
        (
            Some(DigestAlgorithm::Sha256),
            Some(ContentEncryption::Aes256Cbc),
            Compression::BeforeSigning,
        ),
        (None, Some(ContentEncryption::Aes128Cbc), Compression::None),
    ];
    let limits = Limits::default();
    let decryption = [(p.receiver.cert.clone(), p.receiver.key.clone())];
    let partner = [p.sender.cert.clone()];
    let mut policy = InboundPolicy::new(&decryption, &partner, &limits);
    for (i, name) in names.iter().enumerate() {
        for (j, (sign, cipher, compression)) in layers.iter().enumerate() {
            let mut msg = OutboundMessage::new(
                As2Id::new("sender").unwrap(),
                As2Id::new("receiver").unwrap(),
                b"ISA*00*~",
            );
            msg.file_name = Some((*name).to_owned());
            msg.compression = *compression;
            msg.mdn = MdnRequest::sync();
            if let Some(d) = sign {
                let mut o = SignOptions::default();
                o.digest = *d;
                msg.signing = Some((Signer::new(&p.sender.cert, &p.sender.key), o));
            }
            if let Some(c) = cipher {
                msg.encryption.0 = vec![&p.receiver.cert];
                msg.encryption.1.cipher = *c;
            }
            let mut rng = common::rng((i * 10 + j) as u64);
            let built = outbound::build(&msg, common::now(), &mut rng).unwrap();
            // Every header we send is printable ASCII.
            for (n, v) in &built.headers {
                assert!(v.iter().all(|b| (0x20..0x7f).contains(b)), "{n}: {v:?}");
            }
            if sign.is_none() && cipher.is_none() {
                let cd = built.headers.get_str("Content-Disposition").unwrap();
                let ascii = name.bytes().all(|b| (0x20..0x7f).contains(&b));
                assert_eq!(cd.contains("filename*=UTF-8''"), !ascii, "{cd}");
            }
            let headers = built.headers.clone();
            let incoming = inbound::handle(&headers, &built.body, &limits).unwrap();
            policy.require_signature = built.signed;
            let received = incoming
                .accept(&policy, &mut NoDuplicateCheck, &mut rng)
                .unwrap_or_else(|r| panic!("{name} {j}: {}", r.error));
            assert_eq!(received.file_name.as_deref(), Some(*name), "layers {j}");
            assert_eq!(received.mic, built.mic, "{name} {j}");
            let stored = record::inbound_paths(
                received.file_name.as_deref(),
                built.message_id.as_str(),
                StatusCode::Completed,
            );
            let file = stored.payload.file_name();
            assert!(
                !file.contains(['/', '\\', '\t']) && !file.starts_with('.'),
                "{name} -> {file}"
            );
        }
    }
}

/// The streaming builder under every layering (compression none, before or after signing;
/// signed or not; unencrypted, AES-128, AES-256 or 3DES; no, sync or async MDN), payloads
/// of 0 and 1 octets, around the cipher block, base64 line and segment sizes and of a
/// few hundred KiB, pushed in random cuttings, with and without the length announced: the
/// body goes through `inbound::handle` and `accept` to the same payload and MIC, and the
/// announced Content-Length (known exactly when the length was announced and nothing is
/// compressed) is the body's length.
#[test]
fn streamed_every_layering_and_cutting() {
    use rand_chacha::rand_core::Rng;
    let p = parties();
    let limits = Limits::default();
    let decryption = [(p.receiver.cert.clone(), p.receiver.key.clone())];
    let partner = [p.sender.cert.clone()];
    let sizes = [
        0usize,
        1,
        15,
        16,
        17,
        57,
        58,
        77,
        16_383,
        16_384,
        16_385,
        300 * 1024 + 7,
    ];
    let mut noise = common::rng(77);
    let payloads: Vec<Vec<u8>> = sizes
        .iter()
        .map(|&len| {
            let mut payload = vec![0u8; len];
            noise.fill_bytes(&mut payload);
            payload
        })
        .collect();
    let mdns = [
        MdnRequest::None,
        MdnRequest::sync(),
        MdnRequest::asynchronous("https://sender.example/mdn"),
    ];
    let mut case = 0u64;
    for compression in [
        Compression::None,
        Compression::BeforeSigning,
        Compression::AfterSigning,
    ] {
        for signed in [false, true] {
            for cipher in [
                None,
                Some(ContentEncryption::Aes128Cbc),
                Some(ContentEncryption::Aes256Cbc),
                Some(ContentEncryption::TripleDesCbc),
            ] {
                for mdn in &mdns {
                    for payload in &payloads {
                        case += 1;
                        let announce = !case.is_multiple_of(3);
                        let what = format!(
                            "{compression:?} signed={signed} {cipher:?} {mdn:?} len={} announced={announce}",
                            payload.len()
                        );
                        let mut msg = OutboundMessage::new(
                            As2Id::new("Sender Co").unwrap(),
                            As2Id::new("receiver").unwrap(),
                            b"",
                        );
                        msg.file_name = Some("order 42.edi".into());
                        msg.compression = compression;
                        msg.mdn = mdn.clone();
                        if *mdn != MdnRequest::None && case.is_multiple_of(2) {
                            msg.mdn = mdn
                                .clone()
                                .signed(&[DigestAlgorithm::Sha384, DigestAlgorithm::Sha1]);
                        }
                        if signed {
                            msg.signing = Some((
                                Signer::new(&p.sender.cert, &p.sender.key),
                                SignOptions::default(),
                            ));
                        }
                        if let Some(c) = cipher {
                            msg.encryption.0 = vec![&p.receiver.cert];
                            msg.encryption.1.cipher = c;
                        }
                        let mut rng = common::rng(case);
                        let mut stream = outbound::start(
                            &msg,
                            announce.then_some(payload.len() as u64),
                            common::now(),
                            &mut rng,
                        )
                        .unwrap();
                        let content_length = stream.content_length();
                        assert_eq!(
                            content_length.is_some(),
                            announce && compression == Compression::None,
                            "{what}"
                        );
                        let headers: HttpHeaders = stream.headers().clone();
                        let mut body = Vec::new();
                        let mut rest = payload.as_slice();
                        while !rest.is_empty() {
                            let cut = match rng.next_u32() % 4 {
                                0 => 0,
                                1 => 1 + rng.next_u32() as usize % 16,
                                2 => 1 + rng.next_u32() as usize % 20_000,
                                _ => rest.len(),
                            }
                            .min(rest.len());
                            let (piece, tail) = rest.split_at(cut);
                            stream.push(piece, &mut body).unwrap();
                            rest = tail;
                        }
                        let finished = stream.finish(&mut body, &mut rng).unwrap();
                        assert_eq!(finished.body_len, body.len() as u64, "{what}");
                        if let Some(len) = content_length {
                            assert_eq!(len, body.len() as u64, "{what}");
                        }
                        assert_eq!(finished.signed, signed);
                        assert_eq!(
                            finished.mic.is_some(),
                            signed || *mdn != MdnRequest::None,
                            "{what}"
                        );

                        let incoming = inbound::handle(&headers, &body, &limits)
                            .unwrap_or_else(|e| panic!("{what}: {e}"));
                        assert_eq!(incoming.message_id.as_ref(), Some(&finished.message_id));
                        let mut policy = InboundPolicy::new(&decryption, &partner, &limits);
                        policy.require_signature = signed;
                        let received = incoming
                            .accept(&policy, &mut NoDuplicateCheck, &mut rng)
                            .unwrap_or_else(|r| panic!("{what}: {}", r.error));
                        assert!(received.payload == *payload, "{what}");
                        assert_eq!(received.file_name.as_deref(), Some("order 42.edi"));
                        assert_eq!(received.encryption(), cipher, "{what}");
                        assert_eq!(received.compressed(), compression != Compression::None);
                        if finished.mic.is_some() {
                            assert_eq!(received.mic, finished.mic, "{what}");
                        }
                    }
                }
            }
        }
    }
}
