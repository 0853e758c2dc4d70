//! The gateway's state on PostgreSQL, shared by several instances (`.ci/run` runs these
//! with `--ignored`). The tests start a PostgreSQL server of Debian's `postgresql`
//! package in a temporary directory, on loopback, unless `AS2_TEST_DATABASE_URL` names
//! one; it is shared while they run and stopped after the last. Each test works in a
//! database of its own:
//!
//! - the database API on PostgreSQL: duplicates, the job lease, pending MDN claims;
//! - a message to one PartnerB instance, resent to another, is a duplicate: answered
//!   with the stored MDN, delivered once;
//! - jobs claimed by concurrent workers run once each, through the database API and
//!   through two PartnerA instances sending to a PartnerB (asynchronous MDNs, so B's
//!   MDN jobs and A's pending MDNs are on PostgreSQL too);
//! - a PartnerA instance killed in the middle of a send: the other instance claims the
//!   job once its lease ends and the transfer completes, delivered once.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use as2_gateway::config::GatewayConfig;
use as2_gateway::db::{Database, Transfer, kind};
use as2_gateway::service::Service;
use as2_proto::message::headers::HttpHeaders;
use as2_proto::message::outbound;
use as2_proto::partner::PartnerDirectory;
use sqlx::Connection;

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

// ---------------------------------------------------------------------------------------
// The PostgreSQL server.

/// A PostgreSQL server for the tests: one started here (stopped when the last test using
/// it drops it) or the one `AS2_TEST_DATABASE_URL` names.
enum PgServer {
    External(String),
    Local {
        dir: tempfile::TempDir,
        bin: PathBuf,
        port: u16,
    },
}

/// Whether the server's programs run as the `postgres` user (they refuse to run as root).
fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Runs one of the server's programs (as `postgres` when we are root), failing the test
/// with its output if it fails.
fn pg_command(bin: &Path, program: &str, args: &[&str]) {
    let program = bin.join(program);
    let mut command = if as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    let out = command
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The newest `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package).
fn pg_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL: apt-get install postgresql (or set AS2_TEST_DATABASE_URL)")
}

impl PgServer {
    fn start() -> Self {
        if let Ok(url) = std::env::var("AS2_TEST_DATABASE_URL") {
            return PgServer::External(url);
        }
        let bin = pg_bin();
        let dir = tempfile::tempdir().unwrap();
        if as_root() {
            let out = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "chown: {out:?}");
        }
        let data = dir.path().join("data");
        let data = data.to_str().unwrap();
        let (path, log) = (
            dir.path().to_str().unwrap(),
            dir.path().join("log").to_str().unwrap().to_owned(),
        );
        pg_command(
            &bin,
            "initdb",
            &[
                "-D",
                data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        let port = free_port();
        let options = format!(
            "-p {port} -k {path} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c max_connections=200"
        );
        pg_command(
            &bin,
            "pg_ctl",
            &[
                "-D", data, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
            ],
        );
        PgServer::Local { dir, bin, port }
    }

    /// A URL of the server with `database` as its database.
    fn url(&self, database: &str) -> String {
        match self {
            PgServer::Local { port, .. } => {
                format!("postgres://postgres@127.0.0.1:{port}/{database}")
            }
            PgServer::External(url) => {
                let (head, query) = url.split_once('?').map_or((&url[..], ""), |(h, q)| (h, q));
                let host = head.find("://").map_or(0, |i| i + 3);
                let path = head[host..].find('/').map_or(head.len(), |i| host + i);
                let query = if query.is_empty() {
                    String::new()
                } else {
                    format!("?{query}")
                };
                format!("{}/{database}{query}", &head[..path])
            }
        }
    }

    /// The URL of the server's maintenance database.
    fn admin_url(&self) -> String {
        match self {
            PgServer::Local { .. } => self.url("postgres"),
            PgServer::External(url) => url.clone(),
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let PgServer::Local { dir, bin, .. } = self {
            let data = dir.path().join("data");
            pg_command(
                bin,
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
            );
        }
    }
}

/// The server the tests share while any of them runs.
fn server() -> Arc<PgServer> {
    static SERVER: Mutex<Weak<PgServer>> = Mutex::new(Weak::new());
    let mut shared = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(server) = shared.upgrade() {
        return server;
    }
    let server = Arc::new(PgServer::start());
    *shared = Arc::downgrade(&server);
    server
}

/// A database of its own for one test (on the shared server): its URL. The server is
/// kept while `_server` lives.
struct TestDatabase {
    url: String,
    _server: Arc<PgServer>,
}

async fn fresh_database() -> TestDatabase {
    let server = server();
    let name = format!("as2_test_{:016x}", rand::random::<u64>());
    let mut admin = sqlx::PgConnection::connect(&server.admin_url())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    TestDatabase {
        url: server.url(&name),
        _server: server,
    }
}

// ---------------------------------------------------------------------------------------
// Gateways.

/// The sample configuration `name` with `gateway` as its `[gateway]` section, absolute
/// key paths, and `edit` applied to the partner part, written into `dir` as `file`.
fn config(
    dir: &Path,
    name: &str,
    file: &str,
    gateway: &str,
    edit: impl Fn(String) -> String,
) -> PathBuf {
    let text = std::fs::read_to_string(root().join("gateway/config").join(name)).unwrap();
    let examples = root().join("examples");
    let text = text.replace("\"../../examples/", &format!("\"{}/", examples.display()));
    let partners = edit(text[text.find("[[certificates]]").unwrap()..].to_owned());
    let path = dir.join(file);
    std::fs::write(&path, format!("[gateway]\n{gateway}\n\n{partners}")).unwrap();
    path
}

/// A's retry policy: a resend every second (no jitter), up to 100 attempts; and a job
/// lease of two seconds, so that a dead instance's job is claimed again soon.
const FAST: &str = "job_lease_seconds = 2\n[gateway.retry]\nfirst_interval_seconds = 1\n\
     backoff_factor = 1.0\nmax_interval_seconds = 1\nmax_attempts = 100\n";

/// PartnerB instance `n` (its own data directory) on `database` (none: SQLite).
fn b_config(dir: &Path, n: u32, listen: &str, database: Option<&str>) -> PathBuf {
    let data = dir.join(format!("b{n}-data"));
    let database = database.map_or(String::new(), |url| format!("database = \"{url}\"\n"));
    let gateway = format!(
        "listen = \"{listen}\"\ndata_dir = \"{}\"\n{database}{FAST}",
        data.display()
    );
    config(
        dir,
        "partner-b.toml",
        &format!("b{n}.toml"),
        &gateway,
        |t| t,
    )
}

/// PartnerA instance `n` on `a_port`, sending to `b_port`; every instance shares the
/// data directory (the uploaded files; payloads are local files until they move to
/// object storage). The database is given on the command line or set afterwards.
fn a_config(dir: &Path, n: u32, a_port: u16, b_port: u16, mdn: &str) -> PathBuf {
    let data = dir.join("a-data");
    let gateway = format!(
        "listen = \"127.0.0.1:{a_port}\"\ndata_dir = \"{}\"\n\
         public_url = \"http://127.0.0.1:{a_port}/as2\"\n{FAST}",
        data.display()
    );
    config(
        dir,
        "partner-a.toml",
        &format!("a{n}.toml"),
        &gateway,
        |text| {
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
        },
    )
}

async fn start(config: &Path, database: Option<&str>) -> Service {
    as2_gateway::init_logging();
    let mut config = GatewayConfig::load(config).unwrap();
    if let Some(url) = database {
        config.settings.database = Some(url.to_owned());
    }
    Service::start(config).await.unwrap()
}

/// PartnerA's signed, encrypted, compressed message to PartnerB asking for a signed
/// synchronous MDN, built once (so that it can be resent byte for byte).
fn a_message() -> (HttpHeaders, Vec<u8>, String) {
    let a = GatewayConfig::load(&root().join("gateway/config/partner-a.toml")).unwrap();
    let connector = a.directory.connector("c-to-partner-b").unwrap();
    let payload = std::fs::read(root().join("examples/data/po-4711.x12")).unwrap();
    let now = SystemTime::now();
    let mut message = connector.outbound(&payload, now).unwrap();
    message.file_name = Some("po-4711.x12".into());
    let built = outbound::build(&message, now, &mut rand::rng()).unwrap();
    let id = built.message_id.bare().to_owned();
    (built.headers, built.body, id)
}

async fn post(url: &str, headers: &HttpHeaders, body: &[u8]) -> (u16, Vec<u8>) {
    let http = as2_gateway::http_client().unwrap();
    let response = as2_gateway::post(&http, url, headers, body.to_vec())
        .await
        .unwrap();
    (response.status, response.body)
}

/// The payloads delivered under `data` with this Message-ID in their names.
fn delivered(data: &Path, message_id: &str) -> Vec<Vec<u8>> {
    let dir = data.join("PartnerB/inbox/processed");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    names.retain(|p| {
        let name = p.file_name().unwrap().to_string_lossy();
        name.contains(message_id) && name.ends_with(".x12")
    });
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Queues `payload` as `name` through the transfers API at `addr`.
async fn queue(addr: &str, name: &str, payload: &[u8]) -> Transfer {
    let url = format!("http://{addr}/api/transfers?connector=c-to-partner-b&file_name={name}");
    let response = reqwest::Client::new()
        .post(url)
        .body(payload.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    response.json().await.unwrap()
}

/// Polls the transfer until it is COMPLETED or FAILED (the test harness's timeout is
/// the limit).
async fn wait_for_end(db: &Database, id: &str) -> Transfer {
    loop {
        let t = db.transfer(id).await.unwrap().unwrap();
        if t.status == "COMPLETED" || t.status == "FAILED" {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------
// The tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: .ci/run starts it"]
async fn a_resend_to_another_instance_is_answered_with_the_stored_mdn() {
    let database = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let b1 = start(
        &b_config(dir.path(), 1, "127.0.0.1:0", Some(&database.url)),
        None,
    )
    .await;
    let b2 = start(
        &b_config(dir.path(), 2, "127.0.0.1:0", Some(&database.url)),
        None,
    )
    .await;
    let (headers, body, message_id) = a_message();
    let payload = std::fs::read(root().join("examples/data/po-4711.x12")).unwrap();

    let (status, first) = post(
        &format!("http://{}/as2", b1.http_addr.unwrap()),
        &headers,
        &body,
    )
    .await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&first).contains("processed"));
    // The resend reaches the other instance: the duplicate history and the MDNs are
    // shared.
    let url2 = format!("http://{}/as2", b2.http_addr.unwrap());
    let (status, again) = post(&url2, &headers, &body).await;
    assert_eq!(status, 200);
    assert_eq!(again, first, "the stored MDN, byte for byte");
    assert_eq!(
        delivered(&dir.path().join("b1-data"), &message_id),
        std::slice::from_ref(&payload)
    );
    assert!(delivered(&dir.path().join("b2-data"), &message_id).is_empty());

    // Another message to the second instance is new.
    let (headers, body, other_id) = a_message();
    let (status, other) = post(&url2, &headers, &body).await;
    assert_eq!(status, 200);
    assert_ne!(other, first);
    assert_eq!(delivered(&dir.path().join("b2-data"), &other_id), [payload]);
    b1.shutdown(Duration::from_secs(5)).await;
    b2.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: .ci/run starts it"]
async fn the_database_api_on_postgres() {
    let database = fresh_database().await;
    let db = Database::connect(&database.url).await.unwrap();
    // Connecting again finds the schema up to date.
    let again = Database::connect(&database.url).await.unwrap();
    let now = SystemTime::now();
    assert!(db.record_message_id("A", "m1", now).await.unwrap());
    assert!(!again.record_message_id("A", "m1", now).await.unwrap());
    assert!(db.record_message_id("B", "m1", now).await.unwrap());

    // A job is claimed once until its lease ends, then by another worker.
    let later = now + Duration::from_secs(60);
    let lease = Duration::from_secs(10);
    let id = db.enqueue(kind::SEND, Some("t1"), "{}", now).await.unwrap();
    db.enqueue(kind::SEND, Some("t2"), "{}", later)
        .await
        .unwrap();
    let job = db.claim_job("w1", now, lease).await.unwrap().unwrap();
    assert_eq!((job.id, job.transfer_id.as_deref()), (id, Some("t1")));
    assert_eq!(again.claim_job("w2", now, lease).await.unwrap(), None);
    let stolen = again.claim_job("w2", now + lease * 2, lease).await.unwrap();
    assert_eq!(stolen.map(|j| j.id), Some(id));
    db.reschedule_job(id, later).await.unwrap();
    let both = db.claim_job("w1", later, lease).await.unwrap().unwrap();
    assert_eq!((both.id, both.attempts), (id, 1));
    db.finish_job(id).await.unwrap();
    assert_eq!(db.queued_jobs().await.unwrap(), 1);

    // A pending asynchronous MDN is claimed by one instance.
    db.put_pending_mdn("m1", "t1", "{}", now).await.unwrap();
    assert_eq!(
        again.pending_mdn("m1").await.unwrap().as_deref(),
        Some("{}")
    );
    assert!(again.claim_pending_mdn("m1").await.unwrap());
    assert!(!db.claim_pending_mdn("m1").await.unwrap());
    db.close().await;
    again.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: .ci/run starts it"]
async fn concurrent_workers_claim_each_job_once() {
    const JOBS: usize = 200;
    let database = fresh_database().await;
    // Two instances: two pools of connections.
    let one = Database::connect(&database.url).await.unwrap();
    let two = Database::connect(&database.url).await.unwrap();
    let now = SystemTime::now();
    let mut queued = Vec::new();
    for n in 0..JOBS {
        let id = one
            .enqueue(kind::SEND, Some(&format!("t{n}")), "{}", now)
            .await
            .unwrap();
        queued.push(id);
    }
    // Each pool has four workers claiming as fast as they can.
    let mut workers = Vec::new();
    for (n, db) in [&one, &two, &one, &two, &one, &two, &one, &two]
        .into_iter()
        .enumerate()
    {
        let db = db.clone();
        workers.push(tokio::spawn(async move {
            let mut ran = Vec::new();
            while let Some(job) = db
                .claim_job(
                    &format!("w{n}"),
                    SystemTime::now(),
                    Duration::from_secs(600),
                )
                .await
                .unwrap()
            {
                ran.push(job.id);
                db.finish_job(job.id).await.unwrap();
            }
            ran
        }));
    }
    let mut ran = Vec::new();
    for worker in workers {
        ran.extend(worker.await.unwrap());
    }
    ran.sort();
    assert_eq!(ran, queued, "every job run once");
    assert_eq!(one.queued_jobs().await.unwrap(), 0);
    one.close().await;
    two.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: .ci/run starts it"]
async fn two_senders_share_the_queue_and_send_each_transfer_once() {
    const FILES: usize = 8;
    let a_database = fresh_database().await;
    let b_database = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let (a1_port, a2_port, b_port) = (free_port(), free_port(), free_port());
    let b = start(
        &b_config(
            dir.path(),
            1,
            &format!("127.0.0.1:{b_port}"),
            Some(&b_database.url),
        ),
        None,
    )
    .await;
    let a1 = start(
        &a_config(dir.path(), 1, a1_port, b_port, "ASYNC"),
        Some(&a_database.url),
    )
    .await;
    let a2 = start(
        &a_config(dir.path(), 2, a2_port, b_port, "ASYNC"),
        Some(&a_database.url),
    )
    .await;

    // Queued through both APIs; whichever worker claims a job sends it.
    let mut queued = Vec::new();
    for n in 0..FILES {
        let addr = if n % 2 == 0 { &a1 } else { &a2 }.http_addr.unwrap();
        let payload = format!("ISA*00*file {n}~").into_bytes();
        let t = queue(&addr.to_string(), &format!("f{n}.x12"), &payload).await;
        queued.push((t, payload));
    }
    let db = a1.gateway.db().unwrap();
    for (t, payload) in &queued {
        let t = wait_for_end(db, &t.id).await;
        assert_eq!(t.status, "COMPLETED", "{t:?}");
        assert_eq!(t.attempts, 1, "sent once: {t:?}");
        assert_eq!(
            delivered(&dir.path().join("b1-data"), &t.message_id),
            std::slice::from_ref(payload)
        );
    }
    // B's MDN jobs are removed once A has answered them; A has no job left either.
    for side in [&a1, &b] {
        while side.gateway.db().unwrap().queued_jobs().await.unwrap() != 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    a1.shutdown(Duration::from_secs(5)).await;
    a2.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

/// A TCP relay in front of PartnerB: while it holds, it takes connections and sends
/// nothing on (the send hangs); once released, it relays to `to`.
struct Relay {
    port: u16,
    held: Arc<AtomicUsize>,
    hold: Arc<AtomicBool>,
}

impl Relay {
    async fn start(to: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = Arc::new(AtomicUsize::new(0));
        let hold = Arc::new(AtomicBool::new(true));
        let (h, flag) = (Arc::clone(&held), Arc::clone(&hold));
        tokio::spawn(async move {
            let mut parked = Vec::new();
            loop {
                let (mut inbound, _) = listener.accept().await.unwrap();
                if flag.load(Ordering::SeqCst) {
                    parked.push(inbound);
                    h.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                parked.clear();
                tokio::spawn(async move {
                    let mut outbound = tokio::net::TcpStream::connect(("127.0.0.1", to))
                        .await
                        .unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
        });
        Relay { port, held, hold }
    }
}

/// Kills the child on drop (a failing test leaves no process behind).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: .ci/run starts it"]
async fn a_job_of_a_killed_instance_is_claimed_again_after_its_lease() {
    let database = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let b = start(&b_config(dir.path(), 1, "127.0.0.1:0", None), None).await;
    let relay = Relay::start(b.http_addr.unwrap().port()).await;
    let (a1_port, a2_port) = (free_port(), free_port());

    // Instance 1 is a process of its own (`serve --database`), killed in mid-send.
    let a1_config = a_config(dir.path(), 1, a1_port, relay.port, "SYNC");
    let log = std::fs::File::create(dir.path().join("a1.log")).unwrap();
    let mut a1 = Killed(
        Command::new(env!("CARGO_BIN_EXE_as2-gateway"))
            .arg("serve")
            .arg("--config")
            .arg(&a1_config)
            .args(["--database", &database.url])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let a1_addr = format!("127.0.0.1:{a1_port}");
    while reqwest::get(format!("http://{a1_addr}/healthz"))
        .await
        .is_err()
    {
        assert!(a1.0.try_wait().unwrap().is_none(), "a1 exited: see a1.log");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let payload = b"ISA*00*killed in mid-send~".to_vec();
    let queued = queue(&a1_addr, "po.x12", &payload).await;
    // Its worker claimed the job and is sending: the relay holds the request.
    while relay.held.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let db = Database::connect(&database.url).await.unwrap();
    let mut check = sqlx::PgConnection::connect(&database.url).await.unwrap();
    let claimed: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT kind, claimed_by FROM jobs")
            .fetch_all(&mut check)
            .await
            .unwrap();
    assert!(
        matches!(&claimed[..], [(k, Some(_))] if k == kind::SEND),
        "{claimed:?}"
    );
    assert_eq!(
        db.transfer(&queued.id).await.unwrap().unwrap().status,
        "SENDING"
    );
    a1.0.kill().unwrap();
    a1.0.wait().unwrap();

    // Instance 2 takes the job once instance 1's lease has ended; B is reachable now.
    relay.hold.store(false, Ordering::SeqCst);
    let a2 = start(
        &a_config(dir.path(), 2, a2_port, relay.port, "SYNC"),
        Some(&database.url),
    )
    .await;
    let t = wait_for_end(&db, &queued.id).await;
    assert_eq!(t.status, "COMPLETED", "{t:?}");
    assert_eq!(t.attempts, 2, "the killed attempt and the one after: {t:?}");
    assert_eq!(t.message_id, queued.message_id);
    assert_eq!(
        delivered(&dir.path().join("b1-data"), &t.message_id),
        [payload]
    );
    assert_eq!(db.queued_jobs().await.unwrap(), 0);
    check.close().await.unwrap();
    db.close().await;
    a2.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[test]
fn a_database_url_keeps_its_query_with_another_database() {
    let server = PgServer::External("postgres://u:p@db.example:5433/main?sslmode=disable".into());
    assert_eq!(
        server.url("t1"),
        "postgres://u:p@db.example:5433/t1?sslmode=disable"
    );
    let server = PgServer::External("postgres://db.example".into());
    assert_eq!(server.url("t1"), "postgres://db.example/t1");
}
