//! Status records, file names and the error-code policy, checked against the reference
//! service's documented field list, samples and file-naming examples
//! (`shared/reference/transfer-family-as2-overview.txt`).

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Component, Path};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use as2_proto::message::headers::{As2Id, HttpHeaders};
use as2_proto::message::inbound::{self, InboundPolicy, NoDuplicateCheck};
use as2_proto::message::outbound::OutboundMessage;
use as2_proto::record::{
    self, ErrorPolicy, MAX_FILE_NAME_LEN, ReferenceErrorPolicy, RelativePath, StatusCode,
    StatusRecord, inbound_paths, outbound_paths, parse_rfc3339, rfc3339,
};
use as2_proto::{Disposition, Error, ErrorCode, Limits, Modifier, PolicyError, unix_time};
use rand::RngExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------
// The reference's field list and samples, verbatim.
// ---------------------------------------------------------------------------------------

/// The field list of "File names and locations", in its order.
const REFERENCE_FIELDS: [&str; 18] = [
    "agreement-id",
    "as2-from",
    "as2-to",
    "as2-message-id",
    "transfer-id",
    "client-ip",
    "connector-id",
    "failure-message",
    "file-path",
    "message-subject",
    "mdn-message-id",
    "mdn-subject",
    "requester-file-name",
    "requester-content-type",
    "server-id",
    "status-code",
    "failure-code",
    "transfer-size",
];

const SAMPLE_OUTBOUND_OK: &str = r#"{
"requester-content-type": "application/octet-stream",
"mesage-subject": "File xyzTest from MyCompany_OID to partner YourCompany",
"requester-file-name": "TestOutboundSyncMdn-9lmCr79hV.dat",
"as2-from": "MyCompany_OID",
"connector-id": "c-c21c63ceaaf34d99b",
"status-code": "COMPLETED",
"disposition": "automatic-action/MDN-sent-automatically; processed",
"transfer-size": 3198,
"mdn-message-id": "OPENAS2-11072022063009+0000-df865189-1450-435b-9b8d-d8bc0cee97fd@PartnerA_OID_MyCompany_OID",
"mdn-subject": "Message be18db8-7361-42ff-8ab6-49ec1e435f34@c9c705f0baaaabaa has been accepted",
"as2-to": "PartnerA_OID",
"transfer-id": "dedf4601-4e90-4043-b16b-579af35e0d83",
"file-path": "/DOC-EXAMPLE-BUCKET/as2testcell0000/openAs2/TestOutboundSyncMdn-9lmCr79hV.dat",
"as2-message-id": "fbe18db8-7361-42ff-8ab6-49ec1e435f34@c9c705f0baaaabaa",
"timestamp": "2022-07-11T06:30:10.791274Z"
}"#;

const SAMPLE_OUTBOUND_FAILED: &str = r#"{
"failure-code": "HTTP_ERROR_RESPONSE_FROM_PARTNER",
"status-code": "FAILED",
"requester-content-type": "application/octet-stream",
"subject": "Test run from Id da86e74d6e57464aae1a55b8596bad0a to partner 9f8474d7714e476e8a46ce8c93a48c6c",
"transfer-size": 3198,
"requester-file-name": "openAs2TestOutboundWrongAs2Ids-necco-3VYn5n8wE.dat",
"as2-message-id": "9a9cc9ab-7893-4cb6-992a-5ed8b90775ff@718de4cec1374598",
"failure-message": "http://Test123456789.us-east-1.elb.amazonaws.com:10080 returned status 500 for message with ID 9a9cc9ab-7893-4cb6-992a-5ed8b90775ff@718de4cec1374598",
"transfer-id": "07bd3e07-a652-4cc6-9412-73ffdb97ab92",
"connector-id": "c-056e15cc851f4b2e9",
"file-path": "/testbucket-4c1tq6ohjt9y/as2IntegCell0002/openAs2/openAs2TestOutboundWrongAs2Ids-necco-3VYn5n8wE.dat",
"timestamp": "2022-07-11T21:17:24.802378Z"
}"#;

const SAMPLE_INBOUND_OK: &str = r#"{
"requester-content-type": "application/EDI-X12",
"subject": "File openAs2TestInboundAsyncMdn-necco-5Ab6bTfCO.dat sent from MyCompany to PartnerA",
"client-ip": "10.0.109.105",
"requester-file-name": "openAs2TestInboundAsyncMdn-necco-5Ab6bTfCO.dat",
"as2-from": "MyCompany_OID",
"status-code": "COMPLETED",
"disposition": "automatic-action/MDN-sent-automatically; processed",
"transfer-size": 1050,
"mdn-subject": "Message Disposition Notification",
"as2-message-id": "OPENAS2-11072022233606+0000-5dab0452-0ca1-4f9b-b622-fba84effff3c@MyCompany_OID_PartnerA_OID",
"as2-to": "PartnerA_OID",
"agreement-id": "a-f5c5cbea5f7741988",
"file-path": "processed/openAs2TestInboundAsyncMdn-necco-5Ab6bTfCO.OPENAS2-11072022233606+0000-5dab0452-0ca1-4f9b-b622-fba84effff3c@MyCompany_OID_PartnerA_OID.dat",
"server-id": "s-5f7422b04c2447ef9",
"timestamp": "2022-07-11T23:36:36.105030Z"
}"#;

const SAMPLE_INBOUND_FAILED: &str = r#"{
"failure-code": "INVALID_REQUEST",
"status-code": "FAILED",
"subject": "Sending a request from InboundHttpClientTests",
"client-ip": "10.0.117.27",
"as2-message-id": "testFailedLogs-TestRunConfig-Default-inbound-direct-integ-0c97ee55-af56-4988-b7b4-a3e0576f8f9c@necco",
"as2-to": "0beff6af56c548f28b0e78841dce44f9",
"failure-message": "Unsupported date format: 2022/123/456T",
"agreement-id": "a-0ceec8ca0a3348d6a",
"as2-from": "ab91a398aed0422d9dd1362710213880",
"file-path": "failed/01187f15-523c-43ac-9fd6-51b5ad2b08f3.testFailedLogs-TestRunConfig-Default-inbound-direct-integ-0c97ee55-af56-4988-b7b4-a3e0576f8f9c@necco",
"server-id": "s-0582af12e44540b9b",
"timestamp": "2022-07-11T06:30:03.662939Z"
}"#;

const SAMPLES: [&str; 4] = [
    SAMPLE_OUTBOUND_OK,
    SAMPLE_OUTBOUND_FAILED,
    SAMPLE_INBOUND_OK,
    SAMPLE_INBOUND_FAILED,
];

/// The samples' subject key spellings, mapped to the field list's.
fn normalise_key(key: &str) -> &str {
    match key {
        "subject" | "mesage-subject" => "message-subject",
        other => other,
    }
}

fn keys(json: &str) -> Vec<String> {
    match serde_json::from_str::<Value>(json).unwrap() {
        Value::Object(map) => map.keys().cloned().collect(),
        other => panic!("not an object: {other}"),
    }
}

/// A record with every field set.
fn full_record() -> StatusRecord {
    StatusRecord {
        agreement_id: Some("a-f5c5cbea5f7741988".into()),
        as2_from: Some("MyCompany_OID".into()),
        as2_to: Some("PartnerA_OID".into()),
        as2_message_id: Some("fbe18db8-7361-42ff-8ab6-49ec1e435f34@c9c705f0baaaabaa".into()),
        transfer_id: Some("dedf4601-4e90-4043-b16b-579af35e0d83".into()),
        client_ip: Some("10.0.109.105".into()),
        connector_id: Some("c-c21c63ceaaf34d99b".into()),
        failure_message: Some("Failed to decrypt message \"x\"\nline two".into()),
        file_path: Some("processed/a.b@c.dat".into()),
        message_subject: Some("File xyzTest from MyCompany_OID to partner YourCompany".into()),
        mdn_message_id: Some("OPENAS2-1@PartnerA".into()),
        mdn_subject: Some("Message Disposition Notification".into()),
        requester_file_name: Some("Ünïcode name.dat".into()),
        requester_content_type: Some("application/EDI-X12".into()),
        server_id: Some("s-5f7422b04c2447ef9".into()),
        status_code: Some(StatusCode::Failed),
        failure_code: Some("DECRYPT_FAILED".into()),
        transfer_size: Some(u64::MAX),
        disposition: Some(
            "automatic-action/MDN-sent-automatically; processed/Error: decryption-failed".into(),
        ),
        // Ours, not the reference's: outbound transfers only (tests/mdn.rs).
        mic_check: None,
        timestamp: Some("2022-07-11T06:30:10.791274Z".into()),
        // Ours, not the reference's: multi-file messages only (tests/attachments.rs).
        files: Vec::new(),
    }
}

fn expected_key_set() -> BTreeSet<String> {
    REFERENCE_FIELDS
        .iter()
        .chain(&["disposition", "timestamp"])
        .map(|k| k.to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------
// JSON records
// ---------------------------------------------------------------------------------------

#[test]
fn full_record_has_exactly_the_reference_field_names() {
    let written: BTreeSet<String> = keys(&full_record().to_json()).into_iter().collect();
    assert_eq!(written, expected_key_set());
    // The samples, taken together, use the same names (with their subject spellings).
    let sampled: BTreeSet<String> = SAMPLES
        .iter()
        .flat_map(|s| keys(s))
        .map(|k| normalise_key(&k).to_owned())
        .collect();
    assert_eq!(sampled, expected_key_set());
}

#[test]
fn fields_are_written_in_the_reference_order() {
    let json = full_record().to_json();
    let order: Vec<&str> = REFERENCE_FIELDS
        .iter()
        .copied()
        .chain(["disposition", "timestamp"])
        .collect();
    let positions: Vec<usize> = order
        .iter()
        .map(|k| json.find(&format!("\n  \"{k}\": ")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
    assert!(json.starts_with("{\n  \"agreement-id\": \"a-f5c5cbea5f7741988\",\n"));
    assert!(json.ends_with("\n  \"timestamp\": \"2022-07-11T06:30:10.791274Z\"\n}"));
    assert!(json.contains("\n  \"transfer-size\": 18446744073709551615,\n"));
    assert!(json.contains("\n  \"status-code\": \"FAILED\",\n"));
}

#[test]
fn absent_fields_are_left_out() {
    assert_eq!(StatusRecord::default().to_json(), "{}");
    let record = StatusRecord {
        status_code: Some(StatusCode::Completed),
        transfer_size: Some(0),
        ..StatusRecord::default()
    };
    assert_eq!(
        record.to_json(),
        "{\n  \"status-code\": \"COMPLETED\",\n  \"transfer-size\": 0\n}"
    );
    assert!(!full_record().to_json().contains("null"));
    // Explicit nulls read as absent.
    assert_eq!(
        StatusRecord::from_json(r#"{"failure-code": null, "status-code": "FAILED"}"#).unwrap(),
        StatusRecord {
            status_code: Some(StatusCode::Failed),
            ..StatusRecord::default()
        }
    );
}

#[test]
fn records_round_trip() {
    let full = full_record();
    assert_eq!(StatusRecord::from_json(&full.to_json()).unwrap(), full);
    let empty = StatusRecord::default();
    assert_eq!(StatusRecord::from_json(&empty.to_json()).unwrap(), empty);
    // Each single field on its own.
    let json = full.to_json();
    let Value::Object(map) = serde_json::from_str::<Value>(&json).unwrap() else {
        unreachable!()
    };
    for (key, value) in map {
        let one = serde_json::json!({ key.clone(): value }).to_string();
        let record = StatusRecord::from_json(&one).unwrap();
        assert_eq!(keys(&record.to_json()), [key]);
    }
}

#[test]
fn reference_samples_are_read_and_written_back() {
    let out_ok = StatusRecord::from_json(SAMPLE_OUTBOUND_OK).unwrap();
    assert_eq!(out_ok.status_code, Some(StatusCode::Completed));
    assert_eq!(out_ok.transfer_size, Some(3198));
    assert_eq!(
        out_ok.message_subject.as_deref(),
        Some("File xyzTest from MyCompany_OID to partner YourCompany")
    );
    assert_eq!(
        parse_rfc3339(out_ok.timestamp.as_deref().unwrap()).unwrap(),
        SystemTime::UNIX_EPOCH + Duration::from_micros(1_657_521_010_791_274)
    );
    let out_failed = StatusRecord::from_json(SAMPLE_OUTBOUND_FAILED).unwrap();
    assert_eq!(out_failed.status_code, Some(StatusCode::Failed));
    assert_eq!(
        ErrorCode::from_name(out_failed.failure_code.as_deref().unwrap()),
        Some(ErrorCode::HttpErrorResponseFromPartner)
    );
    let in_failed = StatusRecord::from_json(SAMPLE_INBOUND_FAILED).unwrap();
    assert_eq!(in_failed.failure_code.as_deref(), Some("INVALID_REQUEST"));
    assert_eq!(in_failed.client_ip.as_deref(), Some("10.0.117.27"));

    // Written back, each sample has the same keys and values, the subject under the
    // field list's name.
    for sample in SAMPLES {
        let original: Value = serde_json::from_str(sample).unwrap();
        let Value::Object(original) = original else {
            unreachable!()
        };
        let expected: serde_json::Map<String, Value> = original
            .into_iter()
            .map(|(k, v)| (normalise_key(&k).to_owned(), v))
            .collect();
        let rewritten: Value =
            serde_json::from_str(&StatusRecord::from_json(sample).unwrap().to_json()).unwrap();
        assert_eq!(rewritten, Value::Object(expected));
    }
}

#[test]
fn bad_records_are_typed_errors() {
    // The offset is that of the last byte read: the end of the offending value, the
    // unexpected byte, or the end of the input.
    let cases: [(&str, &str, usize); 6] = [
        (r#"{"transfer-size": -1}"#, "status record field value", 19),
        (
            r#"{"transfer-size": "12"}"#,
            "status record field value",
            21,
        ),
        (
            "{\n  \"status-code\": \"DONE\"\n}",
            "status record field value",
            24,
        ),
        (r#"{"as2-from": "a""#, "status record JSON (truncated)", 16),
        (r#"{"as2-from" "a"}"#, "status record JSON syntax", 12),
        (
            r#"{"subject": "a", "message-subject": "b"}"#,
            "status record field value",
            33,
        ),
    ];
    for (json, what, offset) in cases {
        let err = StatusRecord::from_json(json).unwrap_err();
        assert_eq!(err, Error::Malformed { what, offset }, "{json}");
        assert_eq!(err.code(), ErrorCode::InvalidSmimeFormat);
    }
}

// ---------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------

fn at(secs: u64, nanos: u32) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::new(secs, nanos)
}

#[test]
fn timestamps_match_the_reference_format() {
    assert_eq!(rfc3339(unix_time(0)), "1970-01-01T00:00:00.000000Z");
    // The reference sample's own instant.
    assert_eq!(
        rfc3339(at(1_657_521_010, 791_274_000)),
        "2022-07-11T06:30:10.791274Z"
    );
    // Leap days: 2024 (divisible by 4), 2000 (by 400); 2100 has none.
    assert_eq!(rfc3339(at(1_709_210_096, 0)), "2024-02-29T12:34:56.000000Z");
    assert_eq!(rfc3339(at(951_782_400, 0)), "2000-02-29T00:00:00.000000Z");
    assert_eq!(rfc3339(at(4_107_542_400, 0)), "2100-03-01T00:00:00.000000Z");
    // End of year.
    assert_eq!(
        rfc3339(at(946_684_799, 999_999_999)),
        "1999-12-31T23:59:59.999999Z"
    );
    assert_eq!(rfc3339(at(946_684_800, 0)), "2000-01-01T00:00:00.000000Z");
    assert_eq!(
        rfc3339(at(1_735_689_599, 500_000_000)),
        "2024-12-31T23:59:59.500000Z"
    );
    // Sub-microsecond digits are truncated, never rounded into the next second.
    assert_eq!(rfc3339(at(0, 999)), "1970-01-01T00:00:00.000000Z");
    assert_eq!(rfc3339(at(0, 1_000)), "1970-01-01T00:00:00.000001Z");
    assert_eq!(rfc3339(at(0, 123_456_789)), "1970-01-01T00:00:00.123456Z");
    // Before the epoch, and clamped outside the years 0000 to 9999.
    assert_eq!(
        rfc3339(SystemTime::UNIX_EPOCH - Duration::from_nanos(1)),
        "1969-12-31T23:59:59.999999Z"
    );
    assert_eq!(
        rfc3339(SystemTime::UNIX_EPOCH - Duration::from_secs(62_167_219_200)),
        "0000-01-01T00:00:00.000000Z"
    );
    assert_eq!(
        rfc3339(SystemTime::UNIX_EPOCH - Duration::from_secs(62_167_219_201)),
        "0000-01-01T00:00:00.000000Z"
    );
    assert_eq!(
        rfc3339(at(253_402_300_799, 0)),
        "9999-12-31T23:59:59.000000Z"
    );
    assert_eq!(
        rfc3339(at(253_402_300_800, 0)),
        "9999-12-31T23:59:59.999999Z"
    );
}

#[test]
fn timestamps_agree_with_gnu_date() {
    // A seeded sweep from 1900 to 2200, checked against `date -u` (coreutils).
    let mut rng = common::rng(7);
    let secs: Vec<i64> = (0..2000)
        .map(|_| rng.random_range(-2_208_988_800i64..7_258_118_400))
        .chain([0, -1, 951_782_400, 946_684_799, 4_107_542_400])
        .collect();
    let mut child = Command::new("date")
        .args(["-u", "-f", "-", "+%Y-%m-%dT%H:%M:%S"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("coreutils date must be installed");
    let input: String = secs.iter().map(|s| format!("@{s}\n")).collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let dates = String::from_utf8(out.stdout).unwrap();
    let dates: Vec<&str> = dates.lines().collect();
    assert_eq!(dates.len(), secs.len());
    for (&s, date) in secs.iter().zip(dates) {
        let time = if s >= 0 {
            at(s as u64, 0)
        } else {
            SystemTime::UNIX_EPOCH - Duration::from_secs(s.unsigned_abs())
        };
        let micros = rng.random_range(0..1_000_000u32);
        let time = time + Duration::from_micros(micros.into());
        let formatted = rfc3339(time);
        assert_eq!(formatted, format!("{date}.{micros:06}Z"), "@{s}");
        assert_eq!(parse_rfc3339(&formatted).unwrap(), time);
    }
}

#[test]
fn timestamps_parse_strictly() {
    assert_eq!(
        parse_rfc3339("2022-07-11T08:30:10.791274+02:00").unwrap(),
        at(1_657_521_010, 791_274_000)
    );
    assert_eq!(
        parse_rfc3339("1969-12-31t23:00:00-01:00").unwrap(),
        unix_time(0)
    );
    let bad: [(&str, usize); 10] = [
        ("", 0),
        ("2022-07-11", 10),
        ("2022-13-01T00:00:00Z", 5),
        ("2022-02-29T00:00:00Z", 8),
        ("2022-01-01T24:00:00Z", 11),
        ("2022-01-01T00:00:00", 19),
        ("2022-01-01T00:00:00.Z", 20),
        ("2022-01-01T00:00:00Z ", 20),
        ("2022-01-01T00:00:00+0100", 22),
        ("2022-01-01X00:00:00Z", 10),
    ];
    for (text, offset) in bad {
        assert_eq!(
            parse_rfc3339(text),
            Err(Error::Malformed {
                what: "RFC 3339 timestamp",
                offset
            }),
            "{text:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// File names
// ---------------------------------------------------------------------------------------

fn names(paths: &record::InboundPaths) -> [String; 3] {
    [
        paths.payload.to_string(),
        paths.record.to_string(),
        paths.mdn.to_string(),
    ]
}

/// The first 16 hex digits of SHA-256, as used to mark changed IDs.
fn tag(id: &str) -> String {
    Sha256::digest(id.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn reference_file_name_examples() {
    // Inbound, "File names and locations".
    let id = "c4d6b6c7-23ea-4b8c-9ada-0cb811dc8b35@44313c54b0a46a36";
    for given in [id.to_owned(), format!("<{id}>"), format!(" <{id}> ")] {
        let paths = inbound_paths(
            Some("ExampleFileInS3Payload.dat"),
            &given,
            StatusCode::Completed,
        );
        assert_eq!(
            names(&paths),
            [
                "processed/ExampleFileInS3Payload.c4d6b6c7-23ea-4b8c-9ada-0cb811dc8b35@44313c54b0a46a36.dat",
                "processed/ExampleFileInS3Payload.c4d6b6c7-23ea-4b8c-9ada-0cb811dc8b35@44313c54b0a46a36.dat.json",
                "processed/ExampleFileInS3Payload.c4d6b6c7-23ea-4b8c-9ada-0cb811dc8b35@44313c54b0a46a36.dat.mdn",
            ]
        );
    }
    // The inbound success sample's file-path.
    let paths = inbound_paths(
        Some("openAs2TestInboundAsyncMdn-necco-5Ab6bTfCO.dat"),
        "<OPENAS2-11072022233606+0000-5dab0452-0ca1-4f9b-b622-fba84effff3c@MyCompany_OID_PartnerA_OID>",
        StatusCode::Completed,
    );
    let sample = StatusRecord::from_json(SAMPLE_INBOUND_OK).unwrap();
    assert_eq!(Some(paths.payload.to_string()), sample.file_path);
    // Outbound.
    let paths = outbound_paths(
        "ExampleFileOutTestOutboundSyncMdn.dat",
        "dedf4601-4e90-4043-b16b-579af35e0d83",
        "<fbe18db8-7361-42ff-8ab6-49ec1e435f34@c9c705f0baaaabaa>",
        StatusCode::Completed,
    );
    assert_eq!(
        paths.record.to_string(),
        "processed/ExampleFileOutTestOutboundSyncMdn.dedf4601-4e90-4043-b16b-579af35e0d83.fbe18db8-7361-42ff-8ab6-49ec1e435f34@c9c705f0baaaabaa.dat.json"
    );
    assert_eq!(
        paths.mdn.to_string(),
        "processed/ExampleFileOutTestOutboundSyncMdn.dedf4601-4e90-4043-b16b-579af35e0d83.fbe18db8-7361-42ff-8ab6-49ec1e435f34@c9c705f0baaaabaa.dat.mdn"
    );
    let failed = outbound_paths(
        "DOC-EXAMPLE-BUCKET/AS2-folder/file-to-send.txt",
        "t1",
        "m@h",
        StatusCode::Failed,
    );
    assert_eq!(
        failed.record.to_string(),
        "failed/file-to-send.t1.m@h.txt.json"
    );
    assert_eq!(failed.mdn.folder(), "failed");
    assert_eq!(failed.mdn.file_name(), "file-to-send.t1.m@h.txt.mdn");
    assert_eq!(
        failed.mdn.to_path_buf(),
        Path::new("failed").join("file-to-send.t1.m@h.txt.mdn")
    );
}

/// `(file name, expected payload file name)` for message ID `m@h`.
const NAME_CASES: &[(Option<&str>, &str)] = &[
    // No extension, several dots, trailing and leading dots.
    (Some("README"), "README.m@h"),
    (Some("a.b.c.edi"), "a.b.c.m@h.edi"),
    (Some("archive.tar.gz"), "archive.tar.m@h.gz"),
    (Some("name."), "name.m@h"),
    (Some("name..edi"), "name.m@h.edi"),
    (Some(".bashrc"), "bashrc.m@h"),
    (Some(".hidden.edi"), "hidden.m@h.edi"),
    // No name, empty, or nothing left: the Message-ID alone.
    (None, "m@h"),
    (Some(""), "m@h"),
    (Some("."), "m@h"),
    (Some(".."), "m@h"),
    (Some("...."), "m@h"),
    (Some("   "), "m@h"),
    (Some("dir/"), "m@h"),
    // Directories are dropped, on either separator.
    (Some("../../etc/passwd"), "passwd.m@h"),
    (Some("..\\..\\Windows\\win.ini"), "win.m@h.ini"),
    (Some("C:\\Users\\x\\PO 1.x12"), "PO 1.m@h.x12"),
    (Some("/abs/path.edi"), "path.m@h.edi"),
    // Characters that break paths or hide in them.
    (Some("a\0b.edi"), "a_b.m@h.edi"),
    (Some("line\r\nbreak.edi"), "line__break.m@h.edi"),
    (Some("tab\there\u{7f}.edi"), "tab_here_.m@h.edi"),
    (Some("what?*:|\"<>.edi"), "what_______.m@h.edi"),
    (Some("invoice\u{202e}ide.exe"), "invoice_ide.m@h.exe"),
    (Some("zero\u{200b}width.edi"), "zero_width.m@h.edi"),
    (Some("trailing. . .edi. . "), "trailing.m@h.edi"),
    // Windows device names, whatever the case or extension.
    (Some("CON"), "_CON.m@h"),
    (Some("nul.txt"), "_nul.m@h.txt"),
    (Some("com1.edi"), "_com1.m@h.edi"),
    (Some("LPT9 .edi"), "_LPT9.m@h.edi"),
    (Some("console.edi"), "console.m@h.edi"),
    (Some("com10.edi"), "com10.m@h.edi"),
    // Unicode is kept.
    (Some("Bestellung-Müller.édi"), "Bestellung-Müller.m@h.édi"),
    // An "extension" longer than 16 bytes is part of the name.
    (
        Some("report.2024-01-01T10-00-00"),
        "report.2024-01-01T10-00-00.m@h",
    ),
    (Some("x.abcdefghijklmnop"), "x.m@h.abcdefghijklmnop"),
];

#[test]
fn file_name_rules() {
    for &(file, expected) in NAME_CASES {
        let paths = inbound_paths(file, "<m@h>", StatusCode::Failed);
        assert_eq!(paths.payload.file_name(), expected, "{file:?}");
        assert_eq!(paths.payload.to_string(), format!("failed/{expected}"));
        assert_eq!(paths.record.to_string(), format!("failed/{expected}.json"));
        assert_eq!(paths.mdn.to_string(), format!("failed/{expected}.mdn"));
    }
}

#[test]
fn hostile_message_ids_are_neutralised_and_tagged() {
    let cases: [(&str, String); 9] = [
        ("<../../x@y>", format!("_.._x@y~{}", tag("../../x@y"))),
        ("..", format!("~{}", tag(".."))),
        ("<>", format!("~{}", tag(""))),
        ("", format!("~{}", tag(""))),
        ("a/b\\c@d", format!("a_b_c@d~{}", tag("a/b\\c@d"))),
        ("NUL", "_NUL".to_owned()),
        (".hidden@h", format!("hidden@h~{}", tag(".hidden@h"))),
        ("x\u{0}y", format!("x_y~{}", tag("x\u{0}y"))),
        ("<<a>>", format!("_a_~{}", tag("<a>"))),
    ];
    for (id, expected) in cases {
        let paths = inbound_paths(None, id, StatusCode::Completed);
        assert_eq!(paths.payload.file_name(), expected, "{id:?}");
    }
    // Two IDs that neutralise alike still get different names.
    let a = inbound_paths(Some("f.edi"), "a/b@c", StatusCode::Completed);
    let b = inbound_paths(Some("f.edi"), "a\\b@c", StatusCode::Completed);
    let c = inbound_paths(Some("f.edi"), "a_b@c", StatusCode::Completed);
    assert_ne!(a.payload, b.payload);
    assert_ne!(a.payload, c.payload);
    assert_eq!(c.payload.file_name(), "f.a_b@c.edi");
    // Transfer IDs follow the same rule.
    let o = outbound_paths("f.edi", "../t", "m@h", StatusCode::Completed);
    assert_eq!(
        o.record.file_name(),
        format!("f._t~{}.m@h.edi.json", tag("../t"))
    );
}

#[test]
fn long_names_are_capped_keeping_the_extension() {
    // A 998-byte Message-ID (the longest MessageId accepts) and a 1000-byte name.
    let id = format!("{}@host", "i".repeat(993));
    let stem = "n".repeat(1000);
    let paths = inbound_paths(Some(&format!("{stem}.edi")), &id, StatusCode::Completed);
    let name = paths.payload.file_name();
    // One byte stays free for the `_` a device name would get.
    assert_eq!(name.len(), MAX_FILE_NAME_LEN - 1);
    let id_part = format!("{}~{}", "i".repeat(111), tag(&id));
    assert_eq!(
        name,
        format!(
            "{}.{id_part}.edi",
            "n".repeat(MAX_FILE_NAME_LEN - 1 - 128 - 1 - 4)
        )
    );
    assert_eq!(paths.record.file_name().len(), MAX_FILE_NAME_LEN - 1 + 5);
    // Cut on a character boundary: 2-byte characters cannot land half in.
    let stem = "é".repeat(500);
    let paths = inbound_paths(Some(&format!("{stem}.x12")), "m@h", StatusCode::Completed);
    let name = paths.payload.file_name();
    assert!(name.len() <= MAX_FILE_NAME_LEN);
    assert!(name.ends_with(".m@h.x12"));
    assert_eq!(
        name.chars().filter(|&c| c == 'é').count(),
        (MAX_FILE_NAME_LEN - 10) / 2
    );
    // Outbound: both IDs at their caps still leave room for the name.
    let paths = outbound_paths(
        &format!("{}.dat", "s".repeat(400)),
        &"t".repeat(300),
        &"m".repeat(300),
        StatusCode::Completed,
    );
    let record = paths.record.file_name();
    assert_eq!(record.len(), MAX_FILE_NAME_LEN - 1 + 5);
    assert_eq!(
        record,
        format!(
            "{}.{}~{}.{}~{}.dat.json",
            "s".repeat(31),
            "t".repeat(47),
            tag(&"t".repeat(300)),
            "m".repeat(111),
            tag(&"m".repeat(300))
        )
    );
}

/// Pieces hostile strings are made of.
const HOSTILE: &[&str] = &[
    "/",
    "\\",
    "..",
    ".",
    "\0",
    "\r",
    "\n",
    "\t",
    " ",
    "<",
    ">",
    ":",
    "*",
    "?",
    "\"",
    "|",
    "\u{7f}",
    "\u{85}",
    "\u{202e}",
    "\u{200b}",
    "\u{feff}",
    "~",
    "@",
    "CON",
    "nul",
    "com1",
    "a",
    "edi",
    "é",
    "😀",
    "%2e%2e",
    "C:",
    "\\\\?\\",
    "//server/share",
    "\u{2028}",
    "＼",
    "∕",
];

fn hostile_string(rng: &mut impl rand::Rng) -> String {
    let pieces = rng.random_range(0..40);
    let mut s = String::new();
    for _ in 0..pieces {
        let piece = HOSTILE[rng.random_range(0..HOSTILE.len())];
        let repeat = if rng.random_range(0..20) == 0 {
            rng.random_range(1..200)
        } else {
            1
        };
        for _ in 0..repeat {
            s.push_str(piece);
        }
    }
    s
}

/// Everything a produced path must satisfy, on Unix and Windows alike.
fn assert_confined(path: &RelativePath, status: StatusCode) {
    let name = path.file_name();
    let shown = path.to_string();
    assert_eq!(shown, format!("{}/{name}", status.folder()));
    let buf = path.to_path_buf();
    let components: Vec<Component<'_>> = buf.components().collect();
    assert_eq!(components.len(), 2, "{shown:?}");
    assert_eq!(components[0], Component::Normal(status.folder().as_ref()));
    assert_eq!(components[1], Component::Normal(name.as_ref()), "{shown:?}");
    assert!(!name.is_empty());
    assert!(name != "." && name != "..");
    assert!(!name.starts_with(['.', ' ']), "{name:?}");
    assert!(!name.ends_with(['.', ' ']), "{name:?}");
    assert!(name.len() <= MAX_FILE_NAME_LEN + 5, "{}", name.len());
    assert!(
        !name
            .chars()
            .any(|c| c.is_control() || "/\\:*?\"<>|\u{202e}\u{200b}\u{feff}\u{2028}".contains(c)),
        "{name:?}"
    );
    let first = name.split('.').next().unwrap().to_ascii_uppercase();
    assert!(
        !["CON", "PRN", "AUX", "NUL", "COM1", "LPT1"].contains(&first.trim_end()),
        "{name:?}"
    );
}

#[test]
fn any_input_gives_one_file_in_the_right_folder() {
    let mut rng = common::rng(42);
    for i in 0..4000 {
        let file = hostile_string(&mut rng);
        let id = hostile_string(&mut rng);
        let transfer = hostile_string(&mut rng);
        let status = if i % 2 == 0 {
            StatusCode::Completed
        } else {
            StatusCode::Failed
        };
        let file_opt = (i % 5 != 0).then_some(file.as_str());
        let inbound = inbound_paths(file_opt, &id, status);
        for path in [&inbound.payload, &inbound.record, &inbound.mdn] {
            assert_confined(path, status);
        }
        assert_eq!(
            inbound.record.file_name(),
            format!("{}.json", inbound.payload.file_name())
        );
        let outbound = outbound_paths(&file, &transfer, &id, status);
        for path in [&outbound.record, &outbound.mdn] {
            assert_confined(path, status);
        }
    }
}

#[test]
fn hostile_names_stay_inside_the_base_directory() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("agreement");
    std::fs::create_dir(&base).unwrap();
    let base = base.canonicalize().unwrap();
    let mut rng = common::rng(9);
    let mut cases: Vec<(Option<String>, String)> = vec![
        (
            Some("../../../../../../tmp/escape.edi".into()),
            "<../../../escape@x>".into(),
        ),
        (Some("..".into()), "..".into()),
        (Some("/etc/passwd".into()), "/etc/passwd".into()),
        (Some("..\\..\\x".into()), "<..\\..\\y>".into()),
        (Some("a\0/../b".into()), "\0".into()),
        (None, "../".into()),
        (Some("x".repeat(5000)), "y".repeat(5000)),
    ];
    for _ in 0..300 {
        cases.push((Some(hostile_string(&mut rng)), hostile_string(&mut rng)));
    }
    for (file, id) in &cases {
        let paths = inbound_paths(file.as_deref(), id, StatusCode::Completed);
        for path in [&paths.payload, &paths.record, &paths.mdn] {
            let full = base.join(path.to_path_buf());
            let parent = full.parent().unwrap();
            std::fs::create_dir_all(parent).unwrap();
            std::fs::write(&full, b"x").unwrap();
            assert_eq!(parent.canonicalize().unwrap(), base.join("processed"));
            assert!(full.canonicalize().unwrap().starts_with(&base), "{full:?}");
        }
    }
    // Nothing was written anywhere but `processed/` under the base.
    let top: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(top, ["processed"]);
    let parent_entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(parent_entries, ["agreement"]);
    for entry in std::fs::read_dir(base.join("processed")).unwrap() {
        assert!(entry.unwrap().file_type().unwrap().is_file());
    }
}

// ---------------------------------------------------------------------------------------
// Records from the message layer, and the error-code policy
// ---------------------------------------------------------------------------------------

/// An older partner's expectations: an unknown relationship reported as
/// `authentication-failed`, everything else as the reference does.
struct LegacyPartnerPolicy;

impl ErrorPolicy for LegacyPartnerPolicy {
    fn disposition(&self, error: &Error) -> Disposition {
        match error {
            Error::UnknownTradingPartner => Disposition::Error(Modifier::AuthenticationFailed),
            other => ReferenceErrorPolicy.disposition(other),
        }
    }
}

/// A policy configured at run time: overrides read from (say) a partner profile.
struct ConfiguredPolicy {
    overrides: Vec<(ErrorCode, ErrorCode, String)>,
}

impl ErrorPolicy for ConfiguredPolicy {
    fn failure_code(&self, error: &Error) -> ErrorCode {
        self.overrides
            .iter()
            .find(|(from, _, _)| *from == error.code())
            .map_or(error.code(), |(_, to, _)| *to)
    }

    fn disposition(&self, error: &Error) -> Disposition {
        match self
            .overrides
            .iter()
            .find(|(from, _, _)| *from == error.code())
        {
            Some((_, _, modifier)) => Disposition::Error(modifier.clone().into()),
            None => error.disposition(),
        }
    }
}

fn request_headers(file_name: &str) -> HttpHeaders {
    [
        ("AS2-From", "PartnerA_OID".to_owned()),
        ("AS2-To", "MyCompany_OID".to_owned()),
        ("Message-ID", "<../../m-1@partner>".to_owned()),
        ("Subject", "Invoice 42".to_owned()),
        ("Content-Type", "application/EDI-X12".to_owned()),
        (
            "Content-Disposition",
            format!("attachment; filename=\"{file_name}\""),
        ),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.into_bytes()))
    .collect()
}

#[test]
fn inbound_records_from_the_message_layer() {
    let limits = Limits::default();
    let headers = request_headers("../../evil.x12");
    let body = b"ISA*00*~IEA*1*~";
    let incoming = inbound::handle(&headers, body, &limits).unwrap();
    let now = at(1_657_582_596, 105_030_000);

    // Accepted.
    let policy = InboundPolicy::new(&[], &[], &limits);
    let received = incoming
        .accept(&policy, &mut NoDuplicateCheck, &mut common::rng(1))
        .unwrap();
    let mut record = StatusRecord::inbound(&incoming, now);
    record.set_received(&received);
    let paths = inbound_paths(
        received.file_name.as_deref(),
        incoming.message_id.as_ref().unwrap().as_str(),
        StatusCode::Completed,
    );
    record.file_path = Some(paths.payload.to_string());
    let expected_name = format!("evil._.._m-1@partner~{}.x12", tag("../../m-1@partner"));
    assert_eq!(
        record,
        StatusRecord {
            as2_from: Some("PartnerA_OID".into()),
            as2_to: Some("MyCompany_OID".into()),
            as2_message_id: Some("../../m-1@partner".into()),
            message_subject: Some("Invoice 42".into()),
            requester_file_name: Some("../../evil.x12".into()),
            requester_content_type: Some("application/edi-x12".into()),
            status_code: Some(StatusCode::Completed),
            transfer_size: Some(body.len() as u64),
            disposition: Some("automatic-action/MDN-sent-automatically; processed".into()),
            file_path: Some(format!("processed/{expected_name}")),
            timestamp: Some("2022-07-11T23:36:36.105030Z".into()),
            ..StatusRecord::default()
        }
    );

    // Rejected: no agreement, under the reference policy and an older partner's.
    let rejected = incoming.unknown_partner();
    let mut reference = StatusRecord::inbound(&incoming, now);
    reference.set_rejected(&rejected, &ReferenceErrorPolicy);
    assert_eq!(reference.status_code, Some(StatusCode::Failed));
    assert_eq!(
        reference.failure_code.as_deref(),
        Some("AGREEMENT_NOT_FOUND")
    );
    assert_eq!(
        reference.failure_message.as_deref(),
        Some("no agreement for this AS2-From/AS2-To")
    );
    assert_eq!(
        reference.disposition.as_deref(),
        Some(
            "automatic-action/MDN-sent-automatically; processed/Error: unknown-trading-relationship"
        )
    );
    let mut legacy = StatusRecord::inbound(&incoming, now);
    legacy.set_rejected(&rejected, &LegacyPartnerPolicy);
    assert_eq!(legacy.failure_code, reference.failure_code);
    assert_eq!(legacy.failure_message, reference.failure_message);
    assert_eq!(
        legacy.disposition.as_deref(),
        Some("automatic-action/MDN-sent-automatically; processed/Error: authentication-failed")
    );

    // Accepting after a failure record clears the failure fields.
    legacy.set_received(&received);
    assert_eq!(legacy.failure_code, None);
    assert_eq!(legacy.failure_message, None);
    assert_eq!(legacy.status_code, Some(StatusCode::Completed));
}

#[test]
fn policies_map_errors() {
    let errors = [
        Error::DecryptionFailed,
        Error::UnknownTradingPartner,
        Error::Policy(PolicyError::EncryptionRequired),
        Error::UnsupportedMicAlgorithms,
    ];
    // The reference policy is exactly the error's own mapping.
    for error in &errors {
        assert_eq!(ReferenceErrorPolicy.failure_code(error), error.code());
        assert_eq!(ReferenceErrorPolicy.disposition(error), error.disposition());
        assert_eq!(
            ReferenceErrorPolicy.failure_message(error),
            error.to_string()
        );
    }
    assert_eq!(
        ReferenceErrorPolicy
            .disposition(&Error::UnsupportedMicAlgorithms)
            .to_string(),
        "failed/Failure: unsupported MIC-algorithms"
    );
    // The legacy policy changes one disposition only.
    for error in &errors {
        let expected = match error {
            Error::UnknownTradingPartner => "processed/Error: authentication-failed".to_owned(),
            other => other.disposition().to_string(),
        };
        assert_eq!(LegacyPartnerPolicy.disposition(error).to_string(), expected);
        assert_eq!(LegacyPartnerPolicy.failure_code(error), error.code());
    }
    // A run-time configured override, with an owned modifier, through a trait object.
    let configured = ConfiguredPolicy {
        overrides: vec![(
            ErrorCode::InsufficientMessageSecurityUnencrypted,
            ErrorCode::InvalidRequest,
            format!("{}-{}", "encryption", "required"),
        )],
    };
    let policy: &dyn ErrorPolicy = &configured;
    let mut record = StatusRecord::default();
    record.set_failure(&Error::Policy(PolicyError::EncryptionRequired), policy);
    assert_eq!(
        record,
        StatusRecord {
            status_code: Some(StatusCode::Failed),
            failure_code: Some("INVALID_REQUEST".into()),
            failure_message: Some("policy: encryption is required".into()),
            ..StatusRecord::default()
        }
    );
    let disposition = policy.disposition(&Error::Policy(PolicyError::EncryptionRequired));
    assert_eq!(disposition.text(), "encryption-required");
    assert_eq!(
        disposition.to_string(),
        "processed/Error: encryption-required"
    );
    // Untouched codes keep the reference mapping.
    record.set_failure(&Error::DecryptionFailed, policy);
    assert_eq!(record.failure_code.as_deref(), Some("DECRYPT_FAILED"));
    assert_eq!(record.failure_message.as_deref(), Some("decryption failed"));
}

#[test]
fn outbound_record_from_the_message() {
    let mut message = OutboundMessage::new(
        As2Id::new("MyCompany_OID").unwrap(),
        As2Id::new("PartnerA_OID").unwrap(),
        b"0123456789",
    );
    message.file_name = Some("TestOutboundSyncMdn-9lmCr79hV.dat".into());
    message.subject = Some("File xyzTest".into());
    let mut record = StatusRecord::outbound(
        &message,
        "<fbe18db8@c9c705f0baaaabaa>",
        at(1_657_521_010, 791_274_999),
    );
    record.transfer_id = Some("dedf4601-4e90-4043-b16b-579af35e0d83".into());
    record.status_code = Some(StatusCode::Completed);
    assert_eq!(
        record.to_json(),
        r#"{
  "as2-from": "MyCompany_OID",
  "as2-to": "PartnerA_OID",
  "as2-message-id": "fbe18db8@c9c705f0baaaabaa",
  "transfer-id": "dedf4601-4e90-4043-b16b-579af35e0d83",
  "message-subject": "File xyzTest",
  "requester-file-name": "TestOutboundSyncMdn-9lmCr79hV.dat",
  "requester-content-type": "application/octet-stream",
  "status-code": "COMPLETED",
  "transfer-size": 10,
  "timestamp": "2022-07-11T06:30:10.791274Z"
}"#
    );
}
