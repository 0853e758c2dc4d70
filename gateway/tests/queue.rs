//! Two `as2-gateway serve` instances on loopback, PartnerA's and PartnerB's (the sample
//! configurations, each with its own SQLite state), and the job queue between them:
//!
//! - a file queued through `POST /api/transfers` on A reaches B, whose asynchronous
//!   signed MDN goes through B's queue back to A, which completes the transfer;
//! - a file queued while B is down is resent (same Message-ID) on A's retry schedule,
//!   also after A restarts, and reaches B once B is up: delivered once.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use as2_gateway::config::GatewayConfig;
use as2_gateway::db::Transfer;
use as2_gateway::service::Service;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A loopback port nobody listens on (yet).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The sample configuration `name` with `gateway` as its `[gateway]` section, absolute
/// key paths, and `edit` applied to the partner part, written into `dir`.
fn config(dir: &Path, name: &str, gateway: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(root().join("gateway/config").join(name)).unwrap();
    let examples = root().join("examples");
    let text = text.replace("\"../../examples/", &format!("\"{}/", examples.display()));
    let partners = edit(text[text.find("[[certificates]]").unwrap()..].to_owned());
    let path = dir.join(name);
    std::fs::write(&path, format!("[gateway]\n{gateway}\n\n{partners}")).unwrap();
    path
}

/// A's retry policy: a resend every second (no jitter), up to 100 attempts.
const FAST_RETRIES: &str = "[gateway.retry]\nfirst_interval_seconds = 1\nbackoff_factor = 1.0\n\
     max_interval_seconds = 1\nmax_attempts = 100\n";

fn a_config(dir: &Path, a_port: u16, b_port: u16, mdn: &str) -> PathBuf {
    let data = dir.join("a-data");
    let gateway = format!(
        "listen = \"127.0.0.1:{a_port}\"\ndata_dir = \"{}\"\n\
         public_url = \"http://127.0.0.1:{a_port}/as2\"\n{FAST_RETRIES}",
        data.display()
    );
    config(dir, "partner-a.toml", &gateway, |text| {
        text.replace(
            "url = \"http://127.0.0.1:5080/as2\"",
            &format!("url = \"http://127.0.0.1:{b_port}/as2\""),
        )
        .replace(
            "mdn_response = \"SYNC\"",
            &if mdn == "ASYNC" {
                format!(
                    "mdn_response = \"ASYNC\"\n\
                     async_mdn_url = \"http://127.0.0.1:{a_port}/as2\""
                )
            } else {
                format!("mdn_response = \"{mdn}\"")
            },
        )
    })
}

fn b_config(dir: &Path, b_port: u16) -> PathBuf {
    let data = dir.join("b-data");
    let gateway = format!(
        "listen = \"127.0.0.1:{b_port}\"\ndata_dir = \"{}\"\n{FAST_RETRIES}",
        data.display()
    );
    config(dir, "partner-b.toml", &gateway, |text| text)
}

async fn start(config: &Path) -> Service {
    as2_gateway::init_logging();
    Service::start(GatewayConfig::load(config).unwrap())
        .await
        .unwrap()
}

/// Queues `payload` as `po.x12` through A's API.
async fn queue(a: &Service, payload: &[u8]) -> Transfer {
    let url = format!(
        "http://{}/api/transfers?connector=c-to-partner-b&file_name=po.x12",
        a.http_addr.unwrap()
    );
    let response = reqwest::Client::new()
        .post(url)
        .body(payload.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let transfer: Transfer = response.json().await.unwrap();
    assert_eq!(location, format!("/api/transfers/{}", transfer.id));
    assert_eq!(transfer.status, "QUEUED");
    transfer
}

async fn get(a: &Service, id: &str) -> Transfer {
    let url = format!("http://{}/api/transfers/{id}", a.http_addr.unwrap());
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Polls the transfer until `done` holds (the test harness's timeout is the limit).
async fn wait_until(a: &Service, id: &str, done: impl Fn(&Transfer) -> bool) -> Transfer {
    loop {
        let t = get(a, id).await;
        if done(&t) {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The payloads B delivered with this Message-ID in their names.
fn delivered(b_data: &Path, message_id: &str) -> Vec<Vec<u8>> {
    let dir = b_data.join("PartnerB/inbox/processed");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    names.retain(|p| {
        let name = p.file_name().unwrap().to_string_lossy();
        name.contains(message_id) && name.ends_with(".x12")
    });
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_exchange_a_file_with_an_async_mdn() {
    let dir = tempfile::tempdir().unwrap();
    let (a_port, b_port) = (free_port(), free_port());
    let b = start(&b_config(dir.path(), b_port)).await;
    let a = start(&a_config(dir.path(), a_port, b_port, "ASYNC")).await;
    let payload = std::fs::read(root().join("examples/data/po-4711.x12")).unwrap();

    let queued = queue(&a, &payload).await;
    let t = wait_until(&a, &queued.id, |t| {
        t.status == "COMPLETED" || t.status == "FAILED"
    })
    .await;
    assert_eq!(t.status, "COMPLETED", "{t:?}");
    assert_eq!(t.attempts, 1);
    assert_eq!(t.message_id, queued.message_id);
    assert_eq!(
        delivered(&dir.path().join("b-data"), &t.message_id),
        [payload]
    );
    // A's record and the signed MDN B POSTed, under A's outbox.
    let a_data = dir.path().join("a-data");
    let record = std::fs::read_to_string(a_data.join(t.record_path.unwrap())).unwrap();
    assert!(record.contains("processed"), "{record}");
    let mdn = std::fs::read(a_data.join(t.mdn_path.unwrap())).unwrap();
    assert!(String::from_utf8_lossy(&mdn).contains("multipart/signed"));
    // The uploaded copy is gone once delivered; no job is left on either side.
    let queue_dir = a_data.join(as2_gateway::QUEUE);
    assert_eq!(std::fs::read_dir(queue_dir).unwrap().count(), 0);
    // (B removes its MDN job once A has answered the POST: waited for.)
    for side in [&a, &b] {
        while side.gateway.db().unwrap().queued_jobs().await.unwrap() != 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // An unknown transfer is 404.
    let url = format!("http://{}/api/transfers/nope", a.http_addr.unwrap());
    assert_eq!(reqwest::get(url).await.unwrap().status(), 404);
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_queued_while_the_partner_is_down_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (a_port, b_port) = (free_port(), free_port());
    let a_config = a_config(dir.path(), a_port, b_port, "SYNC");
    let a = start(&a_config).await;
    let payload = b"ISA*00*retry test~".to_vec();

    // B is down: the first attempts fail and a resend is queued.
    let queued = queue(&a, &payload).await;
    let t = wait_until(&a, &queued.id, |t| t.status == "RETRYING").await;
    assert!(t.attempts >= 1);
    assert!(t.failure.is_some(), "{t:?}");
    a.shutdown(Duration::from_secs(5)).await;

    // A restarts (the queue is in its SQLite file), B comes up.
    let b = start(&b_config(dir.path(), b_port)).await;
    let a = start(&a_config).await;
    let t = wait_until(&a, &queued.id, |t| {
        t.status == "COMPLETED" || t.status == "FAILED"
    })
    .await;
    assert_eq!(t.status, "COMPLETED", "{t:?}");
    assert!(t.attempts >= 2, "{t:?}");
    // Every attempt carried the Message-ID chosen when the file was queued; B has the
    // file once.
    assert_eq!(t.message_id, queued.message_id);
    assert_eq!(
        delivered(&dir.path().join("b-data"), &t.message_id),
        [payload]
    );
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}
