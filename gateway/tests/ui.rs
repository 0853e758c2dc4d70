//! The operator's side of `as2-gateway serve`, on loopback: every message received is a
//! row of the `transfers` table, `GET /metrics` counts exactly what happened, the page
//! (`GET /`, `GET /transfers/{id}`) lists and shows transfers with everything a partner
//! chose escaped, and `api_token` guards all of it. The last test drives the page with
//! headless Chromium (ignored by default; `.ci/run` installs Chromium and runs it).

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use as2_gateway::config::GatewayConfig;
use as2_gateway::db::TransferRow;
use as2_gateway::service::Service;
use as2_proto::message::headers::HttpHeaders;
use as2_proto::message::outbound;
use as2_proto::partner::PartnerDirectory;

const TOKEN: &str = "s3cret-t0ken";
/// The file name a hostile partner sends.
const HOSTILE_NAME: &str = "<script>alert(1)</script>.x12";
/// ... and its Subject.
const HOSTILE_SUBJECT: &str = "<script>alert(2)</script>";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The sample configuration `name` with `gateway` as its `[gateway]` section, absolute
/// key paths and `edit` applied to the partner part, written into `dir`.
fn config(dir: &Path, name: &str, gateway: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(root().join("gateway/config").join(name)).unwrap();
    let examples = root().join("examples");
    let text = text.replace("\"../../examples/", &format!("\"{}/", examples.display()));
    let partners = edit(text[text.find("[[certificates]]").unwrap()..].to_owned());
    let path = dir.join(name);
    std::fs::write(&path, format!("[gateway]\n{gateway}\n\n{partners}")).unwrap();
    path
}

/// PartnerB's gateway on `port` (0: any), with `extra` in its `[gateway]` section.
fn b_config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let gateway = format!(
        "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n{extra}",
        dir.join("b-data").display()
    );
    config(dir, "partner-b.toml", &gateway, |text| text)
}

async fn start(config: &Path) -> Service {
    as2_gateway::init_logging();
    Service::start(GatewayConfig::load(config).unwrap())
        .await
        .unwrap()
}

/// PartnerA's signed, encrypted, compressed message to PartnerB (signed sync MDN) of
/// `payload` named `file_name`, with `subject`.
fn a_message(payload: &[u8], file_name: &str, subject: &str) -> (HttpHeaders, Vec<u8>) {
    let a = GatewayConfig::load(&root().join("gateway/config/partner-a.toml")).unwrap();
    let connector = a.directory.connector("c-to-partner-b").unwrap();
    let now = SystemTime::now();
    let mut message = connector.outbound(payload, now).unwrap();
    message.file_name = Some(file_name.into());
    message.subject = Some(subject.into());
    let built = outbound::build(&message, now, &mut rand::rng()).unwrap();
    (built.headers, built.body)
}

fn po() -> Vec<u8> {
    std::fs::read(root().join("examples/data/po-4711.x12")).unwrap()
}

/// POSTs an AS2 message; the HTTP status.
async fn post(url: &str, headers: &HttpHeaders, body: &[u8]) -> u16 {
    let http = as2_gateway::http_client().unwrap();
    as2_gateway::post(&http, url, headers, body.to_vec())
        .await
        .unwrap()
        .status
}

/// A GET with the token as the Bearer credential (if any).
async fn get(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// The samples of an OpenMetrics text, by name with labels as encoded.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (key, value) = l.rsplit_once(' ').unwrap();
            (key.to_owned(), value.parse().unwrap())
        })
        .collect()
}

async fn scrape(addr: &str, token: Option<&str>) -> HashMap<String, f64> {
    let response = get(&format!("http://{addr}/metrics"), token).await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    samples(&text)
}

/// How much `key` grew from `before` to `after` (an absent sample is 0).
fn grew(before: &HashMap<String, f64>, after: &HashMap<String, f64>, key: &str) -> f64 {
    after.get(key).copied().unwrap_or(0.0) - before.get(key).copied().unwrap_or(0.0)
}

fn transfers_key(partner: &str, direction: &str, status: &str) -> String {
    format!(
        r#"as2_transfers_total{{partner="{partner}",direction="{direction}",status="{status}"}}"#
    )
}

fn bytes_key(partner: &str, direction: &str) -> String {
    format!(r#"as2_transfer_bytes_total{{partner="{partner}",direction="{direction}"}}"#)
}

fn duration_count_key(direction: &str) -> String {
    format!(r#"as2_transfer_duration_seconds_count{{direction="{direction}"}}"#)
}

async fn list(addr: &str, query: &str, token: Option<&str>) -> Vec<TransferRow> {
    let response = get(&format!("http://{addr}/api/transfers{query}"), token).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The message flipped in its middle: it cannot be decrypted, and is refused.
fn tampered(body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    let middle = body.len() / 2;
    body[middle] ^= 0x55;
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_received_is_a_transfer_and_counted_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(&b_config(
        dir.path(),
        0,
        &format!("api_token = \"{TOKEN}\""),
    ))
    .await;
    let addr = b.http_addr.unwrap().to_string();
    let url = format!("http://{addr}/as2");

    // The token guards the metrics: as Bearer, or as the Basic password.
    let refused = get(&format!("http://{addr}/metrics"), None).await;
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic ")
    );
    assert_eq!(
        get(&format!("http://{addr}/metrics"), Some("wrong"))
            .await
            .status(),
        401
    );
    let basic = reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        .basic_auth("prometheus", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    let before = scrape(&addr, Some(TOKEN)).await;
    assert_eq!(before[r#"as2_queued_jobs{kind="send"}"#], 0.0);
    assert_eq!(before["as2_async_mdns_pending"], 0.0);

    // Accepted, then the same again (a duplicate), then one refused.
    let payload = po();
    let (headers, body) = a_message(&payload, "po-4711.x12", "PO 4711");
    assert_eq!(post(&url, &headers, &body).await, 200);
    assert_eq!(post(&url, &headers, &body).await, 200);
    let (bad_headers, bad_body) = a_message(&payload, "po-4711.x12", "PO 4711");
    let bad_body = tampered(&bad_body);
    assert_eq!(post(&url, &bad_headers, &bad_body).await, 200);

    let after = scrape(&addr, Some(TOKEN)).await;
    for status in ["COMPLETED", "DUPLICATE", "FAILED"] {
        let key = transfers_key("PartnerA", "inbound", status);
        assert_eq!(grew(&before, &after, &key), 1.0, "{key}");
    }
    // The payload once (a duplicate is not delivered again: 0), and the refused body as
    // received.
    let bytes = payload.len() + bad_body.len();
    assert_eq!(
        grew(&before, &after, &bytes_key("PartnerA", "inbound")),
        bytes as f64
    );
    assert_eq!(grew(&before, &after, &duration_count_key("inbound")), 3.0);
    assert_eq!(grew(&before, &after, &duration_count_key("outbound")), 0.0);

    // The rows, newest first.
    let no_token = get(&format!("http://{addr}/api/transfers"), None).await;
    assert_eq!(no_token.status(), 401, "the API wants the token too");
    let rows = list(&addr, "?partner=PartnerA", Some(TOKEN)).await;
    let statuses: Vec<&str> = rows.iter().map(|r| r.transfer.status.as_str()).collect();
    assert_eq!(statuses, ["FAILED", "DUPLICATE", "COMPLETED"]);
    let data = dir.path().join("b-data");
    for row in &rows {
        let t = &row.transfer;
        assert_eq!((t.direction.as_str(), t.attempts), ("inbound", 1));
        // A message that cannot be decrypted has no file name yet.
        let name = (t.status != "FAILED").then_some("po-4711.x12");
        assert_eq!(t.file_name.as_deref(), name, "{row:?}");
        assert!(
            data.join(t.record_path.as_ref().unwrap()).is_file(),
            "{row:?}"
        );
        assert!(data.join(t.mdn_path.as_ref().unwrap()).is_file(), "{row:?}");
        assert!(t.request.is_empty(), "the request is not in the API's JSON");
    }
    let [failed, duplicate, completed] = &rows[..] else {
        panic!("three rows")
    };
    assert_eq!(completed.outcome.size_bytes, Some(payload.len() as i64));
    assert!(
        completed
            .outcome
            .mdn_disposition
            .as_deref()
            .unwrap()
            .ends_with("; processed")
    );
    assert_eq!(completed.outcome.failure_code, None);
    assert_eq!(duplicate.outcome.size_bytes, Some(0));
    assert_eq!(duplicate.transfer.message_id, completed.transfer.message_id);
    assert_eq!(failed.outcome.size_bytes, Some(bad_body.len() as i64));
    assert!(failed.outcome.failure_code.is_some(), "{failed:?}");
    assert!(failed.transfer.failure.is_some(), "{failed:?}");
    let disposition = failed.outcome.mdn_disposition.as_deref().unwrap();
    assert!(
        disposition.ends_with("processed/Error: decryption-failed"),
        "{failed:?}"
    );
    assert_eq!(
        failed.outcome.failure_code.as_deref(),
        Some("DECRYPT_FAILED")
    );
    let only_failed = list(&addr, "?status=FAILED", Some(TOKEN)).await;
    assert_eq!(only_failed, std::slice::from_ref(failed));
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbound_transfer_records_its_size_and_mdn_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (a_port, b_port) = (free_port(), free_port());
    let b = start(&b_config(dir.path(), b_port, "")).await;
    let a_gateway = format!(
        "listen = \"127.0.0.1:{a_port}\"\ndata_dir = \"{}\"",
        dir.path().join("a-data").display()
    );
    let a_config = config(dir.path(), "partner-a.toml", &a_gateway, |text| {
        text.replace(
            "url = \"http://127.0.0.1:5080/as2\"",
            &format!("url = \"http://127.0.0.1:{b_port}/as2\""),
        )
    });
    let a = start(&a_config).await;
    let a_addr = a.http_addr.unwrap().to_string();
    let b_addr = b.http_addr.unwrap().to_string();
    let (a_before, b_before) = (scrape(&a_addr, None).await, scrape(&b_addr, None).await);

    let payload = po();
    let response = reqwest::Client::new()
        .post(format!(
            "http://{a_addr}/api/transfers?connector=c-to-partner-b&file_name=po.x12"
        ))
        .body(payload.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let queued: TransferRow = response.json().await.unwrap();
    let t = loop {
        let response = get(
            &format!("http://{a_addr}/api/transfers/{}", queued.transfer.id),
            None,
        )
        .await;
        let t: TransferRow = response.json().await.unwrap();
        if t.transfer.status == "COMPLETED" || t.transfer.status == "FAILED" {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(t.transfer.status, "COMPLETED", "{t:?}");
    assert_eq!(t.outcome.size_bytes, Some(payload.len() as i64));
    assert!(
        t.outcome
            .mdn_disposition
            .as_deref()
            .unwrap()
            .ends_with("; processed"),
        "{t:?}"
    );
    assert_eq!(t.outcome.failure_code, None);

    let (a_after, b_after) = (scrape(&a_addr, None).await, scrape(&b_addr, None).await);
    let sent = transfers_key("PartnerB", "outbound", "COMPLETED");
    assert_eq!(grew(&a_before, &a_after, &sent), 1.0);
    assert_eq!(
        grew(&a_before, &a_after, &bytes_key("PartnerB", "outbound")),
        payload.len() as f64
    );
    assert_eq!(
        grew(&a_before, &a_after, &duration_count_key("outbound")),
        1.0
    );
    assert_eq!(
        grew(&a_before, &a_after, r#"as2_retries_total{kind="send"}"#),
        0.0
    );
    let received = transfers_key("PartnerA", "inbound", "COMPLETED");
    assert_eq!(grew(&b_before, &b_after, &received), 1.0);
    assert_eq!(
        grew(&b_before, &b_after, &bytes_key("PartnerA", "inbound")),
        payload.len() as f64
    );
    // The inbound row on B carries the same Message-ID.
    let rows = list(&b_addr, "", None).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].transfer.message_id, t.transfer.message_id);
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

/// A page, read with HTTP Basic (any user, the token as the password).
async fn page(addr: &str, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .basic_auth("operator", Some(TOKEN))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
    }
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_lists_filters_and_escapes_what_partners_send() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(&b_config(
        dir.path(),
        0,
        &format!("api_token = \"{TOKEN}\""),
    ))
    .await;
    let addr = b.http_addr.unwrap().to_string();

    // AS2 messages are still taken on `/` (the page's path, for GET). Credentials the
    // gateway does not ask for are not kept either.
    let (mut headers, body) = a_message(b"ISA*00*hostile~", HOSTILE_NAME, HOSTILE_SUBJECT);
    headers.push("Authorization", "Basic dW5hc2tlZDpwYXNzd29yZA==");
    assert_eq!(post(&format!("http://{addr}/"), &headers, &body).await, 200);
    let (headers, body) = a_message(&po(), "po-4711.x12", "PO 4711");
    assert_eq!(
        post(&format!("http://{addr}/as2"), &headers, &tampered(&body)).await,
        200
    );

    // No token, no page; a browser is asked for Basic credentials.
    let refused = get(&format!("http://{addr}/"), None).await;
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=")
    );
    let (status, _) = {
        let r = reqwest::Client::new()
            .get(format!("http://{addr}/"))
            .basic_auth("operator", Some("wrong"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 401);

    let (status, html) = page(&addr, "/").await;
    assert_eq!(status, 200);
    assert!(html.contains("2 transfers"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;.x12"),
        "{html}"
    );
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("<td class=\"FAILED\">FAILED</td>"), "{html}");
    assert!(
        html.contains("<td class=\"COMPLETED\">COMPLETED</td>"),
        "{html}"
    );

    // Filtered.
    let (_, failed) = page(&addr, "/?status=FAILED&partner=").await;
    assert!(failed.contains("1 transfer "), "{failed}");
    assert!(!failed.contains("alert(1)"), "{failed}");
    let (_, none) = page(&addr, "/?partner=PartnerZ").await;
    assert!(none.contains("0 transfers"), "{none}");
    let (_, hostile_filter) = page(&addr, "/?partner=%22%3E%3Cscript%3E").await;
    assert!(!hostile_filter.contains("<script"), "{hostile_filter}");
    assert!(hostile_filter.contains("value=\"&quot;&gt;&lt;script&gt;\""));

    // The detail page: the headers as received, the record and the MDN, escaped.
    let rows: Vec<TransferRow> = reqwest::Client::new()
        .get(format!("http://{addr}/api/transfers?status=COMPLETED"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let [hostile] = &rows[..] else {
        panic!("{rows:?}")
    };
    let (status, html) = page(&addr, &format!("/transfers/{}", hostile.transfer.id)).await;
    assert_eq!(status, 200);
    assert!(!html.contains("<script"), "{html}");
    // (HTTP/1 header names arrive lower-cased.)
    assert!(
        html.to_ascii_lowercase()
            .contains("subject: &lt;script&gt;alert(2)&lt;/script&gt;"),
        "{html}"
    );
    let section = |id: &str| {
        let start = html.find(&format!("<pre id=\"{id}\">")).unwrap();
        html[start..start + html[start..].find("</pre>").unwrap()].to_owned()
    };
    let record = section("record");
    assert!(record.contains("requester-file-name"), "{record}");
    assert!(
        record.contains("&lt;script&gt;alert(1)&lt;/script&gt;.x12"),
        "{record}"
    );
    assert!(
        section("mdn").contains("automatic-action/MDN-sent-automatically; processed"),
        "{html}"
    );
    assert!(html.contains(&hostile.transfer.message_id), "{html}");
    assert!(
        !html.to_ascii_lowercase().contains("authorization"),
        "{html}"
    );
    assert!(!html.contains("dW5hc2tlZDpwYXNzd29yZA"), "{html}");
    let (status, _) = page(&addr, "/transfers/nope").await;
    assert_eq!(status, 404);
    b.shutdown(Duration::from_secs(5)).await;
}

/// Debian's `chromium` (or `chromium-browser`), or `AS2_TEST_CHROMIUM`.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("AS2_TEST_CHROMIUM") {
        return PathBuf::from(path);
    }
    for name in ["chromium", "chromium-browser"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .unwrap();
        if found.status.success() {
            return PathBuf::from(String::from_utf8(found.stdout).unwrap().trim());
        }
    }
    panic!("no chromium on PATH and AS2_TEST_CHROMIUM unset: .ci/run installs it");
}

/// The DOM headless Chromium renders for `url` (no sandbox: CI runs as root; its own
/// temporary profile).
fn dump_dom(chromium: &Path, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium: .ci/run installs it"]
async fn headless_chromium_renders_the_page() {
    let chromium = chromium();
    let dir = tempfile::tempdir().unwrap();
    let b = start(&b_config(dir.path(), 0, "")).await;
    let addr = b.http_addr.unwrap().to_string();
    let url = format!("http://{addr}/as2");
    // One accepted (with a hostile file name), one refused.
    let (headers, body) = a_message(b"ISA*00*hostile~", HOSTILE_NAME, HOSTILE_SUBJECT);
    assert_eq!(post(&url, &headers, &body).await, 200);
    let (headers, body) = a_message(&po(), "po-4711.x12", "PO 4711");
    assert_eq!(post(&url, &headers, &tampered(&body)).await, 200);

    let dom = tokio::task::spawn_blocking({
        let (chromium, addr) = (chromium.clone(), addr.clone());
        move || dump_dom(&chromium, &format!("http://{addr}/"))
    })
    .await
    .unwrap();
    assert_eq!(dom.matches("<tr class=\"transfer\"").count(), 2, "{dom}");
    assert!(dom.contains("<td class=\"FAILED\">FAILED</td>"), "{dom}");
    assert!(
        dom.contains("<td class=\"COMPLETED\">COMPLETED</td>"),
        "{dom}"
    );
    // The file name is text in the DOM (serialised escaped), never an element.
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;.x12"),
        "{dom}"
    );
    assert!(!dom.contains("<script"), "{dom}");

    let filtered = tokio::task::spawn_blocking({
        let (chromium, addr) = (chromium.clone(), addr.clone());
        move || dump_dom(&chromium, &format!("http://{addr}/?status=FAILED"))
    })
    .await
    .unwrap();
    assert_eq!(
        filtered.matches("<tr class=\"transfer\"").count(),
        1,
        "{filtered}"
    );
    assert!(
        filtered.contains("<option selected=\"\">FAILED</option>"),
        "{filtered}"
    );
    assert!(!filtered.contains("alert(1)"), "{filtered}");

    // The detail page, reached by the link the list shows.
    let link_start = dom.find("<a href=\"/transfers/").unwrap() + "<a href=\"".len();
    let link = &dom[link_start..link_start + dom[link_start..].find('"').unwrap()];
    let detail = tokio::task::spawn_blocking({
        let (chromium, addr, link) = (chromium.clone(), addr.clone(), link.to_owned());
        move || dump_dom(&chromium, &format!("http://{addr}{link}"))
    })
    .await
    .unwrap();
    assert!(detail.contains("<pre id=\"record\">"), "{detail}");
    assert!(detail.contains("<pre id=\"mdn\">"), "{detail}");
    assert!(detail.contains("<pre id=\"request\">"), "{detail}");
    assert!(!detail.contains("<script"), "{detail}");
    b.shutdown(Duration::from_secs(5)).await;
}
