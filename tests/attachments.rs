//! Multiple attachments (RFC 6362): 2 to 10 files in one `multipart/related` payload,
//! through every layering, received part by part and byte for byte whatever the
//! chunking, with the MIC over the whole entity, and the limits and policy that refuse
//! them.

mod common;

use as2_proto::cms::algorithm::{ContentEncryption, DigestAlgorithm};
use as2_proto::cms::signed::{SignOptions, Signer};
use as2_proto::message::headers::{As2Id, HttpHeaders};
use as2_proto::message::inbound::{self, InboundPolicy, NoDuplicateCheck};
use as2_proto::message::outbound::{self, Compression, MdnRequest, OutboundMessage};
use as2_proto::{
    Attachment, Certificate, Disposition, Error, Limit, Limits, MimeError, Modifier, PartInfo,
    PayloadSink, PolicyError, PrivateKey,
};

macro_rules! pki {
    ($file:literal) => {
        include_bytes!(concat!("../examples/pki/", $file))
    };
}

struct Parties {
    a_cert: Certificate,
    a_key: PrivateKey,
    b_enc: Certificate,
    b_keys: Vec<(Certificate, PrivateKey)>,
}

fn parties() -> Parties {
    let b_enc = Certificate::from_pem(pki!("PartnerB/enc.crt")).unwrap();
    Parties {
        a_cert: Certificate::from_pem(pki!("PartnerA/sign.crt")).unwrap(),
        a_key: PrivateKey::from_pem(pki!("PartnerA/sign.key"), None).unwrap(),
        b_keys: vec![(
            b_enc.clone(),
            PrivateKey::from_pem(pki!("PartnerB/enc.key"), None).unwrap(),
        )],
        b_enc,
    }
}

/// One file: content type, file name, bytes, base64 or not.
type File = (&'static str, Option<String>, Vec<u8>, bool);

/// The payload and up to `extra` attachments: text with CRLF and with bare LF, binary
/// (every octet value), lines that look like delimiters, an empty file, a non-ASCII name,
/// two files of the same name, base64 parts.
fn files(extra: usize) -> Vec<File> {
    let binary: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let mut all: Vec<File> =
        vec![
        (
            "application/edi-x12",
            Some("po-4711.x12".into()),
            b"ISA*00*~\r\nGS*PO~\r\n".repeat(40),
            false,
        ),
        (
            "text/plain",
            Some("notes.txt".into()),
            b"line one\nline two\n\nlast line without end".to_vec(),
            false,
        ),
        ("application/octet-stream", Some("blob.bin".into()), binary.clone(), false),
        (
            "text/plain",
            Some("boundaries.txt".into()),
            b"--as2-0123\r\n--\r\n\r\n--as2-\n-- \r\n--as2-ffffffffffffffffffffffffffffffff--\r\n"
                .to_vec(),
            false,
        ),
        ("application/pdf", Some("Prüfbericht №1.pdf".into()), binary[7..900].to_vec(), true),
        ("application/octet-stream", None, Vec::new(), false),
        ("text/plain", Some("notes.txt".into()), b"same name, other file\r\n".to_vec(), true),
        ("application/xml", Some("a.xml".into()), b"<a>\n  <b/>\n</a>\n".to_vec(), false),
        ("image/png", Some("x.png".into()), binary[..57].to_vec(), true),
        ("application/edifact", Some("d.edi".into()), b"UNA:+.? 'UNB+UNOC:3'".to_vec(), false),
        ("application/json", Some("{}.json".into()), b"{}\r".to_vec(), false),
    ];
    all.truncate(extra + 1);
    all
}

fn message<'a>(
    p: &'a Parties,
    files: &'a [File],
    sign: bool,
    compression: Compression,
    cipher: Option<ContentEncryption>,
) -> OutboundMessage<'a> {
    let (first, rest) = files.split_first().unwrap();
    let mut m = OutboundMessage::new(
        As2Id::new("PartnerA").unwrap(),
        As2Id::new("PartnerB").unwrap(),
        &first.2,
    );
    m.content_type = first.0.into();
    m.file_name = first.1.clone();
    m.attachments = rest
        .iter()
        .map(|(ct, name, data, base64)| {
            let mut a = Attachment::new(*ct, data);
            if let Some(name) = name {
                a = a.with_file_name(name.clone());
            }
            if *base64 { a.base64() } else { a }
        })
        .collect();
    m.compression = compression;
    m.mdn = MdnRequest::sync().signed(&[DigestAlgorithm::Sha256]);
    if sign {
        m.signing = Some((Signer::new(&p.a_cert, &p.a_key), SignOptions::default()));
    }
    if let Some(cipher) = cipher {
        m.encryption.0 = vec![&p.b_enc];
        m.encryption.1.cipher = cipher;
    }
    m
}

/// A sink that keeps each part apart, and checks the order of the calls.
#[derive(Default)]
struct PartSink {
    parts: Vec<(PartInfo, Vec<u8>)>,
    open: bool,
    committed: bool,
}

impl PayloadSink for PartSink {
    fn write(&mut self, tentative: &[u8]) {
        assert!(self.open, "bytes outside a part");
        self.parts
            .last_mut()
            .unwrap()
            .1
            .extend_from_slice(tentative);
    }
    fn commit(&mut self) {
        assert!(!self.open);
        self.committed = true;
    }
    fn abort(&mut self) {
        self.parts.clear();
    }
    fn begin_part(&mut self, part: &PartInfo) {
        assert!(!self.open);
        assert_eq!(part.index, self.parts.len());
        self.parts.push((part.clone(), Vec::new()));
        self.open = true;
    }
    fn end_part(&mut self) {
        assert!(self.open);
        self.open = false;
    }
}

fn chunks<'b>(body: &'b [u8], sizes: &[usize]) -> Vec<&'b [u8]> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
        i += 1;
    }
    out
}

fn policy<'a>(p: &'a Parties, limits: &'a Limits) -> InboundPolicy<'a> {
    let mut policy = InboundPolicy::new(&p.b_keys, std::slice::from_ref(&p.a_cert), limits);
    policy.require_signature = false;
    policy.accept_attachments = true;
    policy
}

/// Every layering, 2 to 10 attachments: each part arrives byte for byte with its type
/// and name, in one piece (`accept`) and in any chunking (a part-aware sink), and the MIC
/// is the one the sender computed over the whole entity.
#[test]
fn every_layering_delivers_each_part() {
    let p = parties();
    let limits = Limits::default();
    let policy = policy(&p, &limits);
    let layerings: [(bool, Compression, Option<ContentEncryption>); 9] = [
        (false, Compression::None, None),
        (true, Compression::None, None),
        (false, Compression::BeforeSigning, None),
        (true, Compression::BeforeSigning, None),
        (true, Compression::AfterSigning, None),
        (false, Compression::None, Some(ContentEncryption::Aes256Cbc)),
        (true, Compression::None, Some(ContentEncryption::Aes128Cbc)),
        (
            true,
            Compression::AfterSigning,
            Some(ContentEncryption::Aes256Gcm),
        ),
        (false, Compression::None, Some(ContentEncryption::Aes128Gcm)),
    ];
    let mut rng = common::rng(16);
    for (i, &(sign, compression, cipher)) in layerings.iter().enumerate() {
        for extra in [1 + i % 3, 10 - i % 2] {
            let files = files(extra);
            let m = message(&p, &files, sign, compression, cipher);
            let built = outbound::build(&m, common::now(), &mut rng).unwrap();
            let what = format!("{sign} {compression:?} {cipher:?} {extra}");
            assert!(
                built
                    .headers
                    .get_str("EDIINT-Features")
                    .is_some_and(|f| f.contains("multiple-attachments")),
                "{what}"
            );
            let incoming = inbound::handle(&built.headers, &built.body, &limits).unwrap();
            let received = incoming
                .accept(&policy, &mut NoDuplicateCheck, &mut common::rng(1))
                .unwrap_or_else(|r| panic!("{what}: {:?} {:?}", r.error, r.concealed));
            assert_eq!(received.content_type, "multipart/related", "{what}");
            assert_eq!(received.parts.len(), files.len(), "{what}");
            assert_eq!(received.mic, built.mic, "{what}");
            assert!(built.mic.is_some());
            for ((part, bytes), file) in received
                .parts
                .iter()
                .zip(received.part_payloads())
                .zip(&files)
            {
                assert_eq!(part.content_type, file.0, "{what}");
                assert_eq!(part.file_name, file.1, "{what}");
                assert!(bytes == file.2.as_slice(), "{what} {:?}", file.1);
                assert_eq!(part.len, file.2.len() as u64);
            }
            // Streamed in pieces of every kind of size: the same parts.
            for sizes in [&[1usize][..], &[7, 1, 300], &[4096, 13]] {
                if sizes == [1] && built.body.len() > 30_000 {
                    continue;
                }
                let mut sink = PartSink::default();
                let mut receiver = incoming.receive(&policy);
                let mut rng = common::rng(1);
                for chunk in chunks(&built.body, sizes) {
                    receiver.push(chunk, &mut sink, &mut rng);
                }
                let streamed = receiver
                    .finish(&mut sink, &mut NoDuplicateCheck, &mut rng)
                    .unwrap();
                assert!(sink.committed);
                assert_eq!(streamed.parts, received.parts, "{what} {sizes:?}");
                assert_eq!(streamed.mic, received.mic);
                assert_eq!(sink.parts.len(), files.len());
                for ((info, bytes), file) in sink.parts.iter().zip(&files) {
                    assert_eq!(info.content_type, file.0);
                    assert!(bytes == &file.2, "{what} {sizes:?} {:?}", file.1);
                }
            }
        }
    }
}

/// A signed message's MIC covers the whole `multipart/related` entity, which carries the
/// root's type; the entity is what the signature covers, as received.
#[test]
fn the_signature_covers_the_whole_entity() {
    let p = parties();
    let files = files(3);
    let m = message(&p, &files, true, Compression::None, None);
    let built = outbound::build(&m, common::now(), &mut common::rng(3)).unwrap();
    let body = String::from_utf8_lossy(&built.body);
    let start = body.find("Content-Type: multipart/related").unwrap();
    let entity_headers = &body[start..start + 200];
    assert!(
        entity_headers.contains("type=\"application/edi-x12\""),
        "{entity_headers}"
    );
    // Damage one octet of the third file: the signature no longer verifies.
    let at = built.body.windows(5).position(|w| w == b"--as2").unwrap();
    let mut damaged = built.body.clone();
    let target = damaged[at..].windows(4).position(|w| w == b"line").unwrap() + at;
    damaged[target] ^= 1;
    let limits = Limits::default();
    let policy = policy(&p, &limits);
    let incoming = inbound::handle(&built.headers, &damaged, &limits).unwrap();
    let rejected = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut common::rng(1))
        .unwrap_err();
    assert_eq!(
        rejected.error.disposition(),
        Disposition::Error(Modifier::IntegrityCheckFailed)
    );
}

/// Streaming out: the same bytes as `build`, an exact Content-Length when every part's
/// length is known, none when one is not, and typed errors for parts left out or added.
#[test]
fn streaming_out_matches_build() {
    let p = parties();
    let files = files(4);
    for cipher in [None, Some(ContentEncryption::Aes256Cbc)] {
        let m = message(&p, &files, true, Compression::None, cipher);
        let built = outbound::build(&m, common::now(), &mut common::rng(5)).unwrap();
        let mut rng = common::rng(5);
        let mut stream =
            outbound::start(&m, Some(files[0].2.len() as u64), common::now(), &mut rng).unwrap();
        assert_eq!(stream.parts(), 5);
        assert_eq!(stream.content_length(), Some(built.body.len() as u64));
        let mut body = Vec::new();
        for (i, file) in files.iter().enumerate() {
            if i > 0 {
                stream.next_part(&mut body).unwrap();
            }
            assert_eq!(stream.current_part(), i);
            for chunk in file.2.chunks(11) {
                stream.push(chunk, &mut body).unwrap();
            }
        }
        stream.finish(&mut body, &mut rng).unwrap();
        assert!(body == built.body);

        // A part of unknown length: no Content-Length, same bytes but the BER envelope.
        let mut unknown = m.clone();
        unknown.attachments[1].len = None;
        let stream = outbound::start(
            &unknown,
            Some(files[0].2.len() as u64),
            common::now(),
            &mut rng,
        )
        .unwrap();
        assert_eq!(stream.content_length(), None);
    }

    let mut m = message(&p, &files, false, Compression::None, None);
    for attachment in &mut m.attachments {
        attachment.len = None;
    }
    let mut rng = common::rng(5);
    let mut out = Vec::new();
    // Too few parts.
    let mut stream = outbound::start(&m, None, common::now(), &mut rng).unwrap();
    stream.next_part(&mut out).unwrap();
    assert_eq!(
        stream.finish(&mut out, &mut rng).unwrap_err(),
        Error::PartCount {
            declared: 5,
            pushed: 2
        }
    );
    // Too many.
    let mut stream = outbound::start(&m, None, common::now(), &mut rng).unwrap();
    for _ in 0..4 {
        stream.next_part(&mut out).unwrap();
    }
    assert_eq!(
        stream.next_part(&mut out).unwrap_err(),
        Error::PartCount {
            declared: 5,
            pushed: 6
        }
    );
    // A part shorter or longer than announced.
    let mut stream = outbound::start(&m, Some(3), common::now(), &mut rng).unwrap();
    stream.push(b"ab", &mut out).unwrap();
    assert_eq!(
        stream.next_part(&mut out).unwrap_err(),
        Error::PayloadLength {
            announced: 3,
            pushed: 2
        }
    );
    m.attachments[0].len = Some(files[1].2.len() as u64);
    let mut stream = outbound::start(&m, None, common::now(), &mut rng).unwrap();
    stream.next_part(&mut out).unwrap();
    let announced = files[1].2.len();
    assert_eq!(
        stream
            .push(&vec![b'x'; announced + 1], &mut out)
            .unwrap_err(),
        Error::LimitExceeded {
            limit: Limit::PayloadSize,
            value: announced
        }
    );
    // A single payload has no next part.
    let single = OutboundMessage::new(As2Id::new("A").unwrap(), As2Id::new("B").unwrap(), b"x");
    let mut stream = outbound::start(&single, None, common::now(), &mut rng).unwrap();
    assert!(matches!(
        stream.next_part(&mut out),
        Err(Error::PartCount { .. })
    ));
    // Without attachments the feature is not advertised.
    let built = outbound::build(&single, common::now(), &mut rng).unwrap();
    assert_eq!(built.headers.get_str("EDIINT-Features"), None);
}

/// A receiver whose policy does not accept attachments refuses them with a typed error
/// and `failed/Failure: unsupported format`; the limits on the part count and depth
/// give typed errors too.
#[test]
fn policy_and_limits_refuse() {
    let p = parties();
    let files = files(3);
    let m = message(&p, &files, true, Compression::None, None);
    let built = outbound::build(&m, common::now(), &mut common::rng(9)).unwrap();
    let refuse = |limits: &Limits, accept: bool| {
        let mut policy = policy(&p, limits);
        policy.accept_attachments = accept;
        let incoming = inbound::handle(&built.headers, &built.body, limits).unwrap();
        // Streamed, so the whole message is read however it fails.
        let mut receiver = incoming.receive(&policy);
        let mut sink = Vec::new();
        let mut rng = common::rng(2);
        for chunk in chunks(&built.body, &[100]) {
            receiver.push(chunk, &mut sink, &mut rng);
        }
        let rejected = receiver
            .finish(&mut sink, &mut NoDuplicateCheck, &mut rng)
            .unwrap_err();
        assert!(sink.is_empty());
        rejected.error
    };
    let limits = Limits::default();
    let error = refuse(&limits, false);
    assert_eq!(error, Error::Policy(PolicyError::AttachmentsRefused));
    assert_eq!(
        error.disposition(),
        Disposition::Failure(Modifier::UnsupportedFormat)
    );

    let mut few = Limits::default();
    few.max_attachments = 3;
    assert_eq!(
        refuse(&few, true),
        Error::LimitExceeded {
            limit: Limit::Attachments,
            value: 3
        }
    );
    few.max_attachments = 4;
    assert!(matches!(refuse_ok(&p, &built, &few), Ok(4)));

    let mut shallow = Limits::default();
    shallow.max_mime_depth = 1;
    assert_eq!(
        refuse(&shallow, true),
        Error::Mime(MimeError::MaxDepthExceeded { max_depth: 1 })
    );
}

fn refuse_ok(p: &Parties, built: &outbound::BuiltMessage, limits: &Limits) -> Result<usize, Error> {
    let policy = policy(p, limits);
    let incoming = inbound::handle(&built.headers, &built.body, limits).unwrap();
    incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut common::rng(1))
        .map(|r| r.parts.len())
        .map_err(|r| r.error)
}

/// Hand-made `multipart/related` entities the way other products write them: no `type`
/// parameter, a preamble and epilogue, LF line ends, a part without headers (text/plain),
/// quoted-printable, a missing close delimiter.
#[test]
fn reads_what_others_write() {
    let p = parties();
    let limits = Limits::default();
    let policy = policy(&p, &limits);
    let body = b"preamble\n--xyz\nContent-Type: application/xml\nContent-Disposition: attachment; filename*=UTF-8''%C3%A9t%C3%A9.xml\n\n<a/>\n--xyz\n\nplain\n--xyz\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nsoft=\nbreak =3D\n--xyz--\nepilogue\n";
    let mut headers = HttpHeaders::new();
    for (n, v) in [
        ("AS2-Version", "1.2"),
        ("AS2-From", "PartnerA"),
        ("AS2-To", "PartnerB"),
        ("Message-ID", "<x@y>"),
        ("Content-Type", "multipart/related; boundary=xyz"),
    ] {
        headers.push(n, v);
    }
    let incoming = inbound::handle(&headers, body, &limits).unwrap();
    let received = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut common::rng(1))
        .unwrap();
    let names: Vec<_> = received.parts.iter().map(|p| p.file_name.clone()).collect();
    assert_eq!(names, [Some("été.xml".to_owned()), None, None]);
    let types: Vec<_> = received
        .parts
        .iter()
        .map(|p| p.content_type.as_str())
        .collect();
    assert_eq!(types, ["application/xml", "text/plain", "text/plain"]);
    assert_eq!(
        received.part_payloads(),
        [&b"<a/>"[..], b"plain", b"softbreak ="]
    );
}

/// One record per message lists every file; the files are stored side by side under
/// distinct neutralised names, two parts of the same name included.
#[test]
fn one_record_lists_every_file() {
    use as2_proto::record::{self, StatusCode, StatusRecord};
    let p = parties();
    let files = files(6);
    let m = message(&p, &files, true, Compression::None, None);
    let built = outbound::build(&m, common::now(), &mut common::rng(4)).unwrap();
    let limits = Limits::default();
    let policy = policy(&p, &limits);
    let incoming = inbound::handle(&built.headers, &built.body, &limits).unwrap();
    let received = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut common::rng(1))
        .unwrap();
    let mut status = StatusRecord::inbound(&incoming, common::now());
    status.set_received(&received);
    let names: Vec<Option<&str>> = received
        .parts
        .iter()
        .map(|p| p.file_name.as_deref())
        .collect();
    let paths = record::attachment_paths(&names, built.message_id.as_str(), StatusCode::Completed);
    status.set_file_paths(&paths);
    let id = built.message_id.bare();
    let stored: Vec<String> = paths.files.iter().map(ToString::to_string).collect();
    assert_eq!(
        stored,
        [
            format!("processed/po-4711.{id}.x12"),
            format!("processed/notes.{id}.txt"),
            format!("processed/blob.{id}.bin"),
            format!("processed/boundaries.{id}.txt"),
            format!("processed/Prüfbericht №1.{id}.pdf"),
            format!("processed/{id}"),
            format!("processed/notes.{id}.part7.txt"),
        ]
    );
    assert_eq!(
        paths.record.to_string(),
        format!("processed/po-4711.{id}.x12.json")
    );
    // The single-file fields describe the first file; transfer-size is the total.
    assert_eq!(status.file_path.as_deref(), Some(stored[0].as_str()));
    assert_eq!(status.requester_file_name.as_deref(), Some("po-4711.x12"));
    assert_eq!(
        status.requester_content_type.as_deref(),
        Some("application/edi-x12")
    );
    let total: usize = files.iter().map(|f| f.2.len()).sum();
    assert_eq!(status.transfer_size, Some(total as u64));
    let json = status.to_json();
    assert_eq!(StatusRecord::from_json(&json).unwrap(), status);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let listed = value["files"].as_array().unwrap();
    assert_eq!(listed.len(), 7);
    assert_eq!(listed[4]["requester-file-name"], "Prüfbericht №1.pdf");
    assert_eq!(listed[4]["requester-content-type"], "application/pdf");
    assert_eq!(listed[4]["transfer-size"], 893);
    assert_eq!(listed[6]["file-path"], stored[6].as_str());
    // A single file has no list.
    let mut single = StatusRecord::default();
    single.set_received(
        &incoming
            .accept(&policy, &mut NoDuplicateCheck, &mut common::rng(1))
            .map(|mut r| {
                r.parts.clear();
                r
            })
            .unwrap(),
    );
    assert!(!single.to_json().contains("\"files\""));
    // Outbound: the sender's record lists the files too.
    let sent = StatusRecord::outbound(&m, id, common::now());
    assert_eq!(sent.files.len(), 7);
    assert_eq!(sent.transfer_size, Some(total as u64));
}
