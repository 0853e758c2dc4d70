//! EDIINT Certificate Exchange Messaging: the XML (round trips, the published shapes,
//! refused inputs), the parts, and certificate rotation of partner profiles by signed
//! requests and responses, following the reference service's rotation rules.

mod common;

use std::time::{Duration, SystemTime};

use as2_proto::cem::rotation::{
    self, OutgoingRequest, RequestPolicy, handle_request, handle_response, request_rotation,
};
use as2_proto::cem::{
    CemDocument, CemError, CemLimits, CemMessage, CemPart, CemRequest, CemResponse, CertStatus,
    CertUsage, CertificateReference, EndEntity, RequestMessage, TradingPartnerInfo, TrustRequest,
    TrustResponse, VerifiedSigner, XmlProblem, parse_xml,
};
use as2_proto::cms::certs_only;
use as2_proto::cms::signed::Signer;
use as2_proto::message::inbound::{self, InboundPolicy, NoDuplicateCheck};
use as2_proto::message::outbound::{self, OutboundMessage};
use as2_proto::partner::{
    CertificateUsage, ChainTrust, DateEnforcement, Profile, ProfileCertificate, ProfileType,
};
use as2_proto::{As2Id, Certificate, Limits, PrivateKey};
use common::{Identity, Pki, openssl};

const DAY: Duration = Duration::from_secs(86_400);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/cem/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn id(s: &str) -> As2Id {
    s.parse().unwrap()
}

/// A party certified by the PKI's CA for `days` with `key_usage`.
fn party(pki: &Pki, name: &str, days: &str, key_usage: &str) -> Identity {
    let d = pki.path();
    std::fs::write(
        d.join(format!("{name}.ext")),
        format!("subjectKeyIdentifier=hash\nkeyUsage={key_usage}\n"),
    )
    .unwrap();
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}/O=as2-proto tests"),
        ],
    );
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.crt"),
            "-days",
            days,
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
    let cert = Certificate::from_pem(&pki.read(&format!("{name}.crt"))).unwrap();
    let key = PrivateKey::from_pem(&pki.read(&format!("{name}.key")), None).unwrap();
    Identity {
        cert,
        key,
        cert_path: d.join(format!("{name}.crt")),
        key_path: d.join(format!("{name}.key")),
    }
}

const BOTH: &str = "digitalSignature,keyEncipherment";

fn parts_of(parts: &[CemPart]) -> Vec<(String, String, Vec<u8>)> {
    parts
        .iter()
        .map(|p| {
            (
                p.content_type.clone(),
                p.content_id_header(),
                p.bytes.clone(),
            )
        })
        .collect()
}

fn read_parts(parts: &[(String, String, Vec<u8>)]) -> Result<CemMessage, CemError> {
    let borrowed: Vec<(&str, &str, &[u8])> = parts
        .iter()
        .map(|(t, i, b)| (t.as_str(), i.as_str(), b.as_slice()))
        .collect();
    CemMessage::from_parts(&borrowed, &CemLimits::default(), &Limits::default())
}

/// Sends `payload` from `from` to `to` (signed by `signer` if given) and receives it with
/// `partner_certs` as the signers the receiver knows: the [`VerifiedSigner`] CEM needs, or
/// why there is none.
fn deliver(
    from: &str,
    to: &str,
    payload: &[u8],
    signer: Option<&Identity>,
    partner_certs: &[Certificate],
    now: SystemTime,
) -> Result<VerifiedSigner, CemError> {
    let mut rng = common::rng(7);
    let mut message = OutboundMessage::new(id(from), id(to), payload);
    message.content_type = "application/ediint-cert-exchange+xml".into();
    if let Some(s) = signer {
        message.signing = Some((Signer::new(&s.cert, &s.key), Default::default()));
    }
    let built = outbound::build(&message, now, &mut rng).unwrap();
    let limits = Limits::default();
    let incoming = inbound::handle(&built.headers, &built.body, &limits).unwrap();
    let mut policy = InboundPolicy::new(&[], partner_certs, &limits);
    policy.accept_bare_payload = true;
    policy.require_signature = false;
    let received = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut rng)
        .unwrap();
    assert_eq!(received.payload, payload);
    VerifiedSigner::from_received(&incoming.from, &received)
}

/// PartnerA with a current certificate (365 days) and a new one (730 days); PartnerB's
/// profile of PartnerA holds the current one.
struct Setup {
    pki: Pki,
    old: Identity,
    new: Identity,
    b: Identity,
    a_profile_at_b: Profile,
    a_local: Profile,
    b_profile_at_a: Profile,
    now: SystemTime,
}

fn setup() -> Setup {
    let pki = Pki::new();
    let old = party(&pki, "PartnerA", "365", BOTH);
    let new = party(&pki, "PartnerA-2", "730", BOTH);
    let b = party(&pki, "PartnerB", "365", BOTH);
    let mut a_profile_at_b = Profile::new("p-a", ProfileType::Partner, id("PartnerA"));
    a_profile_at_b
        .add_certificate(ProfileCertificate::new(
            "old",
            CertificateUsage::EncryptionAndSigning,
            old.cert.clone(),
        ))
        .unwrap();
    let mut a_local = Profile::new("l-a", ProfileType::Local, id("PartnerA"));
    a_local
        .add_certificate(
            ProfileCertificate::new(
                "old",
                CertificateUsage::EncryptionAndSigning,
                old.cert.clone(),
            )
            .with_private_key(old.key.clone())
            .unwrap(),
        )
        .unwrap();
    let mut b_profile_at_a = Profile::new("p-b", ProfileType::Partner, id("PartnerB"));
    b_profile_at_a
        .add_certificate(ProfileCertificate::new(
            "b",
            CertificateUsage::EncryptionAndSigning,
            b.cert.clone(),
        ))
        .unwrap();
    // A little after issuance, so that every certificate is valid; whole seconds, as
    // CEM dates carry them.
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let now = as2_proto::unix_time(secs + 60);
    Setup {
        pki,
        old,
        new,
        b,
        a_profile_at_b,
        a_local,
        b_profile_at_a,
        now,
    }
}

fn new_entry(s: &Setup, usage: CertificateUsage) -> ProfileCertificate {
    ProfileCertificate::new("new", usage, s.new.cert.clone())
        .with_private_key(s.new.key.clone())
        .unwrap()
}

fn outgoing(s: &mut Setup, usage: CertificateUsage, respond_by: SystemTime) -> OutgoingRequest {
    let entry = new_entry(s, usage);
    request_rotation(
        &mut s.a_local,
        &entry,
        respond_by,
        "https://a.example/as2",
        "req-1",
        s.now,
    )
    .unwrap()
}

#[test]
fn request_round_trips_through_xml_and_parts() {
    let pki = Pki::new();
    let cert = party(&pki, "PartnerA", "365", BOTH);
    let now = as2_proto::unix_time(1_800_000_000);
    let request = CemRequest::new(
        "req <&> \"1\"",
        TradingPartnerInfo::as2("Partner A & Co", now),
        vec![TrustRequest::new(
            vec![
                CertUsage::Encryption,
                CertUsage::Signing,
                CertUsage::TlsServer,
            ],
            Some(now + 30 * DAY),
            "https://a.example/as2?x=1&y=<2>",
            EndEntity::for_certificate(&cert.cert, "cert-1@a.example"),
        )],
    );
    let xml = request.to_xml();
    let text = String::from_utf8(xml.clone()).unwrap();
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    assert!(text.contains("xmlns=\"urn:ietf:params:xml:ns:ediintcertificateexchange\""));
    assert!(text.contains("<ds:X509SerialNumber>"));
    assert!(text.contains("<RespondByDate>2027-02-14T08:00:00+00:00</RespondByDate>"));
    assert!(text.contains("x=1&amp;y=&lt;2&gt;"));
    assert_eq!(
        CemRequest::from_xml(&xml, &CemLimits::default()).unwrap(),
        request
    );

    let message = RequestMessage::new(
        request.clone(),
        vec![(cert.cert.clone(), vec![pki.ca.cert.clone()])],
    )
    .unwrap();
    let parts = message.to_parts();
    assert_eq!(parts.len(), 2);
    assert_eq!(
        parts[0].content_type,
        "application/ediint-cert-exchange+xml"
    );
    assert_eq!(
        parts[1].content_type,
        "application/pkcs7-mime; smime-type=certs-only"
    );
    assert_eq!(parts[1].content_id_header(), "<cert-1@a.example>");
    let back = certs_only::parse(&parts[1].bytes, &Limits::default()).unwrap();
    assert_eq!(back[0].der(), cert.cert.der());
    match read_parts(&parts_of(&parts)).unwrap() {
        CemMessage::Request(read) => {
            assert_eq!(read, message);
            let (_, end_entity, chain) = read.entries().next().unwrap();
            assert_eq!(end_entity.der(), cert.cert.der());
            assert_eq!(chain[0].der(), pki.ca.cert.der());
        }
        other => panic!("not a request: {other:?}"),
    }
}

#[test]
fn response_round_trips() {
    let pki = Pki::new();
    let cert = party(&pki, "PartnerA", "365", BOTH);
    let now = as2_proto::unix_time(1_800_000_000);
    let response = CemResponse::new(
        "req-1",
        TradingPartnerInfo::as2("PartnerB", now),
        vec![
            TrustResponse::accepted(CertificateReference::for_certificate(&cert.cert)),
            TrustResponse::rejected(
                CertificateReference::for_certificate(&pki.ca.cert),
                "wrong usage: <ca> & more",
            ),
        ],
    );
    let xml = response.to_xml();
    assert_eq!(
        CemResponse::from_xml(&xml, &CemLimits::default()).unwrap(),
        response
    );
    assert_eq!(
        response.response_for(&cert.cert).unwrap().status,
        CertStatus::Accepted
    );
    let parts = CemMessage::Response(response.clone()).to_parts();
    assert_eq!(parts.len(), 1);
    // A single part, as Mendelson sends a response.
    assert_eq!(
        read_parts(&parts_of(&parts)).unwrap(),
        CemMessage::Response(response)
    );
}

#[test]
fn mendelson_shapes_parse() {
    let limits = CemLimits::default();
    let request = CemRequest::from_xml(&fixture("mendelson_request.xml"), &limits).unwrap();
    assert_eq!(
        request.request_id,
        "mendelson_opensource_AS2-1330000000000-4@mycompany_partner"
    );
    assert_eq!(request.partner.name, "mycompanyAS2");
    assert_eq!(request.partner.qualifier, "AS2");
    assert_eq!(
        request.partner.message_originated,
        as2_proto::unix_time(1_334_758_222)
    );
    let trust = &request.trust_requests[0];
    assert_eq!(
        trust.usages,
        [
            CertUsage::Encryption,
            CertUsage::TlsServer,
            CertUsage::Signing
        ]
    );
    assert_eq!(trust.respond_by, Some(as2_proto::unix_time(1_335_823_200)));
    assert_eq!(
        trust.response_url,
        "http://as2.mycompany.example:8080/as2/HttpReceiver"
    );
    assert_eq!(trust.end_entity.serial, "1334756211");
    assert!(
        trust
            .end_entity
            .issuer
            .starts_with("CN=mendelson test key 3, OU=")
    );
    assert_eq!(
        trust.end_entity.content_id,
        "mendelson_opensource_AS2-1330000000000-5@mycompany_partner"
    );

    let response = CemResponse::from_xml(&fixture("mendelson_response.xml"), &limits).unwrap();
    let answer = &response.trust_responses[0];
    assert_eq!(answer.status, CertStatus::Rejected);
    assert_eq!(
        answer.reason.as_deref(),
        Some("Certificate <expired> & unusable")
    );
    assert_eq!(answer.certificate.serial, "1334756211");

    // What we write reads back in the same shape (dates with a numeric offset, as
    // Mendelson's 25-character date reader needs).
    let again = CemRequest::from_xml(&request.to_xml(), &limits).unwrap();
    assert_eq!(again, request);
    let text = String::from_utf8(request.to_xml()).unwrap();
    assert!(text.contains("<MessageOriginated>2012-04-18T14:10:22+00:00</MessageOriginated>"));
}

#[test]
fn prefixed_namespaces_and_extensions_are_read() {
    match parse_xml(
        &fixture("draft_prefixed_request.xml"),
        &CemLimits::default(),
    )
    .unwrap()
    {
        CemDocument::Request(request) => {
            assert_eq!(request.request_id, "req-42");
            assert_eq!(request.partner.name, "ABC&Co");
            let trust = &request.trust_requests[0];
            assert_eq!(trust.usages, [CertUsage::Encryption]);
            assert_eq!(trust.respond_by, None);
            assert_eq!(trust.end_entity.content_id, "cert-1@abc.example");
            assert_eq!(trust.end_entity.serial, "0012");
        }
        other => panic!("not a request: {other:?}"),
    }
}

#[test]
fn refused_inputs() {
    let limits = CemLimits::default();
    let request = String::from_utf8(fixture("mendelson_request.xml")).unwrap();
    let parse = |text: &str| parse_xml(text.as_bytes(), &limits);

    // A DOCTYPE, with or without an entity bomb or an external entity.
    let doctype = request.replacen(
        "<EDIINTCertificateExchangeRequest",
        "<!DOCTYPE EDIINTCertificateExchangeRequest>\n<EDIINTCertificateExchangeRequest",
        1,
    );
    assert_eq!(parse(&doctype), Err(CemError::DoctypeRefused));
    let bomb = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">\
        <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\
        <lolz>&lol2;</lolz>";
    assert_eq!(parse(bomb), Err(CemError::DoctypeRefused));
    let external = "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>";
    assert_eq!(parse(external), Err(CemError::DoctypeRefused));
    // An entity reference nobody declared.
    let undeclared = request.replace("mycompanyAS2", "&lol;");
    assert_eq!(
        parse(&undeclared),
        Err(CemError::EntityRefused("lol".into()))
    );
    let in_attribute = request.replace("qualifier=\"AS2\"", "qualifier=\"&lol;\"");
    assert!(matches!(
        parse(&in_attribute),
        Err(CemError::Xml {
            problem: XmlProblem::EntityInAttribute,
            ..
        })
    ));

    // Too deep, too many elements, too large.
    let deep = format!(
        "<EDIINTCertificateExchangeRequest xmlns=\"urn:ietf:params:xml:ns:ediintcertificateexchange\">{}{}</EDIINTCertificateExchangeRequest>",
        "<a>".repeat(100),
        "</a>".repeat(100)
    );
    assert_eq!(parse(&deep), Err(CemError::TooDeep { max: 16 }));
    let wide = request.replace(
        "<TrustRequest>",
        &format!("{}<TrustRequest>", "<x/>".repeat(2000)),
    );
    assert_eq!(parse(&wide), Err(CemError::TooManyElements { max: 1024 }));
    let large = request.replace("mycompanyAS2", &"A".repeat(300 * 1024));
    assert!(matches!(parse(&large), Err(CemError::TooLarge { .. })));

    // Not XML, not UTF-8, another encoding, two roots, unclosed, wrong root.
    assert!(matches!(parse("<a><b></a>"), Err(CemError::Xml { .. })));
    assert_eq!(parse_xml(b"<a>\xff</a>", &limits), Err(CemError::NotUtf8));
    assert!(matches!(
        parse("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>"),
        Err(CemError::Xml {
            problem: XmlProblem::UnsupportedEncoding,
            ..
        })
    ));
    assert!(matches!(parse("<a/><b/>"), Err(CemError::Xml { .. })));
    assert!(matches!(parse("<a>"), Err(CemError::Xml { .. })));
    assert!(matches!(parse(""), Err(CemError::Xml { .. })));
    assert_eq!(
        parse("<EDIINTCertificateExchangeRequest requestId=\"1\"/>"),
        Err(CemError::UnexpectedRoot(
            "EDIINTCertificateExchangeRequest".into()
        ))
    );

    // Missing pieces: the certificate reference, the request ID, a usage; bad values.
    let cut = |from: &str, to: &str| {
        let start = request.find(from).unwrap();
        let end = request.find(to).unwrap() + to.len();
        format!("{}{}", &request[..start], &request[end..])
    };
    assert_eq!(
        parse(&cut("<EndEntity>", "</EndEntity>")),
        Err(CemError::Missing("EndEntity"))
    );
    assert_eq!(
        parse(&cut("<CertificateContentID>", "</CertificateContentID>")),
        Err(CemError::Missing("CertificateContentID"))
    );
    assert_eq!(
        parse(&cut("<ds:X509SerialNumber>", "</ds:X509SerialNumber>")),
        Err(CemError::Missing("X509SerialNumber"))
    );
    assert_eq!(
        parse(&request.replace("requestId=", "id=")),
        Err(CemError::Missing("requestId"))
    );
    assert_eq!(
        parse(
            &request
                .replace("<CertUsage>", "<Usage>")
                .replace("</CertUsage>", "</Usage>")
        ),
        Err(CemError::Missing("CertUsage"))
    );
    assert!(matches!(
        parse(&request.replace("2012-05-01T00:00:00+02:00", "tomorrow")),
        Err(CemError::Invalid {
            element: "RespondByDate",
            ..
        })
    ));
    assert!(matches!(
        parse(&request.replace(">1334756211<", ">0x4F<")),
        Err(CemError::Invalid { .. })
    ));
    let response = String::from_utf8(fixture("mendelson_response.xml")).unwrap();
    assert!(matches!(
        parse(&response.replace(">Rejected<", ">Maybe<")),
        Err(CemError::Invalid {
            element: "CertStatus",
            ..
        })
    ));
    // The ds elements must be in the XML-DSig namespace.
    assert_eq!(
        parse(&request.replace(
            "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"",
            "xmlns:ds=\"urn:other\""
        )),
        Err(CemError::Missing("X509IssuerName"))
    );
}

#[test]
fn parts_are_checked() {
    let pki = Pki::new();
    let cert = party(&pki, "PartnerA", "365", BOTH);
    let other = party(&pki, "PartnerC", "365", BOTH);
    let now = as2_proto::unix_time(1_800_000_000);
    let request = CemRequest::new(
        "r",
        TradingPartnerInfo::as2("PartnerA", now),
        vec![TrustRequest::new(
            vec![CertUsage::Signing],
            None,
            "https://a.example/",
            EndEntity::for_certificate(&cert.cert, "c1@a"),
        )],
    );
    assert_eq!(
        RequestMessage::new(request.clone(), vec![(other.cert.clone(), vec![])]),
        Err(CemError::CertificateMismatch("c1@a".into()))
    );
    let message = RequestMessage::new(request, vec![(cert.cert.clone(), vec![])]).unwrap();
    let parts = parts_of(&message.to_parts());

    // The certificate part is missing.
    assert_eq!(
        read_parts(&parts[..1]),
        Err(CemError::MissingPart("c1@a".into()))
    );
    // No XML part.
    assert_eq!(read_parts(&parts[1..]), Err(CemError::NoXmlPart));
    // The referenced part holds another certificate.
    let mut swapped = parts.clone();
    swapped[1].2 = certs_only::build(&[&other.cert]);
    assert_eq!(
        read_parts(&swapped),
        Err(CemError::CertificateMismatch("c1@a".into()))
    );
    // The referenced part is not certs-only CMS.
    let mut wrong_type = parts.clone();
    wrong_type[1].0 = "application/pkix-cert".into();
    assert_eq!(
        read_parts(&wrong_type),
        Err(CemError::NotCertsOnly("c1@a".into()))
    );
    let mut garbage = parts.clone();
    garbage[1].2 = b"not CMS".to_vec();
    assert!(matches!(
        read_parts(&garbage),
        Err(CemError::Certificate(_))
    ));
    // Two parts with one Content-ID.
    let mut duplicate = parts.clone();
    duplicate.push(parts[1].clone());
    assert_eq!(
        read_parts(&duplicate),
        Err(CemError::DuplicatePart("c1@a".into()))
    );
    // Content-IDs with or without angle brackets; unreferenced parts ignored.
    let mut bare = parts.clone();
    bare[1].1 = "c1@a".into();
    bare.push(("text/plain".into(), "<note@a>".into(), b"hi".to_vec()));
    assert!(matches!(read_parts(&bare), Ok(CemMessage::Request(_))));
    // Too many parts.
    let many: Vec<_> = (0..12).map(|_| parts[0].clone()).collect();
    assert_eq!(read_parts(&many), Err(CemError::TooManyEntries { max: 11 }));
}

#[test]
fn request_and_response_rotate_a_partner_certificate() {
    let mut s = setup();
    let respond_by = s.now + 30 * DAY;
    let sent = outgoing(&mut s, CertificateUsage::EncryptionAndSigning, respond_by);
    assert_eq!(sent.added, ["new-encryption", "new-signing"]);
    // PartnerA decrypts with the new key at once, signs with it from the respond-by date.
    let a_local = &s.a_local;
    assert!(
        a_local
            .inbound_certificates(
                CertificateUsage::Encryption,
                s.now,
                DateEnforcement::Enforce
            )
            .any(|c| c.certificate() == &s.new.cert)
    );
    assert_eq!(
        a_local
            .outbound_certificate(CertificateUsage::Signing, s.now)
            .unwrap()
            .certificate(),
        &s.old.cert
    );
    assert_eq!(
        a_local
            .outbound_certificate(CertificateUsage::Signing, respond_by + DAY)
            .unwrap()
            .certificate(),
        &s.new.cert
    );

    // PartnerA sends the request signed with its current certificate.
    let parts = parts_of(&sent.message.to_parts());
    let signer = deliver(
        "PartnerA",
        "PartnerB",
        &parts[0].2,
        Some(&s.old),
        std::slice::from_ref(&s.old.cert),
        s.now,
    )
    .unwrap();
    let CemMessage::Request(request) = read_parts(&parts).unwrap() else {
        panic!("not a request")
    };
    let b_id = id("PartnerB");
    let outcome = handle_request(
        &mut s.a_profile_at_b,
        &request,
        &signer,
        &RequestPolicy::new(&b_id, s.now),
    )
    .unwrap();
    assert_eq!(outcome.added, ["cem-req-1-1"]);
    assert_eq!(outcome.response.request_id, "req-1");
    assert_eq!(outcome.response.partner.name, "PartnerB");
    assert_eq!(
        outcome.response.trust_responses[0].status,
        CertStatus::Accepted
    );
    assert_eq!(
        outcome.response.trust_responses[0].certificate.serial,
        rotation::serial_number(&s.new.cert)
    );

    // PartnerB's profile of PartnerA now rotates by the reference's rules.
    let p = &s.a_profile_at_b;
    assert_eq!(p.certificates().len(), 2);
    let added = &p.certificates()[1];
    assert_eq!(added.active_date(), Some(respond_by));
    assert_eq!(added.chain().len(), 0);
    let encrypt_to = |at| {
        p.outbound_certificate(CertificateUsage::Encryption, at)
            .unwrap()
            .certificate()
            .clone()
    };
    // Encryption: the old certificate until the respond-by date, the new one from then.
    assert_eq!(encrypt_to(s.now), s.old.cert);
    assert_eq!(encrypt_to(respond_by - DAY), s.old.cert);
    assert_eq!(encrypt_to(respond_by), s.new.cert);
    assert_eq!(encrypt_to(respond_by + DAY), s.new.cert);
    // Signatures: the new one from the respond-by date; the old one still verifies until
    // its own end (NotAfter here, 365 days), the grace period.
    let verifies = |cert: &Certificate, at| {
        use as2_proto::message::inbound::SignerTrust;
        p.trust(at, DateEnforcement::Enforce).check(cert).is_ok()
    };
    assert!(!verifies(&s.new.cert, s.now));
    assert!(verifies(&s.new.cert, respond_by));
    assert!(verifies(&s.old.cert, respond_by + DAY));
    assert!(verifies(&s.old.cert, s.old.cert.not_after() - DAY));
    assert!(!verifies(&s.old.cert, s.old.cert.not_after() + DAY));
    assert!(verifies(&s.new.cert, s.old.cert.not_after() + DAY));

    // The same request again changes nothing and is accepted again.
    let again = handle_request(
        &mut s.a_profile_at_b,
        &request,
        &signer,
        &RequestPolicy::new(&b_id, s.now),
    )
    .unwrap();
    assert!(again.added.is_empty());
    assert_eq!(
        again.response.trust_responses[0].status,
        CertStatus::Accepted
    );
    assert_eq!(s.a_profile_at_b.certificates().len(), 2);

    // PartnerB answers, signed; PartnerA reads the answer.
    let response_parts = parts_of(&CemMessage::Response(outcome.response.clone()).to_parts());
    let b_signer = deliver(
        "PartnerB",
        "PartnerA",
        &response_parts[0].2,
        Some(&s.b),
        std::slice::from_ref(&s.b.cert),
        s.now,
    )
    .unwrap();
    let CemMessage::Response(response) = read_parts(&response_parts).unwrap() else {
        panic!("not a response")
    };
    let before = s.a_local.certificates().len();
    let result = handle_response(
        &mut s.a_local,
        &sent,
        &response,
        &b_signer,
        &s.b_profile_at_a,
        s.now,
    )
    .unwrap();
    assert_eq!(result.accepted, [s.new.cert.clone()]);
    assert!(result.rejected.is_empty());
    assert_eq!(s.a_local.certificates().len(), before);
}

#[test]
fn a_rejection_withdraws_the_local_certificate() {
    let mut s = setup();
    let respond_by = s.now + 30 * DAY;
    let sent = outgoing(&mut s, CertificateUsage::Encryption, respond_by);
    assert_eq!(sent.added, ["new-encryption"]);
    assert_eq!(s.a_local.certificates().len(), 2);
    let response = CemResponse::new(
        "req-1",
        TradingPartnerInfo::as2("PartnerB", s.now),
        vec![TrustResponse::rejected(
            CertificateReference::for_certificate(&s.new.cert),
            "no",
        )],
    );
    let b_signer = deliver(
        "PartnerB",
        "PartnerA",
        &response.to_xml(),
        Some(&s.b),
        std::slice::from_ref(&s.b.cert),
        s.now,
    )
    .unwrap();
    // A response to another request is refused and changes nothing.
    let mut other = response.clone();
    other.request_id = "req-2".into();
    assert!(matches!(
        handle_response(
            &mut s.a_local,
            &sent,
            &other,
            &b_signer,
            &s.b_profile_at_a,
            s.now
        ),
        Err(CemError::RequestIdMismatch { .. })
    ));
    assert_eq!(s.a_local.certificates().len(), 2);
    let result = handle_response(
        &mut s.a_local,
        &sent,
        &response,
        &b_signer,
        &s.b_profile_at_a,
        s.now,
    )
    .unwrap();
    assert_eq!(result.rejected, [(s.new.cert.clone(), Some("no".into()))]);
    assert_eq!(s.a_local.certificates().len(), 1);
    assert_eq!(s.a_local.certificates()[0].certificate(), &s.old.cert);
}

#[test]
fn unsigned_or_wrongly_signed_requests_change_nothing() {
    let mut s = setup();
    let respond_by = s.now + 30 * DAY;
    let sent = outgoing(&mut s, CertificateUsage::EncryptionAndSigning, respond_by);
    let parts = parts_of(&sent.message.to_parts());
    let CemMessage::Request(request) = read_parts(&parts).unwrap() else {
        panic!("not a request")
    };
    let b_id = id("PartnerB");
    let policy = RequestPolicy::new(&b_id, s.now);
    let before = s.a_profile_at_b.certificates().len();

    // Unsigned: no VerifiedSigner at all.
    assert_eq!(
        deliver("PartnerA", "PartnerB", &parts[0].2, None, &[], s.now).unwrap_err(),
        CemError::Unsigned
    );

    // Signed by a certificate the profile does not hold (a stranger, or the new
    // certificate itself): the signature verifies, the signer is not current.
    let stranger = party(&s.pki, "Mallory", "365", BOTH);
    for signer_identity in [&stranger, &s.new] {
        let signer = deliver(
            "PartnerA",
            "PartnerB",
            &parts[0].2,
            Some(signer_identity),
            std::slice::from_ref(&signer_identity.cert),
            s.now,
        )
        .unwrap();
        assert!(matches!(
            handle_request(&mut s.a_profile_at_b, &request, &signer, &policy),
            Err(CemError::SignerNotCurrent(_))
        ));
        assert_eq!(s.a_profile_at_b.certificates().len(), before);
    }

    // Signed with the right certificate, but after it has left its window.
    let signer = deliver(
        "PartnerA",
        "PartnerB",
        &parts[0].2,
        Some(&s.old),
        std::slice::from_ref(&s.old.cert),
        s.now,
    )
    .unwrap();
    let late = RequestPolicy::new(&b_id, s.old.cert.not_after() + DAY);
    assert!(matches!(
        handle_request(&mut s.a_profile_at_b, &request, &signer, &late),
        Err(CemError::SignerNotCurrent(_))
    ));
    // From another AS2 ID than the profile's.
    let signer_c = deliver(
        "PartnerC",
        "PartnerB",
        &parts[0].2,
        Some(&s.old),
        std::slice::from_ref(&s.old.cert),
        s.now,
    )
    .unwrap();
    assert!(matches!(
        handle_request(&mut s.a_profile_at_b, &request, &signer_c, &policy),
        Err(CemError::SenderMismatch { .. })
    ));
    assert_eq!(s.a_profile_at_b.certificates().len(), before);
}

fn single_request(
    s: &Setup,
    cert: &Certificate,
    usages: Vec<CertUsage>,
    respond_by: SystemTime,
) -> RequestMessage {
    let request = CemRequest::new(
        "req-9",
        TradingPartnerInfo::as2("PartnerA", s.now),
        vec![TrustRequest::new(
            usages,
            Some(respond_by),
            "https://a.example/as2",
            EndEntity::for_certificate(cert, "c@a"),
        )],
    );
    RequestMessage::new(request, vec![(cert.clone(), vec![])]).unwrap()
}

#[test]
fn unusable_certificates_are_rejected_with_a_reason() {
    let mut s = setup();
    let signer = deliver(
        "PartnerA",
        "PartnerB",
        b"x",
        Some(&s.old),
        std::slice::from_ref(&s.old.cert),
        s.now,
    )
    .unwrap();
    let b_id = id("PartnerB");
    let policy = RequestPolicy::new(&b_id, s.now);
    let encrypt_only = party(&s.pki, "PartnerA-enc", "730", "keyEncipherment");
    let cases = [
        // Would take over after it has expired.
        (
            single_request(
                &s,
                &s.new.cert,
                vec![CertUsage::Signing],
                s.new.cert.not_after() + DAY,
            ),
            "certificate expired",
        ),
        // keyUsage forbids signing.
        (
            single_request(
                &s,
                &encrypt_only.cert,
                vec![CertUsage::Signing],
                s.now + DAY,
            ),
            "wrong certificate usage",
        ),
        // TLS certificates are not held by profiles.
        (
            single_request(&s, &s.new.cert, vec![CertUsage::TlsServer], s.now + DAY),
            "certificate usage tlsServer not supported",
        ),
    ];
    for (message, reason) in cases {
        let outcome = handle_request(&mut s.a_profile_at_b, &message, &signer, &policy).unwrap();
        let answer = &outcome.response.trust_responses[0];
        assert_eq!(answer.status, CertStatus::Rejected);
        assert!(
            answer.reason.as_deref().unwrap().starts_with(reason),
            "{:?}",
            answer.reason
        );
        assert!(outcome.added.is_empty());
        assert_eq!(s.a_profile_at_b.certificates().len(), 1);
    }

    // A chain to an anchor we do not trust.
    let other_ca = Pki::new();
    let anchors = [other_ca.ca.cert.clone()];
    let trust = ChainTrust::new(&anchors, s.now);
    let strict = RequestPolicy::new(&b_id, s.now).with_chain_trust(&trust);
    let message = single_request(&s, &s.new.cert, vec![CertUsage::Encryption], s.now + DAY);
    let outcome = handle_request(&mut s.a_profile_at_b, &message, &signer, &strict).unwrap();
    let answer = &outcome.response.trust_responses[0];
    assert_eq!(answer.status, CertStatus::Rejected);
    assert!(
        answer
            .reason
            .as_deref()
            .unwrap()
            .starts_with("certificate chain not trusted")
    );
    // With the right anchor it is accepted.
    let anchors = [s.pki.ca.cert.clone()];
    let trust = ChainTrust::new(&anchors, s.now);
    let strict = RequestPolicy::new(&b_id, s.now).with_chain_trust(&trust);
    let outcome = handle_request(&mut s.a_profile_at_b, &message, &signer, &strict).unwrap();
    assert_eq!(
        outcome.response.trust_responses[0].status,
        CertStatus::Accepted
    );
    assert_eq!(
        s.a_profile_at_b.certificates()[1].usage(),
        CertificateUsage::Encryption
    );
}
