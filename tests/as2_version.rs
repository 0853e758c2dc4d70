//! AS2 1.3 (draft-ietf-ediint-rfc4130bis): the AS2-Version and AS2-Product headers on
//! messages, MDNs and acknowledgements; no SHA-1 or 3DES generated for a 1.3 partner; the
//! originator's copy of the content-encryption key (RFC 8551 §3.3), RSA and EC, decrypted
//! with the sender's own key; Message-ID and AS2-From/To at their length limits.

mod common;

use as2_proto::cms::algorithm::{ContentEncryption, DigestAlgorithm};
use as2_proto::cms::signed::{SignOptions, Signer};
use as2_proto::mdn::{self, MdnSettings, Report};
use as2_proto::message::headers::{As2Id, As2Version, DEFAULT_AS2_PRODUCT, HttpHeaders, MessageId};
use as2_proto::message::inbound::{self, InboundPolicy, Incoming, NoDuplicateCheck};
use as2_proto::message::outbound::{self, BuiltMessage, MdnRequest, OutboundMessage};
use as2_proto::{AlgorithmKind, Error, ErrorCode, Limits, WeakAlgorithm};
use common::{Identity, Pki, openssl};

const PAYLOAD: &[u8] = b"ISA*00*~\r\nIEA*1*000000001~\r\n";

struct World {
    pki: Pki,
    a: Identity,
    b: Identity,
}

fn world() -> World {
    let pki = Pki::new();
    let a = pki.party("a", 2048);
    let b = pki.party("b", 2048);
    World { pki, a, b }
}

/// An EC party (P-256) that signs and is encrypted to.
fn ec_party(pki: &Pki, name: &str) -> Identity {
    let d = pki.path();
    let (key, csr, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.ext"),
    );
    std::fs::write(
        d.join(&ext),
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
         keyUsage=digitalSignature,keyAgreement\nextendedKeyUsage=emailProtection\n",
    )
    .unwrap();
    openssl(
        d,
        &["ecparam", "-genkey", "-name", "prime256v1", "-out", &key],
    );
    let subject = format!("/CN={name}/O=as2-proto 1.3 tests");
    openssl(
        d,
        &["req", "-new", "-key", &key, "-out", &csr, "-subj", &subject],
    );
    pki.certify(name, &ext)
}

fn message<'a>(w: &'a World, version: As2Version) -> OutboundMessage<'a> {
    let mut msg = OutboundMessage::new(
        As2Id::new("PartnerA").unwrap(),
        As2Id::new("PartnerB").unwrap(),
        PAYLOAD,
    );
    msg.as2_version = version;
    msg.signing = Some((Signer::new(&w.a.cert, &w.a.key), SignOptions::default()));
    msg.encryption.0 = vec![&w.b.cert];
    msg.mdn = MdnRequest::sync().signed(&[DigestAlgorithm::Sha256]);
    msg
}

fn build(msg: &OutboundMessage<'_>) -> Result<BuiltMessage, Error> {
    outbound::build(msg, common::now(), &mut common::rng(1))
}

fn weak(result: Result<BuiltMessage, Error>) -> WeakAlgorithm {
    match result {
        Err(Error::WeakAlgorithm(w)) => w,
        other => panic!("expected WeakAlgorithm, got {other:?}"),
    }
}

/// Receives `built` as B and answers with `settings`.
fn reply(w: &World, built: &BuiltMessage, settings: &MdnSettings<'_>) -> Result<mdn::Reply, Error> {
    let limits = Limits::default();
    let incoming = inbound::handle(&built.headers, &built.body, &limits).unwrap();
    let keys = [(w.b.cert.clone(), w.b.key.clone())];
    let partner = [w.a.cert.clone()];
    let policy = InboundPolicy::new(&keys, &partner, &limits);
    let mut rng = common::rng(2);
    let report = match incoming.accept(&policy, &mut NoDuplicateCheck, &mut rng) {
        Ok(received) => Report::received(&received),
        Err(rejected) => Report::rejected(&rejected),
    };
    mdn::reply(&incoming, &report, settings, common::now(), &mut rng)
}

/// By default 1.2 and `as2-proto:<version>`; a 1.3 partner gets 1.3; the receiver sees
/// both; AS2-Product can be turned off below 1.3 and not at 1.3.
#[test]
fn version_and_product_headers() {
    let w = world();
    let limits = Limits::default();

    let default = build(&message(&w, As2Version::default())).unwrap();
    assert_eq!(default.headers.get_str("AS2-Version"), Some("1.2"));
    assert_eq!(
        default.headers.get_str("AS2-Product"),
        Some(DEFAULT_AS2_PRODUCT)
    );
    assert_eq!(
        DEFAULT_AS2_PRODUCT,
        concat!("as2-proto:", env!("CARGO_PKG_VERSION"))
    );
    let incoming = inbound::handle(&default.headers, &default.body, &limits).unwrap();
    assert_eq!(incoming.as2_version, As2Version::V1_2);
    assert_eq!(incoming.as2_product.as_deref(), Some(DEFAULT_AS2_PRODUCT));

    let mut msg = message(&w, As2Version::V1_3);
    msg.as2_product = Some("PEN-12345:acme-gateway:2.1.0".into());
    let modern = build(&msg).unwrap();
    assert_eq!(modern.headers.get_str("AS2-Version"), Some("1.3"));
    let incoming = inbound::handle(&modern.headers, &modern.body, &limits).unwrap();
    assert_eq!(incoming.as2_version, As2Version::V1_3);
    assert_eq!(
        incoming.as2_product.as_deref(),
        Some("PEN-12345:acme-gateway:2.1.0")
    );

    // Turned off: allowed at 1.2, refused at 1.3 (draft §6.2: MUST with 1.3).
    let mut off = message(&w, As2Version::V1_2);
    off.as2_product = None;
    let built = build(&off).unwrap();
    assert!(!built.headers.contains("AS2-Product"));
    let incoming = inbound::handle(&built.headers, &built.body, &limits).unwrap();
    assert_eq!(incoming.as2_product, None);
    off.as2_version = As2Version::V1_3;
    let err = build(&off).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidHeader {
                header: "AS2-Product",
                ..
            }
        ),
        "{err:?}"
    );
    // A value outside the draft's syntax is refused before any work.
    let mut bad = message(&w, As2Version::V1_2);
    bad.as2_product = Some("as2-proto/1.0".into());
    assert!(matches!(
        build(&bad),
        Err(Error::InvalidHeader {
            header: "AS2-Product",
            ..
        })
    ));

    // Inbound: any 1.x, absent is 1.0, anything else refused as before; a received
    // product is kept printable.
    for (version, expected) in [(Some("1.9"), As2Version::new(9)), (None, As2Version::V1_0)] {
        let mut headers = default.headers.clone();
        match version {
            Some(v) => headers.set("AS2-Version", v),
            None => {
                headers.remove("AS2-Version");
            }
        }
        headers.set("AS2-Product", "Vendor\x01 Suite/7");
        let incoming = inbound::handle(&headers, &default.body, &limits).unwrap();
        assert_eq!(incoming.as2_version, expected);
        assert_eq!(incoming.as2_product.as_deref(), Some("Vendor? Suite/7"));
    }
    let mut headers = default.headers.clone();
    headers.set("AS2-Version", "2.0");
    let err = inbound::handle(&headers, &default.body, &limits).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidRequest);
}

/// With a 1.3 partner SHA-1 signatures, SHA-1 receipts and 3DES are refused with a typed
/// error naming the algorithm and the version; with 1.2 they are still built.
#[test]
fn weak_algorithms_refused_for_a_1_3_partner() {
    let w = world();
    let sha1 = {
        let mut o = SignOptions::default();
        o.digest = DigestAlgorithm::Sha1;
        o
    };
    for version in [As2Version::V1_2, As2Version::V1_3] {
        let modern = version.forbids_weak_algorithms();

        let mut msg = message(&w, version);
        msg.signing = Some((Signer::new(&w.a.cert, &w.a.key), sha1.clone()));
        let result = build(&msg);
        if modern {
            let refused = weak(result);
            assert_eq!(refused.algorithm, "SHA-1");
            assert_eq!(refused.kind, AlgorithmKind::Digest);
            assert_eq!(refused.version, As2Version::V1_3);
            let text = Error::WeakAlgorithm(refused).to_string();
            assert!(text.contains("SHA-1") && text.contains("1.3"), "{text}");
            // The streaming entry point refuses it the same way, before any output.
            let err = outbound::start(&msg, None, common::now(), &mut common::rng(1)).unwrap_err();
            assert!(matches!(err, Error::WeakAlgorithm(_)));
            assert_eq!(err.code(), ErrorCode::SigningFailed);
        } else {
            assert!(result.is_ok());
        }

        let mut msg = message(&w, version);
        msg.mdn = MdnRequest::sync().signed(&[DigestAlgorithm::Sha256, DigestAlgorithm::Sha1]);
        let result = build(&msg);
        if modern {
            assert_eq!(weak(result).algorithm, "SHA-1");
        } else {
            assert!(result.is_ok());
        }

        let mut msg = message(&w, version);
        msg.encryption.1.cipher = ContentEncryption::TripleDesCbc;
        let result = build(&msg);
        if modern {
            let refused = weak(result);
            assert_eq!(refused.algorithm, "3DES");
            assert_eq!(refused.kind, AlgorithmKind::ContentEncryption);
            assert_eq!(
                Error::WeakAlgorithm(refused).code(),
                ErrorCode::EncryptionFailed
            );
        } else {
            assert!(result.is_ok());
        }
    }
    // 3DES in the options of an unencrypted message generates nothing: no error.
    let mut msg = message(&w, As2Version::V1_3);
    msg.encryption = (Vec::new(), msg.encryption.1);
    msg.encryption.1.cipher = ContentEncryption::TripleDesCbc;
    assert!(build(&msg).is_ok());
}

/// The MDN declares the configured version and product; with a 1.3 partner it is signed
/// with the first non-SHA-1 algorithm of the partner's list, and refused when the list
/// offers only SHA-1; with 1.2 SHA-1 is still used when asked for first.
#[test]
fn mdn_for_a_1_3_partner() {
    let w = world();
    let limits = Limits::default();
    let signer = Signer::new(&w.b.cert, &w.b.key);
    // The partner is 1.2 (it may list SHA-1); our MDN settings for it say 1.2 or 1.3.
    let asks = |micalgs: &[DigestAlgorithm]| {
        let mut msg = message(&w, As2Version::V1_2);
        msg.mdn = MdnRequest::sync().signed(micalgs);
        build(&msg).unwrap()
    };
    let mut modern = MdnSettings::signed(signer);
    modern.as2_version = As2Version::V1_3;
    let legacy = MdnSettings::signed(signer);

    let built = asks(&[DigestAlgorithm::Sha1, DigestAlgorithm::Sha384]);
    let r = reply(&w, &built, &modern).unwrap();
    let mdn = r.mdn.as_ref().unwrap();
    assert_eq!(mdn.signed, Some(DigestAlgorithm::Sha384));
    assert_eq!(mdn.headers.get_str("AS2-Version"), Some("1.3"));
    assert_eq!(
        mdn.headers.get_str("AS2-Product"),
        Some(DEFAULT_AS2_PRODUCT)
    );
    let parsed = mdn::parse(&mdn.headers, &mdn.body, &limits).unwrap();
    assert_eq!(parsed.as2_version, Some(As2Version::V1_3));
    assert_eq!(parsed.as2_product.as_deref(), Some(DEFAULT_AS2_PRODUCT));
    let r = reply(&w, &built, &legacy).unwrap();
    assert_eq!(r.mdn.unwrap().signed, Some(DigestAlgorithm::Sha1));

    let only_sha1 = asks(&[DigestAlgorithm::Sha1]);
    let err = reply(&w, &only_sha1, &modern).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WeakAlgorithm(WeakAlgorithm {
                algorithm: "SHA-1",
                ..
            })
        ),
        "{err:?}"
    );
    assert!(reply(&w, &only_sha1, &legacy).is_ok());

    // The acknowledgement of an async request carries them too.
    let mut msg = message(&w, As2Version::V1_3);
    msg.mdn = MdnRequest::asynchronous("https://a.example/mdn").signed(&[DigestAlgorithm::Sha256]);
    let built = build(&msg).unwrap();
    let mut settings = MdnSettings::signed(signer);
    settings.as2_version = As2Version::V1_3;
    settings.as2_product = Some("biztalk:2025.1".into());
    let r = reply(&w, &built, &settings).unwrap();
    assert_eq!(r.response.headers.get_str("AS2-Version"), Some("1.3"));
    assert_eq!(
        r.response.headers.get_str("AS2-Product"),
        Some("biztalk:2025.1")
    );
    let mdn = r.mdn.unwrap();
    let incoming = inbound::handle(&mdn.headers, &mdn.body, &limits).unwrap();
    assert_eq!(incoming.as2_product.as_deref(), Some("biztalk:2025.1"));
    // No product at 1.3 is refused for MDNs as for messages.
    settings.as2_product = None;
    assert!(matches!(
        reply(&w, &built, &settings),
        Err(Error::InvalidHeader {
            header: "AS2-Product",
            ..
        })
    ));
}

/// Decrypts (and verifies) `built` with `keys`, as if its recipient.
fn open(built: &BuiltMessage, keys: &Identity, signer: &Identity) -> Vec<u8> {
    let limits = Limits::default();
    let incoming: Incoming<'_> = inbound::handle(&built.headers, &built.body, &limits).unwrap();
    let decryption = [(keys.cert.clone(), keys.key.clone())];
    let partner = [signer.cert.clone()];
    let policy = InboundPolicy::new(&decryption, &partner, &limits);
    incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut common::rng(3))
        .map_err(|r| r.error)
        .unwrap()
        .payload
}

/// The originator's copy: the sender decrypts the built message with its own key, the
/// partner still with its own, for RSA and EC senders and with CBC, GCM and CCM; without
/// the copy the sender cannot.
#[test]
fn originator_copy_decrypts_with_the_senders_key() {
    let w = world();
    let ec = ec_party(&w.pki, "a-ec");
    for (own, cipher) in [
        (&w.a, ContentEncryption::Aes256Cbc),
        (&w.a, ContentEncryption::Aes256Gcm),
        (&ec, ContentEncryption::Aes128Gcm),
        (&ec, ContentEncryption::Aes128Ccm),
    ] {
        let mut msg = message(&w, As2Version::V1_3);
        msg.encryption.1.cipher = cipher;
        msg.originator_copy = Some(&own.cert);
        let built = build(&msg).unwrap();
        assert_eq!(open(&built, own, &w.a), PAYLOAD, "{cipher:?}");
        assert_eq!(open(&built, &w.b, &w.a), PAYLOAD, "{cipher:?}");
        // The same certificate twice is one recipient.
        msg.encryption.0 = vec![&w.b.cert, &own.cert];
        assert_eq!(open(&build(&msg).unwrap(), own, &w.a), PAYLOAD);
    }
    // OpenSSL agrees: the sender's key opens the envelope.
    let mut msg = message(&w, As2Version::V1_3);
    msg.signing = None;
    msg.originator_copy = Some(&w.a.cert);
    let built = build(&msg).unwrap();
    let mut der = Vec::new();
    let content_type = built.headers.get_str("Content-Type").unwrap();
    assert!(content_type.contains("enveloped-data"), "{content_type}");
    der.extend_from_slice(&built.body);
    let input = w.pki.write("copy.der", &der);
    let out = openssl(
        w.pki.path(),
        &[
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            input.to_str().unwrap(),
            "-recip",
            w.a.cert_path.to_str().unwrap(),
            "-inkey",
            w.a.key_path.to_str().unwrap(),
        ],
    );
    assert!(out.ends_with(PAYLOAD), "{}", String::from_utf8_lossy(&out));

    // Without the copy the sender's key is not a recipient.
    let built = build(&message(&w, As2Version::V1_3)).unwrap();
    let limits = Limits::default();
    let incoming = inbound::handle(&built.headers, &built.body, &limits).unwrap();
    let decryption = [(w.a.cert.clone(), w.a.key.clone())];
    let partner = [w.a.cert.clone()];
    let policy = InboundPolicy::new(&decryption, &partner, &limits);
    let rejected = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut common::rng(3))
        .unwrap_err();
    assert_eq!(rejected.error.code(), ErrorCode::NoDecryptionKeyFound);
    // No encryption, no copy: the originator certificate alone encrypts nothing.
    let mut plain = message(&w, As2Version::V1_3);
    plain.encryption.0.clear();
    plain.originator_copy = Some(&w.a.cert);
    let built = build(&plain).unwrap();
    assert!(
        !built
            .headers
            .get_str("Content-Type")
            .unwrap()
            .contains("pkcs7-mime")
    );
}

/// Message-IDs of 998 characters are written, read and echoed in the MDN; 999 are
/// refused. AS2-From/To of 128 characters pass, 129 do not; a name with spaces is sent
/// quoted and read back; a folded value is refused.
#[test]
fn identifier_limits() {
    let w = world();
    let limits = Limits::default();
    let long_id = format!("<{}@example.com>", "m".repeat(998 - 14));
    assert_eq!(long_id.len(), 998);
    let id = MessageId::parse(long_id.as_bytes()).unwrap();
    assert!(
        MessageId::parse(format!("<{}@example.com>", "m".repeat(998 - 13)).as_bytes()).is_err()
    );
    let mut msg = message(&w, As2Version::V1_3);
    msg.message_id = Some(id.clone());
    let built = build(&msg).unwrap();
    assert_eq!(built.headers.get_str("Message-ID"), Some(long_id.as_str()));
    let r = reply(
        &w,
        &built,
        &MdnSettings::signed(Signer::new(&w.b.cert, &w.b.key)),
    )
    .unwrap();
    let mdn = r.mdn.unwrap();
    assert_eq!(mdn.original_message_id, long_id);
    let parsed = mdn::parse(&mdn.headers, &mdn.body, &limits).unwrap();
    assert_eq!(
        parsed.original_message_id.as_deref(),
        Some(long_id.as_str())
    );

    let name128 = "N".repeat(128);
    assert!(As2Id::new(&name128).is_ok());
    assert!(As2Id::new(&"N".repeat(129)).is_err());
    assert!(As2Id::new("").is_err());
    let spaced = format!("Acme Corp {}", "x".repeat(118));
    assert_eq!(spaced.len(), 128);
    let mut msg = OutboundMessage::new(
        As2Id::new(&spaced).unwrap(),
        As2Id::new(&name128).unwrap(),
        PAYLOAD,
    );
    msg.signing = Some((Signer::new(&w.a.cert, &w.a.key), SignOptions::default()));
    msg.encryption.0 = vec![&w.b.cert];
    let built = build(&msg).unwrap();
    let from = built.headers.get_str("AS2-From").unwrap();
    assert_eq!(from, format!("\"{spaced}\""));
    assert!(!from.contains(['\r', '\n']));
    let incoming = inbound::handle(&built.headers, &built.body, &limits).unwrap();
    assert_eq!(incoming.from.as_str(), spaced);
    assert_eq!(incoming.to.as_str(), name128);

    // 129 characters inbound, quoted or not, and a folded value, are refused.
    for bad in [
        "N".repeat(129),
        format!("\"{}\"", "N".repeat(129)),
        "Partner\r\n A".to_owned(),
        "Partner\r\n\tA".to_owned(),
    ] {
        let mut headers: HttpHeaders = built.headers.clone();
        headers.set("AS2-From", bad.as_str());
        let err = inbound::handle(&headers, &built.body, &limits).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidHeader {
                    header: "AS2-From",
                    ..
                }
            ),
            "{bad:?}: {err:?}"
        );
    }
}
