//! What `tests/outbox.rs` and `tests/s3.rs` share: the sample configurations of PartnerA
//! and PartnerB on loopback ports, started as `serve` starts them, and the transfers API.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use as2_gateway::config::GatewayConfig;
use as2_gateway::db::Transfer;
use as2_gateway::service::Service;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A loopback port nobody listens on (yet).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The sample configuration `name` with `gateway` as its `[gateway]` section, absolute
/// key paths, and `edit` applied to the partner part, written into `dir`.
pub fn config(dir: &Path, name: &str, gateway: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(root().join("gateway/config").join(name)).unwrap();
    let examples = root().join("examples");
    let text = text.replace("\"../../examples/", &format!("\"{}/", examples.display()));
    let partners = edit(text[text.find("[[certificates]]").unwrap()..].to_owned());
    let path = dir.join(name);
    std::fs::write(&path, format!("[gateway]\n{gateway}\n\n{partners}")).unwrap();
    path
}

/// A resend every second (no jitter), up to 100 attempts.
pub const FAST_RETRIES: &str = "[gateway.retry]\nfirst_interval_seconds = 1\nbackoff_factor = 1.0\n\
     max_interval_seconds = 1\nmax_attempts = 100\n";

/// PartnerA's configuration (sync MDNs) sending to B's port, with `extra` in
/// `[gateway]` (before the retry table) and its data in `data`.
pub fn a_config(dir: &Path, data: &Path, a_port: u16, b_port: u16, extra: &str) -> PathBuf {
    let gateway = format!(
        "listen = \"127.0.0.1:{a_port}\"\ndata_dir = \"{}\"\n{extra}\n{FAST_RETRIES}",
        data.display()
    );
    config(dir, "partner-a.toml", &gateway, |text| {
        text.replace(
            "url = \"http://127.0.0.1:5080/as2\"",
            &format!("url = \"http://127.0.0.1:{b_port}/as2\""),
        )
    })
}

/// PartnerB's configuration, with `extra` in `[gateway]` and its data in `data`.
pub fn b_config(dir: &Path, data: &Path, b_port: u16, extra: &str) -> PathBuf {
    let gateway = format!(
        "listen = \"127.0.0.1:{b_port}\"\ndata_dir = \"{}\"\n{extra}\n{FAST_RETRIES}",
        data.display()
    );
    config(dir, "partner-b.toml", &gateway, |text| text)
}

pub async fn start(config: &Path) -> Service {
    as2_gateway::init_logging();
    Service::start(GatewayConfig::load(config).unwrap())
        .await
        .unwrap()
}

/// Queues `payload` as `po.x12` through the API.
pub async fn queue(a: &Service, payload: &[u8]) -> Transfer {
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
    response.json().await.unwrap()
}

pub async fn get(a: &Service, id: &str) -> Transfer {
    let url = format!("http://{}/api/transfers/{id}", a.http_addr.unwrap());
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Polls the transfer until `done` holds (the test harness's timeout is the limit).
pub async fn wait_until(a: &Service, id: &str, done: impl Fn(&Transfer) -> bool) -> Transfer {
    loop {
        let t = get(a, id).await;
        if done(&t) {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn ended(t: &Transfer) -> bool {
    t.status == "COMPLETED" || t.status == "FAILED"
}

/// The files in `dir` (none if it does not exist), by name.
pub fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .map(|p| {
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    (name, std::fs::read(&p).unwrap())
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The files in `dir` whose names contain `part`.
pub fn files_with(dir: &Path, part: &str) -> Vec<(String, Vec<u8>)> {
    let mut found = files(dir);
    found.retain(|(name, _)| name.contains(part));
    found
}
