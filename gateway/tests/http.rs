//! Real HTTP: the gateway's server and client (the library crate, in process) on loopback ports
//! chosen by binding port 0, with the files they write checked under their data
//! directories.
//!
//! - a signed, encrypted and compressed transfer with a synchronous signed MDN;
//! - the same with an asynchronous MDN, received by the client's own listener, and one
//!   received by PartnerA's server through the shared data directory;
//! - a message encrypted for the wrong certificate: the error MDN and the `failed/`
//!   records on both sides; a message for which the server has no agreement;
//! - an HTTP error status and an unreachable partner, seen by the client;
//! - payloads far over axum's default 2 MB limit (20 MiB, with and without compression)
//!   streamed through both ends byte for byte; bodies over the server's
//!   `max_body_size`, declared or chunked, refused cleanly; Content-Length on every
//!   request the client sends;
//! - (ignored by default, needs `AS2_PEER_PYTHON` from `tests/pyas2lib/setup.sh`)
//!   pyas2lib's messages POSTed to our server, whose sync and async MDNs pyas2lib
//!   verifies, and our client's message received by pyas2lib behind a small HTTP
//!   endpoint, whose MDN our client verifies.

use as2_gateway as gateway;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use as2_proto::Limits;
use as2_proto::cms::algorithm::DigestAlgorithm;
use as2_proto::message::headers::HttpHeaders;
use as2_proto::message::inbound::{self, NoDuplicateCheck};
use as2_proto::mic::{Mic, MicNameStyle};
use as2_proto::partner::{DateEnforcement, PartnerDirectory};
use as2_proto::record::{self, StatusCode, StatusRecord};
use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use gateway::{ClientOutcome, Finished};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use tokio::sync::mpsc;

const PROCESSED: &str = "automatic-action/MDN-sent-automatically; processed";

// ---------------------------------------------------------------------------------------
// Helpers

fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_test_writer()
        .try_init();
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn config(name: &str) -> PathBuf {
    examples().join("config").join(name)
}

fn po_file() -> PathBuf {
    examples().join("data/po-4711.x12")
}

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| (*a).to_owned()).collect()
}

async fn server(config: &Path, data: &Path) -> gateway::Endpoint {
    logs();
    let options = gateway::ServerOptions::parse(&args(&[
        "--config",
        s(config),
        "--listen",
        "127.0.0.1:0",
        "--data",
        s(data),
    ]))
    .expect("server options");
    gateway::start_server(&options).await.expect("server")
}

async fn client(list: &[&str]) -> ClientOutcome {
    logs();
    let options = gateway::ClientOptions::parse(&args(list)).expect("client options");
    gateway::run_client(&options).await.expect("client run")
}

/// PartnerA's client sends the purchase order through `c-to-partner-b` to `url`.
async fn send_po(config: &Path, url: &str, data: &Path, extra: &[&str]) -> ClientOutcome {
    let po = po_file();
    let mut list = vec![
        "--config",
        s(config),
        "--connector",
        "c-to-partner-b",
        "--file",
        s(&po),
        "--url",
        url,
        "--data",
        s(data),
    ];
    list.extend_from_slice(extra);
    client(&list).await
}

fn finished(outcome: ClientOutcome) -> Finished {
    match outcome {
        ClientOutcome::Finished(f) => *f,
        other => panic!("expected a finished transfer, got {other:?}"),
    }
}

/// `path` relative to `root`, `/`-separated.
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).expect("below root");
    rel.to_string_lossy().replace('\\', "/")
}

/// Every file under `root`, as sorted `/`-separated relative paths.
fn files(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("below root");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// The paths of a failed inbound message, `failed/<uuid>.<message-id>` under `base`: the
/// UUID is the server's own, read back from the record's name.
fn failed_paths(root: &Path, base: &str, message_id: &str) -> record::InboundPaths {
    let id = message_id.trim_matches(['<', '>']);
    let suffix = format!(".{id}.json");
    let record = files(root)
        .into_iter()
        .find_map(|f| {
            f.strip_prefix(&format!("{base}/failed/"))
                .and_then(|n| n.strip_suffix(&suffix))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no failed record for {id} under {base}: {:?}", files(root)));
    let paths = record::failed_inbound_paths(&record, id);
    assert_eq!(paths.record.folder(), "failed");
    paths
}

fn read_record(path: &Path) -> StatusRecord {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    StatusRecord::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A stored `.mdn` (HTTP headers, blank line, body) whose headers must give the body's
/// exact Content-Length and no Transfer-Encoding. Returns the head and the body.
fn read_mdn(path: &Path) -> (String, Vec<u8>) {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let lower = head.to_ascii_lowercase();
    let body = raw[split + 4..].to_vec();
    let length: usize = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap_or_else(|| panic!("{}: no Content-Length in\n{head}", path.display()))
        .trim()
        .parse()
        .expect("a number");
    assert_eq!(length, body.len(), "{}: Content-Length", path.display());
    assert!(!lower.contains("transfer-encoding"), "{head}");
    (head, body)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// PartnerA's configuration with absolute paths, and `edit` applied to its text.
fn partner_a_config(dir: &Path, edit: impl FnOnce(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(config("partner-a.toml")).expect("partner-a.toml");
    let text = edit(text).replace("\"../pki/", &format!("\"{}/pki/", s(&examples())));
    let path = dir.join("partner-a.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Waits (at most a minute, so a broken build fails instead of hanging) for `path`.
async fn wait_for(path: &Path) {
    for _ in 0..600 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} did not appear", path.display());
}

/// A small HTTP endpoint for the tests: answers each POST with `respond(headers, body)`
/// (run on a blocking thread) and reports every request on `requests`.
struct Capture {
    addr: SocketAddr,
    requests: mpsc::UnboundedReceiver<(HeaderMap, Vec<u8>)>,
    task: tokio::task::JoinHandle<()>,
}

type Responder = dyn Fn(&HeaderMap, &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync;

impl Capture {
    async fn start(respond: Arc<Responder>) -> Capture {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let (tx, requests) = mpsc::unbounded_channel();
        let handler = move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            let respond = Arc::clone(&respond);
            async move {
                let (h, b) = (headers.clone(), body.to_vec());
                let (status, response_headers, out) =
                    tokio::task::spawn_blocking(move || respond(&h, &b))
                        .await
                        .expect("responder");
                let _ = tx.send((headers, body.to_vec()));
                let mut response = axum::http::Response::builder().status(status);
                for (n, v) in response_headers {
                    response = response.header(n, v);
                }
                response.body(Body::from(out)).expect("response")
            }
        };
        let app = axum::Router::new().fallback(handler);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("capture server");
        });
        Capture {
            addr,
            requests,
            task,
        }
    }

    async fn next(&mut self) -> (HeaderMap, Vec<u8>) {
        tokio::time::timeout(Duration::from_secs(60), self.requests.recv())
            .await
            .expect("a request within a minute")
            .expect("capture running")
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The request carried exactly `body.len()` as Content-Length and was not chunked.
fn assert_not_chunked(headers: &HeaderMap, body: &[u8]) {
    let length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    assert_eq!(length, Some(body.len()), "{headers:?}");
    assert!(headers.get("transfer-encoding").is_none(), "{headers:?}");
}

// ---------------------------------------------------------------------------------------
// Command lines and files

#[test]
fn command_lines() {
    let server = gateway::ServerOptions::parse(&args(&[
        "--config",
        "c.toml",
        "--listen=127.0.0.1:0",
        "--data",
        "d",
    ]))
    .unwrap();
    assert_eq!(server.config, PathBuf::from("c.toml"));
    assert_eq!(server.listen, "127.0.0.1:0");
    assert_eq!(server.data, PathBuf::from("d"));
    for (bad, why) in [
        (
            &["--config", "c", "--listen", "x"][..],
            "--data is required",
        ),
        (
            &["--config", "c", "--listen", "x", "--data"][..],
            "--data needs a value",
        ),
        (
            &[
                "--config", "c", "--listen", "x", "--data", "d", "--port", "1",
            ][..],
            "unknown option --port",
        ),
        (
            &[
                "--config", "c", "--config", "c", "--listen", "x", "--data", "d",
            ][..],
            "--config given twice",
        ),
        (&["serve"][..], "unexpected argument \"serve\""),
        (&["--port"][..], "unknown option --port"),
    ] {
        assert_eq!(
            gateway::ServerOptions::parse(&args(bad)),
            Err(why.to_owned()),
            "{bad:?}"
        );
    }

    let base = [
        "--config",
        "a.toml",
        "--connector",
        "c",
        "--file",
        "f.x12",
        "--data",
        "d",
    ];
    let options = gateway::ClientOptions::parse(&args(&base)).unwrap();
    assert_eq!(options.mdn, None);
    assert_eq!(options.timeout, Duration::from_secs(300));
    assert_eq!(options.url, None);
    let with = |extra: &[&str]| {
        let mut all = base.to_vec();
        all.extend_from_slice(extra);
        gateway::ClientOptions::parse(&args(&all))
    };
    let options = with(&[
        "--mdn=async",
        "--async-listen",
        "127.0.0.1:0",
        "--timeout",
        "7",
        "--url",
        "http://127.0.0.1:1/as2",
    ])
    .unwrap();
    assert_eq!(options.mdn, Some(gateway::MdnMode::Async));
    assert_eq!(options.async_listen.as_deref(), Some("127.0.0.1:0"));
    assert_eq!(options.timeout, Duration::from_secs(7));
    assert_eq!(options.url.as_deref(), Some("http://127.0.0.1:1/as2"));
    assert_eq!(
        with(&["--mdn", "later"]),
        Err("--mdn must be none, sync or async, not \"later\"".to_owned())
    );
    assert_eq!(
        with(&["--mdn", "sync", "--async-url", "http://x/"]),
        Err("--async-listen and --async-url go with --mdn async".to_owned())
    );
    assert_eq!(
        with(&["--timeout", "soon"]),
        Err("--timeout wants whole seconds, not \"soon\"".to_owned())
    );
    assert!(gateway::wants_help(&args(&["--data", "d", "-h"])));
}

#[test]
fn data_directory_never_replaces_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = gateway::DataDir::new(dir.path());
    assert_eq!(
        data.put_new("in/processed/a.id.dat.json", b"one").unwrap(),
        "in/processed/a.id.dat.json"
    );
    assert_eq!(
        data.put_new("in/processed/a.id.dat.json", b"two").unwrap(),
        "in/processed/a.id.dat.2.json"
    );
    assert_eq!(data.put_new("noext", b"1").unwrap(), "noext");
    assert_eq!(data.put_new("noext", b"2").unwrap(), "noext.2");
    let read = |p: &str| std::fs::read(dir.path().join(p)).unwrap();
    assert_eq!(read("in/processed/a.id.dat.json"), b"one");
    assert_eq!(read("in/processed/a.id.dat.2.json"), b"two");
    for unsafe_path in ["../x", "/etc/x", "a/../../x", "a\\b", ""] {
        let e = data.put_new(unsafe_path, b"x").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{unsafe_path}");
    }
    // No temporary files are left behind.
    assert_eq!(
        files(dir.path()),
        [
            "in/processed/a.id.dat.2.json",
            "in/processed/a.id.dat.json",
            "noext",
            "noext.2"
        ]
    );
}

// ---------------------------------------------------------------------------------------
// PartnerA's client -> PartnerB's server

/// Checks PartnerB's files for a completed transfer and returns its record.
fn check_b_completed(b: &Path, message_id: &str) -> StatusRecord {
    let payload = std::fs::read(po_file()).unwrap();
    let paths = record::inbound_paths(Some("po-4711.x12"), message_id, StatusCode::Completed);
    let at = |p: &record::RelativePath| format!("PartnerB/inbox/{p}");
    let mut expected = vec![at(&paths.payload), at(&paths.record), at(&paths.mdn)];
    expected.sort();
    assert_eq!(files(b), expected);
    assert_eq!(std::fs::read(b.join(at(&paths.payload))).unwrap(), payload);
    let record = read_record(&b.join(at(&paths.record)));
    assert_eq!(record.status_code, Some(StatusCode::Completed));
    assert_eq!(record.agreement_id.as_deref(), Some("a-from-partner-a"));
    assert_eq!(record.as2_from.as_deref(), Some("PartnerA"));
    assert_eq!(record.as2_to.as_deref(), Some("PartnerB"));
    assert_eq!(record.as2_message_id.as_deref(), Some(message_id));
    assert_eq!(record.requester_file_name.as_deref(), Some("po-4711.x12"));
    // The receiver reports the MIME type in lower case (it is case-insensitive).
    assert_eq!(
        record.requester_content_type.as_deref(),
        Some("application/edi-x12")
    );
    assert_eq!(
        record.message_subject.as_deref(),
        Some("Purchase order from PartnerA")
    );
    assert_eq!(record.file_path, Some(paths.payload.to_string()));
    assert_eq!(record.transfer_size, Some(payload.len() as u64));
    assert_eq!(record.client_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(record.disposition.as_deref(), Some(PROCESSED));
    assert_eq!(record.failure_code, None);
    assert!(record.mdn_message_id.is_some());
    // The MDN B sent: signed, reporting `processed` for this message.
    let mdn = std::fs::read(b.join(at(&paths.mdn))).unwrap();
    assert!(contains(&mdn, "multipart/signed"));
    assert!(contains(
        &mdn,
        &format!("Original-Message-ID: <{message_id}>")
    ));
    assert!(contains(&mdn, &format!("Disposition: {PROCESSED}")));
    record
}

/// Checks PartnerA's outbound files for `finished` and returns the MDN's head.
fn check_a(a: &Path, f: &Finished, status: StatusCode) -> String {
    let transfer_id = f.record.transfer_id.as_deref().expect("transfer id");
    let paths = record::outbound_paths("po-4711.x12", transfer_id, &f.message_id, status);
    let record_path = format!("outbox/{}", paths.record);
    let mdn_path = format!("outbox/{}", paths.mdn);
    let mut expected = vec![record_path.clone(), mdn_path.clone()];
    expected.sort();
    assert_eq!(files(a), expected);
    assert_eq!(f.record_path, a.join(&record_path));
    assert_eq!(f.mdn_path.as_deref(), Some(a.join(&mdn_path).as_path()));
    let record = read_record(&f.record_path);
    assert_eq!(record, f.record);
    assert_eq!(record.status_code, Some(status));
    assert_eq!(record.connector_id.as_deref(), Some("c-to-partner-b"));
    assert_eq!(record.as2_from.as_deref(), Some("PartnerA"));
    assert_eq!(record.as2_to.as_deref(), Some("PartnerB"));
    assert_eq!(
        record.as2_message_id.as_deref(),
        Some(f.message_id.as_str())
    );
    assert_eq!(record.file_path.as_deref(), Some(s(&po_file())));
    assert_eq!(record.requester_file_name.as_deref(), Some("po-4711.x12"));
    assert_eq!(
        record.transfer_size,
        Some(std::fs::metadata(po_file()).unwrap().len())
    );
    let (head, body) = read_mdn(&a.join(&mdn_path));
    assert!(contains(&body, &format!("<{}>", f.message_id)));
    head.to_ascii_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_encrypted_compressed_transfer_with_a_sync_signed_mdn() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = server(&config("partner-b.toml"), b.path()).await;
    let url = format!("http://{}/as2", server.addr);
    let f = finished(send_po(&config("partner-a.toml"), &url, a.path(), &[]).await);
    assert_eq!(f.status, StatusCode::Completed, "{:?}", f.record);
    let b_record = check_b_completed(b.path(), &f.message_id);
    let head = check_a(a.path(), &f, StatusCode::Completed);
    // A synchronous MDN: the stored head is the HTTP response's.
    assert!(head.contains("content-type: multipart/signed"), "{head}");
    assert!(head.contains("as2-from: partnerb"), "{head}");
    assert_eq!(f.record.disposition.as_deref(), Some(PROCESSED));
    assert_eq!(f.record.failure_code, None);
    assert_eq!(f.record.mdn_message_id, b_record.mdn_message_id);
    assert_eq!(
        f.record.mdn_subject.as_deref(),
        Some("Message Disposition Notification")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_mdn_received_by_the_client() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = server(&config("partner-b.toml"), b.path()).await;
    let url = format!("http://{}/as2", server.addr);
    let f = finished(
        send_po(
            &config("partner-a.toml"),
            &url,
            a.path(),
            &[
                "--mdn",
                "async",
                "--async-listen",
                "127.0.0.1:0",
                "--timeout",
                "120",
            ],
        )
        .await,
    );
    assert_eq!(f.status, StatusCode::Completed, "{:?}", f.record);
    let b_record = check_b_completed(b.path(), &f.message_id);
    // check_a also shows the pending record in outbox/sent is gone.
    let head = check_a(a.path(), &f, StatusCode::Completed);
    // An asynchronous MDN: the stored head is that of B's POST.
    assert!(head.contains("content-type: multipart/signed"), "{head}");
    assert!(head.contains("as2-from: partnerb\r\n"), "{head}");
    assert!(head.contains("as2-to: partnera\r\n"), "{head}");
    assert_eq!(f.record.disposition.as_deref(), Some(PROCESSED));
    assert_eq!(f.record.mdn_message_id, b_record.mdn_message_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_mdn_received_by_the_senders_server() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server_b = server(&config("partner-b.toml"), b.path()).await;
    let server_a = server(&config("partner-a.toml"), a.path()).await;
    let outcome = send_po(
        &config("partner-a.toml"),
        &format!("http://{}/as2", server_b.addr),
        a.path(),
        &[
            "--mdn",
            "async",
            "--async-url",
            &format!("http://{}/as2", server_a.addr),
        ],
    )
    .await;
    let ClientOutcome::AwaitingMdn {
        message_id,
        pending,
    } = outcome
    else {
        panic!("expected the client to leave the MDN to the server: {outcome:?}");
    };
    assert!(pending.starts_with(a.path().join("outbox/sent")));
    // The server writes the record once B's MDN has verified.
    let processed = a.path().join("outbox/processed");
    let record_path = loop {
        wait_for(&processed).await;
        let json = files(&processed).into_iter().find(|f| f.ends_with(".json"));
        match json {
            Some(name) => break processed.join(name),
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let record = read_record(&record_path);
    let transfer_id = record.transfer_id.clone().expect("transfer id");
    let f = Finished {
        status: StatusCode::Completed,
        message_id: message_id.clone(),
        record: record.clone(),
        record_path: record_path.clone(),
        mdn_path: Some(record_path.with_extension("mdn")),
        record_key: relative(a.path(), &record_path),
        mdn_key: Some(relative(a.path(), &record_path.with_extension("mdn"))),
    };
    let head = check_a(a.path(), &f, StatusCode::Completed);
    assert!(head.contains("content-type: multipart/signed"), "{head}");
    assert!(!pending.exists());
    assert_eq!(record.disposition.as_deref(), Some(PROCESSED));
    assert_eq!(record.transfer_id.as_deref(), Some(transfer_id.as_str()));
    let b_record = check_b_completed(b.path(), &message_id);
    assert_eq!(record.mdn_message_id, b_record.mdn_message_id);

    // B's MDN again, as it was POSTed: the transfer is no longer pending.
    let (head, body) = read_mdn(f.mdn_path.as_deref().unwrap());
    let headers: HttpHeaders = head.lines().filter_map(|l| l.split_once(": ")).collect();
    let http = gateway::http_client().unwrap();
    let a_url = format!("http://{}/as2", server_a.addr);
    let before = files(a.path());
    let replay = gateway::post(&http, &a_url, &headers, body.clone())
        .await
        .unwrap();
    assert_eq!(replay.status, 400);
    assert_eq!(
        String::from_utf8_lossy(&replay.body),
        "MDN refused: INVALID_REQUEST invalid Original-Message-ID header: names no message we sent\r\n"
    );
    assert_eq!(files(a.path()), before);

    // Pending again, now expecting another MIC.
    let mut sent_record = record.clone();
    sent_record.status_code = None;
    sent_record.disposition = None;
    sent_record.mdn_message_id = None;
    sent_record.mdn_subject = None;
    let sent = gateway::SentRecord {
        message_id: format!("<{message_id}>"),
        mic: Some(
            Mic::compute(DigestAlgorithm::Sha256, b"not what was sent")
                .to_field(MicNameStyle::Dashed),
        ),
        require_mic: true,
        require_signed_mdn: true,
        partner: "PartnerB".into(),
        source_file_name: "po-4711.x12".into(),
        transfer_id: "t-again".into(),
        record: sent_record,
    };
    let pending = a.path().join(format!(
        "outbox/sent/{}.json",
        sha256_hex(message_id.as_bytes())
    ));
    std::fs::write(&pending, serde_json::to_string(&sent).unwrap()).unwrap();
    // A damaged MDN does not verify: refused, and the transfer stays pending.
    let damaged = String::from_utf8(body.clone())
        .unwrap()
        .replacen("Final-Recipient", "Final-Recipiemt", 1)
        .into_bytes();
    assert_ne!(damaged, body);
    let refused = gateway::post(&http, &a_url, &headers, damaged)
        .await
        .unwrap();
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.body).starts_with("MDN refused: VERIFICATION_FAILED"),
        "{refused:?}"
    );
    assert!(pending.is_file());
    // The genuine MDN is authentic, but its MIC is not the one kept: a failed transfer.
    let accepted = gateway::post(&http, &a_url, &headers, body).await.unwrap();
    assert_eq!(accepted.status, 200, "{accepted:?}");
    assert!(!pending.exists());
    let paths = record::outbound_paths("po-4711.x12", "t-again", &message_id, StatusCode::Failed);
    let failed = read_record(&a.path().join(format!("outbox/{}", paths.record)));
    assert_eq!(failed.status_code, Some(StatusCode::Failed));
    assert_eq!(failed.failure_code.as_deref(), Some("VERIFICATION_FAILED"));
    assert_eq!(failed.disposition.as_deref(), Some(PROCESSED));
    assert!(a.path().join(format!("outbox/{}", paths.mdn)).is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_encrypted_for_the_wrong_certificate_is_refused() {
    let (a, b, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    // PartnerA's configuration names PartnerA's own encryption certificate as PartnerB's.
    let a_config = partner_a_config(work.path(), |text| {
        let wrong = text.replace(
            "file = \"../pki/PartnerB/enc.crt\"",
            "file = \"../pki/PartnerA/enc.crt\"",
        );
        assert_ne!(wrong, text);
        wrong
    });
    let server = server(&config("partner-b.toml"), b.path()).await;
    let f = finished(
        send_po(
            &a_config,
            &format!("http://{}/as2", server.addr),
            a.path(),
            &[],
        )
        .await,
    );
    let error_disposition =
        "automatic-action/MDN-sent-automatically; processed/Error: decryption-failed";
    // B: the body as received, the record and the error MDN, under failed/.
    let paths = failed_paths(b.path(), "PartnerB/inbox", &f.message_id);
    let at = |p: &record::RelativePath| format!("PartnerB/inbox/{p}");
    let mut expected = vec![at(&paths.payload), at(&paths.record), at(&paths.mdn)];
    expected.sort();
    assert_eq!(files(b.path()), expected);
    let b_record = read_record(&b.path().join(at(&paths.record)));
    assert_eq!(b_record.status_code, Some(StatusCode::Failed));
    assert_eq!(
        b_record.failure_code.as_deref(),
        Some("DECRYPT_FAILED_NO_DECRYPTION_KEY_FOUND")
    );
    assert_eq!(
        b_record.failure_message.as_deref(),
        Some("no recipient of the envelope matches our certificates")
    );
    assert_eq!(b_record.disposition.as_deref(), Some(error_disposition));
    assert_eq!(b_record.agreement_id.as_deref(), Some("a-from-partner-a"));
    assert_eq!(b_record.file_path, Some(paths.payload.to_string()));
    assert_eq!(
        b_record.server_id.as_deref(),
        Some(gateway::DEFAULT_SERVER_ID)
    );
    assert_eq!(b_record.client_ip.as_deref(), Some("127.0.0.1"));
    let kept = std::fs::read(b.path().join(at(&paths.payload))).unwrap();
    assert_eq!(Some(kept.len() as u64), b_record.transfer_size);
    assert!(
        !contains(&kept, "ISA*"),
        "the kept body is the encrypted one"
    );
    let b_mdn = std::fs::read(b.path().join(at(&paths.mdn))).unwrap();
    assert!(contains(&b_mdn, "multipart/signed"));
    assert!(contains(
        &b_mdn,
        &format!("Disposition: {error_disposition}")
    ));
    // A: the signed error MDN verified, the transfer failed with B's reason.
    assert_eq!(f.status, StatusCode::Failed);
    check_a(a.path(), &f, StatusCode::Failed);
    assert_eq!(f.record.failure_code.as_deref(), Some("DECRYPT_FAILED"));
    assert_eq!(
        f.record.failure_message.as_deref(),
        Some("partner reported processed/Error: decryption-failed")
    );
    assert_eq!(f.record.disposition.as_deref(), Some(error_disposition));
    assert_eq!(f.record.mdn_message_id, b_record.mdn_message_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_without_an_agreement_is_recorded_as_unmatched() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // PartnerA's own server has agreements only for messages from PartnerB.
    let server = server(&config("partner-a.toml"), b.path()).await;
    let f = finished(
        send_po(
            &config("partner-a.toml"),
            &format!("http://{}/as2", server.addr),
            a.path(),
            &[],
        )
        .await,
    );
    let paths = failed_paths(b.path(), "unmatched", &f.message_id);
    let at = |p: &record::RelativePath| format!("unmatched/{p}");
    let mut expected = vec![at(&paths.record), at(&paths.mdn)];
    expected.sort();
    assert_eq!(files(b.path()), expected, "no payload is kept");
    let record = read_record(&b.path().join(at(&paths.record)));
    assert_eq!(record.status_code, Some(StatusCode::Failed));
    assert_eq!(record.failure_code.as_deref(), Some("AGREEMENT_NOT_FOUND"));
    assert_eq!(
        record.disposition.as_deref(),
        Some(
            "automatic-action/MDN-sent-automatically; processed/Error: unknown-trading-relationship"
        )
    );
    assert_eq!(record.agreement_id, None);
    // The error MDN cannot be signed without an agreement, and A asked for a signed one.
    let mdn = std::fs::read(b.path().join(at(&paths.mdn))).unwrap();
    assert!(!contains(&mdn, "multipart/signed"));
    assert_eq!(f.status, StatusCode::Failed);
    check_a(a.path(), &f, StatusCode::Failed);
    assert_eq!(
        f.record.failure_code.as_deref(),
        Some("VERIFICATION_FAILED")
    );
    assert_eq!(f.record.disposition, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_errors_and_unreachable_partners_fail_the_transfer() {
    let a = tempfile::tempdir().unwrap();
    let mut busy = Capture::start(Arc::new(|_: &HeaderMap, _: &[u8]| {
        (503, vec![], b"busy\r\n".to_vec())
    }))
    .await;
    let f = finished(
        send_po(
            &config("partner-a.toml"),
            &format!("http://{}/as2", busy.addr),
            a.path(),
            &[],
        )
        .await,
    );
    let (headers, body) = busy.next().await;
    assert_not_chunked(&headers, &body);
    assert_eq!(
        headers.get("message-id").and_then(|v| v.to_str().ok()),
        Some(format!("<{}>", f.message_id).as_str())
    );
    assert_eq!(
        headers.get("as2-to").and_then(|v| v.to_str().ok()),
        Some("PartnerB")
    );
    assert_eq!(f.status, StatusCode::Failed);
    assert_eq!(
        f.record.failure_code.as_deref(),
        Some("HTTP_ERROR_RESPONSE_FROM_PARTNER")
    );
    assert_eq!(f.mdn_path, None);
    let transfer_id = f.record.transfer_id.clone().unwrap();
    let paths = record::outbound_paths(
        "po-4711.x12",
        &transfer_id,
        &f.message_id,
        StatusCode::Failed,
    );
    assert_eq!(files(a.path()), [format!("outbox/{}", paths.record)]);
    assert_eq!(read_record(&f.record_path), f.record);

    // A port nobody listens on any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let f = finished(
        send_po(
            &config("partner-a.toml"),
            &format!("http://{addr}/as2"),
            a.path(),
            &[],
        )
        .await,
    );
    assert_eq!(f.status, StatusCode::Failed);
    assert_eq!(
        f.record.failure_code.as_deref(),
        Some("UNABLE_TO_CONNECT_TO_REMOTE_HOST_OR_IP")
    );
    assert!(f.record_path.starts_with(a.path().join("outbox/failed")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_mdn_that_never_comes() {
    let a = tempfile::tempdir().unwrap();
    // A partner that says 200 and never sends the MDN. While the client waits, its
    // pending record must hold what the MDN will be checked against.
    let sent_dir = a.path().join("outbox/sent");
    let pending = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut silent = Capture::start({
        let (sent_dir, pending) = (sent_dir.clone(), Arc::clone(&pending));
        Arc::new(move |_: &HeaderMap, _: &[u8]| {
            for name in files(&sent_dir) {
                let text = std::fs::read_to_string(sent_dir.join(&name)).unwrap();
                pending.lock().unwrap().push((name, text));
            }
            (200, vec![], b"AS2 message received.\r\n".to_vec())
        })
    })
    .await;
    let f = finished(
        send_po(
            &config("partner-a.toml"),
            &format!("http://{}/as2", silent.addr),
            a.path(),
            &[
                "--mdn",
                "async",
                "--async-listen",
                "127.0.0.1:0",
                "--timeout",
                "1",
            ],
        )
        .await,
    );
    let (headers, body) = silent.next().await;
    assert_not_chunked(&headers, &body);
    let receipt_url = headers
        .get("receipt-delivery-option")
        .and_then(|v| v.to_str().ok())
        .expect("an async MDN request");
    assert!(
        receipt_url.starts_with("http://127.0.0.1:") && receipt_url.ends_with("/as2"),
        "{receipt_url}"
    );

    // The pending record, checked against what PartnerB computes on receipt.
    let pending = pending.lock().unwrap().clone();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let (name, text) = &pending[0];
    let sent: gateway::SentRecord = serde_json::from_str(text).unwrap();
    assert_eq!(
        *name,
        format!("{}.json", sha256_hex(f.message_id.as_bytes()))
    );
    assert_eq!(sent.message_id, format!("<{}>", f.message_id));
    assert_eq!(sent.partner, "PartnerB");
    assert!(sent.require_mic && sent.require_signed_mdn);
    let limits = Limits::default();
    let directory = gateway::load_directory(&config("partner-b.toml")).unwrap();
    let http_headers = gateway::http_headers(&headers);
    let incoming = inbound::handle(&http_headers, &body, &limits).unwrap();
    let agreement = directory.agreement(&incoming.from, &incoming.to).unwrap();
    let received = agreement
        .inbound(std::time::SystemTime::now(), DateEnforcement::Enforce)
        .accept(
            &incoming,
            &limits,
            &mut NoDuplicateCheck,
            &mut ChaCha20Rng::seed_from_u64(1),
        )
        .unwrap();
    let mic = received.mic.expect("a MIC").to_field(MicNameStyle::Dashed);
    assert_eq!(sent.mic.as_deref(), Some(mic.as_str()));

    // Then the client gave up.
    assert_eq!(f.status, StatusCode::Failed);
    assert_eq!(f.mdn_path, None);
    assert_eq!(f.record.failure_code, None);
    assert_eq!(
        f.record.failure_message.as_deref(),
        Some("no asynchronous MDN within 1 s")
    );
    let transfer_id = f.record.transfer_id.clone().unwrap();
    let paths = record::outbound_paths(
        "po-4711.x12",
        &transfer_id,
        &f.message_id,
        StatusCode::Failed,
    );
    assert_eq!(files(a.path()), [format!("outbox/{}", paths.record)]);
}

// ---------------------------------------------------------------------------------------
// Streaming: large bodies, limits, Content-Length

/// `len` deterministic pseudo-random bytes (xorshift64*): incompressible, so the
/// compressed message is as large as the payload.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// PartnerA's configuration under `dir`, its connector compressing (`zlib`) or not.
fn partner_a_compressing(dir: &Path, zlib: bool) -> PathBuf {
    partner_a_config(dir, |text| {
        if zlib {
            assert!(text.contains("compression = \"ZLIB\""));
            return text;
        }
        let plain = text.replace("compression = \"ZLIB\"", "compression = \"DISABLED\"");
        assert_ne!(plain, text);
        plain
    })
}

/// PartnerA's client sends `file` through `c-to-partner-b` of `config` to `url`.
async fn send_file(config: &Path, file: &Path, url: &str, data: &Path, extra: &[&str]) -> Finished {
    let mut list = vec![
        "--config",
        s(config),
        "--connector",
        "c-to-partner-b",
        "--file",
        s(file),
        "--url",
        url,
        "--data",
        s(data),
    ];
    list.extend_from_slice(extra);
    finished(client(&list).await)
}

/// PartnerB's server with `limits`.
async fn server_with_limits(data: &Path, limits: Limits) -> gateway::Endpoint {
    logs();
    let directory = gateway::load_directory(&config("partner-b.toml")).unwrap();
    let gateway = gateway::Gateway::new(directory, data, true)
        .unwrap()
        .with_limits(limits);
    gateway::start_endpoint(Arc::new(gateway), "127.0.0.1:0")
        .await
        .unwrap()
}

/// 20 MiB, signed and encrypted, with and without compression (the compressed body's
/// length is known only at its end: the client spools it), through a server that
/// streams it into the receiver: byte for byte, with a verified sync signed MDN, and no
/// temporary file left on either side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_payloads_stream_through_client_and_server() {
    let work = tempfile::tempdir().unwrap();
    let payload = pseudo_random(20 << 20, 7);
    let file = work.path().join("big.bin");
    std::fs::write(&file, &payload).unwrap();
    for zlib in [false, true] {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let dir = work.path().join(format!("zlib-{zlib}"));
        std::fs::create_dir_all(&dir).unwrap();
        let a_config = partner_a_compressing(&dir, zlib);
        let server = server(&config("partner-b.toml"), b.path()).await;
        let url = format!("http://{}/as2", server.addr);
        let f = send_file(&a_config, &file, &url, a.path(), &[]).await;
        assert_eq!(
            f.status,
            StatusCode::Completed,
            "zlib {zlib}: {:?}",
            f.record
        );
        assert_eq!(f.record.disposition.as_deref(), Some(PROCESSED));
        assert_eq!(f.record.transfer_size, Some(payload.len() as u64));

        // B: the payload, its record and MDN, nothing else.
        let paths = record::inbound_paths(Some("big.bin"), &f.message_id, StatusCode::Completed);
        let at = |p: &record::RelativePath| format!("PartnerB/inbox/{p}");
        let mut expected = vec![at(&paths.payload), at(&paths.record), at(&paths.mdn)];
        expected.sort();
        assert_eq!(files(b.path()), expected, "zlib {zlib}");
        let received = std::fs::read(b.path().join(at(&paths.payload))).unwrap();
        assert!(received == payload, "zlib {zlib}: the payload differs");
        let b_record = read_record(&b.path().join(at(&paths.record)));
        assert_eq!(b_record.status_code, Some(StatusCode::Completed));
        assert_eq!(b_record.transfer_size, Some(payload.len() as u64));
        assert_eq!(b_record.file_path, Some(paths.payload.to_string()));
        assert_eq!(b_record.mdn_message_id, f.record.mdn_message_id);

        // A: the record and the signed MDN; no spool left in the data directory.
        let mdn_path = f.mdn_path.clone().expect("a sync MDN");
        let mut expected = vec![f.record_path.clone(), mdn_path.clone()];
        expected.sort();
        let written: Vec<PathBuf> = files(a.path()).iter().map(|p| a.path().join(p)).collect();
        assert_eq!(written, expected, "zlib {zlib}");
        let (head, _) = read_mdn(&mdn_path);
        assert!(
            head.to_ascii_lowercase().contains("multipart/signed"),
            "{head}"
        );
    }
}

/// POSTs `body` chunked (no Content-Length) as PartnerA's encrypted message `message_id`
/// asking for a sync MDN; returns the status and the response's head and body.
async fn post_chunked(url: &str, message_id: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(64 << 10)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let response = gateway::http_client()
        .unwrap()
        .post(url)
        .header("AS2-Version", "1.2")
        .header("AS2-From", "PartnerA")
        .header("AS2-To", "PartnerB")
        .header("Message-ID", format!("<{message_id}>"))
        .header(
            "Content-Type",
            "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m",
        )
        .header("Disposition-Notification-To", "as2@partner-a.example")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("an answer, not a reset connection");
    let status = response.status().as_u16();
    let head = format!("{:?}", response.headers()).to_ascii_lowercase();
    let body = response.bytes().await.expect("the whole answer").to_vec();
    (status, head, body)
}

/// A body over the server's `max_body_size` is refused cleanly: answered (an error MDN,
/// not a reset connection), recorded under `failed/` and nothing of it kept, whether its
/// Content-Length says so before it is read (the client's request) or it arrives
/// chunked and is counted as it comes. A chunked body under the limit that does not
/// decrypt is kept under `failed/` exactly as received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_refused_cleanly() {
    let (a, b, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut limits = Limits::default();
    limits.max_body_size = 4 << 20;
    let too_large = as2_proto::Error::LimitExceeded {
        limit: as2_proto::Limit::BodySize,
        value: limits.max_body_size,
    };
    let server = server_with_limits(b.path(), limits).await;
    let url = format!("http://{}/as2", server.addr);
    let at = |p: &record::RelativePath| format!("PartnerB/inbox/{p}");
    // The limit's code is also that of a malformed body: the message tells them apart.
    let over_the_limit = |r: &StatusRecord| {
        r.failure_message
            .as_deref()
            .is_some_and(|m| m.contains("max_body_size"))
    };

    // The client's message, 6 MiB: its Content-Length is over the limit.
    let file = work.path().join("six.bin");
    std::fs::write(&file, pseudo_random(6 << 20, 11)).unwrap();
    let a_config = partner_a_compressing(work.path(), false);
    let f = send_file(&a_config, &file, &url, a.path(), &[]).await;
    assert_eq!(f.status, StatusCode::Failed, "{:?}", f.record);
    let error_mdn = f.mdn_path.as_deref().expect("an error MDN");
    let (_, mdn_body) = read_mdn(error_mdn);
    assert!(contains(&mdn_body, "processed/Error"), "{f:?}");
    let paths = failed_paths(b.path(), "PartnerB/inbox", &f.message_id);
    let mut expected = vec![at(&paths.record), at(&paths.mdn)];
    expected.sort();
    assert_eq!(files(b.path()), expected, "nothing of the body is kept");
    let record = read_record(&b.path().join(at(&paths.record)));
    assert_eq!(record.status_code, Some(StatusCode::Failed));
    assert_eq!(
        record.failure_code.as_deref(),
        Some(too_large.code().as_str())
    );
    assert!(over_the_limit(&record), "{record:?}");
    assert_eq!(record.file_path, None);
    assert!(record.transfer_size.unwrap() > 6 << 20, "{record:?}");

    // Chunked and under the limit, but not a message: kept as received.
    let garbage = pseudo_random(1 << 20, 12);
    let (status, head, _) = post_chunked(&url, "chunked-small@test", &garbage).await;
    assert_eq!(status, 200);
    assert!(head.contains("multipart/report"), "{head}");
    let paths = failed_paths(b.path(), "PartnerB/inbox", "chunked-small@test");
    let kept = std::fs::read(b.path().join(at(&paths.payload))).unwrap();
    assert!(kept == garbage, "the body is kept exactly as received");
    let record = read_record(&b.path().join(at(&paths.record)));
    assert_eq!(record.status_code, Some(StatusCode::Failed));
    assert_eq!(record.transfer_size, Some(garbage.len() as u64));
    assert!(!over_the_limit(&record), "{record:?}");

    // Chunked and over the limit: refused once it is, the rest discarded.
    let before = files(b.path()).len();
    let (status, head, mdn) =
        post_chunked(&url, "chunked-large@test", &pseudo_random(6 << 20, 13)).await;
    assert_eq!(status, 200);
    assert!(head.contains("multipart/report"), "{head}");
    assert!(contains(&mdn, "processed/Error"));
    let paths = failed_paths(b.path(), "PartnerB/inbox", "chunked-large@test");
    let record = read_record(&b.path().join(at(&paths.record)));
    assert_eq!(
        record.failure_code.as_deref(),
        Some(too_large.code().as_str())
    );
    assert!(over_the_limit(&record), "{record:?}");
    assert!(!b.path().join(at(&paths.payload)).exists());
    assert_eq!(
        files(b.path()).len(),
        before + 2,
        "a record and an MDN only"
    );
}

/// Every request the client sends carries Content-Length and is not chunked: a body
/// streamed from the file (no compression: its length is known before the first octet)
/// and one sent from the spool (compressed); each is the message, as a receiver reads
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_requests_carry_content_length() {
    let work = tempfile::tempdir().unwrap();
    // Several chunks, within the capture's (axum's default) 2 MB limit.
    let payload = pseudo_random(1 << 20, 21);
    let file = work.path().join("one.bin");
    std::fs::write(&file, &payload).unwrap();
    let mut capture = Capture::start(Arc::new(|_: &HeaderMap, _: &[u8]| {
        (200, vec![], b"AS2 message received.\r\n".to_vec())
    }))
    .await;
    let url = format!("http://{}/as2", capture.addr);
    let limits = Limits::default();
    let directory = gateway::load_directory(&config("partner-b.toml")).unwrap();
    for zlib in [false, true] {
        let (a, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a_config = partner_a_compressing(dir.path(), zlib);
        let f = send_file(&a_config, &file, &url, a.path(), &["--mdn", "none"]).await;
        assert_eq!(
            f.status,
            StatusCode::Completed,
            "zlib {zlib}: {:?}",
            f.record
        );
        let (headers, body) = capture.next().await;
        assert_not_chunked(&headers, &body);
        let http_headers = gateway::http_headers(&headers);
        let incoming = inbound::handle(&http_headers, &body, &limits).unwrap();
        let agreement = directory.agreement(&incoming.from, &incoming.to).unwrap();
        let received = agreement
            .inbound(std::time::SystemTime::now(), DateEnforcement::Enforce)
            .accept(
                &incoming,
                &limits,
                &mut NoDuplicateCheck,
                &mut ChaCha20Rng::seed_from_u64(2),
            )
            .unwrap();
        assert!(received.payload == payload, "zlib {zlib}");
        assert_eq!(received.compressed(), zlib);
    }
}

// ---------------------------------------------------------------------------------------
// pyas2lib

const PEER_IGNORE: &str = "needs the pyas2lib venv: run tests/pyas2lib/setup.sh, set AS2_PEER_PYTHON, then cargo test -p as2-gateway --test http -- --ignored";

struct Peer {
    python: PathBuf,
    script: PathBuf,
}

impl Peer {
    fn from_env() -> Peer {
        let python = std::env::var_os("AS2_PEER_PYTHON")
            .unwrap_or_else(|| panic!("AS2_PEER_PYTHON is not set ({PEER_IGNORE})"));
        let python = PathBuf::from(python);
        assert!(
            python.is_file(),
            "AS2_PEER_PYTHON={} is not a file",
            python.display()
        );
        Peer {
            python,
            script: Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/pyas2lib/peer.py"),
        }
    }

    /// Runs `peer.py args...`, returning the exit code, stdout and stderr.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(&self.python)
            .arg(&self.script)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.python.display()));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A PKI for `pyas2lib` and `as2proto` (and its CA) under `dir`.
    fn mkpki(&self, dir: &Path) -> PathBuf {
        let pki = dir.join("pki");
        let (code, _, stderr) =
            self.run(&["mkpki", "--out", s(&pki), "--parties", "pyas2lib,as2proto"]);
        assert_eq!(code, 0, "mkpki: {stderr}");
        pki
    }
}

/// Our side (`as2proto`) of a partnership with `pyas2lib`, with the PKI's files.
fn our_config(dir: &Path, pki: &Path, partner_url: &str) -> PathBuf {
    let p = s(pki);
    let text = format!(
        r#"
[[certificates]]
id = "our-sign"
usage = "SIGNING"
certificate = {{ file = "{p}/as2proto/sign.crt" }}
private_key = {{ file = "{p}/as2proto/sign.key" }}

[[certificates]]
id = "our-enc"
usage = "ENCRYPTION"
certificate = {{ file = "{p}/as2proto/enc.crt" }}
private_key = {{ file = "{p}/as2proto/enc.key" }}

[[certificates]]
id = "peer-sign"
usage = "SIGNING"
certificate = {{ file = "{p}/pyas2lib/sign.crt" }}

[[certificates]]
id = "peer-enc"
usage = "ENCRYPTION"
certificate = {{ file = "{p}/pyas2lib/enc.crt" }}

[[local_profiles]]
id = "p-as2proto"
as2_id = "as2proto"
certificates = ["our-sign", "our-enc"]

[[partner_profiles]]
id = "p-pyas2lib"
as2_id = "pyas2lib"
certificates = ["peer-sign", "peer-enc"]
trust_anchors = [{{ file = "{p}/ca/ca.crt" }}]

[[agreements]]
id = "a-from-pyas2lib"
local_profile = "p-as2proto"
partner_profile = "p-pyas2lib"
base_directory = "inbox"
require_encryption = true
require_signature = true

[[connectors]]
id = "c-to-pyas2lib"
url = "{partner_url}"
local_profile = "p-as2proto"
partner_profile = "p-pyas2lib"
encryption_algorithm = "AES256_CBC"
signing_algorithm = "SHA256"
compression = "ZLIB"
mdn_response = "SYNC"
mdn_signing_algorithm = "SHA256"
subject = "Purchase order from as2proto"
"#
    );
    let path = dir.join("as2proto.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn read_json(path: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A headers.json as HTTP headers (folded values unfolded).
fn headers_from_json(path: &Path) -> HttpHeaders {
    let serde_json::Value::Object(map) = read_json(path) else {
        panic!("{}: not an object", path.display());
    };
    map.into_iter()
        .map(|(name, value)| {
            let value = value.as_str().expect("string header").to_owned();
            (name, value.replace("\r\n", "").replace('\n', ""))
        })
        .collect()
}

fn headers_to_json(headers: &HeaderMap) -> String {
    let map: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                serde_json::Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    serde_json::to_string_pretty(&map).unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    DigestAlgorithm::Sha256
        .digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the pyas2lib venv: run tests/pyas2lib/setup.sh, set AS2_PEER_PYTHON, then cargo test -p as2-gateway --test http -- --ignored"]
async fn pyas2lib_messages_to_our_server() {
    let peer = Peer::from_env();
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let pki = peer.mkpki(work.path());
    let ours = our_config(work.path(), &pki, "http://127.0.0.1:9/unused");
    let server = server(&ours, data.path()).await;
    let url = format!("http://{}/as2", server.addr);
    // pyas2lib's endpoint for asynchronous MDNs: it just takes them.
    let mut mdn_inbox = Capture::start(Arc::new(|_: &HeaderMap, _: &[u8]| {
        (200, vec![], b"thanks\r\n".to_vec())
    }))
    .await;
    let http = gateway::http_client().unwrap();
    // pyas2lib rewrites bare LFs to CRLF in text payloads (see tests/data/pyas2lib), so
    // it sends the purchase order with CRLF line ends, which it delivers unchanged.
    let po = work.path().join("po-4711.x12");
    let lf = std::fs::read(po_file()).unwrap();
    assert!(!contains(&lf, "\r"));
    let payload = String::from_utf8(lf)
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes();
    std::fs::write(&po, &payload).unwrap();

    for mode in ["sync-signed", "async-signed"] {
        let case = work.path().join(mode);
        let mdn_url = format!("http://{}/pyas2lib-mdn", mdn_inbox.addr);
        let mut send = vec![
            "send",
            "--pki",
            s(&pki),
            "--from",
            "pyas2lib",
            "--to",
            "as2proto",
            "--payload",
            s(&po),
            "--out",
            s(&case),
            "--sign",
            "sha256",
            "--encrypt",
            "aes_256_cbc",
            "--compress",
            "--mdn",
            mode,
            "--mdn-alg",
            "sha256",
            "--filename",
            "po-4711.x12",
            "--content-type",
            "application/EDI-X12",
        ];
        if mode.starts_with("async") {
            send.extend_from_slice(&["--mdn-url", &mdn_url]);
        }
        let (code, _, stderr) = peer.run(&send);
        assert_eq!(code, 0, "{mode}: peer send: {stderr}");
        let meta = read_json(&case.join("meta.json"));
        let message_id = meta["message_id"].as_str().expect("message_id").to_owned();
        let mic = meta["mic"].as_str().expect("pyas2lib's MIC").to_owned();
        let headers = headers_from_json(&case.join("headers.json"));
        let body = std::fs::read(case.join("body.bin")).unwrap();

        let response = gateway::post(&http, &url, &headers, body).await.unwrap();
        assert_eq!(response.status, 200, "{mode}: {response:?}");
        let (mdn_headers, mdn_body) = if mode.starts_with("sync") {
            let headers: Vec<(String, String)> = response
                .headers
                .iter()
                .map(|(n, v)| (n.to_owned(), String::from_utf8_lossy(v).into_owned()))
                .collect();
            (headers, response.body)
        } else {
            let (headers, body) = mdn_inbox.next().await;
            assert_not_chunked(&headers, &body);
            let headers = headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            (headers, body)
        };
        // pyas2lib verifies our MDN: signature (our sign.crt, chained to the CA), the
        // Original-Message-ID and its own MIC.
        let mdn_dir = case.join("our-mdn");
        std::fs::create_dir_all(&mdn_dir).unwrap();
        let map: serde_json::Map<_, _> = mdn_headers
            .iter()
            .map(|(n, v)| (n.clone(), serde_json::Value::String(v.clone())))
            .collect();
        std::fs::write(
            mdn_dir.join("headers.json"),
            serde_json::to_string_pretty(&map).unwrap(),
        )
        .unwrap();
        std::fs::write(mdn_dir.join("body.bin"), &mdn_body).unwrap();
        let report = mdn_dir.join("report.json");
        let (code, _, stderr) = peer.run(&[
            "verify-mdn",
            "--pki",
            s(&pki),
            "--mdn-headers",
            s(&mdn_dir.join("headers.json")),
            "--mdn-body",
            s(&mdn_dir.join("body.bin")),
            "--orig-message-id",
            &message_id,
            "--expected-mic",
            &mic,
            "--require-signed",
            "--out",
            s(&report),
        ]);
        let report = read_json(&report);
        assert_eq!(code, 0, "{mode}: verify-mdn: {report}\n{stderr}");
        assert_eq!(report["accepted"], true, "{mode}: {report}");
        assert_eq!(report["signed"], true, "{mode}: {report}");
        assert_eq!(report["mic_matches"], true, "{mode}: {report}");
        assert_eq!(report["disposition"], PROCESSED, "{mode}: {report}");

        // Our server's files.
        let paths = record::inbound_paths(Some("po-4711.x12"), &message_id, StatusCode::Completed);
        let inbox = data.path().join("inbox");
        assert_eq!(
            std::fs::read(inbox.join(paths.payload.to_path_buf())).unwrap(),
            payload,
            "{mode}"
        );
        let record = read_record(&inbox.join(paths.record.to_path_buf()));
        assert_eq!(record.status_code, Some(StatusCode::Completed), "{mode}");
        assert_eq!(record.agreement_id.as_deref(), Some("a-from-pyas2lib"));
        assert_eq!(record.as2_from.as_deref(), Some("pyas2lib"));
        assert_eq!(record.disposition.as_deref(), Some(PROCESSED), "{mode}");
        assert!(inbox.join(paths.mdn.to_path_buf()).is_file(), "{mode}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the pyas2lib venv: run tests/pyas2lib/setup.sh, set AS2_PEER_PYTHON, then cargo test -p as2-gateway --test http -- --ignored"]
async fn our_client_to_pyas2lib() {
    let peer = Arc::new(Peer::from_env());
    let work = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let pki = peer.mkpki(work.path());
    // pyas2lib behind HTTP: each POST is handed to `peer.py receive`, and the MDN it
    // builds is the response.
    let exchange = work.path().join("pyas2lib");
    let respond = {
        let (peer, pki, exchange) = (Arc::clone(&peer), pki.clone(), exchange.clone());
        move |headers: &HeaderMap, body: &[u8]| {
            std::fs::create_dir_all(&exchange).unwrap();
            std::fs::write(exchange.join("headers.json"), headers_to_json(headers)).unwrap();
            std::fs::write(exchange.join("body.bin"), body).unwrap();
            let out = exchange.join("out");
            let (code, _, stderr) = peer.run(&[
                "receive",
                "--pki",
                s(&pki),
                "--headers",
                s(&exchange.join("headers.json")),
                "--body",
                s(&exchange.join("body.bin")),
                "--out",
                s(&out),
                "--as",
                "pyas2lib",
                "--require-signed",
                "--require-encrypted",
                "--traceback",
            ]);
            if !out.join("mdn/body.bin").is_file() {
                return (
                    500,
                    vec![],
                    format!("peer exit {code}: {stderr}").into_bytes(),
                );
            }
            let headers = headers_from_json(&out.join("mdn/headers.json"))
                .iter()
                .map(|(n, v)| (n.to_owned(), String::from_utf8_lossy(v).into_owned()))
                .collect();
            (
                200,
                headers,
                std::fs::read(out.join("mdn/body.bin")).unwrap(),
            )
        }
    };
    let mut endpoint = Capture::start(Arc::new(respond)).await;
    let ours = our_config(
        work.path(),
        &pki,
        &format!("http://{}/pyas2lib", endpoint.addr),
    );
    let f = finished(
        client(&[
            "--config",
            s(&ours),
            "--connector",
            "c-to-pyas2lib",
            "--file",
            s(&po_file()),
            "--data",
            s(data.path()),
        ])
        .await,
    );
    let (headers, body) = endpoint.next().await;
    assert_not_chunked(&headers, &body);

    let result = read_json(&exchange.join("out/result.json"));
    assert_eq!(result["status"], "processed", "{result}");
    assert_eq!(result["signed"], true, "{result}");
    assert_eq!(result["encrypted"], true, "{result}");
    assert_eq!(result["compressed"], true, "{result}");
    assert_eq!(result["message_id"], f.message_id.as_str(), "{result}");
    assert_eq!(result["payload_filename"], "po-4711.x12", "{result}");
    let payload = std::fs::read(po_file()).unwrap();
    assert_eq!(result["payload_sha256"], sha256_hex(&payload).as_str());
    assert_eq!(
        std::fs::read(exchange.join("out/payload.bin")).unwrap(),
        payload
    );

    // Our client verified pyas2lib's signed MDN and its MIC.
    assert_eq!(f.status, StatusCode::Completed, "{:?}", f.record);
    assert_eq!(f.record.connector_id.as_deref(), Some("c-to-pyas2lib"));
    assert_eq!(
        f.record.disposition.as_deref().map(str::to_ascii_lowercase),
        Some(PROCESSED.to_ascii_lowercase())
    );
    assert_eq!(
        f.record.mdn_message_id.as_deref(),
        result["mdn"]["message_id"].as_str()
    );
    let mdn = f.mdn_path.as_deref().expect("the MDN is kept");
    let (head, _) = read_mdn(mdn);
    assert!(
        head.to_ascii_lowercase().contains("multipart/signed"),
        "{head}"
    );
    assert_eq!(read_record(&f.record_path), f.record);
}
