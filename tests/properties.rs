//! Property tests (proptest): build-then-parse returns the payload for arbitrary
//! payloads, content types, file names and options; canonicalisation is idempotent;
//! header values survive quoting; the MIME parser never panics on arbitrary bytes.

use as2_proto::__internal::mime::{self, MimeLimits};
use as2_proto::cms::algorithm::{ContentEncryption, DigestAlgorithm, KeyTransport};
use as2_proto::cms::enveloped::EncryptOptions;
use as2_proto::cms::signed::{SignOptions, Signer};
use as2_proto::message::headers::{As2Id, MessageId};
use as2_proto::message::inbound::{self, InboundPolicy, Layer, NoDuplicateCheck};
use as2_proto::message::outbound::{self, Compression, MdnRequest, OutboundMessage};
use as2_proto::mic::{Mic, MicNameStyle};
use as2_proto::{Certificate, Limits, PrivateKey, unix_time};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

struct Keys {
    ours: Vec<(Certificate, PrivateKey)>,
    partner: (Certificate, PrivateKey),
}

fn keys() -> &'static Keys {
    static KEYS: std::sync::OnceLock<Keys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let load = |c: &[u8], k: &[u8]| {
            (
                Certificate::from_pem(c).unwrap(),
                PrivateKey::from_pem(k, None).unwrap(),
            )
        };
        Keys {
            ours: vec![load(
                include_bytes!("data/pyas2lib/pki/as2proto_B/enc.crt"),
                include_bytes!("data/pyas2lib/pki/as2proto_B/enc.key"),
            )],
            partner: load(
                include_bytes!("data/pyas2lib/pki/pyas2lib_A/sign.crt"),
                include_bytes!("data/pyas2lib/pki/pyas2lib_A/sign.key"),
            ),
        }
    })
}

fn digest() -> impl Strategy<Value = DigestAlgorithm> {
    prop_oneof![
        Just(DigestAlgorithm::Sha1),
        Just(DigestAlgorithm::Sha256),
        Just(DigestAlgorithm::Sha384),
        Just(DigestAlgorithm::Sha512),
    ]
}

fn cipher() -> impl Strategy<Value = ContentEncryption> {
    prop_oneof![
        Just(ContentEncryption::Aes128Cbc),
        Just(ContentEncryption::Aes192Cbc),
        Just(ContentEncryption::Aes256Cbc),
        Just(ContentEncryption::TripleDesCbc),
    ]
}

fn key_transport() -> impl Strategy<Value = KeyTransport> {
    prop_oneof![
        Just(KeyTransport::RsaPkcs1v15),
        digest().prop_map(KeyTransport::RsaOaep),
    ]
}

fn compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::BeforeSigning),
        Just(Compression::AfterSigning),
    ]
}

fn mdn_request() -> impl Strategy<Value = MdnRequest> {
    prop_oneof![
        Just(MdnRequest::None),
        Just(MdnRequest::sync()),
        Just(MdnRequest::asynchronous("https://as2.example.invalid/mdn")),
    ]
}

/// Payload content types: common ones, with parameters, and generated `type/subtype`
/// (never multipart or S/MIME, which the receiver would unwrap further).
fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("application/octet-stream".to_owned()),
        Just("application/edi-x12".to_owned()),
        Just("application/EDIFACT".to_owned()),
        Just("text/plain; charset=utf-8".to_owned()),
        Just("application/xml; charset=\"iso-8859-1\"".to_owned()),
        "(application|text|image)/x-[a-z0-9][a-z0-9.+-]{0,15}",
    ]
}

/// File names: anything printable (quotes, backslashes, semicolons, non-ASCII), plus
/// CR and LF, which the builder drops.
fn file_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\\x00-\\x1f\\x7f]{1,40}",
        "[a-z\"\\\\; =]{1,12}",
        "[a-z]{1,5}[\r\n]{1,2}[a-z]{1,5}",
    ]
}

#[derive(Debug, Clone)]
struct Options {
    content_type: String,
    file_name: Option<String>,
    compression: Compression,
    signing: Option<(DigestAlgorithm, bool)>,
    encryption: Option<(ContentEncryption, KeyTransport)>,
    mdn: MdnRequest,
    micalgs: Vec<DigestAlgorithm>,
    legacy_names: bool,
}

fn options() -> impl Strategy<Value = Options> {
    (
        content_type(),
        proptest::option::of(file_name()),
        compression(),
        proptest::option::of((digest(), any::<bool>())),
        proptest::option::of((cipher(), key_transport())),
        mdn_request(),
        proptest::collection::vec(digest(), 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(content_type, file_name, compression, signing, encryption, mdn, micalgs, legacy)| {
                Options {
                    content_type,
                    file_name,
                    compression,
                    signing,
                    encryption,
                    mdn,
                    micalgs,
                    legacy_names: legacy,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever we build, the inbound parser gives back exactly: payload, content type,
    /// file name, layers, signature and MIC.
    #[test]
    fn build_then_parse_returns_the_payload(
        payload in proptest::collection::vec(any::<u8>(), 0..1500),
        o in options(),
        seed in any::<u64>(),
    ) {
        let keys = keys();
        let mut m = OutboundMessage::new(
            As2Id::new("pyas2lib_A").unwrap(),
            As2Id::new("as2proto_B").unwrap(),
            &payload,
        );
        m.content_type = o.content_type.clone();
        m.file_name = o.file_name.clone();
        m.compression = o.compression;
        if let Some((digest, pss)) = o.signing {
            let mut s = SignOptions::default();
            s.digest = digest;
            if pss {
                s.scheme = as2_proto::cms::algorithm::SignatureScheme::Pss;
            }
            m.signing = Some((Signer::new(&keys.partner.0, &keys.partner.1), s));
        }
        if let Some((cipher, transport)) = o.encryption {
            let mut e = EncryptOptions::default();
            e.cipher = cipher;
            e.key_transport = transport;
            m.encryption = (vec![&keys.ours[0].0], e);
        }
        m.mdn = o.mdn.clone();
        if o.mdn.is_requested() && !o.micalgs.is_empty() {
            m.mdn = o.mdn.clone().signed(&o.micalgs);
        }
        m.mic_style = if o.legacy_names { MicNameStyle::Legacy } else { MicNameStyle::Dashed };
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let built = outbound::build(&m, unix_time(1_800_000_000), &mut rng).unwrap();

        let headers = built.headers.clone();
        let limits = Limits::default();
        let partner = [keys.partner.0.clone()];
        let mut policy = InboundPolicy::new(&keys.ours, &partner, &limits);
        policy.require_signature = o.signing.is_some();
        policy.require_encryption = o.encryption.is_some();
        let incoming = inbound::handle(&headers, &built.body, &limits).unwrap();
        prop_assert_eq!(&incoming.message_id, &Some(built.message_id.clone()));
        let received = incoming
            .accept(&policy, &mut NoDuplicateCheck, &mut rng)
            .map_err(|r| TestCaseError::fail(format!("refused: {:?}", r.error)))?;

        prop_assert_eq!(&received.payload, &payload);
        let expected_type = mime::ContentType::parse(o.content_type.as_bytes()).unwrap().mime_type();
        prop_assert_eq!(&received.content_type, &expected_type);
        let expected_name = o.file_name.as_ref().map(|n| n.replace(['\r', '\n', '\0'], ""));
        prop_assert_eq!(&received.file_name, &expected_name);
        prop_assert_eq!(received.encryption(), o.encryption.map(|(c, _)| c));
        prop_assert_eq!(received.compressed(), o.compression != Compression::None);
        let signed_layers: Vec<Layer> = received
            .layers
            .iter()
            .filter(|l| matches!(l, Layer::Signed(_)))
            .cloned()
            .collect();
        let expected_layers: Vec<Layer> = o.signing.map(|(d, _)| Layer::Signed(d)).into_iter().collect();
        prop_assert_eq!(signed_layers, expected_layers);
        if o.signing.is_some() || o.mdn != MdnRequest::None {
            prop_assert_eq!(&received.mic, &built.mic);
        }
    }

    /// Text canonicalisation is idempotent, and so is the canonical form of an entity.
    #[test]
    fn canonicalisation_is_idempotent(
        body in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), any::<u8>()], 0..300),
        binary in any::<bool>(),
        multipart in any::<bool>(),
        lf_headers in any::<bool>(),
    ) {
        let once = mime::canonicalize_text(&body);
        prop_assert_eq!(&mime::canonicalize_text(&once), &once);
        prop_assert!(!has_bare_lf(&once));

        let eol: &[u8] = if lf_headers { b"\n" } else { b"\r\n" };
        let mut entity = Vec::new();
        let cte = if binary { "binary" } else { "8bit" };
        if multipart {
            entity.extend_from_slice(b"Content-Type: multipart/mixed; boundary=\"b0\"");
            entity.extend_from_slice(eol);
            entity.extend_from_slice(eol);
            entity.extend_from_slice(b"--b0");
            entity.extend_from_slice(eol);
            entity.extend_from_slice(format!("Content-Transfer-Encoding: {cte}").as_bytes());
            entity.extend_from_slice(eol);
            entity.extend_from_slice(eol);
            entity.extend_from_slice(&body);
            entity.extend_from_slice(eol);
            entity.extend_from_slice(b"--b0--");
            entity.extend_from_slice(eol);
        } else {
            entity.extend_from_slice(b"Content-Type: application/edi-x12");
            entity.extend_from_slice(eol);
            entity.extend_from_slice(format!("Content-Transfer-Encoding: {cte}").as_bytes());
            entity.extend_from_slice(eol);
            entity.extend_from_slice(eol);
            entity.extend_from_slice(&body);
        }
        let limits = MimeLimits::default();
        let part = mime::parse_part(&entity, &limits);
        prop_assume!(part.is_ok());
        let part = part.unwrap();
        let canonical = mime::canonical_entity(&part, false).into_owned();
        let again = mime::parse_part(&canonical, &limits).unwrap();
        prop_assert_eq!(&*mime::canonical_entity(&again, false), &canonical[..]);
        prop_assert_eq!(&*mime::canonical_entity(&part, true), &entity[..]);
    }

    /// Parameter values written by `content_type_value` read back unchanged, whatever
    /// quotes, backslashes and separators they hold.
    #[test]
    fn parameter_values_survive_quoting(
        values in proptest::collection::vec("[ -~\\t]{0,30}", 1..4),
    ) {
        let names = ["name", "boundary", "x-param"];
        let params: Vec<(&str, &str)> =
            names.iter().copied().zip(values.iter().map(String::as_str)).collect();
        let written = mime::content_type_value("application/edi-x12", &params).unwrap();
        let parsed = mime::ContentType::parse(written.as_bytes()).unwrap();
        prop_assert_eq!(parsed.mime_type(), "application/edi-x12");
        for (name, value) in &params {
            prop_assert_eq!(parsed.param(name), Some(value.as_bytes()), "{}", written);
        }
    }

    /// AS2 identifiers survive being written as header values (quoted when needed).
    #[test]
    fn as2_ids_survive_quoting(id in "[ -~]{1,128}") {
        // Never a path: identifiers with `/` or `\` or that are `.` or `..` are refused.
        if id.contains(['/', '\\']) || id == "." || id == ".." {
            prop_assert!(As2Id::new(&id).is_err());
            return Ok(());
        }
        let id = As2Id::new(&id).unwrap();
        prop_assert_eq!(As2Id::from_header("AS2-From", id.to_header().as_bytes()).unwrap(), id);
    }

    /// Message-IDs and MIC fields survive being written and read again.
    #[test]
    fn message_ids_and_mics_survive(
        id in "<[!-~]{1,60}@[a-z0-9.-]{1,20}>",
        digest in digest(),
        data in proptest::collection::vec(any::<u8>(), 0..64),
        legacy in any::<bool>(),
    ) {
        let parsed = MessageId::parse(id.as_bytes()).unwrap();
        prop_assert_eq!(parsed.as_str(), id.as_str());
        let mic = Mic::compute(digest, &data);
        let style = if legacy { MicNameStyle::Legacy } else { MicNameStyle::Dashed };
        prop_assert_eq!(Mic::parse_field(&mic.to_field(style)), Some(mic));
    }

    /// The MIME parser never panics on arbitrary bytes, nor on a body with an arbitrary
    /// Content-Type; whatever parses has ranges inside the input.
    #[test]
    fn mime_parser_never_panics(
        data in proptest::collection::vec(any::<u8>(), 0..2000),
        content_type in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let limits = MimeLimits::default();
        if let Ok(part) = mime::parse_part(&data, &limits) {
            prop_assert_eq!(data.get(part.range()), Some(part.raw()));
            let _ = part.decoded_body();
            let _ = mime::canonical_entity(&part, false);
        }
        if let Ok(part) = mime::Part::from_body(&data, &content_type, &limits) {
            prop_assert_eq!(part.body(), &data[..]);
            let _ = part.decoded_body();
        }
    }

    /// The same, on inputs shaped like MIME: header lines, boundaries and line ends mixed.
    #[test]
    fn mime_parser_never_panics_on_mime_shaped_input(
        pieces in proptest::collection::vec(prop_oneof![
            Just(&b"Content-Type: multipart/mixed; boundary=b\r\n"[..]),
            Just(&b"Content-Type: multipart/signed; boundary=\"b\"; protocol=x\n"[..]),
            Just(&b"Content-Transfer-Encoding: base64\r\n"[..]),
            Just(&b"Content-Transfer-Encoding: quoted-printable\n"[..]),
            Just(&b"\r\n"[..]),
            Just(&b"\n"[..]),
            Just(&b"--b\r\n"[..]),
            Just(&b"--b--\n"[..]),
            Just(&b" folded\r\n"[..]),
            Just(&b"QUJD=3D\r\n"[..]),
            Just(&b"text"[..]),
        ], 0..40),
    ) {
        let data: Vec<u8> = pieces.concat();
        if let Ok(part) = mime::parse_part(&data, &MimeLimits::default()) {
            prop_assert_eq!(data.get(part.range()), Some(part.raw()));
            let _ = part.decoded_body();
            let _ = mime::canonical_entity(&part, false);
        }
    }
}

fn has_bare_lf(data: &[u8]) -> bool {
    data.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || data[i - 1] != b'\r'))
}
