//! Messages per second for small AS2 messages with synchronous signed MDNs, for
//! `gateway/bench/measure.sh` (see the gateway README's "Measured" section).
//!
//! ```sh
//! load build --pki DIR --out DIR [--count N] [--size BYTES]
//!     N messages from PartnerA to PartnerB (random payload of BYTES, default 1024;
//!     SHA-256 RSA signature, AES-256-CBC for PartnerB, a signed synchronous MDN asked
//!     for), each as DIR/NNNNN.http: the HTTP headers, a blank line, the body (the form
//!     pyas2lib's Message.parse takes).
//! load parse --pki DIR --dir DIR [--seconds S]
//!     in-process, on one thread: PartnerB's inbound::handle + accept + signed MDN for
//!     each message of DIR, round after round for at least S seconds (default 10).
//! load post --pki DIR --url URL [--count N] [--size BYTES] [--concurrency C] [--warmup W]
//!     builds N + W fresh messages (new Message-IDs), then POSTs them to URL (a gateway
//!     serving PartnerB) over C concurrent connections; W first, untimed; then checks
//!     every MDN (signature, MIC, `processed`) after the clock has stopped.
//! ```
//!
//! Each prints one JSON line. `--pki` is `examples/pki` (PartnerA/, PartnerB/, ca/).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use as2_gateway::BoxError;
use as2_proto::cms::algorithm::DigestAlgorithm;
use as2_proto::mdn::{self, MdnSettings, Report, SentMessage};
use as2_proto::message::headers::{As2Id, HttpHeaders, HttpResponse};
use as2_proto::message::inbound::{self, InboundPolicy, NoDuplicateCheck};
use as2_proto::message::outbound::{self, BuiltMessage, MdnRequest, OutboundMessage};
use as2_proto::{Certificate, ChainTrust, Limits, PrivateKey, SignOptions, Signer};
use rand::RngExt;

const USAGE: &str = "usage: load build --pki DIR --out DIR [--count N] [--size BYTES]
       load parse --pki DIR --dir DIR [--seconds S]
       load post --pki DIR --url URL [--count N] [--size BYTES] [--concurrency C] [--warmup W]";

/// The command line: `--name value` pairs after the mode.
struct Args {
    mode: String,
    pairs: Vec<(String, String)>,
}

impl Args {
    fn parse() -> Result<Self, BoxError> {
        let mut args = std::env::args().skip(1);
        let mode = args.next().ok_or(USAGE)?;
        let mut pairs = Vec::new();
        while let Some(name) = args.next() {
            let name = name
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {name:?}\n{USAGE}"))?
                .to_owned();
            let value = args
                .next()
                .ok_or_else(|| format!("--{name} needs a value"))?;
            pairs.push((name, value));
        }
        Ok(Args { mode, pairs })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, BoxError> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required\n{USAGE}").into())
    }

    fn number(&self, name: &str, default: usize) -> Result<usize, BoxError> {
        match self.get(name) {
            Some(v) => Ok(v.parse().map_err(|_| format!("--{name}: not a number"))?),
            None => Ok(default),
        }
    }
}

/// PartnerA's and PartnerB's keys and certificates, and the CA.
struct Pki {
    a_sign: (Certificate, PrivateKey),
    b_sign: (Certificate, PrivateKey),
    b_enc: (Certificate, PrivateKey),
    ca: Certificate,
}

impl Pki {
    fn load(dir: &Path) -> Result<Self, BoxError> {
        let read = |p: &str| std::fs::read(dir.join(p)).map_err(|e| format!("{p}: {e}"));
        let pair = |name: &str| -> Result<(Certificate, PrivateKey), BoxError> {
            Ok((
                Certificate::from_pem(&read(&format!("{name}.crt"))?)?,
                PrivateKey::from_pem(&read(&format!("{name}.key"))?, None)?,
            ))
        };
        Ok(Pki {
            a_sign: pair("PartnerA/sign")?,
            b_sign: pair("PartnerB/sign")?,
            b_enc: pair("PartnerB/enc")?,
            ca: Certificate::from_pem(&read("ca/ca.crt")?)?,
        })
    }
}

/// `count` messages of `size` random octets from PartnerA to PartnerB, signed and
/// encrypted, asking for a signed synchronous MDN.
fn build_messages(pki: &Pki, count: usize, size: usize) -> Result<Vec<BuiltMessage>, BoxError> {
    let mut rng = rand::rng();
    let mut payload = vec![0u8; size];
    let mut built = Vec::with_capacity(count);
    for _ in 0..count {
        rng.fill(&mut payload[..]);
        let mut msg =
            OutboundMessage::new(As2Id::new("PartnerA")?, As2Id::new("PartnerB")?, &payload);
        msg.content_type = "application/octet-stream".into();
        msg.file_name = Some("load.bin".into());
        msg.signing = Some((
            Signer::new(&pki.a_sign.0, &pki.a_sign.1),
            SignOptions::default(),
        ));
        msg.encryption.0 = vec![&pki.b_enc.0];
        msg.mdn = MdnRequest::sync().signed(&[DigestAlgorithm::Sha256]);
        built.push(outbound::build(&msg, SystemTime::now(), &mut rng)?);
    }
    Ok(built)
}

fn build(args: &Args) -> Result<(), BoxError> {
    let pki = Pki::load(Path::new(args.required("pki")?))?;
    let out = PathBuf::from(args.required("out")?);
    let count = args.number("count", 1000)?;
    let size = args.number("size", 1024)?;
    std::fs::create_dir_all(&out)?;
    for (i, built) in build_messages(&pki, count, size)?.iter().enumerate() {
        // The header fields and the empty line, then the body.
        let mut raw = built.headers.head_bytes();
        raw.extend_from_slice(&built.body);
        std::fs::write(out.join(format!("{i:05}.http")), raw)?;
    }
    println!(
        "{}",
        serde_json::json!({ "mode": "build", "messages": count, "payload_bytes": size })
    );
    Ok(())
}

/// The CPU time this (main) thread has had, in seconds (Linux's `/proc/self/schedstat`;
/// 0 elsewhere): on a loaded machine, messages per CPU second say more than per second.
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

/// A file written by `build`: its headers and body.
fn read_message(raw: &[u8]) -> Result<(HttpHeaders, Vec<u8>), BoxError> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no blank line after the headers")?;
    let mut headers = HttpHeaders::new();
    for line in raw[..end].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or("a header without ':'")?;
        let name = std::str::from_utf8(&line[..colon])?.trim().to_owned();
        headers.push(name, line[colon + 1..].trim_ascii().to_vec());
    }
    Ok((headers, raw[end + 4..].to_vec()))
}

fn parse(args: &Args) -> Result<(), BoxError> {
    let pki = Pki::load(Path::new(args.required("pki")?))?;
    let dir = PathBuf::from(args.required("dir")?);
    let seconds = args.number("seconds", 10)?;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "http"))
        .collect();
    paths.sort();
    let messages = paths
        .iter()
        .map(|p| read_message(&std::fs::read(p)?))
        .collect::<Result<Vec<_>, _>>()?;
    if messages.is_empty() {
        return Err(format!("no .http files in {}", dir.display()).into());
    }
    // PartnerB's side, as the gateway's agreement has it: its decryption key, PartnerA's
    // signing certificate chained to the CA, and a signed MDN.
    let limits = Limits::default();
    let decryption = [pki.b_enc.clone()];
    let partner = [pki.a_sign.0.clone()];
    let anchors = [pki.ca.clone()];
    let now = SystemTime::now();
    let trust = ChainTrust::new(&anchors, now);
    let mut policy = InboundPolicy::new(&decryption, &partner, &limits).with_signer_trust(&trust);
    policy.require_encryption = true;
    let settings = MdnSettings::signed(Signer::new(&pki.b_sign.0, &pki.b_sign.1));
    let mut rng = rand::rng();
    let budget = Duration::from_secs(u64::try_from(seconds)?);
    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    let mut done = 0usize;
    let mut mdn_bytes = 0usize;
    while done == 0 || start.elapsed() < budget {
        for (headers, body) in &messages {
            let incoming = inbound::handle(headers, body, &limits)?;
            let received = incoming
                .accept(&policy, &mut NoDuplicateCheck, &mut rng)
                .map_err(|r| format!("refused: {}", r.cause()))?;
            let report = Report::received(&received);
            let built = mdn::build(&incoming, &report, &settings, SystemTime::now(), &mut rng)?;
            if built.signed.is_none() {
                return Err("the MDN is not signed".into());
            }
            mdn_bytes += built.body.len();
            done += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds() - cpu_start;
    println!(
        "{}",
        serde_json::json!({
            "mode": "parse",
            "distinct_messages": messages.len(),
            "messages": done,
            "seconds": elapsed,
            "per_second": done as f64 / elapsed,
            "cpu_seconds": cpu,
            "per_cpu_second": done as f64 / cpu,
            "mdn_bytes_mean": mdn_bytes / done,
        })
    );
    Ok(())
}

fn post(args: &Args) -> Result<(), BoxError> {
    let pki = Pki::load(Path::new(args.required("pki")?))?;
    let url = args.required("url")?.to_owned();
    let count = args.number("count", 2000)?;
    let size = args.number("size", 1024)?;
    let concurrency = args.number("concurrency", 16)?.max(1);
    let warmup = args.number("warmup", 32)?;
    let built = build_messages(&pki, warmup + count, size)?;
    let requests: Arc<Vec<(HttpHeaders, Vec<u8>)>> = Arc::new(
        built
            .iter()
            .map(|b| (b.headers.clone(), b.body.clone()))
            .collect(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (responses, elapsed, latencies) = runtime.block_on(async {
        let client = as2_gateway::http_client()?;
        // Untimed: connections opened, caches warm.
        let _ = send_all(&client, &url, &requests, 0..warmup, concurrency).await?;
        let start = Instant::now();
        let timed = send_all(
            &client,
            &url,
            &requests,
            warmup..warmup + count,
            concurrency,
        )
        .await?;
        Ok::<_, BoxError>((timed.0, start.elapsed(), timed.1))
    })?;
    // After the clock: every answer is a signed MDN for its message, `processed`, with
    // the MIC we computed.
    let limits = Limits::default();
    let mut failures = Vec::new();
    for (built, response) in built[warmup..].iter().zip(&responses) {
        let sent = SentMessage::from_built(built, vec![pki.b_sign.0.clone()]);
        let checked = mdn::parse(&response.headers, &response.body, &limits)
            .and_then(|m| m.verify(&sent, &limits));
        match checked {
            Ok(v) if v.is_success() && v.is_authentic() && response.status == 200 => {}
            Ok(v) => failures.push(format!("{}: {}", built.message_id.as_str(), v.status)),
            Err(e) => failures.push(format!("{}: {e}", built.message_id.as_str())),
        }
    }
    let mut latencies = latencies;
    latencies.sort();
    let quantile = |q: f64| -> f64 {
        let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let elapsed = elapsed.as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "mode": "post",
            "messages": count,
            "payload_bytes": size,
            "concurrency": concurrency,
            "seconds": elapsed,
            "per_second": count as f64 / elapsed,
            "latency_ms_p50": quantile(0.5),
            "latency_ms_p99": quantile(0.99),
            "signed_mdns_verified": count - failures.len(),
            "failures": failures.iter().take(5).collect::<Vec<_>>(),
        })
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} of {count} messages not acknowledged", failures.len()).into())
    }
}

/// A response and how long it took.
type Answer = (HttpResponse, Duration);

/// POSTs `requests[range]` over `concurrency` connections; the responses in order, and
/// each request's latency.
async fn send_all(
    client: &reqwest::Client,
    url: &str,
    requests: &Arc<Vec<(HttpHeaders, Vec<u8>)>>,
    range: std::ops::Range<usize>,
    concurrency: usize,
) -> Result<(Vec<HttpResponse>, Vec<Duration>), BoxError> {
    let next = Arc::new(AtomicUsize::new(range.start));
    let slots: Arc<Mutex<Vec<Option<Answer>>>> =
        Arc::new(Mutex::new((0..range.len()).map(|_| None).collect()));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, requests) = (client.clone(), url.to_owned(), requests.clone());
        let (next, slots, first, end) = (next.clone(), slots.clone(), range.start, range.end);
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return Ok::<(), BoxError>(());
                }
                let (headers, body) = &requests[i];
                let t = Instant::now();
                let response = as2_gateway::post(&client, &url, headers, body.clone())
                    .await
                    .map_err(|e| format!("POST {url}: {e}"))?;
                let latency = t.elapsed();
                if let Ok(mut slots) = slots.lock() {
                    slots[i - first] = Some((response, latency));
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let slots = std::mem::take(&mut *slots.lock().map_err(|_| "poisoned")?);
    let (responses, latencies) = slots.into_iter().flatten().unzip();
    Ok((responses, latencies))
}

fn main() -> std::process::ExitCode {
    let run = Args::parse().and_then(|args| match args.mode.as_str() {
        "build" => build(&args),
        "parse" => parse(&args),
        "post" => post(&args),
        _ => Err(USAGE.into()),
    });
    match run {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
