//! Inbound parsing of what real products send, beyond our own builder's output.

mod common;

use as2_proto::cms::enveloped;
use as2_proto::cms::signed::{self, SignOptions, Signer};
use as2_proto::message::headers::HttpHeaders;
use as2_proto::message::inbound::{self, InboundPolicy, Layer, NoDuplicateCheck};
use as2_proto::{ErrorCode, Limits};

fn headers(content_type: &str) -> HttpHeaders {
    [
        ("AS2-Version", "1.1"),
        ("AS2-From", "\"Partner A\""),
        ("AS2-To", "us"),
        ("Message-ID", "<m-1@partner>"),
        ("Content-Type", content_type),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.as_bytes().to_vec()))
    .collect()
}

#[test]
fn bare_payload_inside_envelope_is_octet_stream() {
    // Mendelson sends the payload itself, without MIME headers, inside the envelope.
    let pki = common::Pki::new();
    let us = pki.party("us", 2048);
    let mut rng = common::rng(1);
    let payload = b"UNA:+.? 'UNB+UNOC:3+SENDER+RECEIVER'\x00\xff";
    let envelope = enveloped::encrypt(payload, &[&us.cert], &Default::default(), &mut rng).unwrap();
    let h = headers("application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m");
    let limits = Limits::default();
    let incoming = inbound::handle(&h, &envelope, &limits).unwrap();
    assert_eq!(incoming.from.as_str(), "Partner A");
    let keys = [(us.cert.clone(), us.key.clone())];
    let mut policy = InboundPolicy::new(&keys, &[], &limits);
    // Refused unless the agreement allows this form: garbage decrypts to it too.
    let refused = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut rng)
        .unwrap_err();
    assert_eq!(refused.error.code(), ErrorCode::DecryptFailed);
    policy.accept_bare_payload = true;
    let received = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut rng)
        .unwrap();
    assert_eq!(received.payload, payload);
    assert_eq!(received.content_type, "application/octet-stream");
    assert_eq!(received.layers.len(), 1);
}

#[test]
fn raw_der_signature_part_without_transfer_encoding() {
    // IBM Sterling writes the signature part as raw DER with no Content-Transfer-Encoding.
    let pki = common::Pki::new();
    let partner = pki.party("partner", 2048);
    let mut rng = common::rng(2);
    let entity = b"Content-Type: application/EDI-X12\r\nContent-Disposition: attachment; filename=\"po.x12\"\r\n\r\nISA*00*~\r\nIEA*1*~\r\n";
    let signature = signed::sign_detached(
        entity,
        &Signer::new(&partner.cert, &partner.key),
        &SignOptions::default(),
        common::now(),
        &mut rng,
    )
    .unwrap();
    let mut body = b"--b1\r\n".to_vec();
    body.extend_from_slice(entity);
    body.extend_from_slice(b"\r\n--b1\r\nContent-Type: application/pkcs7-signature\r\n\r\n");
    body.extend_from_slice(&signature);
    body.extend_from_slice(b"\r\n--b1--\r\n");
    let h = headers(
        "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=b1",
    );
    let limits = Limits::default();
    let incoming = inbound::handle(&h, &body, &limits).unwrap();
    let partner_certs = [partner.cert.clone()];
    let policy = InboundPolicy::new(&[], &partner_certs, &limits);
    let received = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut rng)
        .unwrap();
    assert_eq!(received.payload, b"ISA*00*~\r\nIEA*1*~\r\n");
    assert_eq!(received.content_type, "application/edi-x12");
    assert_eq!(received.file_name.as_deref(), Some("po.x12"));
    assert!(matches!(received.layers[..], [Layer::Signed(_)]));
    let mic = received.mic.unwrap();
    assert_eq!(
        mic.digest,
        as2_proto::cms::algorithm::DigestAlgorithm::Sha256.digest(entity)
    );

    // A signer that is not the partner's certificate is refused even though the
    // signature embeds a valid certificate.
    let other = pki.party("other", 2048);
    let other_certs = [other.cert.clone()];
    let policy = InboundPolicy::new(&[], &other_certs, &limits);
    let rejected = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut rng)
        .unwrap_err();
    assert_eq!(rejected.error.code(), ErrorCode::VerificationFailed);
    assert_eq!(
        rejected.error.disposition().to_string(),
        "processed/Error: authentication-failed"
    );
}

#[test]
fn unknown_partner_and_duplicate_layers() {
    let h = headers("application/octet-stream");
    let limits = Limits::default();
    let incoming = inbound::handle(&h, b"data", &limits).unwrap();
    let rejected = incoming.unknown_partner();
    assert_eq!(rejected.error.code(), ErrorCode::AgreementNotFound);
    assert_eq!(
        rejected.error.disposition().to_string(),
        "processed/Error: unknown-trading-relationship"
    );

    // Two envelopes, one inside the other.
    let pki = common::Pki::new();
    let us = pki.party("us", 2048);
    let mut rng = common::rng(3);
    let inner = enveloped::encrypt(b"x", &[&us.cert], &Default::default(), &mut rng).unwrap();
    let mut entity =
        b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\nContent-Transfer-Encoding: binary\r\n\r\n".to_vec();
    entity.extend_from_slice(&inner);
    let outer = enveloped::encrypt(&entity, &[&us.cert], &Default::default(), &mut rng).unwrap();
    let h = headers("application/pkcs7-mime; smime-type=enveloped-data");
    let incoming = inbound::handle(&h, &outer, &limits).unwrap();
    let keys = [(us.cert.clone(), us.key.clone())];
    let policy = InboundPolicy::new(&keys, &[], &limits);
    let rejected = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut rng)
        .unwrap_err();
    // A second envelope is found in unauthenticated plaintext: the sender is told only
    // that decryption failed, the operator the real cause.
    assert_eq!(rejected.error.code(), ErrorCode::DecryptFailed);
    assert_eq!(
        rejected.cause().code(),
        ErrorCode::DuplicateMessage,
        "{rejected:?}"
    );
}

#[test]
fn signed_message_stored_with_lf_line_ends_still_verifies() {
    // Signed over the canonical (CRLF) entity, then saved by a tool that wrote LF only.
    let pki = common::Pki::new();
    let partner = pki.party("partner", 2048);
    let mut rng = common::rng(4);
    let entity = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n\r\nline one\r\nline two\r\n";
    let signature = signed::sign_detached(
        entity,
        &Signer::new(&partner.cert, &partner.key),
        &SignOptions::default(),
        common::now(),
        &mut rng,
    )
    .unwrap();
    let mut body = b"--b2\r\n".to_vec();
    body.extend_from_slice(entity);
    body.extend_from_slice(
        b"\r\n--b2\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    );
    body.extend_from_slice(as2_proto::__internal::mime::base64_encode_mime(&signature).as_bytes());
    body.extend_from_slice(b"\r\n--b2--\r\n");
    let lf_only: Vec<u8> = String::from_utf8(body)
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes();
    let h = headers(
        "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"b2\"",
    );
    let limits = Limits::default();
    let incoming = inbound::handle(&h, &lf_only, &limits).unwrap();
    let partner_certs = [partner.cert.clone()];
    let policy = InboundPolicy::new(&[], &partner_certs, &limits);
    let received = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut rng)
        .unwrap();
    // Exactly what was signed is delivered (the canonical CRLF form), never the bytes
    // altered in transit that only verified once canonicalised.
    assert_eq!(received.payload, b"line one\r\nline two\r\n");
    assert_eq!(
        received.mic.unwrap().digest,
        as2_proto::cms::algorithm::DigestAlgorithm::Sha256.digest(entity)
    );
}

#[test]
fn legacy_algorithms_can_be_refused() {
    use as2_proto::cms::algorithm::{ContentEncryption, DigestAlgorithm};
    use as2_proto::message::headers::As2Id;
    use as2_proto::message::outbound::{self, OutboundMessage};
    use as2_proto::{AlgorithmKind, Error};
    let pki = common::Pki::new();
    let us = pki.party("us", 2048);
    let partner = pki.party("partner", 2048);
    let limits = Limits::default();
    let keys = [(us.cert.clone(), us.key.clone())];
    let certs = [partner.cert.clone()];
    for (cipher, digest, refused) in [
        (
            ContentEncryption::TripleDesCbc,
            DigestAlgorithm::Sha256,
            Some(AlgorithmKind::ContentEncryption),
        ),
        (
            ContentEncryption::Aes128Cbc,
            DigestAlgorithm::Sha1,
            Some(AlgorithmKind::Digest),
        ),
        (ContentEncryption::Aes128Cbc, DigestAlgorithm::Sha256, None),
    ] {
        let mut msg = OutboundMessage::new(
            As2Id::new("partner").unwrap(),
            As2Id::new("us").unwrap(),
            b"UNB+UNOC:3'",
        );
        let mut options = SignOptions::default();
        options.digest = digest;
        msg.signing = Some((Signer::new(&partner.cert, &partner.key), options));
        msg.encryption.0 = vec![&us.cert];
        msg.encryption.1.cipher = cipher;
        let built = outbound::build(&msg, common::now(), &mut common::rng(3)).unwrap();
        let h: HttpHeaders = built.headers.clone();
        let incoming = inbound::handle(&h, &built.body, &limits).unwrap();
        // Accepted by default (interop), refused when legacy algorithms are switched off.
        let lenient = InboundPolicy::new(&keys, &certs, &limits);
        assert!(
            incoming
                .accept(&lenient, &mut NoDuplicateCheck, &mut common::rng(4))
                .is_ok()
        );
        let mut strict = InboundPolicy::new(&keys, &certs, &limits);
        strict.accept_legacy_algorithms = false;
        let outcome = incoming.accept(&strict, &mut NoDuplicateCheck, &mut common::rng(5));
        match (refused, outcome) {
            (None, Ok(_)) => {}
            (Some(kind), Err(rejected)) => {
                assert!(
                    matches!(rejected.error, Error::UnsupportedAlgorithm { kind: k, .. } if k == kind),
                    "{cipher:?}/{digest:?}: {:?}",
                    rejected.error
                );
                let code = if kind == AlgorithmKind::Digest {
                    ErrorCode::VerificationFailed
                } else {
                    ErrorCode::UnsupportedEncryptionAlg
                };
                assert_eq!(rejected.error.code(), code);
            }
            (want, got) => panic!(
                "{cipher:?}/{digest:?}: want {want:?}, got {:?}",
                got.map(|_| ())
            ),
        }
    }
}

/// Receives `entity` (MIME headers and body) encrypted for us, as a product would send it.
fn receive_entity(entity: &[u8], seed: u64) -> as2_proto::message::inbound::Received {
    let pki = common::Pki::new();
    let us = pki.party("us", 2048);
    let mut rng = common::rng(seed);
    let envelope = enveloped::encrypt(entity, &[&us.cert], &Default::default(), &mut rng).unwrap();
    let h = headers("application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m");
    let limits = Limits::default();
    let incoming = inbound::handle(&h, &envelope, &limits).unwrap();
    let keys = [(us.cert.clone(), us.key.clone())];
    let policy = InboundPolicy::new(&keys, &[], &limits);
    incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut rng)
        .unwrap()
}

#[test]
fn rfc2231_file_names_from_partners() {
    // RFC 2231 §4.1's example, as a file name, the parameters folded over lines.
    let received = receive_entity(
        b"Content-Type: application/octet-stream\r\n\
          Content-Disposition: attachment;\r\n \
          filename*0*=us-ascii'en'This%20is%20even%20more%20;\r\n \
          filename*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n \
          filename*2=\"isn't it!\"\r\n\r\nUNB+UNOC:3'",
        11,
    );
    assert_eq!(received.payload, b"UNB+UNOC:3'");
    assert_eq!(
        received.file_name.as_deref(),
        Some("This is even more ***fun*** isn't it!")
    );

    // UTF-8 split inside a character, and ISO-8859-1.
    let received = receive_entity(
        b"Content-Type: application/edi-x12\r\n\
          Content-Disposition: attachment; filename*0*=UTF-8''%E6%B3; filename*1*=%A8%E6%96%87.edi\r\n\r\nISA~",
        12,
    );
    assert_eq!(received.file_name.as_deref(), Some("注文.edi"));
    let received = receive_entity(
        b"Content-Type: application/edi-x12\r\n\
          Content-Disposition: attachment; filename*=ISO-8859-1'de'Gr%F6%DFe.edi\r\n\r\nISA~",
        13,
    );
    assert_eq!(received.file_name.as_deref(), Some("Größe.edi"));

    // No Content-Disposition: Content-Type's name, RFC 2231 capable too.
    let received = receive_entity(
        b"Content-Type: application/edi-x12; name*=UTF-8''Bestellung-Gr%C3%B6%C3%9Fe-%C3%A9.edi\r\n\r\nISA~",
        14,
    );
    assert_eq!(
        received.file_name.as_deref(),
        Some("Bestellung-Größe-é.edi")
    );
}

#[test]
fn hostile_rfc2231_file_name_is_neutralised_where_it_becomes_a_path() {
    use as2_proto::record::{self, StatusCode};
    let received = receive_entity(
        b"Content-Type: application/edi-x12\r\n\
          Content-Disposition: attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd\r\n\r\nISA~",
        15,
    );
    // The decoded name is the sender's text ...
    assert_eq!(received.file_name.as_deref(), Some("../../etc/passwd"));
    // ... and the stored file is one safe component.
    let paths = record::inbound_paths(
        received.file_name.as_deref(),
        "<m-1@partner>",
        StatusCode::Completed,
    );
    assert_eq!(paths.payload.file_name(), "passwd.m-1@partner");
    assert_eq!(paths.payload.to_string(), "processed/passwd.m-1@partner");

    for (encoded, stored) in [
        ("%2E%2E", "m-1@partner"),
        ("a%00b%0D%0A.edi", "a_b__.m-1@partner.edi"),
        ("..%5C..%5Cwin.ini", "win.m-1@partner.ini"),
    ] {
        let entity = format!(
            "Content-Type: application/edi-x12\r\nContent-Disposition: attachment; filename*=UTF-8''{encoded}\r\n\r\nISA~"
        );
        let received = receive_entity(entity.as_bytes(), 16);
        let paths = record::inbound_paths(
            received.file_name.as_deref(),
            "<m-1@partner>",
            StatusCode::Completed,
        );
        assert_eq!(paths.payload.file_name(), stored, "{encoded}");
    }
}

#[test]
fn outbound_advertises_only_implemented_features() {
    use as2_proto::message::headers::{As2Id, EdiintFeatures, Feature, SUPPORTED_FEATURES};
    use as2_proto::message::outbound::{self, OutboundMessage};
    let msg = OutboundMessage::new(
        As2Id::new("us").unwrap(),
        As2Id::new("partner").unwrap(),
        b"UNB+UNOC:3'",
    );
    assert_eq!(msg.features, SUPPORTED_FEATURES);
    let built = outbound::build(&msg, common::now(), &mut common::rng(20)).unwrap();
    let advertised: Vec<&[u8]> = built.headers.get_all("EDIINT-Features").collect();
    // Multipart payloads are refused and CEM is not implemented: never claimed.
    for value in &advertised {
        let features = EdiintFeatures::parse(value);
        assert!(!features.contains(&Feature::Cem), "{value:?}");
        assert!(
            !features.contains(&Feature::MultipleAttachments),
            "{value:?}"
        );
    }
    // Nothing is implemented completely yet, so no header at all (RFC 6017 lists one or
    // more features).
    assert!(advertised.is_empty(), "{advertised:?}");

    // An application that resends unanswered messages may add AS2-Reliability; the
    // receiver sees it on Incoming.
    let mut msg = msg;
    msg.features = vec![Feature::As2Reliability];
    let built = outbound::build(&msg, common::now(), &mut common::rng(21)).unwrap();
    let h: HttpHeaders = built.headers.clone();
    assert_eq!(h.get_str("EDIINT-Features"), Some("AS2-Reliability"));
    let incoming = inbound::handle(&h, &built.body, &Limits::default()).unwrap();
    assert_eq!(incoming.features.0, [Feature::As2Reliability]);
}

#[test]
fn incoming_exposes_the_partners_features() {
    use as2_proto::message::headers::Feature;
    let limits = Limits::default();
    // What Mendelson sends.
    let mut h = headers("application/octet-stream");
    h.push("EDIINT-Features", b"multiple-attachments, CEM".to_vec());
    let incoming = inbound::handle(&h, b"data", &limits).unwrap();
    assert_eq!(
        incoming.features.0,
        [Feature::MultipleAttachments, Feature::Cem]
    );
    assert!(incoming.features.has("cem"));
    // Others, with a token we do not know: kept as sent.
    let mut h = headers("application/octet-stream");
    h.push(
        "ediint-features",
        b"CEM,multiple-attachments,AS2-Reliability, AS2-Restart".to_vec(),
    );
    let incoming = inbound::handle(&h, b"data", &limits).unwrap();
    assert_eq!(
        incoming.features.0,
        [
            Feature::Cem,
            Feature::MultipleAttachments,
            Feature::As2Reliability,
            Feature::Other("AS2-Restart".into()),
        ]
    );
    assert_eq!(
        incoming.features.to_header().as_deref(),
        Some("CEM, multiple-attachments, AS2-Reliability, AS2-Restart")
    );
    // No header: an empty list.
    let h = headers("application/octet-stream");
    let incoming = inbound::handle(&h, b"x", &limits).unwrap();
    assert!(incoming.features.0.is_empty());
}
