//! The main job end to end, with no network and no setup: `cargo run --example exchange`.
//!
//! PartnerA sends `examples/data/po-4711.x12` to PartnerB through a connector (zlib
//! compression, SHA-256 signature, AES-256-CBC encryption, signed synchronous MDN
//! requested). PartnerB receives it through an agreement, stores the payload and answers
//! with a signed MDN; PartnerA verifies the MDN and its MIC. Both sides write payloads,
//! `.mdn` files and JSON status records in the reference layout (`processed/`, `failed/`)
//! under a temporary directory. A second transfer is tampered with on the wire and ends
//! in `failed/` on both sides with its error code. PartnerB keeps each MDN it sends in its
//! duplicate store (`DuplicateCheck::store_mdn`), so when the first message is sent again
//! (a retry after a lost response) it answers with that same MDN and delivers nothing.
//!
//! The "network" is a [`MemoryTransport`] that hands each request to PartnerB's handler in
//! the same process; `examples/server.rs` and `examples/client.rs` do the same over HTTP.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use as2_proto::cms::algorithm::DigestAlgorithm;
use as2_proto::mdn::{self, MdnSettings, Report, SentMessage};
use as2_proto::message::headers::HttpHeaders;
use as2_proto::message::inbound::{self, DuplicateCheck, StoredMdn};
use as2_proto::message::outbound;
use as2_proto::partner::{
    CertificateUsage, DateEnforcement, HttpResponse, MemoryDirectory, MemoryDuplicateStore,
    MemoryTransport, PartnerConfig, PartnerDirectory, SendFile, Storage, StorageError, Transport,
    is_safe_relative_path,
};
use as2_proto::record::{self, ReferenceErrorPolicy, StatusCode, StatusRecord};
use as2_proto::{Error, Limits};

/// A [`Storage`] on the local filesystem: write to a temporary name, then rename.
struct FsStorage {
    root: PathBuf,
}

impl Storage for FsStorage {
    fn put(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let target = self.root.join(path);
        let fail = |e: std::io::Error| StorageError::new(path, e.to_string());
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let temp = target.with_extension("part");
        std::fs::write(&temp, bytes).map_err(fail)?;
        std::fs::rename(&temp, &target).map_err(fail)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        if !is_safe_relative_path(path) {
            return Err(StorageError::new(path, "not a safe relative path"));
        }
        std::fs::read(self.root.join(path)).map_err(|e| StorageError::from_io(path, &e))
    }
}

fn load(config: &str) -> Result<MemoryDirectory, Box<dyn std::error::Error>> {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let path = examples.join("config").join(config);
    let text = std::fs::read_to_string(&path)?;
    let dir = path.parent().unwrap_or(&examples).to_path_buf();
    Ok(PartnerConfig::from_toml(&text)?.load(&mut |p| std::fs::read(dir.join(p)))?)
}

/// PartnerB's AS2 endpoint: what a server does with one POST.
struct Receiver {
    directory: MemoryDirectory,
    duplicates: Mutex<MemoryDuplicateStore>,
    storage: FsStorage,
}

impl Receiver {
    fn handle(&self, headers: &HttpHeaders, body: &[u8]) -> HttpResponse {
        let now = SystemTime::now();
        let limits = Limits::default();
        let mut rng = rand::rng();
        let incoming = match inbound::handle(headers, body, &limits) {
            Ok(incoming) => incoming,
            Err(e) => {
                return HttpResponse::new(400, HttpHeaders::new(), e.to_string().into_bytes());
            }
        };
        // The endpoint knows its own id and the peer's address (here, in memory, loopback).
        let mut record = StatusRecord::inbound(&incoming, now)
            .with_server_id("s-partner-b")
            .with_client_ip(std::net::Ipv4Addr::LOCALHOST.into());
        record.transfer_size = Some(body.len() as u64);
        let agreement = match self.directory.agreement(&incoming.from, &incoming.to) {
            Ok(a) => a,
            Err(e) => {
                println!(
                    "  B: no agreement for {} -> {}: {e}",
                    incoming.from, incoming.to
                );
                let reply = mdn::reply(
                    &incoming,
                    &Report::error(&e),
                    &MdnSettings::new(),
                    now,
                    &mut rng,
                )
                .expect("unsigned error MDN");
                return reply.response;
            }
        };
        record.agreement_id = Some(agreement.agreement().id.clone());
        let setup = agreement.inbound(now, DateEnforcement::Enforce);
        let outcome = {
            let mut duplicates = self.duplicates.lock().expect("duplicate store");
            setup.accept(&incoming, &limits, &mut *duplicates, &mut rng)
        };
        let (report, status) = match &outcome {
            Ok(received) => {
                record.set_received(received);
                (Report::received(received), StatusCode::Completed)
            }
            Err(rejected) => {
                record.set_rejected(rejected, &ReferenceErrorPolicy);
                (Report::rejected(rejected), StatusCode::Failed)
            }
        };
        let signer = setup.mdn_signer().ok();
        let mut settings = match signer {
            Some(s) => MdnSettings::signed(s),
            None => MdnSettings::new(),
        };
        let digest = incoming
            .receipt
            .as_ref()
            .map_or(DigestAlgorithm::Sha256, |r| r.options.receipt_micalg());
        settings.sign_options = setup.mdn_sign_options(digest);
        let reply = mdn::reply(&incoming, &report, &settings, now, &mut rng).expect("MDN");
        // Keep the MDN sent, so that a resend of this message is answered with it (the
        // store keeps the first MDN of a Message-ID it recorded, and ignores others).
        if let (Some(m), Some(id)) = (&reply.mdn, &incoming.message_id) {
            let mut duplicates = self.duplicates.lock().expect("duplicate store");
            duplicates.store_mdn(&incoming.from, id, StoredMdn::from(m));
        }
        if let Ok(received) = &outcome
            && received.duplicate
        {
            // Delivered and recorded the first time: nothing is stored again.
            let again = if received.previous_mdn.is_some() {
                "the MDN stored for it"
            } else {
                "a new duplicate-document MDN"
            };
            let id = incoming.message_id.as_ref().map_or("?", |m| m.as_str());
            println!(
                "  B: {} sent {id} again: answered with {again}",
                incoming.from
            );
            return reply.response;
        }

        // Files in the reference layout under the agreement's base directory.
        let message_id = incoming
            .message_id
            .as_ref()
            .map(|m| m.bare())
            .unwrap_or("unknown");
        let file_name = outcome.as_ref().ok().and_then(|r| r.file_name.as_deref());
        let paths = match status {
            // `failed/<uuid>.<message-id>`, as the reference names failed messages.
            StatusCode::Failed => {
                record::failed_inbound_paths(&record::transfer_id(&mut rng), message_id)
            }
            _ => record::inbound_paths(file_name, message_id, status),
        };
        let base = &agreement.agreement().base_directory;
        let at = |p: &record::RelativePath| format!("{base}/{p}");
        if let Ok(received) = &outcome
            && !received.duplicate
        {
            self.storage
                .put(&at(&paths.payload), &received.payload)
                .expect("store payload");
        }
        record.file_path = Some(at(&paths.payload));
        if let Some(m) = &reply.mdn {
            record.mdn_message_id = Some(m.message_id.bare().to_owned());
            record.mdn_subject = Some("Message Disposition Notification".into());
            record.disposition = Some(m.disposition.as_str().to_owned());
            let mut raw = m.headers.head_bytes();
            raw.extend_from_slice(&m.body);
            self.storage.put(&at(&paths.mdn), &raw).expect("store MDN");
        }
        self.storage
            .put(&at(&paths.record), record.to_json().as_bytes())
            .expect("store record");
        println!("  B: {} -> {}", report.disposition, at(&paths.payload));
        reply.response
    }
}

/// PartnerA sends `payload` as `file_name` through its connector; `tamper` damages the
/// body on the wire. Returns whether the transfer completed.
fn send(
    directory: &MemoryDirectory,
    transport: &dyn Transport,
    storage: &FsStorage,
    file_name: &str,
    tamper: bool,
) -> Result<bool, Error> {
    let now = SystemTime::now();
    let limits = Limits::default();
    let mut rng = rand::rng();
    let connector = directory.connector("c-to-partner-b")?;
    let transfer_id = record::transfer_id(&mut rng);
    // The file is read through the Storage: a missing one is SEND_FILE_NOT_FOUND.
    let source = format!("PartnerA/outbox/{file_name}");
    let file = match SendFile::read(storage, &source) {
        Ok(file) => file,
        Err(e) => {
            println!("A: {} {e}", e.code());
            let record = StatusRecord::outbound_failed(
                &connector,
                &transfer_id,
                &source,
                &e,
                &ReferenceErrorPolicy,
                now,
            );
            let domain = connector.local().as2_id().message_id_domain();
            let id = as2_proto::message::headers::MessageId::generate(&mut rng, &domain);
            let paths =
                record::outbound_paths(file_name, &transfer_id, id.bare(), StatusCode::Failed);
            let at = format!("PartnerA/outbox/{}", paths.record);
            storage
                .put(&at, record.to_json().as_bytes())
                .expect("store record");
            println!("A: transfer FAILED: {at}");
            return Ok(false);
        }
    };
    let payload = &file.payload;
    let mut message = connector.outbound_file(&file, now)?;
    message.content_type = "application/EDI-X12".into();
    let built = outbound::build(&message, now, &mut rng)?;
    println!(
        "A: sending {file_name} ({} bytes) as {} ({} bytes on the wire)",
        payload.len(),
        built.message_id,
        built.body.len()
    );
    let mut body = built.body.clone();
    if tamper {
        let at = body.len() / 2;
        body[at] ^= 0x55;
        println!("   (a byte of the body is flipped on the wire)");
    }
    let mut record = StatusRecord::outbound(&message, built.message_id.bare(), now);
    record.connector_id = Some(connector.connector().id.clone());
    record.transfer_id = Some(transfer_id.clone());
    record.transfer_size = Some(payload.len() as u64);
    record.file_path = Some(format!("outbox/{file_name}"));

    let response = transport.post(connector.url(), &built.headers, &body)?;
    let headers = &response.headers;
    // Bound to the partner: its AS2 ID and every signing certificate it has (old and new
    // during rotation); the profile's trust then checks the signer's window and chain.
    let trust = connector.partner_trust(now, DateEnforcement::Enforce);
    let certificates: Vec<_> = connector
        .partner()
        .certificates_for(CertificateUsage::Signing)
        .map(|c| c.certificate().clone())
        .collect();
    let sent = SentMessage::from_built(&built, certificates);
    let verdict = response
        .check_status(connector.url())
        .and_then(|()| mdn::parse(headers, &response.body, &limits))
        .and_then(|parsed| {
            record.mdn_message_id = parsed.message_id.as_ref().map(|m| m.bare().to_owned());
            record.mdn_subject = headers.get_str("Subject").map(str::to_owned);
            parsed.verify_trusted(&sent, &trust, &limits)
        });
    let status = match &verdict {
        Ok(v) => {
            println!(
                "A: MDN {} (signed: {}, MIC {})",
                v.disposition,
                v.is_authentic(),
                v.mic.as_str()
            );
            record.set_verdict(v)
        }
        Err(e) => {
            println!("A: the MDN does not verify: {e}");
            record.set_failure(e, &ReferenceErrorPolicy);
            StatusCode::Failed
        }
    };
    let completed = status == StatusCode::Completed;
    let paths = record::outbound_paths(file_name, &transfer_id, built.message_id.bare(), status);
    let at = |p: &record::RelativePath| format!("PartnerA/outbox/{p}");
    let mut raw = response.headers.head_bytes();
    raw.extend_from_slice(&response.body);
    storage.put(&at(&paths.mdn), &raw).expect("store MDN");
    storage
        .put(&at(&paths.record), record.to_json().as_bytes())
        .expect("store record");
    println!("A: transfer {}: {}", status.as_str(), at(&paths.record));
    Ok(completed)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = tempfile::Builder::new()
        .prefix("as2-exchange-")
        .tempdir()?
        .keep();
    println!(
        "as2-proto exchange: PartnerA -> PartnerB, files under {}\n",
        root.display()
    );
    let a = load("partner-a.toml")?;
    let b = load("partner-b.toml")?;
    let receiver = Arc::new(Receiver {
        directory: b,
        duplicates: Mutex::new(MemoryDuplicateStore::new(100_000)),
        storage: FsStorage { root: root.clone() },
    });
    let endpoint = Arc::clone(&receiver);
    let transport = MemoryTransport::routing(move |request| {
        Ok(endpoint.handle(&request.headers, &request.body))
    });
    let storage = FsStorage { root: root.clone() };
    let payload =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/po-4711.x12"))?;
    storage.put("PartnerA/outbox/po-4711.x12", &payload)?;
    storage.put("PartnerA/outbox/po-4712.x12", &payload)?;

    println!("1. A signed, compressed and encrypted purchase order, signed MDN requested:");
    let first = send(&a, &transport, &storage, "po-4711.x12", false)?;
    println!("\n2. The same kind of transfer, damaged in transit:");
    let second = send(&a, &transport, &storage, "po-4712.x12", true)?;
    println!("\n3. A file that is not there:");
    let third = send(&a, &transport, &storage, "po-4713.x12", false)?;
    println!("\n4. The first message sent again, as a retry after a lost response would:");
    let replayed = resend_first(&transport)?;

    println!("\nFiles written:");
    let mut files = Vec::new();
    list(&root, &root, &mut files)?;
    for f in files {
        println!("  {f}");
    }
    if !first || second || third || !replayed {
        return Err(
            "unexpected outcome: the first transfer must complete, the others fail, \
            and the resend must get the first MDN back"
                .into(),
        );
    }
    println!(
        "\nOK: the first transfer completed; the tampered and the missing one failed as they \
         should; the resend got the first MDN back."
    );
    Ok(())
}

/// Posts the first request again, byte for byte: PartnerB finds its Message-ID in its
/// duplicate store and answers with the MDN it sent the first time (`processed`, not a new
/// `processed/Warning: duplicate-document`). Returns whether it did.
fn resend_first(transport: &MemoryTransport) -> Result<bool, Box<dyn std::error::Error>> {
    let first = transport
        .requests()
        .into_iter()
        .next()
        .ok_or("no request was sent")?;
    let answer = transport.post(&first.url, &first.headers, &first.body)?;
    let again = transport.post(&first.url, &first.headers, &first.body)?;
    let parsed = mdn::parse(&answer.headers, &answer.body, &Limits::default())?;
    println!(
        "A: MDN {} for {:?}, the same bytes on every resend: {}",
        parsed.disposition,
        parsed.original_message_id.as_deref().unwrap_or("?"),
        answer.body == again.body
    );
    Ok(parsed.disposition.as_str().ends_with("; processed") && answer.body == again.body)
}

fn list(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        if path.is_dir() {
            list(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            out.push(format!("{} ({} bytes)", rel.display(), e.metadata()?.len()));
        }
    }
    Ok(())
}
