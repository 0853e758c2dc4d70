//! The reference's codes and records (issue 13, item 6): `SEND_FILE_NOT_FOUND` through the
//! caller's storage, `failed/<uuid>.<message-id>`, `server-id` and `client-ip`, the
//! `Unsupported date format: ...` refusal, and the reference's limits preset.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use as2_proto::message::headers::{As2Id, HttpHeaders};
use as2_proto::message::inbound::{self, Incoming};
use as2_proto::message::outbound::{self, OutboundMessage};
use as2_proto::partner::{
    ActiveConnector, CertificateUsage, Connector, MemoryStorage, PartnerError, Profile,
    ProfileCertificate, ProfileType, SendFile, Storage, StorageErrorKind,
};
use as2_proto::record::{
    self, ReferenceErrorPolicy, StatusCode, StatusRecord, failed_inbound_paths,
};
use as2_proto::{Certificate, Error, ErrorCode, Limit, Limits, PrivateKey, unix_time};
use common::rng;

fn doc_identity() -> (Certificate, PrivateKey) {
    (
        Certificate::from_pem(include_bytes!("data/keys/doc.crt")).unwrap(),
        PrivateKey::from_pem(include_bytes!("data/keys/doc.key"), None).unwrap(),
    )
}

fn connector() -> ActiveConnector {
    let (cert, key) = doc_identity();
    let mut local = Profile::new(
        "p-local",
        ProfileType::Local,
        As2Id::new("MyCompany_OID").unwrap(),
    );
    local
        .add_certificate(
            ProfileCertificate::new("ours", CertificateUsage::EncryptionAndSigning, cert.clone())
                .with_private_key(key)
                .unwrap(),
        )
        .unwrap();
    let mut partner = Profile::new(
        "p-partner",
        ProfileType::Partner,
        As2Id::new("PartnerA_OID").unwrap(),
    );
    partner
        .add_certificate(ProfileCertificate::new(
            "theirs",
            CertificateUsage::EncryptionAndSigning,
            cert,
        ))
        .unwrap();
    ActiveConnector::new(
        Connector::new(
            "c-c21c63ceaaf34d99b",
            "https://partner.example/as2",
            "p-local",
            "p-partner",
        ),
        Arc::new(local),
        Arc::new(partner),
    )
    .unwrap()
}

#[test]
fn a_missing_send_file_is_send_file_not_found_with_its_record() {
    let storage = MemoryStorage::new();
    storage.put("AS2-folder/present.dat", b"ISA*00*~").unwrap();
    let connector = connector();

    // Present: read through the storage, named after the path's last component.
    let file = SendFile::read(&storage, "AS2-folder/present.dat").unwrap();
    assert_eq!(file.payload, b"ISA*00*~");
    let message = connector.outbound_file(&file, common::now()).unwrap();
    assert_eq!(message.file_name.as_deref(), Some("present.dat"));

    // Missing: the reference's code and words.
    let error = SendFile::read(&storage, "AS2-folder/file-to-send.txt").unwrap_err();
    assert_eq!(error.code(), ErrorCode::SendFileNotFound);
    assert_eq!(
        error.to_string(),
        "File path AS2-folder/file-to-send.txt not found."
    );
    match &error {
        Error::Partner(PartnerError::SendFile(e)) => {
            assert_eq!(e.kind, StorageErrorKind::NotFound)
        }
        other => panic!("{other:?}"),
    }
    let now = unix_time(1_657_521_010);
    let record = StatusRecord::outbound_failed(
        &connector,
        "dedf4601-4e90-4043-b16b-579af35e0d83",
        "AS2-folder/file-to-send.txt",
        &error,
        &ReferenceErrorPolicy,
        now,
    );
    let json: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
    assert_eq!(json["status-code"], "FAILED");
    assert_eq!(json["failure-code"], "SEND_FILE_NOT_FOUND");
    assert_eq!(
        json["failure-message"],
        "File path AS2-folder/file-to-send.txt not found."
    );
    assert_eq!(json["connector-id"], "c-c21c63ceaaf34d99b");
    assert_eq!(json["transfer-id"], "dedf4601-4e90-4043-b16b-579af35e0d83");
    assert_eq!(json["file-path"], "AS2-folder/file-to-send.txt");
    assert_eq!(json["requester-file-name"], "file-to-send.txt");
    assert_eq!(json["as2-from"], "MyCompany_OID");
    assert_eq!(json["as2-to"], "PartnerA_OID");
    assert_eq!(json["timestamp"], "2022-07-11T06:30:10.000000Z");

    // Another read failure is the same code, with the store's words.
    struct Denied;
    impl Storage for Denied {
        fn put(&self, path: &str, _: &[u8]) -> Result<(), as2_proto::partner::StorageError> {
            Err(as2_proto::partner::StorageError::new(path, "read-only"))
        }
        fn read(&self, path: &str) -> Result<Vec<u8>, as2_proto::partner::StorageError> {
            let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
            Err(as2_proto::partner::StorageError::from_io(path, &io))
        }
    }
    let denied = SendFile::read(&Denied, "x.dat").unwrap_err();
    assert_eq!(denied.code(), ErrorCode::SendFileNotFound);
    assert!(
        denied
            .to_string()
            .starts_with("File path x.dat cannot be read")
    );
}

#[test]
fn failed_inbound_files_are_named_uuid_dot_message_id() {
    // The reference's failed sample.
    let paths = failed_inbound_paths(
        "01187f15-523c-43ac-9fd6-51b5ad2b08f3",
        "<testFailedLogs-TestRunConfig-Default-inbound-direct-integ-0c97ee55-af56-4988-b7b4-a3e0576f8f9c@necco>",
    );
    assert_eq!(
        paths.payload.to_string(),
        "failed/01187f15-523c-43ac-9fd6-51b5ad2b08f3.testFailedLogs-TestRunConfig-Default-inbound-direct-integ-0c97ee55-af56-4988-b7b4-a3e0576f8f9c@necco"
    );
    assert_eq!(
        paths.record.file_name(),
        format!("{}.json", paths.payload.file_name())
    );
    assert_eq!(paths.mdn.folder(), "failed");
    // Hostile parts are still neutralised.
    let hostile = failed_inbound_paths("../x", "<../../etc/passwd>");
    assert!(!hostile.payload.file_name().contains('/'));

    // The UUID comes from the caller's RNG: version 4, deterministic for a seed.
    let a = record::transfer_id(&mut rng(7));
    assert_eq!(a, record::transfer_id(&mut rng(7)));
    assert_ne!(a, record::transfer_id(&mut rng(8)));
    let groups: Vec<&str> = a.split('-').collect();
    assert_eq!(
        groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(groups[2].starts_with('4'), "{a}");
    assert!(
        matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
        "{a}"
    );
    assert!(
        a.bytes()
            .all(|b| b == b'-' || b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
}

fn request(date: Option<&str>) -> HttpHeaders {
    let mut headers = vec![
        ("AS2-Version", "1.2"),
        ("AS2-From", "ab91a398aed0422d9dd1362710213880"),
        ("AS2-To", "0beff6af56c548f28b0e78841dce44f9"),
        ("Message-ID", "<testFailedLogs@necco>"),
        ("Content-Type", "application/octet-stream"),
    ];
    if let Some(d) = date {
        headers.push(("Date", d));
    }
    headers.into_iter().collect()
}

#[test]
fn a_malformed_date_is_invalid_request_in_the_references_words() {
    let limits = Limits::default();
    let headers = request(Some("2022/123/456T"));
    let error = inbound::handle(&headers, b"payload", &limits).unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidRequest);
    assert_eq!(error.to_string(), "Unsupported date format: 2022/123/456T");
    let mut record = StatusRecord::default();
    record.set_failure(&error, &ReferenceErrorPolicy);
    assert_eq!(
        record.failure_message.as_deref(),
        Some("Unsupported date format: 2022/123/456T")
    );
    assert_eq!(record.failure_code.as_deref(), Some("INVALID_REQUEST"));
    // The reference preset is strict too.
    assert!(inbound::handle(&headers, b"payload", &Limits::reference()).is_err());

    // Lenient partners: switched off by the limits flag.
    let mut lenient = Limits::default();
    lenient.accept_malformed_date = true;
    inbound::handle(&headers, b"payload", &lenient).unwrap();

    // What real senders write, and no Date at all, is accepted.
    for ok in [
        None,
        Some("Mon, 11 Jul 2022 23:36:06 GMT"),
        Some("Sat, 21 Nov 2026 22:25:49 +0000"),
        Some("Monday, 11-Jul-22 23:36:06 GMT"),
        Some("Mon Jul 11 23:36:06 2022"),
        Some("11 Jul 2022 23:36:06 -0000 (UTC)"),
    ] {
        inbound::handle(&request(ok), b"payload", &limits)
            .unwrap_or_else(|e| panic!("{ok:?}: {e}"));
    }
    // Control characters in the quoted value are replaced, and it is bounded.
    let long = format!("bad\u{7}{}", "x".repeat(500));
    let error = inbound::handle(&request(Some(&long)), b"p", &limits).unwrap_err();
    let text = error.to_string();
    assert!(text.starts_with("Unsupported date format: bad?x"), "{text}");
    assert!(text.len() < 140);
}

#[test]
fn records_carry_server_id_and_client_ip_under_the_references_names() {
    let headers = request(Some("Mon, 11 Jul 2022 06:30:03 GMT"));
    let incoming: Incoming<'_> = inbound::handle(&headers, b"p", &Limits::default()).unwrap();
    let record = StatusRecord::inbound(&incoming, unix_time(1_657_521_003))
        .with_server_id("s-0582af12e44540b9b")
        .with_client_ip(IpAddr::V4(Ipv4Addr::new(10, 0, 117, 27)));
    let json = record.to_json();
    assert!(
        json.contains(r#""server-id": "s-0582af12e44540b9b""#),
        "{json}"
    );
    assert!(json.contains(r#""client-ip": "10.0.117.27""#), "{json}");
    assert_eq!(StatusRecord::from_json(&json).unwrap(), record);
    let v6 = StatusRecord::default().with_client_ip("2001:db8::1".parse().unwrap());
    assert_eq!(v6.client_ip.as_deref(), Some("2001:db8::1"));
}

#[test]
fn the_reference_limits_preset_and_the_outbound_size_check() {
    let reference = Limits::reference();
    assert_eq!(reference.max_payload_size, 50 * 1024 * 1024);
    assert_eq!(reference.max_decompressed_size, 50 * 1024 * 1024);
    assert!(reference.max_body_size > reference.max_payload_size);
    assert_eq!(reference.max_certificates, Profile::MAX_CERTIFICATES);
    assert!(!reference.accept_malformed_date);
    assert_eq!(Limits::default().max_payload_size, 64 * 1024 * 1024);

    let (cert, key) = doc_identity();
    let from = As2Id::new("A").unwrap();
    let to = As2Id::new("B").unwrap();
    let payload = b"ISA*00*~";
    let mut message = OutboundMessage::new(from, to, payload);
    message.signing = Some((
        as2_proto::cms::signed::Signer::new(&cert, &key),
        Default::default(),
    ));
    message.encryption.0 = vec![&cert];
    message.max_payload_size = payload.len();
    outbound::build(&message, common::now(), &mut rng(1)).unwrap();
    message.max_payload_size = payload.len() - 1;
    let error = outbound::build(&message, common::now(), &mut rng(1)).unwrap_err();
    assert_eq!(
        error,
        Error::LimitExceeded {
            limit: Limit::PayloadSize,
            value: payload.len() - 1
        }
    );
    assert_eq!(error.code(), ErrorCode::InvalidRequest);
    assert_eq!(StatusCode::Failed.folder(), "failed");
}
