//! Storage on S3: a real S3-protocol server (`s3s-fs`, objects as files under a
//! temporary directory) embedded in the test on a loopback port, and gateways whose
//! payloads, records, MDNs and uploads go to it through `object_store`'s S3 client:
//!
//! - `Storage` itself: small files with one conditional PUT, large ones in a multipart
//!   upload (staged, then copied to the first free name), never replacing a file;
//! - two gateways exchange a file with PartnerB's storage on S3: payload, record and MDN
//!   land as objects under the reference keys, byte for byte;
//! - a file uploaded to one instance whose storage is on S3 is sent by another instance
//!   (its own data directory, the same database and bucket) reading it from S3.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use as2_gateway::config::GatewaySettings;
use as2_gateway::storage::{Storage, UPLOAD_CHUNK};
use support::*;

const BUCKET: &str = "as2";
const ACCESS_KEY: &str = "AKIAS3TEST";
const SECRET_KEY: &str = "s3-test-secret";

/// An S3 server on loopback serving `root` (each bucket a directory in it).
struct S3Server {
    endpoint: String,
    root: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3Server {
    async fn start(root: &Path) -> Self {
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let fs = s3s_fs::FileSystem::new(root).unwrap();
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(tcp);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        S3Server {
            endpoint,
            root: root.to_owned(),
            task,
        }
    }

    /// `[gateway]` lines for storage under `prefix` in the bucket.
    fn settings(&self, prefix: &str) -> String {
        format!(
            "storage = \"s3://{BUCKET}/{prefix}\"\ns3_endpoint = \"{}\"\n\
             s3_region = \"us-east-1\"\ns3_access_key_id = \"{ACCESS_KEY}\"\n\
             s3_secret_access_key = \"{SECRET_KEY}\"\ns3_allow_http = true\n",
            self.endpoint
        )
    }

    /// The directory holding the objects under `key` (a prefix).
    fn dir(&self, key: &str) -> PathBuf {
        self.root.join(BUCKET).join(key)
    }
}

/// The files a data directory holds besides the state and the (empty) spool.
fn local_files(data: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![data.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if !path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("state.sqlite")
            {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_on_s3_streams_large_files_in_parts_and_never_replaces_one() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("s3")).await;
    let settings = GatewaySettings {
        data_dir: dir.path().join("data"),
        storage: Some(format!("s3://{BUCKET}/unit/")),
        s3_endpoint: Some(s3.endpoint.clone()),
        s3_region: Some("us-east-1".into()),
        s3_access_key_id: Some(ACCESS_KEY.into()),
        s3_secret_access_key: Some(SECRET_KEY.into()),
        s3_allow_http: true,
        ..GatewaySettings::default()
    };
    let storage = Storage::from_settings(&settings).unwrap();
    assert_eq!(storage.location(), format!("s3://{BUCKET}/unit"));
    let record = "in/processed/a.id.dat.json";
    assert_eq!(storage.put_new(record, b"one").await.unwrap(), record);
    assert_eq!(
        storage.put_new(record, b"two").await.unwrap(),
        "in/processed/a.id.dat.2.json"
    );
    // Over two parts, twice under one name.
    let large: Vec<u8> = (0..UPLOAD_CHUNK * 2 + 123)
        .map(|i| (i % 251) as u8)
        .collect();
    for expected in ["in/processed/p.dat", "in/processed/p.2.dat"] {
        let mut temp = storage.temp_file().unwrap();
        temp.write(&large).unwrap();
        let written = storage.persist("in/processed/p.dat", temp).await.unwrap();
        assert_eq!(written, expected);
        assert_eq!(std::fs::read(s3.dir("unit").join(expected)).unwrap(), large);
    }
    // Read back as the sender reads it: streamed, on a blocking thread.
    let (mut reader, len) = storage.open("in/processed/p.2.dat").await.unwrap();
    assert_eq!(len, large.len() as u64);
    let read = tokio::task::spawn_blocking(move || {
        let mut read = Vec::new();
        reader.read_to_end(&mut read).unwrap();
        read
    })
    .await
    .unwrap();
    assert!(read == large);
    assert_eq!(storage.get(record).await.unwrap(), b"one");
    let missing = storage.open("in/processed/none.dat").await.err().unwrap();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    storage.delete("in/processed/p.2.dat").await.unwrap();
    // No staging object is left, and nothing stays in the local spool.
    let mut names: Vec<String> = files(&s3.dir("unit/in/processed"))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names.retain(|n| !n.starts_with('.'));
    assert_eq!(names, ["a.id.dat.2.json", "a.id.dat.json", "p.dat"]);
    assert!(local_files(&settings.data_dir).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_b_on_s3_keeps_payload_record_and_mdn_as_objects() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("s3")).await;
    let (a_port, b_port) = (free_port(), free_port());
    let (a_data, b_data) = (dir.path().join("a-data"), dir.path().join("b-data"));
    let b = start(&b_config(
        dir.path(),
        &b_data,
        b_port,
        &s3.settings("partner-b"),
    ))
    .await;
    let a = start(&a_config(dir.path(), &a_data, a_port, b_port, "")).await;
    let payload = std::fs::read(root().join("examples/data/po-4711.x12")).unwrap();

    let queued = queue(&a, &payload).await;
    let t = wait_until(&a, &queued.id, ended).await;
    assert_eq!(t.status, "COMPLETED", "{t:?}");
    // B's payload, record and the MDN it answered, under the reference keys in the
    // bucket; nothing of them in B's data directory.
    let processed = s3.dir("partner-b/PartnerB/inbox/processed");
    let kept = files_with(&processed, &t.message_id);
    let names: Vec<&str> = kept.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            format!("po.{}.x12", t.message_id),
            format!("po.{}.x12.json", t.message_id),
            format!("po.{}.x12.mdn", t.message_id),
        ],
        "{names:?}"
    );
    assert_eq!(kept[0].1, payload);
    let record = String::from_utf8(kept[1].1.clone()).unwrap();
    assert!(record.contains("processed"), "{record}");
    assert!(record.contains(&t.message_id), "{record}");
    // The MDN B stored is the one A received and kept, byte for byte.
    let a_mdn = std::fs::read(a_data.join(t.mdn_path.unwrap())).unwrap();
    let b_mdn = &kept[2].1;
    let body = |mdn: &[u8]| {
        let at = mdn.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        mdn[at..].to_vec()
    };
    assert!(body(&a_mdn) == body(b_mdn));
    assert!(
        local_files(&b_data).is_empty(),
        "{:?}",
        local_files(&b_data)
    );
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_on_s3_is_sent_by_another_instance_reading_it_from_s3() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("s3")).await;
    let (a_port, b_port) = (free_port(), free_port());
    let (a1_data, a2_data) = (dir.path().join("a1-data"), dir.path().join("a2-data"));
    let b_data = dir.path().join("b-data");
    let on_s3 = s3.settings("partner-a");
    let a1 = start(&a_config(dir.path(), &a1_data, a_port, b_port, &on_s3)).await;
    let payload: Vec<u8> = b"ISA*00*s3 upload~".repeat(5000);

    // B is down: instance 1 takes the upload and its first attempts fail.
    let queued = queue(&a1, &payload).await;
    wait_until(&a1, &queued.id, |t| t.status == "RETRYING").await;
    let queue_dir = s3.dir(&format!("partner-a/{}", as2_gateway::QUEUE));
    let uploads = files(&queue_dir);
    assert_eq!(uploads.len(), 1);
    assert!(uploads[0].0.ends_with(".po.x12"), "{}", uploads[0].0);
    assert!(uploads[0].1 == payload);
    assert!(
        local_files(&a1_data).is_empty(),
        "{:?}",
        local_files(&a1_data)
    );
    a1.shutdown(Duration::from_secs(5)).await;

    // Instance 2: its own data directory (the database copied in, as a shared one would
    // be seen), the same bucket. It resends the file it never had locally.
    std::fs::create_dir_all(&a2_data).unwrap();
    for entry in std::fs::read_dir(&a1_data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, a2_data.join(path.file_name().unwrap())).unwrap();
        }
    }
    let b = start(&b_config(dir.path(), &b_data, b_port, "")).await;
    let a2 = start(&a_config(dir.path(), &a2_data, a_port, b_port, &on_s3)).await;
    let t = wait_until(&a2, &queued.id, ended).await;
    assert_eq!(t.status, "COMPLETED", "{t:?}");
    assert_eq!(t.message_id, queued.message_id);
    let delivered = files_with(&b_data.join("PartnerB/inbox/processed"), &t.message_id);
    assert!(delivered[0].1 == payload, "{}", delivered[0].0);
    // A's record and MDN are objects; the upload is gone once delivered.
    let record_key = t.record_path.unwrap();
    let record = std::fs::read_to_string(s3.dir("partner-a").join(&record_key)).unwrap();
    assert!(record_key.starts_with("outbox/processed/"), "{record_key}");
    assert!(record.contains("processed"), "{record}");
    let mdn = std::fs::read(s3.dir("partner-a").join(t.mdn_path.unwrap())).unwrap();
    assert!(String::from_utf8_lossy(&mdn).contains("multipart/signed"));
    assert!(files(&queue_dir).is_empty());
    assert!(
        local_files(&a2_data).is_empty(),
        "{:?}",
        local_files(&a2_data)
    );
    a2.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}
