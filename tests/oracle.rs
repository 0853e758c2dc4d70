//! No decryption oracle: every way decryption can fail looks the same from outside.
//!
//! Four failures are built from one encrypted (and compressed) message: the wrong
//! recipient key, bad RSA PKCS#1 v1.5 padding (a corrupted encrypted key), bad CBC
//! padding (a corrupted padding byte in the last block) and a bad inner structure (a corrupted middle block,
//! which CBC decrypts "successfully" into garbage). Through `message::inbound` each must
//! give the same `Error`, `code()`, `disposition()`, the same `Rejected`, and the same
//! error MDN byte for byte. Timing is not asserted (see the `cms::enveloped` docs for
//! what is and is not promised).

use std::ops::Range;

use as2_proto::cms::algorithm::{ContentEncryption, KeyTransport};
use as2_proto::cms::ber::Reader;
use as2_proto::cms::enveloped::{EncryptOptions, EnvelopedData};
use as2_proto::mdn::{self, MdnSettings, Report};
use as2_proto::message::headers::{As2Id, HttpHeaders, MessageId};
use as2_proto::message::inbound::{self, InboundPolicy, Layer, NoDuplicateCheck, Rejected};
use as2_proto::message::outbound::{self, Compression, MdnRequest, OutboundMessage};
use as2_proto::{Certificate, Disposition, Error, ErrorCode, Limits, PrivateKey, unix_time};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn identity(cert: &[u8], key: &[u8]) -> (Certificate, PrivateKey) {
    (
        Certificate::from_pem(cert).unwrap(),
        PrivateKey::from_pem(key, None).unwrap(),
    )
}

fn ours() -> (Certificate, PrivateKey) {
    identity(
        include_bytes!("data/pyas2lib/pki/as2proto_B/enc.crt"),
        include_bytes!("data/pyas2lib/pki/as2proto_B/enc.key"),
    )
}

fn stranger_key() -> PrivateKey {
    PrivateKey::from_pem(include_bytes!("data/keys/doc.key"), None).unwrap()
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// An encrypted, compressed message to `recipient` asking for a sync MDN, as HTTP
/// headers and body (the body is the EnvelopedData DER).
fn message(recipient: &Certificate, options: EncryptOptions) -> (HttpHeaders, Vec<u8>) {
    let payload = b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *\
        260101*1200*U*00401*000000001*0*P*>~GS*PO*SENDER*RECEIVER*20260101*1200*1*X*004010~"
        .repeat(4);
    let mut m = OutboundMessage::new(
        As2Id::new("PartnerA").unwrap(),
        As2Id::new("PartnerB").unwrap(),
        &payload,
    );
    m.content_type = "application/edi-x12".into();
    m.compression = Compression::BeforeSigning;
    m.encryption = (vec![recipient], options);
    m.mdn = MdnRequest::Sync;
    m.message_id = Some(MessageId::parse(b"<oracle-test@PartnerA>").unwrap());
    let built = outbound::build(&m, unix_time(1_800_000_000), &mut rng(1)).unwrap();
    let mut headers = HttpHeaders::new();
    for (n, v) in &built.headers {
        headers.push(n.clone(), v.as_bytes().to_vec());
    }
    (headers, built.body)
}

/// Where the encrypted key and the encrypted content are in an EnvelopedData DER.
struct Layout {
    encrypted_key: Range<usize>,
    encrypted_content: Range<usize>,
}

fn layout(der: &[u8]) -> Layout {
    let limits = Limits::default();
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
    e.read("version").unwrap();
    let recipients = e.read("recipientInfos").unwrap();
    let eci = e.read("encryptedContentInfo").unwrap();
    let ri = recipients.children("set").unwrap().read("ri").unwrap();
    let mut k = ri.children("ri").unwrap();
    for what in ["version", "rid", "keyEncryptionAlgorithm"] {
        k.read(what).unwrap();
    }
    let key = k.read("encryptedKey").unwrap();
    let mut c = eci.children("eci").unwrap();
    c.read("contentType").unwrap();
    c.read("contentEncryptionAlgorithm").unwrap();
    let content = c.read("encryptedContent").unwrap();
    let range =
        |t: &as2_proto::cms::ber::Tlv<'_>| t.contents_offset..t.contents_offset + t.contents.len();
    Layout {
        encrypted_key: range(&key),
        encrypted_content: range(&content),
    }
}

/// The inbound outcome for `body` with the decryption identity `decryption`, and the
/// sync MDN we answer with.
fn receive(
    headers: &HttpHeaders,
    body: &[u8],
    decryption: &[(Certificate, PrivateKey)],
) -> (Rejected, HttpHeaders, Vec<u8>) {
    let limits = Limits::default();
    let incoming = inbound::handle(headers, body, &limits).unwrap();
    let policy = InboundPolicy::new(decryption, &[], &limits);
    let rejected = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut rng(2))
        .expect_err("every case must be refused");
    let report = Report::rejected(&rejected);
    let reply = mdn::reply(
        &incoming,
        &report,
        &MdnSettings::new(),
        unix_time(1_800_000_100),
        &mut rng(3),
    )
    .unwrap();
    (rejected, reply.response.headers, reply.response.body)
}

fn flip(body: &[u8], at: usize) -> Vec<u8> {
    let mut out = body.to_vec();
    out[at] ^= 0x5a;
    out
}

#[test]
fn every_decryption_failure_is_the_same_outcome() {
    let (cert, key) = ours();
    for cipher in [
        ContentEncryption::Aes128Cbc,
        ContentEncryption::Aes256Cbc,
        ContentEncryption::TripleDesCbc,
    ] {
        let mut options = EncryptOptions::default();
        options.cipher = cipher;
        options.key_transport = KeyTransport::RsaPkcs1v15;
        let (headers, body) = message(&cert, options);
        let layout = layout(&body);
        let block = cipher.block_len();
        let content = layout.encrypted_content.clone();
        assert_eq!(content.len() % block, 0);
        let blocks = content.len() / block;
        assert!(blocks >= 8, "the message must have a middle block");
        let right = vec![(cert.clone(), key.clone())];
        let wrong = vec![(cert.clone(), stranger_key())];

        // The message itself is accepted: each failure below is caused by its one change.
        let limits = Limits::default();
        let policy = InboundPolicy::new(&right, &[], &limits);
        let received = inbound::handle(&headers, &body, &limits)
            .unwrap()
            .accept(&policy, &mut NoDuplicateCheck, &mut rng(2))
            .unwrap();
        assert_eq!(
            received.layers,
            [Layer::Encrypted(cipher), Layer::Compressed]
        );

        let key_middle = layout.encrypted_key.start + layout.encrypted_key.len() / 2;
        // The last byte of the next-to-last block: CBC XORs it into the last plaintext
        // byte, the padding length, which becomes 0x5a ^ (1..=16): never valid padding.
        let last_block = content.end - block - 1;
        let middle_block = content.start + (blocks / 2) * block + 1;
        let cases = [
            ("wrong recipient key", receive(&headers, &body, &wrong)),
            (
                "bad RSA padding",
                receive(&headers, &flip(&body, key_middle), &right),
            ),
            (
                "bad CBC padding",
                receive(&headers, &flip(&body, last_block), &right),
            ),
            (
                "bad inner structure",
                receive(&headers, &flip(&body, middle_block), &right),
            ),
        ];

        // The CMS layer alone: the first three fail in decrypt(); the fourth decrypts
        // (CBC has no integrity) and only the inbound layer sees the damage.
        let cms = |der: &[u8], key: &PrivateKey| {
            EnvelopedData::parse(der, &limits)
                .unwrap()
                .decrypt(&cert, key, &mut rng(4))
        };
        assert_eq!(cms(&body, &stranger_key()), Err(Error::DecryptionFailed));
        assert_eq!(
            cms(&flip(&body, key_middle), &key),
            Err(Error::DecryptionFailed)
        );
        assert_eq!(
            cms(&flip(&body, last_block), &key),
            Err(Error::DecryptionFailed)
        );
        assert!(cms(&flip(&body, middle_block), &key).is_ok());

        let (first_name, (first, first_headers, first_body)) = &cases[0];
        for (name, (rejected, mdn_headers, mdn_body)) in &cases {
            assert_eq!(rejected.error, Error::DecryptionFailed, "{name} ({cipher})");
            assert_eq!(rejected.error.code(), ErrorCode::DecryptFailed, "{name}");
            assert_eq!(
                rejected.error.disposition(),
                Disposition::Error("decryption-failed".into()),
                "{name}"
            );
            assert_eq!(rejected.error.to_string(), "decryption failed", "{name}");
            assert_eq!(rejected.layers, [Layer::Encrypted(cipher)], "{name}");
            assert_eq!(rejected.mic, None, "{name}");
            assert_eq!(
                Report::rejected(rejected).disposition.as_str(),
                "automatic-action/MDN-sent-automatically; processed/Error: decryption-failed"
            );
            // The whole answer, MDN included, is identical byte for byte.
            assert_eq!(mdn_headers, first_headers, "{name} vs {first_name}");
            assert_eq!(mdn_body, first_body, "{name} vs {first_name}");
            assert_eq!(format!("{rejected:?}"), format!("{first:?}"));
        }
        let text = String::from_utf8_lossy(first_body);
        assert!(
            text.contains("processed/Error: decryption-failed"),
            "{text}"
        );
    }
}

/// OAEP key transport: a corrupted encrypted key and the wrong key fail like PKCS#1 v1.5.
#[test]
fn oaep_failures_are_the_same_outcome_too() {
    let (cert, key) = ours();
    let mut options = EncryptOptions::default();
    options.key_transport =
        KeyTransport::RsaOaep(as2_proto::cms::algorithm::DigestAlgorithm::Sha256);
    let (headers, body) = message(&cert, options);
    let layout = layout(&body);
    let right = vec![(cert.clone(), key)];
    let wrong = vec![(cert.clone(), stranger_key())];
    let at = layout.encrypted_key.start + 7;
    let (a, ah, ab) = receive(&headers, &body, &wrong);
    let (b, bh, bb) = receive(&headers, &flip(&body, at), &right);
    assert_eq!(a.error, Error::DecryptionFailed);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_eq!((ah, ab), (bh, bb));
}
