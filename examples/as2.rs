//! `as2`: a command-line tool for testing AS2 partners offline, with a fixed file contract
//! so any AS2 implementation can be checked against it.
//!
//! ```text
//! cargo run --example as2 -- send --pki DIR --from A --to B --payload FILE --out DIR [options]
//! cargo run --example as2 -- receive --headers FILE --body FILE --pki DIR --out DIR [options]
//! cargo run --example as2 -- verify-mdn --mdn-headers FILE --mdn-body FILE --pki DIR --partner B [options]
//! cargo run --example as2 -- inspect --headers FILE --body FILE [--pki DIR]
//! ```
//!
//! Keys live in `--pki DIR`: `DIR/ca/ca.crt` (trust anchor) and, for each party, a folder
//! named by its AS2 ID with `sign.key`/`sign.crt` and `enc.key`/`enc.crt` (PKCS#8 PEM keys,
//! PEM certificates), RSA or EC. `--sign-stem` and `--enc-stem` pick other pairs in the
//! same folders (`sign_ec`, `enc_ec` in `examples/pki`): `--sign-stem` names the signing
//! pair of whichever party signs, `--enc-stem` the encryption pair of the party that
//! receives, so both sides of an exchange pass the same values (`as2 help` lists which
//! file each command reads). Header files are JSON objects `{"Name": "value"}` (a list of
//! `[name, value]` pairs is accepted too). Exit codes: 0 accepted (for `receive`: the
//! payload delivered, so a duplicate is 1), 1 cleanly rejected (details in the JSON), 2
//! usage error; anything else is a crash. Only single safe path components are read from
//! the PKI folder, whatever AS2 IDs a message names.
//!
//! `receive` writes `result.json` with the outcome, the layers found, the content cipher
//! by its `--encrypt` name (`content_encryption`, null when not encrypted) and the
//! sender's `AS2-Product` header (`sender_product`, null when absent).
//!
//! `send --mdn async|async-signed` without `--mdn-url` asks for the MDN at
//! `http://localhost:5081/as2`. `verify-mdn --partner NAME` names the partner the message
//! was sent to: the receipt's AS2-From and signer must be that partner.
//!
//! This is an example: it reads files and the clock, which the library never does.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use as2_proto::cms::algorithm::{
    ContentEncryption, DigestAlgorithm, KeyTransport, SignatureScheme,
};
use as2_proto::cms::enveloped::EnvelopedData;
use as2_proto::cms::signed::{SignOptions, SignedData, Signer};
use as2_proto::cms::{self, ContentType};
use as2_proto::mdn::{self, Authenticity, MdnSettings, MdnStatus, MicCheck, Report, SentMessage};
use as2_proto::message::headers::{As2Id, HttpHeaders, MessageId};
use as2_proto::message::inbound::{
    self, Duplicate, DuplicateCheck, InboundPolicy, IncomingKind, Layer, SignerTrust, StoredMdn,
};
use as2_proto::message::outbound::{self, Compression, MdnRequest, OutboundMessage};
use as2_proto::mic::{Mic, MicNameStyle};
use as2_proto::partner::{DateEnforcement, verify_chain};
use as2_proto::{Attachment, Certificate, Error, Limits, PartInfo, PrivateKey};
use serde_json::{Value, json};

/// A usage error (exit code 2).
struct Usage(String);

type CliResult = Result<ExitCode, Usage>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        return usage("missing command");
    };
    let result = Args::parse(rest).and_then(|a| match command.as_str() {
        "send" => send(&a),
        "receive" => receive(&a),
        "verify-mdn" => verify_mdn(&a),
        "inspect" => inspect(&a),
        "cem-request" => cem_request(&a),
        "help" | "--help" | "-h" => {
            println!("{}", HELP);
            Ok(ExitCode::SUCCESS)
        }
        other => Err(Usage(format!("unknown command {other:?}"))),
    });
    match result {
        Ok(code) => code,
        Err(Usage(why)) => usage(&why),
    }
}

const HELP: &str = "\
usage:
  as2 send --pki DIR --from A --to B --payload FILE --out DIR
           [--sign sha1|sha256|sha384|sha512] [--sign-alg pkcs1v15|pss]
           [--encrypt aes_128_cbc|aes_192_cbc|aes_256_cbc|tripledes_192_cbc|
                      aes_128_gcm|aes_256_gcm|aes_128_ccm|aes_256_ccm]
           [--key-enc-alg pkcs1v15|oaep] [--compress none|before|after]
           [--mdn none|sync|sync-signed|async|async-signed] [--mdn-alg sha256]
           [--mdn-url URL (async; default http://localhost:5081/as2)]
           [--content-type TYPE] [--filename NAME] [--message-id LEFT]
           [--attachments FILE2[,FILE3...] (multipart/related, the payload is part 1)]
           [--sign-stem STEM] [--enc-stem STEM] [--max-payload-size BYTES (default 64 MiB)]
           [--as2-version 1.0|1.1|1.2|1.3 (default 1.2; 1.3 refuses sha1 and 3DES, exit 2)]
           [--as2-product NAME:VERSION (default as2-proto:<version>; empty sends none)]
  as2 receive --headers FILE --body FILE --pki DIR --out DIR [--require-signature]
           [--require-encryption] [--accept-bare-payload] [--verify-cert STEM|Party/STEM] [--seen-ids FILE]
           [--record-id] [--no-cert-validation] [--sign-stem STEM] [--enc-stem STEM]
           [--max-body-size BYTES (default 64 MiB; also raises the decompressed-size cap)]
  as2 verify-mdn --mdn-headers FILE --mdn-body FILE --pki DIR --partner NAME
           [--expected-mic \"<b64>, <alg>\"] [--unsigned-message] [--orig-message-id ID]
           [--require-signed] [--verify-cert STEM|NAME/STEM] [--no-cert-validation]
           [--sign-stem STEM] [--out FILE]
  as2 inspect --headers FILE --body FILE [--pki DIR] [--as PARTY]
           [--sign-stem STEM] [--enc-stem STEM]
  as2 cem-request --pki DIR --from A --to B --cert NEW.crt --usage signing,encryption
           --respond-by RFC3339 --out DIR [--response-url URL] [--request-id ID]
           (writes the CEM parts: part-1.xml, part-2.p7c and parts.json)

key files: DIR/ca/ca.crt (trust anchor) and DIR/<AS2-ID>/<STEM>.{key,crt}, RSA or EC.
--sign-stem (default sign) names the signing pair of whichever party signs, --enc-stem
(default enc) the encryption pair of the party that receives; both sides pass the same:
  send        signs with <from>/<sign-stem>.{key,crt}, encrypts to <to>/<enc-stem>.crt
  receive     decrypts with <to>/<enc-stem>.{key,crt}, verifies with <from>/<sign-stem>.crt
              (or --verify-cert), signs the MDN with <to>/<sign-stem>.{key,crt}
  verify-mdn  verifies with <partner>/<sign-stem>.crt (or --verify-cert)
  inspect     reads the files receive reads, writes nothing
An EC key (sign_ec, enc_ec in examples/pki) signs with ECDSA and is encrypted to with
ECDH (ephemeral-static, RFC 5753); --sign-alg pss and --key-enc-alg apply to RSA only.

receive --seen-ids FILE: Message-IDs already received (a duplicate is answered, not
delivered); --record-id adds a delivered message's ID to FILE and keeps its MDN in
FILE.mdn/, so that a resend is answered with that same MDN.";

fn usage(why: &str) -> ExitCode {
    eprintln!("as2: {why}\n{HELP}");
    ExitCode::from(2)
}

/// `--name value` options and `--flag` switches.
struct Args {
    values: Vec<(String, String)>,
    flags: HashSet<String>,
}

const SWITCHES: &[&str] = &[
    "require-signature",
    "accept-bare-payload",
    "require-encryption",
    "record-id",
    "no-cert-validation",
    "require-signed",
    "unsigned-message",
];

/// Where `send --mdn async|async-signed` asks for the MDN without `--mdn-url`: the AS2
/// endpoint of PartnerA's example server (`examples/config/partner-b.toml` sends to
/// PartnerA at port 5081), which also accepts asynchronous MDNs.
const DEFAULT_MDN_URL: &str = "http://localhost:5081/as2";

impl Args {
    fn parse(args: &[String]) -> Result<Args, Usage> {
        let mut values = Vec::new();
        let mut flags = HashSet::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let name = arg
                .strip_prefix("--")
                .ok_or_else(|| Usage(format!("unexpected argument {arg:?}")))?;
            if SWITCHES.contains(&name) {
                flags.insert(name.to_owned());
            } else {
                let value = it
                    .next()
                    .ok_or_else(|| Usage(format!("--{name} needs a value")))?;
                values.push((name.to_owned(), value.clone()));
            }
        }
        Ok(Args { values, flags })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, Usage> {
        self.get(name)
            .ok_or_else(|| Usage(format!("--{name} is required")))
    }

    fn path(&self, name: &str) -> Result<PathBuf, Usage> {
        self.required(name).map(PathBuf::from)
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.contains(name)
    }

    /// Rejects options the command does not know.
    fn only(&self, known: &[&str]) -> Result<(), Usage> {
        for name in self.values.iter().map(|(n, _)| n).chain(self.flags.iter()) {
            if !known.contains(&name.as_str()) {
                return Err(Usage(format!("unknown option --{name}")));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Files

fn read(path: &Path) -> Result<Vec<u8>, Usage> {
    std::fs::read(path).map_err(|e| Usage(format!("cannot read {}: {e}", path.display())))
}

fn write(path: &Path, data: &[u8]) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create output directory");
    }
    std::fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn write_json(path: &Path, value: &Value) {
    let mut text = serde_json::to_string_pretty(value).expect("JSON");
    text.push('\n');
    write(path, text.as_bytes());
}

/// Headers as a JSON object in wire order (serde_json's map would sort them).
fn headers_json(headers: &HttpHeaders) -> String {
    let members: Vec<String> = headers
        .iter()
        .map(|(n, v)| format!("  {}: {}", json!(n), json!(String::from_utf8_lossy(v))))
        .collect();
    format!("{{\n{}\n}}\n", members.join(",\n"))
}

fn read_headers(path: &Path) -> Result<HttpHeaders, Usage> {
    let text = read(path)?;
    let value: Value = serde_json::from_slice(&text)
        .map_err(|e| Usage(format!("{}: not JSON: {e}", path.display())))?;
    let pairs: Vec<(String, String)> = match value {
        Value::Object(map) => map
            .into_iter()
            .map(|(n, v)| Ok((n, header_value(v)?)))
            .collect::<Result<_, Usage>>()?,
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Array(pair) if pair.len() == 2 => {
                    let mut pair = pair.into_iter();
                    let name = pair.next().and_then(|n| n.as_str().map(str::to_owned));
                    match (name, pair.next()) {
                        (Some(n), Some(v)) => Ok((n, header_value(v)?)),
                        _ => Err(Usage("header pairs must be [name, value]".into())),
                    }
                }
                _ => Err(Usage("header pairs must be [name, value]".into())),
            })
            .collect::<Result<_, Usage>>()?,
        _ => return Err(Usage(format!("{}: expected an object", path.display()))),
    };
    Ok(pairs
        .into_iter()
        .map(|(n, v)| (n, v.into_bytes()))
        .collect())
}

fn header_value(v: Value) -> Result<String, Usage> {
    match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(Usage(format!("header value {other} is not a string"))),
    }
}

fn sha256_hex(data: &[u8]) -> String {
    DigestAlgorithm::Sha256
        .digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The PKI directory

struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(args: &Args) -> Result<Pki, Usage> {
        let dir = args.path("pki")?;
        if !dir.is_dir() {
            return Err(Usage(format!("--pki {} is not a directory", dir.display())));
        }
        Ok(Pki { dir })
    }

    /// Whether `party` has a folder (AS2 IDs are folder names; refuse path tricks).
    fn has(&self, party: &str) -> bool {
        safe_component(party) && self.dir.join(party).is_dir()
    }

    /// `DIR/<party>/<stem>.<ext>`, for names that are one safe path component only: a
    /// partner-supplied AS2 ID never reaches a file outside the PKI folder.
    fn file(&self, party: &str, stem: &str, ext: &str) -> Result<PathBuf, String> {
        if !safe_component(party) || !safe_component(stem) {
            return Err(format!("{party:?}/{stem:?} is not a PKI file name"));
        }
        Ok(self.dir.join(party).join(format!("{stem}.{ext}")))
    }

    fn cert(&self, party: &str, stem: &str) -> Result<Certificate, String> {
        let path = self.file(party, stem, "crt")?;
        let pem = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn key(&self, party: &str, stem: &str) -> Result<PrivateKey, String> {
        let path = self.file(party, stem, "key")?;
        let pem = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        PrivateKey::from_pem(&pem, None).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn anchors(&self) -> Vec<Certificate> {
        std::fs::read(self.dir.join("ca/ca.crt"))
            .ok()
            .and_then(|pem| Certificate::chain_from_pem(&pem).ok())
            .unwrap_or_default()
    }

    /// `STEM` (of `default_party`) or `Party/STEM`.
    fn named_cert(&self, spec: &str, default_party: &str) -> Result<Certificate, String> {
        match spec.split_once('/') {
            Some((party, stem)) if safe_component(party) && safe_component(stem) => {
                self.cert(party, stem)
            }
            None if safe_component(spec) => self.cert(default_party, spec),
            _ => Err(format!("bad certificate name {spec:?}")),
        }
    }
}

/// `--sign-stem` and `--enc-stem` (defaults `sign`, `enc`): the file stems of the signing
/// pair of the party that signs and of the encryption pair of the party that receives.
fn stems(args: &Args) -> (&str, &str) {
    (
        args.get("sign-stem").unwrap_or("sign"),
        args.get("enc-stem").unwrap_or("enc"),
    )
}

fn safe_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0'])
}

/// Chain and date checks of a partner's signing certificate, run by the inbound parser
/// after the signature verified.
#[derive(Debug)]
struct ChainTrust {
    anchors: Vec<Certificate>,
    now: SystemTime,
}

impl SignerTrust for ChainTrust {
    fn check(&self, signer: &Certificate) -> Result<(), Error> {
        verify_chain(
            "partner signing certificate",
            signer,
            &[],
            &self.anchors,
            self.now,
            DateEnforcement::Enforce,
        )
    }
}

/// The `--encrypt` names of the content ciphers (pyas2lib's spelling), also what
/// `receive` reports as `content_encryption`.
const CIPHERS: [(&str, ContentEncryption); 8] = [
    ("aes_128_cbc", ContentEncryption::Aes128Cbc),
    ("aes_192_cbc", ContentEncryption::Aes192Cbc),
    ("aes_256_cbc", ContentEncryption::Aes256Cbc),
    ("tripledes_192_cbc", ContentEncryption::TripleDesCbc),
    ("aes_128_gcm", ContentEncryption::Aes128Gcm),
    ("aes_256_gcm", ContentEncryption::Aes256Gcm),
    ("aes_128_ccm", ContentEncryption::Aes128Ccm),
    ("aes_256_ccm", ContentEncryption::Aes256Ccm),
];

/// The content cipher of the envelope among `layers`, by its `--encrypt` name; null when
/// the message was not encrypted.
fn content_encryption_json(layers: &[Layer]) -> Value {
    layers
        .iter()
        .find_map(|l| match l {
            Layer::Encrypted(c) => Some(
                CIPHERS
                    .iter()
                    .find(|(_, known)| known == c)
                    .map_or_else(|| json!(c.name()), |(name, _)| json!(name)),
            ),
            _ => None,
        })
        .unwrap_or(Value::Null)
}

/// The sender's AS2-Product header (draft-ietf-ediint-rfc4130bis), as text; null when
/// absent.
fn sender_product_json(headers: &HttpHeaders) -> Value {
    headers
        .get("AS2-Product")
        .map_or(Value::Null, |v| json!(String::from_utf8_lossy(v).trim()))
}

fn digest_named(name: &str) -> Result<DigestAlgorithm, Usage> {
    DigestAlgorithm::from_name(name).ok_or_else(|| Usage(format!("unknown digest {name:?}")))
}

fn mic_json(mic: Option<&Mic>) -> Value {
    mic.map_or(Value::Null, |m| {
        Value::String(m.to_field(MicNameStyle::Dashed))
    })
}

// ---------------------------------------------------------------------------------------
// send

fn send(args: &Args) -> CliResult {
    args.only(&[
        "pki",
        "from",
        "to",
        "payload",
        "out",
        "sign",
        "sign-alg",
        "encrypt",
        "key-enc-alg",
        "compress",
        "mdn",
        "mdn-alg",
        "mdn-url",
        "content-type",
        "filename",
        "message-id",
        "sign-stem",
        "enc-stem",
        "max-payload-size",
        "as2-version",
        "as2-product",
        "attachments",
    ])?;
    let pki = Pki::new(args)?;
    let from = As2Id::new(args.required("from")?).map_err(|e| Usage(format!("--from: {e}")))?;
    let to = As2Id::new(args.required("to")?).map_err(|e| Usage(format!("--to: {e}")))?;
    // The payload streams from its file into body.bin, a chunk at a time.
    let payload_path = args.path("payload")?;
    let cannot_read =
        |e: std::io::Error| Usage(format!("cannot read {}: {e}", payload_path.display()));
    let payload = std::fs::File::open(&payload_path).map_err(cannot_read)?;
    let payload_len = payload.metadata().map_err(cannot_read)?.len();
    let out = args.path("out")?;
    let (sign_stem, enc_stem) = stems(args);

    let sign_digest = args.get("sign").map(digest_named).transpose()?;
    let scheme = match args.get("sign-alg").unwrap_or("pkcs1v15") {
        "pkcs1v15" => SignatureScheme::Pkcs1v15,
        "pss" => SignatureScheme::Pss,
        other => return Err(Usage(format!("unknown --sign-alg {other:?}"))),
    };
    let cipher = match args.get("encrypt") {
        None | Some("none") => None,
        Some(name) => Some(
            CIPHERS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, c)| *c)
                .ok_or_else(|| Usage(format!("unknown --encrypt {name:?}")))?,
        ),
    };
    let key_transport = match args.get("key-enc-alg").unwrap_or("pkcs1v15") {
        "pkcs1v15" => KeyTransport::RsaPkcs1v15,
        "oaep" => KeyTransport::RsaOaep(DigestAlgorithm::Sha256),
        other => return Err(Usage(format!("unknown --key-enc-alg {other:?}"))),
    };
    let compression = match args.get("compress").unwrap_or("none") {
        "none" => Compression::None,
        "before" => Compression::BeforeSigning,
        "after" => Compression::AfterSigning,
        other => return Err(Usage(format!("unknown --compress {other:?}"))),
    };
    let mdn_alg = digest_named(args.get("mdn-alg").unwrap_or("sha256"))?;
    let mdn = match args.get("mdn").unwrap_or("none") {
        "none" => MdnRequest::None,
        "sync" => MdnRequest::sync(),
        "sync-signed" => MdnRequest::sync().signed(&[mdn_alg]),
        mode @ ("async" | "async-signed") => {
            let url = args.get("mdn-url").unwrap_or(DEFAULT_MDN_URL);
            let mdn = MdnRequest::asynchronous(url);
            if mode.ends_with("-signed") {
                mdn.signed(&[mdn_alg])
            } else {
                mdn
            }
        }
        other => return Err(Usage(format!("unknown --mdn {other:?}"))),
    };

    let load_failed = |e: String| Usage(format!("key material: {e}"));
    let sign_cert;
    let sign_key;
    let enc_cert;
    let mut msg = OutboundMessage::new(from.clone(), to.clone(), &[]);
    if let Some(max) = args.get("max-payload-size") {
        msg.max_payload_size = max.parse().map_err(|_| {
            Usage(format!(
                "--max-payload-size: not a number of bytes: {max:?}"
            ))
        })?;
    }
    if let Some(digest) = sign_digest {
        sign_cert = pki.cert(from.as_str(), sign_stem).map_err(load_failed)?;
        sign_key = pki.key(from.as_str(), sign_stem).map_err(load_failed)?;
        let mut options = SignOptions::default();
        options.digest = digest;
        options.scheme = scheme;
        msg.signing = Some((Signer::new(&sign_cert, &sign_key), options));
    }
    if let Some(cipher) = cipher {
        enc_cert = pki.cert(to.as_str(), enc_stem).map_err(load_failed)?;
        msg.encryption.0 = vec![&enc_cert];
        msg.encryption.1.cipher = cipher;
        msg.encryption.1.key_transport = key_transport;
    }
    msg.compression = compression;
    msg.mdn = mdn;
    if let Some(version) = args.get("as2-version") {
        msg.as2_version = version
            .parse()
            .map_err(|e| Usage(format!("--as2-version: {e}")))?;
    }
    match args.get("as2-product") {
        Some("") => msg.as2_product = None,
        Some(product) => {
            as2_proto::message::headers::check_as2_product(product)
                .map_err(|e| Usage(format!("--as2-product: {e}")))?;
            msg.as2_product = Some(product.to_owned());
        }
        None => {}
    }
    if let Some(ct) = args.get("content-type") {
        msg.content_type = ct.to_owned();
    }
    msg.file_name = args.get("filename").map(str::to_owned).or_else(|| {
        args.get("payload")
            .and_then(|p| Path::new(p).file_name())
            .map(|n| n.to_string_lossy().into_owned())
    });
    msg.subject = Some(format!("AS2 message from {from} to {to}"));
    // More files: parts 2, 3, ... of a multipart/related payload, streamed after it.
    let attachment_paths: Vec<PathBuf> = args
        .get("attachments")
        .map(|list| {
            list.split(',')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    for path in &attachment_paths {
        let len = std::fs::metadata(path)
            .map_err(|e| Usage(format!("cannot read {}: {e}", path.display())))?
            .len();
        let mut attachment = Attachment::streamed(content_type_of(path), Some(len));
        if let Some(name) = path.file_name() {
            attachment = attachment.with_file_name(name.to_string_lossy());
        }
        msg.attachments.push(attachment);
    }
    if let Some(left) = args.get("message-id") {
        let id = format!("<{left}@{}>", from.message_id_domain());
        msg.message_id =
            Some(MessageId::parse(id.as_bytes()).map_err(|e| Usage(format!("--message-id: {e}")))?);
    }
    let mut rng = rand::rng();
    let failed = |e: Error| match e {
        // Asking a 1.3 partner for SHA-1 or 3DES is a usage error, not a failed send.
        Error::WeakAlgorithm(_) => Err(Usage(e.to_string())),
        _ => {
            eprintln!("as2 send: {e} ({})", e.code());
            Ok(ExitCode::from(1))
        }
    };
    let mut stream = match outbound::start(&msg, Some(payload_len), SystemTime::now(), &mut rng) {
        Ok(stream) => stream,
        Err(e) => return failed(e),
    };
    let body_path = out.join("body.bin");
    let cannot_write =
        |e: std::io::Error| Usage(format!("cannot write {}: {e}", body_path.display()));
    std::fs::create_dir_all(&out).map_err(cannot_write)?;
    let mut body = std::io::BufWriter::with_capacity(
        CHUNK,
        std::fs::File::create(&body_path).map_err(cannot_write)?,
    );
    let mut chunk = vec![0u8; CHUNK];
    let mut wire = Vec::with_capacity(2 * CHUNK);
    let mut files: Vec<(PathBuf, std::fs::File)> = Vec::new();
    for path in &attachment_paths {
        let file = std::fs::File::open(path)
            .map_err(|e| Usage(format!("cannot read {}: {e}", path.display())))?;
        files.push((path.clone(), file));
    }
    let mut current = (payload_path.clone(), payload);
    let mut rest = files.into_iter();
    loop {
        let n = read_chunk(&mut current.1, &mut chunk)
            .map_err(|e| Usage(format!("cannot read {}: {e}", current.0.display())))?;
        if n == 0 {
            // The next file, if any, is the next part.
            let Some(next) = rest.next() else {
                break;
            };
            if let Err(e) = stream.next_part(&mut wire) {
                return failed(e);
            }
            current = next;
        } else if let Err(e) = stream.push(chunk.get(..n).unwrap_or_default(), &mut wire) {
            return failed(e);
        }
        body.write_all(&wire).map_err(cannot_write)?;
        wire.clear();
    }
    let sent = match stream.finish(&mut wire, &mut rng) {
        Ok(sent) => sent,
        Err(e) => return failed(e),
    };
    body.write_all(&wire).map_err(cannot_write)?;
    body.flush().map_err(cannot_write)?;
    let mut headers = sent.headers.clone();
    headers.push("Content-Length", sent.body_len.to_string());
    write(&out.join("headers.json"), headers_json(&headers).as_bytes());
    write_json(
        &out.join("meta.json"),
        &json!({
            "message_id": sent.message_id.bare(),
            "mic": mic_json(sent.mic.as_ref()),
            "to": sent.to.as_str(),
            "signed": sent.signed,
            "mdn_url": msg.mdn.async_url(),
            "parts": 1 + msg.attachments.len(),
        }),
    );
    println!(
        "sent {} ({} bytes) -> {}",
        sent.message_id.as_str(),
        sent.body_len,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------
// receive

/// Message-IDs already received (`--seen-ids FILE`, one per line without angle
/// brackets), and the MDNs sent for them in `FILE.mdn/` (`<sha256 of the id>.json` for
/// the headers, `.bin` for the body), kept by `--record-id` so that a resend is answered
/// with the same MDN (`DuplicateCheck::store_mdn`).
struct SeenIds {
    ids: HashSet<String>,
    mdn_dir: Option<PathBuf>,
}

impl SeenIds {
    /// Where the MDN for `message_id` is kept: the headers file, then the body file.
    fn mdn_files(&self, message_id: &MessageId) -> Option<(PathBuf, PathBuf)> {
        let stem = sha256_hex(message_id.bare().as_bytes());
        self.mdn_dir.as_ref().map(|dir| {
            (
                dir.join(format!("{stem}.json")),
                dir.join(format!("{stem}.bin")),
            )
        })
    }
}

impl DuplicateCheck for SeenIds {
    fn check_and_record(&mut self, _from: &As2Id, message_id: &MessageId) -> bool {
        !self.ids.insert(message_id.bare().to_owned())
    }

    fn check(&mut self, from: &As2Id, message_id: &MessageId) -> Duplicate {
        if !self.check_and_record(from, message_id) {
            return Duplicate::New;
        }
        let stored = self.mdn_files(message_id).and_then(|(headers, body)| {
            let headers = read_headers(&headers).ok()?;
            Some(StoredMdn::new(headers, std::fs::read(body).ok()?))
        });
        stored.map_or(Duplicate::Seen, Duplicate::SeenWithMdn)
    }

    fn store_mdn(&mut self, _from: &As2Id, message_id: &MessageId, mdn: StoredMdn) {
        let Some((headers, body)) = self.mdn_files(message_id) else {
            return;
        };
        // The first MDN of a Message-ID is kept.
        if headers.exists() {
            return;
        }
        write(&body, &mdn.body);
        write(&headers, headers_json(&mdn.headers).as_bytes());
    }
}

/// How much of a file is read, pushed or written at a time.
const CHUNK: usize = 64 * 1024;

/// Fills `buf` as far as the file allows; 0 at the end.
fn read_chunk(file: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A content type for a file sent as an attachment, from its extension.
fn content_type_of(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "x12" | "edi" => "application/edi-x12",
        "edifact" => "application/edifact",
        "xml" => "application/xml",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "txt" | "csv" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// One output file of the received payload: written to `NAME.part` while it is tentative,
/// renamed to `NAME` on commit, removed on abort. Its SHA-256 is computed on the way.
struct OutFile {
    part: PathBuf,
    done: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    hasher: Option<as2_proto::cms::algorithm::Hasher>,
    sha256: Option<String>,
    len: u64,
    /// For a part of a multipart payload: its content type and file name.
    info: Option<PartInfo>,
}

impl OutFile {
    fn new(out: &Path, name: &str, info: Option<PartInfo>) -> Self {
        OutFile {
            part: out.join(format!("{name}.part")),
            done: out.join(name),
            file: None,
            hasher: Some(DigestAlgorithm::Sha256.hasher()),
            sha256: None,
            len: 0,
            info,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        if let Some(h) = &mut self.hasher {
            h.update(bytes);
        }
        self.len += bytes.len() as u64;
        if self.file.is_none() {
            if let Some(dir) = self.part.parent() {
                std::fs::create_dir_all(dir)?;
            }
            self.file = Some(std::io::BufWriter::with_capacity(
                CHUNK,
                std::fs::File::create(&self.part)?,
            ));
        }
        if let Some(file) = &mut self.file {
            file.write_all(bytes)?;
        }
        Ok(())
    }

    fn commit(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        // An empty file still gets its (empty) file.
        self.write(&[])?;
        if let Some(mut file) = self.file.take() {
            file.flush()?;
            std::fs::rename(&self.part, &self.done)?;
        }
        self.sha256 = self
            .hasher
            .take()
            .map(|h| h.finish().iter().map(|b| format!("{b:02x}")).collect());
        Ok(())
    }

    fn abort(&mut self) {
        self.file = None;
        self.hasher = None;
        let _ = std::fs::remove_file(&self.part);
    }
}

/// The received payload: `payload.bin`, or for a multipart payload (RFC 6362)
/// `payload-1.bin`, `payload-2.bin`, ... in part order and `payload.bin` a copy of part 1;
/// all tentative until the verdict.
struct FileSink {
    out: PathBuf,
    single: OutFile,
    parts: Vec<OutFile>,
    error: Option<std::io::Error>,
}

impl FileSink {
    fn new(out: &Path) -> Self {
        FileSink {
            out: out.to_owned(),
            single: OutFile::new(out, "payload.bin", None),
            parts: Vec::new(),
            error: None,
        }
    }

    /// The SHA-256 of `payload.bin`, once committed.
    fn sha256(&self) -> Option<String> {
        match self.parts.first() {
            Some(first) => first.sha256.clone(),
            None => self.single.sha256.clone(),
        }
    }

    /// The parts for result.json (none for a single payload).
    fn parts_json(&self) -> Value {
        if self.parts.is_empty() {
            return Value::Null;
        }
        self.parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                json!({
                    "index": i + 1,
                    "file": format!("payload-{}.bin", i + 1),
                    "name": p.info.as_ref().and_then(|info| info.file_name.clone()),
                    "content_type": p.info.as_ref().map(|info| info.content_type.clone()),
                    "size": p.len,
                    "sha256": p.sha256,
                })
            })
            .collect()
    }
}

impl as2_proto::message::receive::PayloadSink for FileSink {
    fn write(&mut self, tentative: &[u8]) {
        let target = self.parts.last_mut().unwrap_or(&mut self.single);
        if self.error.is_none()
            && let Err(e) = target.write(tentative)
        {
            self.error = Some(e);
        }
    }

    fn begin_part(&mut self, part: &PartInfo) {
        let name = format!("payload-{}.bin", part.index + 1);
        self.parts
            .push(OutFile::new(&self.out, &name, Some(part.clone())));
    }

    fn commit(&mut self) {
        let mut result = Ok(());
        if self.parts.is_empty() {
            result = self.single.commit();
        }
        for part in &mut self.parts {
            result = result.and_then(|()| part.commit());
        }
        if let Some(first) = self.parts.first() {
            result = result.and_then(|()| std::fs::copy(&first.done, &self.single.done).map(drop));
        }
        if let Err(e) = result {
            self.error.get_or_insert(e);
        }
    }

    fn abort(&mut self) {
        self.single.abort();
        for part in &mut self.parts {
            part.abort();
        }
        self.parts.clear();
    }
}

fn receive(args: &Args) -> CliResult {
    args.only(&[
        "headers",
        "body",
        "pki",
        "out",
        "require-signature",
        "accept-bare-payload",
        "require-encryption",
        "verify-cert",
        "seen-ids",
        "record-id",
        "no-cert-validation",
        "sign-stem",
        "enc-stem",
        "max-body-size",
    ])?;
    let pki = Pki::new(args)?;
    let headers = read_headers(&args.path("headers")?)?;
    let body_path = args.path("body")?;
    let mut body = std::fs::File::open(&body_path)
        .map_err(|e| Usage(format!("cannot read {}: {e}", body_path.display())))?;
    let out = args.path("out")?;
    let (sign_stem, enc_stem) = stems(args);
    let seen_path = args.get("seen-ids").map(PathBuf::from);
    let mut seen = SeenIds {
        ids: match &seen_path {
            Some(p) if p.exists() => String::from_utf8_lossy(&read(p)?)
                .lines()
                .map(|l| l.trim().trim_matches(['<', '>']).to_owned())
                .filter(|l| !l.is_empty())
                .collect(),
            _ => HashSet::new(),
        },
        mdn_dir: seen_path.as_ref().map(|p| {
            let mut dir = p.clone().into_os_string();
            dir.push(".mdn");
            PathBuf::from(dir)
        }),
    };
    let mut limits = Limits::default();
    if let Some(max) = args.get("max-body-size") {
        let max: usize = max
            .parse()
            .map_err(|_| Usage(format!("--max-body-size: not a number of bytes: {max:?}")))?;
        // A big file may arrive compressed too: the same bound for what it inflates to.
        limits.max_body_size = max;
        limits.max_decompressed_size = limits.max_decompressed_size.max(max);
    }
    let now = SystemTime::now();
    let mut rng = rand::rng();

    // The body streams from the file; the first chunk is enough to tell a signed MDN from
    // a message (the headers alone cannot).
    let mut first = vec![0u8; CHUNK];
    let first_len = read_chunk(&mut body, &mut first)
        .map_err(|e| Usage(format!("cannot read {}: {e}", body_path.display())))?;
    first.truncate(first_len);
    let incoming = match inbound::handle(&headers, &first, &limits) {
        Ok(incoming) => incoming,
        Err(e) => {
            // No AS2 headers to answer to: a bad request, no MDN possible.
            write_json(
                &out.join("result.json"),
                &json!({
                    "status": "processed/Error",
                    "detailed_status": e.disposition().text(),
                    "disposition": format!("automatic-action/MDN-sent-automatically; {}", e.disposition()),
                    "error_code": e.code().as_str(),
                    "error": e.to_string(),
                    "message_id": Value::Null,
                    "signed": false, "encrypted": false, "compressed": false,
                    "content_encryption": Value::Null,
                    "sender_product": sender_product_json(&headers),
                    "mic": Value::Null, "payload_sha256": Value::Null, "mdn": Value::Null,
                }),
            );
            return Ok(ExitCode::from(1));
        }
    };
    if incoming.kind == IncomingKind::Mdn {
        return Err(Usage(
            "this is an MDN: use `as2 verify-mdn --mdn-headers ... --mdn-body ...`".into(),
        ));
    }
    let us = incoming.to.as_str().to_owned();
    let sender = incoming.from.as_str().to_owned();

    // Our keys (as AS2-To) and the sender's certificate; a missing party is no agreement.
    let decryption: Vec<(Certificate, PrivateKey)> = if pki.has(&us) {
        match (pki.cert(&us, enc_stem), pki.key(&us, enc_stem)) {
            (Ok(c), Ok(k)) => vec![(c, k)],
            _ => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let mdn_signer = match (
        pki.has(&us),
        pki.cert(&us, sign_stem),
        pki.key(&us, sign_stem),
    ) {
        (true, Ok(c), Ok(k)) => Some((c, k)),
        _ => None,
    };
    let partner_cert = if pki.has(&sender) {
        match args.get("verify-cert") {
            Some(spec) => Some(pki.named_cert(spec, &sender).map_err(Usage)?),
            None => pki.cert(&sender, sign_stem).ok(),
        }
    } else {
        None
    };
    let known = pki.has(&us) && pki.has(&sender);
    let partner: Vec<Certificate> = partner_cert.into_iter().collect();
    let trust = ChainTrust {
        anchors: pki.anchors(),
        now,
    };
    let mut policy = InboundPolicy::new(&decryption, &partner, &limits);
    policy.require_encryption = args.flag("require-encryption");
    policy.require_signature = args.flag("require-signature");
    policy.accept_bare_payload = args.flag("accept-bare-payload");
    // A testing tool: multipart payloads (RFC 6362) are always accepted.
    policy.accept_attachments = true;
    if !args.flag("no-cert-validation") {
        policy.signer_trust = Some(&trust);
    }
    // The payload goes to payload.bin.part as it arrives, renamed to payload.bin only
    // once the message is accepted.
    let mut sink = FileSink::new(&out);
    let outcome = if known {
        let mut receiver = incoming.receive(&policy);
        receiver.push(&first, &mut sink, &mut rng);
        let mut chunk = vec![0u8; CHUNK];
        while !receiver.is_decided() {
            let n = read_chunk(&mut body, &mut chunk)
                .map_err(|e| Usage(format!("cannot read {}: {e}", body_path.display())))?;
            if n == 0 {
                break;
            }
            receiver.push(chunk.get(..n).unwrap_or_default(), &mut sink, &mut rng);
        }
        receiver.finish(&mut sink, &mut seen, &mut rng)
    } else {
        Err(incoming.unknown_partner())
    };
    if let Some(e) = sink.error.take() {
        eprintln!("as2 receive: cannot write the payload: {e}");
        return Ok(ExitCode::from(3));
    }
    let report = match &outcome {
        Ok(received) => Report::received(received),
        Err(rejected) => Report::rejected(rejected),
    };
    let signer = mdn_signer.as_ref().map(|(c, k)| Signer::new(c, k));
    let settings = match signer {
        Some(s) => MdnSettings::signed(s),
        None => MdnSettings::new(),
    };
    let reply = match mdn::reply(&incoming, &report, &settings, now, &mut rng) {
        Ok(reply) => Some(reply),
        Err(e) => {
            eprintln!("as2 receive: cannot build the MDN: {e}");
            None
        }
    };

    let (status, detailed) = match &report.disposition.status {
        MdnStatus::Processed => ("processed", Value::Null),
        MdnStatus::Warning(w) => ("processed/Warning", json!(w.as_str())),
        MdnStatus::Error(m) => ("processed/Error", json!(m.as_str())),
        MdnStatus::Failed(m) => ("failed/Failure", json!(m.as_str())),
        _ => ("processed/Error", json!(report.disposition.as_str())),
    };
    let (layers, mic, error) = match &outcome {
        Ok(r) => (r.layers.clone(), r.mic.clone(), None),
        Err(r) => (r.layers.clone(), r.mic.clone(), Some(&r.error)),
    };
    let delivered = outcome.as_ref().ok().filter(|r| !r.duplicate);
    let payload_sha256 = sink.sha256().filter(|_| delivered.is_some());
    let parts = if delivered.is_some() {
        sink.parts_json()
    } else {
        Value::Null
    };
    let mdn_json = match reply.as_ref().and_then(|r| r.mdn.as_ref()) {
        Some(m) => {
            let mut mdn_headers = m.headers.clone();
            mdn_headers.push("Content-Length", m.body.len().to_string());
            write(
                &out.join("mdn/headers.json"),
                headers_json(&mdn_headers).as_bytes(),
            );
            write(&out.join("mdn/body.bin"), &m.body);
            json!({
                "mode": if m.async_url.is_some() { "ASYNC" } else { "SYNC" },
                "url": m.async_url,
                "signed": m.signed.is_some(),
            })
        }
        None => Value::Null,
    };
    write_json(
        &out.join("result.json"),
        &json!({
            "status": status,
            "detailed_status": detailed,
            "disposition": report.disposition.as_str(),
            "error_code": error.map(|e| e.code().as_str()),
            "error": error.map(ToString::to_string),
            "message_id": incoming.message_id.as_ref().map(|m| m.bare()),
            "signed": layers.iter().any(|l| matches!(l, Layer::Signed(_))),
            "encrypted": layers.iter().any(|l| matches!(l, Layer::Encrypted(_))),
            "compressed": layers.contains(&Layer::Compressed),
            "content_encryption": content_encryption_json(&layers),
            "sender_product": sender_product_json(&headers),
            "mic": mic_json(mic.as_ref()),
            "payload_sha256": payload_sha256,
            "parts": parts,
            "delivered": delivered.is_some(),
            "mdn": mdn_json,
        }),
    );
    if let (Some(path), Some(_), true) = (&seen_path, delivered, args.flag("record-id")) {
        // The MDN sent for it too, to answer a resend with it.
        if let (Some(id), Some(m)) = (
            &incoming.message_id,
            reply.as_ref().and_then(|r| r.mdn.as_ref()),
        ) {
            seen.store_mdn(&incoming.from, id, StoredMdn::from(m));
        }
        let id = incoming.message_id.as_ref().map(|m| m.bare()).unwrap_or("");
        let mut text = std::fs::read_to_string(path).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(id);
        text.push('\n');
        write(path, text.as_bytes());
    }
    println!("{}", report.disposition);
    // 0 only when the payload was delivered: a duplicate is answered (its MDN is written)
    // but delivers nothing.
    Ok(if report.is_accepted() && delivered.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

// ---------------------------------------------------------------------------------------
// verify-mdn

fn verify_mdn(args: &Args) -> CliResult {
    args.only(&[
        "mdn-headers",
        "mdn-body",
        "pki",
        "partner",
        "expected-mic",
        "unsigned-message",
        "orig-message-id",
        "require-signed",
        "verify-cert",
        "no-cert-validation",
        "sign-stem",
        "out",
    ])?;
    let pki = Pki::new(args)?;
    // The partner the message was sent to: the receipt must come from it (AS2-From) and be
    // signed with its certificate, never with one picked by what the MDN says about itself.
    let partner =
        As2Id::new(args.required("partner")?).map_err(|e| Usage(format!("--partner: {e}")))?;
    if !pki.has(partner.as_str()) {
        return Err(Usage(format!(
            "--partner {partner}: no folder for it in --pki"
        )));
    }
    let headers = read_headers(&args.path("mdn-headers")?)?;
    let body = read(&args.path("mdn-body")?)?;
    let expected_mic = match args.get("expected-mic") {
        Some(text) => Some(
            Mic::parse_field(text)
                .ok_or_else(|| Usage(format!("--expected-mic {text:?} is not \"<b64>, <alg>\"")))?,
        ),
        None => None,
    };
    let limits = Limits::default();
    let mut report = json!({
        "accepted": false, "disposition": Value::Null, "status": Value::Null,
        "signed": Value::Null, "signature_valid": Value::Null, "mic_match": Value::Null,
        "mic": Value::Null, "partner": partner.as_str(),
        "original_message_id": Value::Null, "error": Value::Null, "error_code": Value::Null,
    });
    let finish = |report: &Value| -> ExitCode {
        match args.get("out") {
            Some(path) => write_json(Path::new(path), report),
            None => println!("{}", serde_json::to_string_pretty(report).expect("JSON")),
        }
        if report["accepted"] == json!(true) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    };
    let fail = |report: &mut Value, e: &Error| {
        report["error"] = json!(e.to_string());
        report["error_code"] = json!(e.code().as_str());
    };
    let parsed = match mdn::parse(&headers, &body, &limits) {
        Ok(p) => p,
        Err(e) => {
            fail(&mut report, &e);
            return Ok(finish(&report));
        }
    };
    report["disposition"] = json!(parsed.disposition.as_str());
    report["signed"] = json!(parsed.is_signed());
    report["original_message_id"] = json!(parsed.original_message_id);
    // The message we sent: the one named on the command line, else the one the MDN names.
    let orig = args
        .get("orig-message-id")
        .map(str::to_owned)
        .or_else(|| parsed.original_message_id.clone())
        .unwrap_or_default();
    let orig = if orig.starts_with('<') {
        orig
    } else {
        format!("<{orig}>")
    };
    let message_id =
        MessageId::parse(orig.as_bytes()).map_err(|e| Usage(format!("--orig-message-id: {e}")))?;
    let cert = match args.get("verify-cert") {
        Some(spec) => {
            if spec
                .split_once('/')
                .is_some_and(|(party, _)| party != partner.as_str())
            {
                return Err(Usage(format!(
                    "--verify-cert {spec:?} is not a certificate of --partner {partner}"
                )));
            }
            Some(pki.named_cert(spec, partner.as_str()).map_err(Usage)?)
        }
        None => pki.cert(partner.as_str(), stems(args).0).ok(),
    };
    let certs: Vec<Certificate> = cert.into_iter().collect();
    let mut sent = SentMessage::new(message_id, partner.clone(), certs, expected_mic);
    sent.require_signed_mdn = args.flag("require-signed");
    // RFC 4130 §7.3.1: an unsigned receipt of an unsigned message may omit the MIC.
    if args.flag("unsigned-message") {
        sent.require_mic = false;
    }
    match parsed.verify(&sent, &limits) {
        Ok(verdict) => {
            let mut chain_ok = true;
            if let Authenticity::Signed(v) = &verdict.authenticity {
                report["signature_valid"] = json!(true);
                if !args.flag("no-cert-validation") {
                    let trust = ChainTrust {
                        anchors: pki.anchors(),
                        now: SystemTime::now(),
                    };
                    if let Err(e) = trust.check(&v.signer) {
                        fail(&mut report, &e);
                        report["signature_valid"] = json!(false);
                        chain_ok = false;
                    }
                }
            }
            report["status"] = json!(verdict.status.to_string());
            report["mic"] = json!(verdict.mic.as_str());
            report["mic_match"] = match &verdict.mic {
                MicCheck::Matched => json!(true),
                MicCheck::Mismatched { .. } | MicCheck::Missing => json!(false),
                _ => Value::Null,
            };
            if let Some(e) = verdict.mic_error() {
                fail(&mut report, &e);
            }
            report["accepted"] =
                json!(chain_ok && verdict.status == MdnStatus::Processed && verdict.is_success());
        }
        Err(e) => {
            if parsed.is_signed() && matches!(e, Error::Verification(_)) {
                report["signature_valid"] = json!(false);
            }
            fail(&mut report, &e);
        }
    }
    Ok(finish(&report))
}

// ---------------------------------------------------------------------------------------
// inspect

fn inspect(args: &Args) -> CliResult {
    args.only(&["headers", "body", "pki", "as", "sign-stem", "enc-stem"])?;
    let headers = read_headers(&args.path("headers")?)?;
    let body = read(&args.path("body")?)?;
    let limits = Limits::default();
    println!("HTTP headers:");
    for (name, value) in headers.iter() {
        println!("  {name}: {}", String::from_utf8_lossy(value));
    }
    let incoming = match inbound::handle(&headers, &body, &limits) {
        Ok(i) => i,
        Err(e) => {
            println!("not an AS2 request: {e} ({})", e.code());
            return Ok(ExitCode::from(1));
        }
    };
    println!(
        "{:?} from {} to {}, {} bytes, Content-Type {}",
        incoming.kind,
        incoming.from,
        incoming.to,
        body.len(),
        incoming.content_type
    );
    if let Some(r) = &incoming.receipt {
        println!(
            "MDN requested: {}{}, micalg {:?}",
            if r.is_async() { "async" } else { "sync" },
            if r.signed() { ", signed" } else { "" },
            r.options.micalg_names()
        );
    }
    if incoming.kind == IncomingKind::Mdn {
        match incoming.parse_mdn(&limits) {
            Ok(m) => {
                println!("MDN for {:?}", m.original_message_id);
                println!("  Disposition: {}", m.disposition);
                println!("  Received-Content-MIC: {:?}", m.received_mic);
                println!("  signed: {}", m.is_signed());
            }
            Err(e) => println!("unreadable MDN: {e}"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Without keys: the outer layer only.
    let ct = incoming.content_type.to_ascii_lowercase();
    if ct.contains("pkcs7-mime") {
        let der = if headers
            .get_str("Content-Transfer-Encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("base64"))
        {
            base64_body(&body).unwrap_or_default()
        } else {
            body.clone()
        };
        match cms::content_type(&der, &limits) {
            Ok(ContentType::EnvelopedData) => match EnvelopedData::parse(&der, &limits) {
                Ok(e) => println!("outer layer: EnvelopedData, {:?}", e.content_encryption()),
                Err(e) => println!("outer layer: damaged EnvelopedData: {e}"),
            },
            Ok(ContentType::SignedData) => match SignedData::parse(&der, &limits) {
                Ok(s) => println!(
                    "outer layer: SignedData, {} embedded certificate(s)",
                    s.certificates().len()
                ),
                Err(e) => println!("outer layer: damaged SignedData: {e}"),
            },
            Ok(other) => println!("outer layer: {other:?}"),
            Err(e) => println!("outer layer: unreadable CMS: {e}"),
        }
    } else if ct.starts_with("multipart/signed") {
        println!("outer layer: multipart/signed (detached signature)");
    } else {
        println!("outer layer: none (plain payload)");
    }
    // With keys: unwrap as the receiver, without writing anything.
    if let Some(dir) = args.get("pki") {
        let pki = Pki {
            dir: PathBuf::from(dir),
        };
        let us = args.get("as").unwrap_or(incoming.to.as_str()).to_owned();
        // `Pki` reads only files inside DIR, whatever AS2 IDs the request names.
        let (sign_stem, enc_stem) = stems(args);
        let decryption: Vec<(Certificate, PrivateKey)> =
            match (pki.cert(&us, enc_stem), pki.key(&us, enc_stem)) {
                (Ok(c), Ok(k)) => vec![(c, k)],
                _ => Vec::new(),
            };
        let partner: Vec<Certificate> = pki
            .cert(incoming.from.as_str(), sign_stem)
            .into_iter()
            .collect();
        // A diagnosis shows what is there: unsigned messages and bare payloads too.
        let mut policy = InboundPolicy::new(&decryption, &partner, &limits);
        policy.require_signature = false;
        policy.accept_bare_payload = true;
        let mut none = as2_proto::message::inbound::NoDuplicateCheck;
        match incoming.accept(&policy, &mut none, &mut rand::rng()) {
            Ok(r) => {
                println!("layers: {:?}", r.layers);
                if let Some(v) = &r.signature {
                    println!(
                        "signer: {:?}, {:?}, signed at {:?}",
                        v.signer, v.signature, v.signing_time
                    );
                }
                println!(
                    "payload: {} bytes, {}, file name {:?}, sha256 {}",
                    r.payload.len(),
                    r.content_type,
                    r.file_name,
                    sha256_hex(&r.payload)
                );
                println!("MIC: {:?}", r.mic.map(|m| m.to_field(MicNameStyle::Dashed)));
            }
            Err(r) => println!(
                "refused after layers {:?}: {} ({})",
                r.layers,
                r.error,
                r.error.code()
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A base64 body as MIME carries it (line breaks, optional padding), decoded with
/// `base64ct` after the whitespace is dropped; `None` if it is not base64.
fn base64_body(body: &[u8]) -> Option<Vec<u8>> {
    use base64ct::{Base64, Base64Unpadded, Encoding};
    let clean: String = body
        .iter()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|&b| char::from(b))
        .collect();
    Base64::decode_vec(&clean)
        .or_else(|_| Base64Unpadded::decode_vec(&clean))
        .ok()
}

// ---------------------------------------------------------------------------------------
// cem-request
// ---------------------------------------------------------------------------------------

/// Builds a CEM request offering `--cert` to `--to` and writes its parts (the XML, then
/// the certs-only CMS holding the certificate and `DIR/ca/ca.crt` when present) with
/// `parts.json` listing their Content-Type and Content-ID headers, for a
/// `multipart/related` message.
fn cem_request(a: &Args) -> CliResult {
    use as2_proto::cem::{
        CemRequest, CertUsage, EndEntity, RequestMessage, TradingPartnerInfo, TrustRequest,
    };
    a.only(&[
        "pki",
        "from",
        "to",
        "cert",
        "usage",
        "respond-by",
        "out",
        "response-url",
        "request-id",
    ])?;
    let pki = a.path("pki")?;
    let from = a.required("from")?;
    let to = a.required("to")?;
    let out = a.path("out")?;
    let read = |p: &Path| std::fs::read(p).map_err(|e| Usage(format!("{}: {e}", p.display())));
    let cert = Certificate::from_pem(&read(&a.path("cert")?)?)
        .map_err(|e| Usage(format!("--cert: {e}")))?;
    let mut usages = Vec::new();
    for usage in a.required("usage")?.split(',') {
        usages.push(match usage.trim() {
            "signing" => CertUsage::Signing,
            "encryption" => CertUsage::Encryption,
            "ssl" | "tls" => CertUsage::TlsServer,
            other => return Err(Usage(format!("unknown --usage {other:?}"))),
        });
    }
    let respond_by = as2_proto::record::parse_rfc3339(a.required("respond-by")?)
        .map_err(|e| Usage(format!("--respond-by: {e}")))?;
    let now = std::time::SystemTime::now();
    let request_id = a.get("request-id").map_or_else(
        || {
            format!(
                "{from}-{}",
                as2_proto::record::rfc3339(now).replace(':', "")
            )
        },
        str::to_owned,
    );
    let ca = pki.join("ca/ca.crt");
    let chain = match std::fs::read(&ca) {
        Ok(pem) => {
            vec![Certificate::from_pem(&pem).map_err(|e| Usage(format!("{}: {e}", ca.display())))?]
        }
        Err(_) => Vec::new(),
    };
    let request = CemRequest::new(
        request_id.clone(),
        TradingPartnerInfo::as2(from, now),
        vec![TrustRequest::new(
            usages,
            Some(respond_by),
            a.get("response-url").unwrap_or(DEFAULT_MDN_URL),
            EndEntity::for_certificate(&cert, format!("cem-cert-{request_id}-1")),
        )],
    );
    let message = RequestMessage::new(request, vec![(cert, chain)])
        .map_err(|e| Usage(format!("CEM request: {e}")))?;
    std::fs::create_dir_all(&out).map_err(|e| Usage(format!("{}: {e}", out.display())))?;
    let mut listed = Vec::new();
    for (i, part) in message.to_parts().iter().enumerate() {
        let ext = if i == 0 { "xml" } else { "p7c" };
        let name = format!("part-{}.{ext}", i + 1);
        std::fs::write(out.join(&name), &part.bytes).map_err(|e| Usage(format!("{name}: {e}")))?;
        listed.push(json!({
            "file": name,
            "content_type": part.content_type,
            "content_id": part.content_id_header(),
        }));
    }
    let summary = json!({ "request_id": request_id, "from": from, "to": to, "parts": listed });
    std::fs::write(
        out.join("parts.json"),
        serde_json::to_vec_pretty(&summary).unwrap_or_default(),
    )
    .map_err(|e| Usage(format!("parts.json: {e}")))?;
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}
