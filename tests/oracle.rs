//! No decryption oracle: every ciphertext that does not yield an authentic message gives
//! the same outcome, and an automated padding-oracle attack learns nothing.
//!
//! The failures are built from one encrypted (and compressed) message: the wrong
//! recipient key, bad RSA PKCS#1 v1.5 padding (a corrupted encrypted key), bad CBC
//! padding (a corrupted byte in the next-to-last block), a bad inner structure (a
//! corrupted middle block, which CBC decrypts "successfully" into garbage), and, where a
//! signature is required, a stripped signature (one IV byte turns `Content-Type` into
//! `Content-Typx`), a garbled first block and an unsigned message. Through
//! `message::inbound` each must give the same `Error`, `code()`, `disposition()`, layers
//! and MIC, and the same MDN byte for byte, while the operator still learns the real
//! cause (`Rejected::concealed`). Timing is not asserted (see the `cms::enveloped` docs).
//!
//! `vaudenay_*` runs Vaudenay's CBC padding-oracle attack (Eurocrypt 2002): first against
//! a deliberate padding oracle (the strict `EnvelopedData::decrypt`), where it recovers a
//! block of plaintext, which shows the attack works; then against the inbound path under
//! every policy, where every query looks the same and it learns nothing.

use std::ops::Range;

use as2_proto::__internal::ber::{self, Reader, Tag};
use as2_proto::cms::algorithm::{ContentEncryption, KeyTransport};
use as2_proto::cms::enveloped::{EncryptOptions, EnvelopedData};
use as2_proto::cms::signed::{SignOptions, Signer};
use as2_proto::mdn::{self, MdnSettings, Report};
use as2_proto::message::headers::{As2Id, HttpHeaders, MessageId};
use as2_proto::message::inbound::{
    self, InboundPolicy, Layer, NoDuplicateCheck, Received, Rejected,
};
use as2_proto::message::outbound::{self, Compression, MdnRequest, OutboundMessage};
use as2_proto::{
    Certificate, Disposition, Error, ErrorCode, Limits, Modifier, PrivateKey, unix_time,
};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn identity(cert: &[u8], key: &[u8]) -> (Certificate, PrivateKey) {
    (
        Certificate::from_pem(cert).unwrap(),
        PrivateKey::from_pem(key, None).unwrap(),
    )
}

/// Our decryption identity.
fn ours() -> (Certificate, PrivateKey) {
    identity(
        include_bytes!("data/pyas2lib/pki/as2proto_B/enc.crt"),
        include_bytes!("data/pyas2lib/pki/as2proto_B/enc.key"),
    )
}

/// The partner's signing identity.
fn partner() -> (Certificate, PrivateKey) {
    identity(
        include_bytes!("data/pyas2lib/pki/pyas2lib_A/sign.crt"),
        include_bytes!("data/pyas2lib/pki/pyas2lib_A/sign.key"),
    )
}

fn stranger_key() -> PrivateKey {
    PrivateKey::from_pem(include_bytes!("data/keys/doc.key"), None).unwrap()
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// An encrypted, compressed (and, if `signed`, signed) message to `recipient` asking for
/// a sync MDN, as HTTP headers and body (the body is the EnvelopedData DER).
fn message(
    recipient: &Certificate,
    options: EncryptOptions,
    signed: bool,
) -> (HttpHeaders, Vec<u8>) {
    let payload = b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *\
        260101*1200*U*00401*000000001*0*P*>~GS*PO*SENDER*RECEIVER*20260101*1200*1*X*004010~"
        .repeat(4);
    let (sign_cert, sign_key) = partner();
    let mut m = OutboundMessage::new(
        As2Id::new("PartnerA").unwrap(),
        As2Id::new("PartnerB").unwrap(),
        &payload,
    );
    m.content_type = "application/edi-x12".into();
    m.compression = Compression::BeforeSigning;
    if signed {
        m.signing = Some((Signer::new(&sign_cert, &sign_key), SignOptions::default()));
    }
    m.encryption = (vec![recipient], options);
    m.mdn = MdnRequest::sync();
    m.message_id = Some(MessageId::parse(b"<oracle-test@PartnerA>").unwrap());
    let built = outbound::build(&m, unix_time(1_800_000_000), &mut rng(1)).unwrap();
    let headers = built.headers.clone();
    // The builder writes the envelope around compressed content with BER indefinite
    // lengths and a segmented ciphertext (the length is not known in advance); the attacks
    // below edit the DER form, which the receiver reads the same way.
    let ber = layout(&built.body);
    let der = ber.with_ciphertext(&ber.ciphertext);
    assert_eq!(layout(&der).ciphertext, ber.ciphertext);
    (headers, der)
}

/// The parts of an EnvelopedData DER an attacker reuses or replaces.
struct Layout {
    encrypted_key: Range<usize>,
    iv: Range<usize>,
    encrypted_content: Range<usize>,
    /// version and recipientInfos, as received.
    head: Vec<u8>,
    /// contentType and contentEncryptionAlgorithm of the EncryptedContentInfo.
    content_head: Vec<u8>,
    /// The ciphertext, joined if it came in segments.
    ciphertext: Vec<u8>,
}

fn layout(der: &[u8]) -> Layout {
    let limits = Limits::default();
    let range = |t: &ber::Tlv<'_>| t.contents_offset..t.contents_offset + t.contents.len();
    let mut top = Reader::new(der, &limits);
    let info = top.read("ContentInfo").unwrap();
    let mut r = info.children("ContentInfo").unwrap();
    r.read("contentType").unwrap();
    let explicit = r.read("[0]").unwrap();
    let enveloped = explicit
        .children("[0]")
        .unwrap()
        .read("EnvelopedData")
        .unwrap();
    let mut e = enveloped.children("EnvelopedData").unwrap();
    let version = e.read("version").unwrap();
    let recipients = e.read("recipientInfos").unwrap();
    let eci = e.read("encryptedContentInfo").unwrap();
    let ri = recipients.children("set").unwrap().read("ri").unwrap();
    let mut k = ri.children("ri").unwrap();
    for what in ["version", "rid", "keyEncryptionAlgorithm"] {
        k.read(what).unwrap();
    }
    let key = k.read("encryptedKey").unwrap();
    let mut c = eci.children("eci").unwrap();
    let content_type = c.read("contentType").unwrap();
    let algorithm = c.read("contentEncryptionAlgorithm").unwrap();
    let mut a = algorithm.children("algorithm").unwrap();
    a.read("oid").unwrap();
    let iv = a.read("iv").unwrap();
    let content = c.read("encryptedContent").unwrap();
    Layout {
        encrypted_key: range(&key),
        iv: range(&iv),
        encrypted_content: range(&content),
        head: [version.raw, recipients.raw].concat(),
        content_head: [content_type.raw, algorithm.raw].concat(),
        ciphertext: content.octets("encryptedContent").unwrap().into_owned(),
    }
}

impl Layout {
    /// The same envelope (recipients, cipher, IV) around another ciphertext: what an
    /// attacker who captured one message can send us.
    fn with_ciphertext(&self, ciphertext: &[u8]) -> Vec<u8> {
        let eci = ber::encode_constructed(
            Tag::SEQUENCE,
            &[
                &self.content_head,
                &ber::encode(Tag::context(0, false), ciphertext),
            ],
        );
        let enveloped = ber::encode_constructed(Tag::SEQUENCE, &[&self.head, &eci]);
        ber::encode_constructed(
            Tag::SEQUENCE,
            &[
                &ber::encode(
                    Tag::OID,
                    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03],
                ),
                &ber::encode_constructed(Tag::context(0, true), &[&enveloped]),
            ],
        )
    }
}

/// What a receiver is configured to accept.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// The default with the partner's certificate: a signature is required.
    SignatureRequired,
    /// Unsigned messages allowed (a partner that cannot sign).
    Unsigned,
    /// Unsigned messages and payloads without MIME headers allowed (Mendelson's form).
    UnsignedBare,
}

/// The inbound outcome for `body` with the decryption identity `decryption` under
/// `mode`, and the sync MDN we answer with (signed when a signature is required).
fn receive(
    headers: &HttpHeaders,
    body: &[u8],
    decryption: &[(Certificate, PrivateKey)],
    mode: Mode,
) -> (Result<Received, Rejected>, u16, HttpHeaders, Vec<u8>) {
    let limits = Limits::default();
    let incoming = inbound::handle(headers, body, &limits).unwrap();
    let partner_certs = [partner().0];
    let mut policy = InboundPolicy::new(decryption, &partner_certs, &limits);
    assert!(
        policy.require_signature,
        "the default with partner certificates"
    );
    match mode {
        Mode::SignatureRequired => {}
        Mode::Unsigned => policy.require_signature = false,
        Mode::UnsignedBare => {
            policy.require_signature = false;
            policy.accept_bare_payload = true;
        }
    }
    let outcome = incoming.accept(&policy, &mut NoDuplicateCheck, &mut rng(2));
    let report = match &outcome {
        Ok(received) => Report::received(received),
        Err(rejected) => Report::rejected(rejected),
    };
    let (our_cert, our_key) = ours();
    let settings = match mode {
        Mode::SignatureRequired => MdnSettings::signed(Signer::new(&our_cert, &our_key)),
        _ => MdnSettings::new(),
    };
    let reply = mdn::reply(
        &incoming,
        &report,
        &settings,
        unix_time(1_800_000_100),
        &mut rng(3),
    )
    .unwrap();
    (
        outcome,
        reply.response.status,
        reply.response.headers,
        reply.response.body,
    )
}

fn flip(body: &[u8], at: usize, xor: u8) -> Vec<u8> {
    let mut out = body.to_vec();
    out[at] ^= xor;
    out
}

#[test]
fn every_decryption_failure_is_the_same_outcome() {
    let (cert, key) = ours();
    let right = vec![(cert.clone(), key.clone())];
    let wrong = vec![(cert.clone(), stranger_key())];
    for (mode, signed) in [(Mode::SignatureRequired, true), (Mode::Unsigned, false)] {
        for cipher in [
            ContentEncryption::Aes128Cbc,
            ContentEncryption::Aes256Cbc,
            ContentEncryption::TripleDesCbc,
        ] {
            let mut options = EncryptOptions::default();
            options.cipher = cipher;
            options.key_transport = KeyTransport::RsaPkcs1v15;
            let (headers, body) = message(&cert, options.clone(), signed);
            let layout = layout(&body);
            let block = cipher.block_len();
            let content = layout.encrypted_content.clone();
            assert_eq!(content.len() % block, 0);
            let blocks = content.len() / block;
            assert!(blocks >= 8, "the message must have a middle block");

            // The message itself is accepted: each failure below is caused by its one change.
            let (outcome, ..) = receive(&headers, &body, &right, mode);
            let received = outcome.unwrap();
            assert_eq!(received.signature.is_some(), signed);
            assert!(received.layers.contains(&Layer::Encrypted(cipher)));

            let key_middle = layout.encrypted_key.start + layout.encrypted_key.len() / 2;
            // The last byte of the next-to-last block: CBC XORs it into the last plaintext
            // byte, the padding length, which becomes 0x5a ^ (1..=16): never valid padding.
            let last_block = content.end - block - 1;
            let middle_block = content.start + (blocks / 2) * block + 1;
            let mut cases = vec![
                (
                    "wrong recipient key",
                    receive(&headers, &body, &wrong, mode),
                ),
                (
                    "bad RSA padding",
                    receive(&headers, &flip(&body, key_middle, 0x5a), &right, mode),
                ),
                (
                    "bad CBC padding",
                    receive(&headers, &flip(&body, last_block, 0x5a), &right, mode),
                ),
                (
                    "bad inner structure",
                    receive(&headers, &flip(&body, middle_block, 0x5a), &right, mode),
                ),
            ];
            if signed {
                // The plaintext starts `Content-Type:`; CBC XORs the IV into the first block,
                // so one IV byte turns it into `Content-Typx:`, no longer a signed entity.
                // (With 3DES's 8-byte blocks, byte 11 is in the second block: flipping the
                // first ciphertext block does it, garbling `Content-` as well.)
                let at = match 11usize.checked_sub(block) {
                    None => layout.iv.start + 11,
                    Some(i) => content.start + i,
                };
                let strip = flip(&body, at, b'e' ^ b'x');
                let (unsigned_headers, unsigned_body) = message(&cert, options, false);
                cases.extend([
                    (
                        "stripped signature",
                        receive(&headers, &strip, &right, mode),
                    ),
                    (
                        "garbled first block",
                        receive(
                            &headers,
                            &flip(&body, content.start + 3, 0x5a),
                            &right,
                            mode,
                        ),
                    ),
                    (
                        "unsigned message",
                        receive(&unsigned_headers, &unsigned_body, &right, mode),
                    ),
                ]);
            }

            // The CMS layer alone: the strict decrypt() tells bad keys and paddings apart
            // (which is why the inbound path does not use it).
            let limits = Limits::default();
            let cms = |der: &[u8], key: &PrivateKey| {
                EnvelopedData::parse(der, &limits)
                    .unwrap()
                    .decrypt(&cert, key, &mut rng(4))
            };
            assert_eq!(cms(&body, &stranger_key()), Err(Error::DecryptionFailed));
            assert_eq!(
                cms(&flip(&body, last_block, 0x5a), &key),
                Err(Error::DecryptionFailed)
            );
            assert!(cms(&flip(&body, middle_block, 0x5a), &key).is_ok());

            let (first_name, (_, first_status, first_headers, first_body)) = &cases[0];
            for (name, (outcome, status, mdn_headers, mdn_body)) in &cases {
                let name = format!("{name} ({cipher}, {mode:?})");
                let rejected = outcome.as_ref().expect_err(&name);
                assert_eq!(rejected.error, Error::DecryptionFailed, "{name}");
                assert_eq!(rejected.error.code(), ErrorCode::DecryptFailed, "{name}");
                assert_eq!(
                    rejected.error.disposition(),
                    Disposition::Error(Modifier::DecryptionFailed),
                    "{name}"
                );
                assert_eq!(rejected.error.to_string(), "decryption failed", "{name}");
                assert_eq!(rejected.layers, [Layer::Encrypted(cipher)], "{name}");
                assert_eq!(rejected.mic, None, "{name}");
                // The operator is told the real cause.
                let cause = rejected.concealed.as_deref().expect(&name);
                assert_ne!(*cause, Error::DecryptionFailed, "{name}");
                assert_eq!(rejected.cause(), cause);
                // The whole answer, MDN included, is identical byte for byte.
                assert_eq!(status, first_status, "{name} vs {first_name}");
                assert_eq!(mdn_headers, first_headers, "{name} vs {first_name}");
                assert_eq!(mdn_body, first_body, "{name} vs {first_name}");
            }
            let text = String::from_utf8_lossy(first_body);
            assert!(
                text.contains("processed/Error: decryption-failed"),
                "{text}"
            );
        }
    }
}

/// OAEP key transport: a corrupted encrypted key and the wrong key fail like PKCS#1 v1.5.
#[test]
fn oaep_failures_are_the_same_outcome_too() {
    let (cert, key) = ours();
    let mut options = EncryptOptions::default();
    options.key_transport =
        KeyTransport::RsaOaep(as2_proto::cms::algorithm::DigestAlgorithm::Sha256);
    let (headers, body) = message(&cert, options, true);
    let layout = layout(&body);
    let right = vec![(cert.clone(), key)];
    let wrong = vec![(cert.clone(), stranger_key())];
    let at = layout.encrypted_key.start + 7;
    for mode in [Mode::SignatureRequired, Mode::Unsigned] {
        let (a, a_status, ah, ab) = receive(&headers, &body, &wrong, mode);
        let (b, b_status, bh, bb) = receive(&headers, &flip(&body, at, 0x5a), &right, mode);
        let (a, b) = (a.unwrap_err(), b.unwrap_err());
        assert_eq!(a.error, Error::DecryptionFailed);
        assert_eq!((&a.error, &a.layers, &a.mic), (&b.error, &b.layers, &b.mic));
        assert_eq!((a_status, ah, ab), (b_status, bh, bb));
    }
}

/// Vaudenay's attack on one block `target` (preceded by `previous`) through `oracle`,
/// which sends the two-block ciphertext `X || target` and returns what the sender
/// observes. A query whose observation differs from the usual one is taken as "valid
/// padding". Returns the plaintext block, or `None` when no query stood out (nothing
/// learnt), with the number of queries made.
fn vaudenay(
    previous: &[u8],
    target: &[u8],
    oracle: &mut dyn FnMut(&[u8]) -> Vec<u8>,
) -> (Option<Vec<u8>>, usize) {
    let b = target.len();
    let mut queries = 0;
    let mut ask = |x: &[u8]| {
        queries += 1;
        oracle(&[x, target].concat())
    };
    // intermediate[j] = D(target)[j]; the plaintext is intermediate ^ previous.
    let mut intermediate = vec![0u8; b];
    for j in (0..b).rev() {
        let pad = (b - j) as u8;
        let x_for = |guess: u8, filler: u8| {
            let mut x = vec![filler; b];
            x[j] = guess;
            for k in j + 1..b {
                x[k] = intermediate[k] ^ pad;
            }
            x
        };
        // The usual observation: the majority of three queries (at most one of any
        // three guesses gives valid padding).
        let first: Vec<Vec<u8>> = (0..3u8).map(|g| ask(&x_for(g, 0xa5))).collect();
        let usual = if first[0] == first[1] || first[0] == first[2] {
            first[0].clone()
        } else {
            first[1].clone()
        };
        let mut found = None;
        for guess in 0..=255u8 {
            let seen = match guess {
                0..=2 => first[usize::from(guess)].clone(),
                _ => ask(&x_for(guess, 0xa5)),
            };
            if seen == usual {
                continue;
            }
            // At the last byte, `.. 02 | 02` is valid padding too: changing the byte
            // before must keep a true `01` valid.
            if j + 1 == b && j > 0 && ask(&x_for(guess, 0x5a)) == usual {
                continue;
            }
            found = Some(guess);
            break;
        }
        let Some(guess) = found else {
            return (None, queries);
        };
        intermediate[j] = guess ^ pad;
    }
    let plain = intermediate
        .iter()
        .zip(previous)
        .map(|(i, p)| i ^ p)
        .collect();
    (Some(plain), queries)
}

#[test]
fn vaudenay_attack_recovers_plaintext_from_a_padding_oracle_but_learns_nothing_from_us() {
    let (cert, key) = ours();
    let limits = Limits::default();
    let right = vec![(cert.clone(), key.clone())];
    let mut options = EncryptOptions::default();
    options.cipher = ContentEncryption::Aes128Cbc;
    let (headers, body) = message(&cert, options, true);
    let layout = layout(&body);
    let ciphertext = &body[layout.encrypted_content.clone()];
    let b = 16;
    // The secret: the third block of the plaintext, preceded by the second ciphertext
    // block. (The test reads it only to compare; the attack never sees it.)
    let plaintext = EnvelopedData::parse(&body, &limits)
        .unwrap()
        .decrypt(&cert, &key, &mut rng(9))
        .unwrap();
    let secret = &plaintext[2 * b..3 * b];
    let (previous, target) = (&ciphertext[b..2 * b], &ciphertext[2 * b..3 * b]);
    assert_eq!(
        layout.with_ciphertext(ciphertext),
        body,
        "re-encoding is exact"
    );

    // 1. Against a padding oracle (the strict CMS decrypt, which fails on bad padding):
    // the attack works and recovers the block.
    let mut padding_oracle = |c: &[u8]| {
        let der = layout.with_ciphertext(c);
        let ok = EnvelopedData::parse(&der, &limits)
            .unwrap()
            .decrypt(&cert, &key, &mut rng(5))
            .is_ok();
        vec![u8::from(ok)]
    };
    let (recovered, queries) = vaudenay(previous, target, &mut padding_oracle);
    assert_eq!(
        recovered.as_deref(),
        Some(secret),
        "after {queries} queries"
    );

    // 2. Against our inbound path, reading everything the sender can observe: the
    // HTTP status, the MDN headers and every MDN byte (the date and IDs are fixed here, so
    // they need no masking). Under every policy no query stands out.
    for mode in [Mode::SignatureRequired, Mode::Unsigned, Mode::UnsignedBare] {
        let mut observations = std::collections::BTreeSet::new();
        let mut inbound_oracle = |c: &[u8]| {
            let der = layout.with_ciphertext(c);
            let (outcome, status, mdn_headers, mdn_body) = receive(&headers, &der, &right, mode);
            let mut seen = format!("{status} {mdn_headers:?}\n").into_bytes();
            let text = String::from_utf8_lossy(&mdn_body);
            match (&outcome, mode) {
                // Where unsigned, header-less payloads are accepted, whatever decrypts is
                // delivered, and the MDN returns its MIC: a hash of 16 unknown bytes,
                // different for every query whatever the padding. Compare the rest.
                (Ok(_), Mode::UnsignedBare) => {
                    for line in text.lines() {
                        if !line.starts_with("Received-Content-MIC") {
                            seen.extend_from_slice(line.as_bytes());
                        }
                    }
                }
                (Ok(received), _) => panic!("{mode:?}: accepted {received:?}"),
                (Err(_), _) => seen.extend_from_slice(&mdn_body),
            }
            observations.insert(seen.clone());
            seen
        };
        let (recovered, queries) = vaudenay(previous, target, &mut inbound_oracle);
        assert_eq!(recovered, None, "{mode:?}: the attack learnt a block");
        assert!(
            queries >= 256,
            "{mode:?}: every guess of the last byte was tried"
        );
        assert_eq!(
            observations.len(),
            1,
            "{mode:?}: {queries} queries, all alike"
        );
    }
}

/// The sender is told only `decryption-failed`, byte for byte the same as for any other
/// failure after decryption; the operator learns the real cause from the typed error
/// (`Rejected::cause`) and from the local status record's `failure-message`.
#[test]
fn operators_see_the_real_cause() {
    use as2_proto::record::{ReferenceErrorPolicy, StatusRecord};
    use as2_proto::{Limit, Limits};
    let (cert, key) = ours();
    let right = vec![(cert.clone(), key.clone())];
    let mut small = Limits::default();
    small.max_decompressed_size = 1 << 20;
    let zeros = vec![0u8; 2 << 20];
    let multipart = b"--p\r\nContent-Type: text/plain\r\n\r\none\r\n--p\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--p--\r\n";
    let build = |payload: &[u8], content_type: &str, compression: Compression| {
        let mut m = OutboundMessage::new(
            As2Id::new("PartnerA").unwrap(),
            As2Id::new("PartnerB").unwrap(),
            payload,
        );
        m.content_type = content_type.into();
        m.compression = compression;
        m.encryption = (vec![&cert], EncryptOptions::default());
        m.mdn = MdnRequest::sync();
        m.message_id = Some(MessageId::parse(b"<cause@PartnerA>").unwrap());
        let built = outbound::build(&m, unix_time(1_800_000_000), &mut rng(1)).unwrap();
        let headers = built.headers.clone();
        (headers, built.body)
    };
    let cases = [
        (
            "decompression cap",
            build(&zeros, "application/edi-x12", Compression::BeforeSigning),
        ),
        (
            "multipart payload",
            build(multipart, "multipart/mixed; boundary=p", Compression::None),
        ),
    ];
    let mut answers = Vec::new();
    for (name, (headers, body)) in &cases {
        let incoming = inbound::handle(headers, body, &small).unwrap();
        let mut policy = InboundPolicy::new(&right, &[], &small);
        policy.require_signature = false;
        let rejected = incoming
            .accept(&policy, &mut NoDuplicateCheck, &mut rng(2))
            .unwrap_err();
        // The sender's view.
        assert_eq!(rejected.error, Error::DecryptionFailed, "{name}");
        assert_eq!(rejected.error.code(), ErrorCode::DecryptFailed, "{name}");
        let reply = mdn::reply(
            &incoming,
            &Report::rejected(&rejected),
            &MdnSettings::new(),
            unix_time(1_800_000_100),
            &mut rng(3),
        )
        .unwrap();
        answers.push((reply.response.status, reply.response.body));
        // The operator's view: the typed cause and the record.
        let mut record = StatusRecord::default();
        record.set_rejected(&rejected, &ReferenceErrorPolicy);
        assert_eq!(
            record.failure_code.as_deref(),
            Some("DECRYPT_FAILED"),
            "{name}"
        );
        let message = record.failure_message.clone().unwrap();
        assert!(
            message.starts_with("decryption failed (cause: "),
            "{message}"
        );
        match *name {
            "decompression cap" => {
                assert!(
                    matches!(
                        rejected.cause(),
                        Error::LimitExceeded {
                            limit: Limit::DecompressedSize,
                            ..
                        }
                    ),
                    "{:?}",
                    rejected.cause()
                );
                assert!(message.contains(&rejected.cause().to_string()), "{message}");
            }
            _ => {
                assert!(
                    matches!(rejected.cause(), Error::UnsupportedFormat(m) if m.contains("multipart")),
                    "{:?}",
                    rejected.cause()
                );
                assert!(message.contains("multipart"), "{message}");
            }
        }
    }
    assert_eq!(
        answers[0], answers[1],
        "the sender cannot tell the causes apart"
    );
}

/// AuthEnvelopedData (RFC 5083): the parts an attacker edits, rebuilt around another `mac`.
fn with_mac(der: &[u8], mac: &[u8]) -> Vec<u8> {
    let limits = Limits::default();
    let info = Reader::new(der, &limits).read("ContentInfo").unwrap();
    let mut r = info.children("ContentInfo").unwrap();
    let content_type = r.read("contentType").unwrap();
    let explicit = r.read("[0]").unwrap();
    let auth = explicit
        .children("[0]")
        .unwrap()
        .read("AuthEnvelopedData")
        .unwrap();
    let mut a = auth.children("AuthEnvelopedData").unwrap();
    let mut fields = Vec::new();
    while !a.is_empty() {
        fields.push(a.read("field").unwrap().raw.to_vec());
    }
    // version, recipientInfos, authEncryptedContentInfo, mac
    assert_eq!(fields.len(), 4);
    fields[3] = ber::encode(Tag::OCTET_STRING, mac);
    let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    let auth = ber::encode_constructed(Tag::SEQUENCE, &refs);
    ber::encode_constructed(
        Tag::SEQUENCE,
        &[
            content_type.raw,
            &ber::encode_constructed(Tag::context(0, true), &[&auth]),
        ],
    )
}

/// A sink that records what the receiver did with the tentative payload.
#[derive(Default)]
struct Recorder {
    written: usize,
    committed: bool,
    aborted: bool,
}

impl as2_proto::message::receive::PayloadSink for Recorder {
    fn write(&mut self, tentative: &[u8]) {
        self.written += tentative.len();
    }
    fn commit(&mut self) {
        self.committed = true;
    }
    fn abort(&mut self) {
        self.aborted = true;
    }
}

/// AES-GCM and AES-CCM (AuthEnvelopedData): a flipped tag bit, a flipped ciphertext bit, a
/// wrong key and a truncated tag give the one outcome of every other decryption failure
/// (same error, code, disposition, layers, no MIC, the same MDN byte for byte), the real
/// cause kept for the operator; the streaming receiver aborts the tentative payload and
/// never commits it. A tag that does not verify is refused even when the signature
/// inside would (the flipped tag bit leaves the content intact).
#[test]
fn aead_tag_failures_are_the_same_outcome() {
    let (cert, key) = ours();
    let right = vec![(cert.clone(), key.clone())];
    let wrong = vec![(cert.clone(), stranger_key())];
    let (sign_cert, sign_key) = partner();
    let payload =
        b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *~".repeat(8);
    for cipher in [
        ContentEncryption::Aes128Gcm,
        ContentEncryption::Aes256Gcm,
        ContentEncryption::Aes128Ccm,
        ContentEncryption::Aes256Ccm,
    ] {
        for (mode, signed) in [(Mode::SignatureRequired, true), (Mode::Unsigned, false)] {
            let mut options = EncryptOptions::default();
            options.cipher = cipher;
            let mut m = OutboundMessage::new(
                As2Id::new("PartnerA").unwrap(),
                As2Id::new("PartnerB").unwrap(),
                &payload,
            );
            m.content_type = "application/edi-x12".into();
            if signed {
                m.signing = Some((Signer::new(&sign_cert, &sign_key), SignOptions::default()));
            }
            m.encryption = (vec![&cert], options);
            m.mdn = MdnRequest::sync();
            m.message_id = Some(MessageId::parse(b"<oracle-aead@PartnerA>").unwrap());
            let built = outbound::build(&m, unix_time(1_800_000_000), &mut rng(1)).unwrap();
            let (headers, body) = (built.headers.clone(), built.body.clone());
            assert!(
                headers
                    .get_str("Content-Type")
                    .unwrap()
                    .contains("smime-type=authEnveloped-data")
            );
            // Accepted as built.
            let (outcome, ..) = receive(&headers, &body, &right, mode);
            let received = outcome.unwrap();
            assert!(received.layers.contains(&Layer::Encrypted(cipher)));
            assert_eq!(received.payload, payload);

            // DER, the 16-octet `mac` last: 04 10 <tag>; the ciphertext just before it.
            let tag = body[body.len() - 16..].to_vec();
            let ciphertext_byte = body.len() - 18 - 40;
            let cases = [
                (
                    "wrong key",
                    receive(&headers, &body, &wrong, mode),
                    body.clone(),
                    &wrong,
                ),
                (
                    "flipped tag bit",
                    receive(&headers, &flip(&body, body.len() - 1, 0x01), &right, mode),
                    flip(&body, body.len() - 1, 0x01),
                    &right,
                ),
                (
                    "flipped ciphertext bit",
                    receive(&headers, &flip(&body, ciphertext_byte, 0x01), &right, mode),
                    flip(&body, ciphertext_byte, 0x01),
                    &right,
                ),
                (
                    "truncated tag",
                    receive(&headers, &with_mac(&body, &tag[..15]), &right, mode),
                    with_mac(&body, &tag[..15]),
                    &right,
                ),
            ];
            assert_eq!(with_mac(&body, &tag), body, "the rebuild is exact");
            let (first_name, (_, first_status, first_headers, first_body), _, _) = &cases[0];
            for (name, (outcome, status, mdn_headers, mdn_body), input, keys) in &cases {
                let name = format!("{name} ({cipher}, {mode:?})");
                let rejected = outcome.as_ref().expect_err(&name);
                assert_eq!(rejected.error, Error::DecryptionFailed, "{name}");
                assert_eq!(rejected.error.code(), ErrorCode::DecryptFailed, "{name}");
                assert_eq!(
                    rejected.error.disposition(),
                    Disposition::Error("decryption-failed".into()),
                    "{name}"
                );
                assert_eq!(rejected.layers, [Layer::Encrypted(cipher)], "{name}");
                assert_eq!(rejected.mic, None, "{name}");
                let cause = rejected.concealed.as_deref().expect(&name);
                assert_ne!(*cause, Error::DecryptionFailed, "{name}");
                assert_eq!(status, first_status, "{name} vs {first_name}");
                assert_eq!(mdn_headers, first_headers, "{name} vs {first_name}");
                assert_eq!(mdn_body, first_body, "{name} vs {first_name}");

                // The same through the streaming receiver, pushed in small pieces: the
                // tentative payload is aborted, never committed.
                let limits = Limits::default();
                let incoming = inbound::handle(&headers, input, &limits).unwrap();
                let partner_certs = [partner().0];
                let mut policy = InboundPolicy::new(keys, &partner_certs, &limits);
                policy.require_signature = signed;
                let mut receiver = incoming.receive(&policy);
                let mut sink = Recorder::default();
                let mut r = rng(2);
                for piece in input.chunks(37) {
                    receiver.push(piece, &mut sink, &mut r);
                }
                let streamed = receiver.finish(&mut sink, &mut NoDuplicateCheck, &mut r);
                assert_eq!(
                    streamed.unwrap_err().error,
                    Error::DecryptionFailed,
                    "{name}"
                );
                assert!(sink.aborted && !sink.committed, "{name}");
            }
            let text = String::from_utf8_lossy(first_body);
            assert!(
                text.contains("processed/Error: decryption-failed"),
                "{text}"
            );
        }
    }
}

/// Our EC (P-384) decryption identity, for ECDH key agreement.
fn ours_ec() -> (Certificate, PrivateKey) {
    identity(
        include_bytes!("data/keys/ec-p384.crt"),
        include_bytes!("data/keys/ec-p384.key"),
    )
}

/// Where the originator's ephemeral point (the BIT STRING's contents after the
/// unused-bits octet) and the wrapped key sit in the first RecipientInfo, a
/// KeyAgreeRecipientInfo.
fn kari_layout(der: &[u8]) -> (Range<usize>, Range<usize>) {
    let limits = Limits::default();
    let range = |t: &ber::Tlv<'_>| t.contents_offset..t.contents_offset + t.contents.len();
    let info = Reader::new(der, &limits).read("ContentInfo").unwrap();
    let mut r = info.children("ContentInfo").unwrap();
    r.read("contentType").unwrap();
    let explicit = r.read("[0]").unwrap();
    let enveloped = explicit.children("[0]").unwrap().read("env").unwrap();
    let mut e = enveloped.children("env").unwrap();
    e.read("version").unwrap();
    let set = e.read("recipientInfos").unwrap();
    let kari = set.children("set").unwrap().read("kari").unwrap();
    assert_eq!(kari.tag, Tag::context(1, true));
    let mut k = kari.children("kari").unwrap();
    k.read("version").unwrap();
    let originator = k.read("originator").unwrap();
    let key = originator
        .children("originator")
        .unwrap()
        .read("originatorKey")
        .unwrap();
    let mut o = key.children("originatorKey").unwrap();
    o.read("algorithm").unwrap();
    let point = range(&o.read("publicKey").unwrap());
    k.read("keyEncryptionAlgorithm").unwrap();
    let keys = k.read("recipientEncryptedKeys").unwrap();
    let first = keys.children("keys").unwrap().read("rek").unwrap();
    let mut f = first.children("rek").unwrap();
    f.read("rid").unwrap();
    let wrapped = range(&f.read("encryptedKey").unwrap());
    (point.start + 1..point.end, wrapped)
}

/// ECDH key agreement (RFC 5753) fails like RSA key transport: a point that is not on the
/// curve, the wrong private key, a wrapped key whose AES key-wrap integrity check fails,
/// a bad CBC padding and garbled content give the one `DecryptionFailed`, the same MDN
/// byte for byte, and the same error, code, disposition, layers and MIC as an RSA
/// recipient's failure.
#[test]
fn ecdh_failures_are_the_same_outcome_as_rsa_ones() {
    let (cert, key) = ours_ec();
    let right = vec![(cert.clone(), key.clone())];
    let stranger = PrivateKey::from(p384::SecretKey::from_slice(&[7u8; 48]).unwrap());
    let wrong = vec![(cert.clone(), stranger)];
    let rsa_failure = {
        let (rsa_cert, _) = ours();
        let (headers, body) = message(&rsa_cert, EncryptOptions::default(), true);
        let (outcome, ..) = receive(
            &headers,
            &body,
            &[(rsa_cert.clone(), stranger_key())],
            Mode::SignatureRequired,
        );
        outcome.unwrap_err()
    };
    for mode in [Mode::SignatureRequired, Mode::Unsigned] {
        let (headers, body) = message(&cert, EncryptOptions::default(), true);
        let (outcome, ..) = receive(&headers, &body, &right, mode);
        assert!(outcome.unwrap().signature.is_some());
        let (point, wrapped) = kari_layout(&body);
        assert_eq!(point.len(), 97, "an uncompressed P-384 point");
        assert_eq!(wrapped.len(), 40, "an AES-256 key wrapped");
        let content = layout(&body).encrypted_content;
        let cases = [
            ("wrong EC key", receive(&headers, &body, &wrong, mode)),
            (
                "point not on the curve",
                receive(&headers, &flip(&body, point.start + 5, 0x01), &right, mode),
            ),
            (
                "point with a compressed-form tag",
                receive(&headers, &flip(&body, point.start, 0x06), &right, mode),
            ),
            (
                "key-wrap integrity",
                receive(
                    &headers,
                    &flip(&body, wrapped.start + 3, 0x5a),
                    &right,
                    mode,
                ),
            ),
            (
                "bad CBC padding",
                receive(&headers, &flip(&body, content.end - 17, 0x5a), &right, mode),
            ),
            (
                "bad inner structure",
                receive(
                    &headers,
                    &flip(&body, content.start + 40, 0x5a),
                    &right,
                    mode,
                ),
            ),
        ];
        let (first_name, (_, first_status, first_headers, first_body)) = &cases[0];
        for (name, (outcome, status, mdn_headers, mdn_body)) in &cases {
            let name = format!("{name} ({mode:?})");
            let rejected = outcome.as_ref().expect_err(&name);
            assert_eq!(rejected.error, Error::DecryptionFailed, "{name}");
            assert_eq!(rejected.error, rsa_failure.error, "{name}");
            assert_eq!(rejected.error.code(), rsa_failure.error.code(), "{name}");
            assert_eq!(
                rejected.error.disposition(),
                rsa_failure.error.disposition(),
                "{name}"
            );
            assert_eq!(rejected.layers, rsa_failure.layers, "{name}");
            assert_eq!((rejected.mic.as_ref(), &rsa_failure.mic), (None, &None));
            assert!(rejected.concealed.is_some(), "{name}");
            assert_eq!(status, first_status, "{name} vs {first_name}");
            assert_eq!(mdn_headers, first_headers, "{name} vs {first_name}");
            assert_eq!(mdn_body, first_body, "{name} vs {first_name}");
        }
        // The CMS layer alone: an unwrap failure is a DecryptionFailed there too.
        let limits = Limits::default();
        let envelope = |der: &[u8], key: &PrivateKey| {
            EnvelopedData::parse(der, &limits)
                .unwrap()
                .decrypt(&cert, key, &mut rng(4))
        };
        assert_eq!(
            envelope(&flip(&body, wrapped.start, 1), &key),
            Err(Error::DecryptionFailed)
        );
        assert_eq!(
            envelope(&flip(&body, point.start + 9, 1), &key),
            Err(Error::DecryptionFailed)
        );
        assert_eq!(envelope(&body, &wrong[0].1), Err(Error::DecryptionFailed));
    }
}
