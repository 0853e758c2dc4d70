//! AuthEnvelopedData (RFC 5083) with AES-GCM and AES-CCM (RFC 5084) through the public
//! API: AS2 round trips (whole-buffer and streamed, the Content-Length exact before the
//! first octet), AES-CCM's need for the length, and known answers for our output: a
//! build with a fixed random source whose bytes are pinned and whose ciphertext and tag the
//! `ccm` and `aes-gcm` crates reproduce from the content key that source drew.

mod common;

use aes_gcm::aead::{AeadInOut, KeyInit};
use as2_proto::__internal::ber::{Reader, Tag};
use as2_proto::cms::algorithm::ContentEncryption;
use as2_proto::cms::auth_enveloped;
use as2_proto::cms::enveloped::{self, EncryptOptions};
use as2_proto::cms::signed::{SignOptions, Signer};
use as2_proto::message::headers::As2Id;
use as2_proto::message::inbound::{self, InboundPolicy, Layer, NoDuplicateCheck};
use as2_proto::message::outbound::{self, Compression, MdnRequest, OutboundMessage};
use as2_proto::{Certificate, Error, Limits, PrivateKey};
use rand_chacha::rand_core::Rng;
use sha2::{Digest, Sha256};

const AEAD: [ContentEncryption; 4] = [
    ContentEncryption::Aes128Gcm,
    ContentEncryption::Aes256Gcm,
    ContentEncryption::Aes128Ccm,
    ContentEncryption::Aes256Ccm,
];

fn doc() -> (Certificate, PrivateKey) {
    (
        Certificate::from_pem(include_bytes!("data/keys/doc.crt")).unwrap(),
        PrivateKey::from_pem(include_bytes!("data/keys/doc.key"), None).unwrap(),
    )
}

fn options(cipher: ContentEncryption) -> EncryptOptions {
    let mut o = EncryptOptions::default();
    o.cipher = cipher;
    o
}

/// Signed and encrypted with every AEAD cipher, built whole and streamed (Content-Length
/// exact before the first octet), then received: the payload comes back, the layer names
/// the cipher.
#[test]
fn as2_round_trips_with_exact_content_length() {
    let pki = common::Pki::new();
    let sender = pki.party("sender", 2048);
    let receiver = pki.party("receiver", 2048);
    let keys = [(receiver.cert.clone(), receiver.key.clone())];
    let partner = [sender.cert.clone()];
    let limits = Limits::default();
    for cipher in AEAD {
        for len in [0usize, 1, 4095, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 31 % 256) as u8).collect();
            let mut m =
                OutboundMessage::new(As2Id::new("A").unwrap(), As2Id::new("B").unwrap(), &payload);
            m.signing = Some((
                Signer::new(&sender.cert, &sender.key),
                SignOptions::default(),
            ));
            m.encryption = (vec![&receiver.cert], options(cipher));
            m.mdn = MdnRequest::sync();
            let mut rng = common::rng(len as u64);
            let mut stream = outbound::start(&m, Some(len as u64), common::now(), &mut rng)
                .unwrap_or_else(|e| panic!("{cipher} {len}: {e}"));
            let announced = stream.content_length().expect("uncompressed: known length");
            assert!(
                stream
                    .headers()
                    .get_str("Content-Type")
                    .unwrap()
                    .starts_with("application/pkcs7-mime; smime-type=authEnveloped-data")
            );
            let mut body = Vec::new();
            for chunk in payload.chunks(1000) {
                stream.push(chunk, &mut body).unwrap();
            }
            let finished = stream.finish(&mut body, &mut rng).unwrap();
            assert_eq!(announced, body.len() as u64, "{cipher} {len}");
            assert_eq!(finished.body_len, announced);
            for (headers, body) in [(finished.headers.clone(), body.clone()), {
                let built = outbound::build(&m, common::now(), &mut common::rng(9)).unwrap();
                (built.headers, built.body)
            }] {
                let incoming = inbound::handle(&headers, &body, &limits).unwrap();
                let policy = InboundPolicy::new(&keys, &partner, &limits);
                let received = incoming
                    .accept(&policy, &mut NoDuplicateCheck, &mut common::rng(1))
                    .unwrap_or_else(|r| panic!("{cipher} {len}: {}", r.error));
                assert_eq!(received.payload, payload, "{cipher} {len}");
                assert_eq!(received.layers[0], Layer::Encrypted(cipher));
                assert!(received.signature.is_some());
            }
        }
    }
}

/// AES-CCM needs the content length before its first block: with compression (or without
/// an announced payload length) it is refused with a typed error; AES-GCM streams either
/// way and round-trips.
#[test]
fn ccm_needs_the_length_gcm_does_not() {
    let (cert, key) = doc();
    let keys = [(cert.clone(), key)];
    let limits = Limits::default();
    let payload = b"ISA*00*~IEA*1*~".repeat(500);
    for cipher in AEAD {
        let ccm = matches!(
            cipher,
            ContentEncryption::Aes128Ccm | ContentEncryption::Aes256Ccm
        );
        let mut m =
            OutboundMessage::new(As2Id::new("A").unwrap(), As2Id::new("B").unwrap(), &payload);
        m.encryption = (vec![&cert], options(cipher));
        m.compression = Compression::BeforeSigning;
        let built = outbound::build(&m, common::now(), &mut common::rng(2));
        m.compression = Compression::None;
        let unannounced = outbound::start(&m, None, common::now(), &mut common::rng(2));
        if ccm {
            assert!(matches!(built, Err(Error::EncryptionFailed(_))), "{cipher}");
            assert!(
                matches!(unannounced, Err(Error::EncryptionFailed(_))),
                "{cipher}"
            );
            continue;
        }
        let built = built.unwrap();
        let incoming = inbound::handle(&built.headers, &built.body, &limits).unwrap();
        let mut policy = InboundPolicy::new(&keys, &[], &limits);
        policy.require_signature = false;
        let received = incoming
            .accept(&policy, &mut NoDuplicateCheck, &mut common::rng(1))
            .unwrap_or_else(|r| panic!("{cipher}: {}", r.error));
        assert_eq!(received.payload, payload);
        assert_eq!(
            received.layers,
            [Layer::Encrypted(cipher), Layer::Compressed]
        );
        assert!(unannounced.unwrap().content_length().is_none());
    }
}

/// The fields of our AuthEnvelopedData DER: (nonce, ICV length, ciphertext, mac).
fn fields(der: &[u8]) -> (Vec<u8>, u8, Vec<u8>, Vec<u8>) {
    let limits = Limits::default();
    let info = Reader::new(der, &limits).read("ContentInfo").unwrap();
    let mut r = info.children("ContentInfo").unwrap();
    let oid = r.read("contentType").unwrap();
    assert_eq!(
        oid.oid("contentType").unwrap().to_string(),
        "1.2.840.113549.1.9.16.1.23"
    );
    let auth = r
        .read("[0]")
        .unwrap()
        .children("[0]")
        .unwrap()
        .read("AuthEnvelopedData")
        .unwrap();
    let mut a = auth.children("AuthEnvelopedData").unwrap();
    let version = a.read("version").unwrap();
    assert_eq!(version.contents, [0]);
    a.read("recipientInfos").unwrap();
    let eci = a.read("authEncryptedContentInfo").unwrap();
    let mac = a.read("mac").unwrap();
    assert_eq!(mac.tag, Tag::OCTET_STRING);
    assert!(a.is_empty(), "no authAttrs, no unauthAttrs");
    let mut e = eci.children("eci").unwrap();
    e.read("contentType").unwrap();
    let alg = e.read("contentEncryptionAlgorithm").unwrap();
    let content = e.read("encryptedContent").unwrap();
    let mut p = alg.children("alg").unwrap();
    p.read("oid").unwrap();
    let params = p.read("params").unwrap();
    let mut q = params.children("params").unwrap();
    let nonce = q.read("nonce").unwrap().contents.to_vec();
    let icv = q.read("icv").unwrap().contents[0];
    (
        nonce,
        icv,
        content.octets("ciphertext").unwrap().into_owned(),
        mac.contents.to_vec(),
    )
}

/// Known answers for our output: with a fixed random source the DER is pinned (its
/// SHA-256), and the `ccm` / `aes-gcm` crates, given the content key and nonce that source
/// drew first (key, then nonce, then the RSA key transport), decrypt its ciphertext to the
/// content and produce its tag.
#[test]
fn fixed_rng_builds_are_known_answers() {
    let (cert, key) = doc();
    let keys = [(cert.clone(), key)];
    let content = b"Content-Type: application/edi-x12\r\n\r\nISA*00*~GS*PO~IEA*1*000000001~";
    // SHA-256 of the DER for each cipher with ChaCha20 seeded 42.
    let pinned = [
        (ContentEncryption::Aes128Gcm, PIN_GCM128),
        (ContentEncryption::Aes256Gcm, PIN_GCM256),
        (ContentEncryption::Aes128Ccm, PIN_CCM128),
        (ContentEncryption::Aes256Ccm, PIN_CCM256),
    ];
    for (cipher, pin) in pinned {
        let der =
            enveloped::encrypt(content, &[&cert], &options(cipher), &mut common::rng(42)).unwrap();
        let digest: String = Sha256::digest(&der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            digest, pin,
            "{cipher}: the bytes of a fixed-rng build changed"
        );
        let (nonce, icv, ciphertext, mac) = fields(&der);
        assert_eq!((nonce.len(), icv, mac.len()), (12, 16, 16), "{cipher}");
        assert_eq!(ciphertext.len(), content.len(), "{cipher}: no padding");
        // The content key and nonce the source drew.
        let mut rng = common::rng(42);
        let mut cek = vec![0u8; cipher.key_len()];
        rng.fill_bytes(&mut cek);
        let mut drawn_nonce = [0u8; 12];
        rng.fill_bytes(&mut drawn_nonce);
        assert_eq!(nonce, drawn_nonce);
        let mut buffer = content.to_vec();
        let tag = match cipher {
            ContentEncryption::Aes128Gcm => aes_gcm::Aes128Gcm::new_from_slice(&cek)
                .unwrap()
                .encrypt_inout_detached(&drawn_nonce.into(), &[], buffer.as_mut_slice().into())
                .unwrap()
                .to_vec(),
            ContentEncryption::Aes256Gcm => aes_gcm::Aes256Gcm::new_from_slice(&cek)
                .unwrap()
                .encrypt_inout_detached(&drawn_nonce.into(), &[], buffer.as_mut_slice().into())
                .unwrap()
                .to_vec(),
            ContentEncryption::Aes128Ccm => {
                ccm::Ccm::<aes::Aes128, ccm::consts::U16, ccm::consts::U12>::new_from_slice(&cek)
                    .unwrap()
                    .encrypt_inout_detached(&drawn_nonce.into(), &[], buffer.as_mut_slice().into())
                    .unwrap()
                    .to_vec()
            }
            _ => ccm::Ccm::<aes::Aes256, ccm::consts::U16, ccm::consts::U12>::new_from_slice(&cek)
                .unwrap()
                .encrypt_inout_detached(&drawn_nonce.into(), &[], buffer.as_mut_slice().into())
                .unwrap()
                .to_vec(),
        };
        assert_eq!(ciphertext, buffer, "{cipher}: ciphertext");
        assert_eq!(mac, tag, "{cipher}: tag");
        let plain =
            auth_enveloped::decrypt(&der, &keys, &Limits::default(), &mut common::rng(1)).unwrap();
        assert_eq!(plain, content);
    }
}

const PIN_GCM128: &str = "844bb9e467565c4424141e8ad7013656133f424621af99683906d10dcfc43090";
const PIN_GCM256: &str = "61bc3b77d9710c7b5b94e74d23be0b9b3fb5acef9435cd2925414a1d45b4ea7a";
const PIN_CCM128: &str = "9c70e23c9459e899595619d409a564e8ad6a634fe220731784139906fcba53d5";
const PIN_CCM256: &str = "572ed2d3804d2d3c2a8e5baa313988499066dd14a960bc17c73c355b92de6fe4";
