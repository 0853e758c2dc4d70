//! Peak heap of the streaming pipeline while it builds and parses a generated payload of
//! 10 MiB, 100 MiB and 1 GiB (issue 14's target: at most 2 MiB, flat across the sizes),
//! for SHA-256 + AES-256-CBC, with and without compression.
//!
//! ```sh
//! nice -n 10 cargo bench --bench memory                 # all sizes
//! nice -n 10 cargo bench --bench memory -- 10MiB        # one size (or a profile name)
//! ```
//!
//! A counting global allocator (`peak_alloc`) records the largest number of heap bytes
//! live at once, measured from just before the message starts: the payload is generated
//! 64 KiB at a time and never held, so the figures are the library's own working memory
//! plus one chunk of input and output. `build` discards the wire bytes (counting them);
//! `build + parse` pipes each wire chunk straight into the receiver, whose payload sink
//! only digests what it gets, so both halves run at once and the figure covers both.

use std::time::{Duration, SystemTime};

use as2_proto::cms::algorithm::DigestAlgorithm;
use as2_proto::cms::signed::{SignOptions, Signer};
use as2_proto::message::headers::{As2Id, HttpHeaders};
use as2_proto::message::inbound::{self, InboundPolicy, NoDuplicateCheck};
use as2_proto::message::outbound::{self, Compression, MdnRequest, OutboundMessage};
use as2_proto::message::receive::PayloadSink;
use as2_proto::{Certificate, Limits, PrivateKey};
use peak_alloc::PeakAlloc;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

#[path = "edi.rs"]
mod edi;

const MIB: usize = 1024 * 1024;
const CHUNK: usize = 64 * 1024;

fn load(crt: &[u8], key: &[u8]) -> (Certificate, PrivateKey) {
    (
        Certificate::from_pem(crt).unwrap(),
        PrivateKey::from_pem(key, None).unwrap(),
    )
}

/// Digests the payload and keeps nothing.
struct Digesting(Option<as2_proto::cms::algorithm::Hasher>, usize);

impl PayloadSink for Digesting {
    fn write(&mut self, tentative: &[u8]) {
        self.1 += tentative.len();
        if let Some(h) = &mut self.0 {
            h.update(tentative);
        }
    }
    fn commit(&mut self) {}
    fn abort(&mut self) {
        self.0 = None;
    }
}

/// The payload, `len` bytes of X12 text cut from a 1 MiB pattern, one chunk at a time.
fn chunks(pattern: &[u8], len: usize) -> impl Iterator<Item = &[u8]> {
    let mut sent = 0;
    std::iter::from_fn(move || {
        if sent >= len {
            return None;
        }
        let at = sent % pattern.len();
        let n = CHUNK.min(len - sent).min(pattern.len() - at);
        sent += n;
        Some(&pattern[at..at + n])
    })
}

fn main() {
    // `cargo bench` passes `--bench`; a filter, if any, selects sizes or profiles by name.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let (a_sign, a_key) = load(
        include_bytes!("../examples/pki/PartnerA/sign.crt"),
        include_bytes!("../examples/pki/PartnerA/sign.key"),
    );
    let (b_enc, b_key) = load(
        include_bytes!("../examples/pki/PartnerB/enc.crt"),
        include_bytes!("../examples/pki/PartnerB/enc.key"),
    );
    let mut limits = Limits::default();
    limits.max_body_size = usize::MAX;
    limits.max_decompressed_size = usize::MAX;
    limits.max_payload_size = usize::MAX;
    let decryption = [(b_enc.clone(), b_key)];
    let partner = [a_sign.clone()];
    let policy = InboundPolicy::new(&decryption, &partner, &limits);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let pattern = edi::x12(MIB);

    println!("peak heap from the start of the message (MiB):");
    for (size, len) in [
        ("10MiB", 10 * MIB),
        ("100MiB", 100 * MIB),
        ("1GiB", 1024 * MIB),
    ] {
        for (name, compression) in [
            ("sign_encrypt", Compression::None),
            ("compress_sign_encrypt", Compression::BeforeSigning),
        ] {
            if filter
                .as_deref()
                .is_some_and(|f| !name.contains(f) && f != size)
            {
                continue;
            }
            let mut msg = OutboundMessage::new(
                As2Id::new("PartnerA").unwrap(),
                As2Id::new("PartnerB").unwrap(),
                &[],
            );
            msg.file_name = Some("po.x12".into());
            msg.signing = Some((Signer::new(&a_sign, &a_key), SignOptions::default()));
            msg.mdn = MdnRequest::sync().signed(&[DigestAlgorithm::Sha256]);
            msg.compression = compression;
            msg.encryption.0 = vec![&b_enc];
            msg.max_payload_size = usize::MAX;

            // Build only.
            let base = HEAP.current_usage();
            HEAP.reset_peak_usage();
            let mut stream = outbound::start(&msg, Some(len as u64), now, &mut rng).unwrap();
            let mut out = Vec::with_capacity(2 * CHUNK);
            let mut wire = 0usize;
            for chunk in chunks(&pattern, len) {
                stream.push(chunk, &mut out).unwrap();
                wire += out.len();
                out.clear();
            }
            let announced = stream.content_length();
            stream.finish(&mut out, &mut rng).unwrap();
            wire += out.len();
            out.clear();
            let build_peak = HEAP.peak_usage().saturating_sub(base);
            if let Some(n) = announced {
                assert_eq!(n, wire as u64, "Content-Length announced before the body");
            }

            // Build piped into parse.
            let base = HEAP.current_usage();
            HEAP.reset_peak_usage();
            let mut stream = outbound::start(&msg, Some(len as u64), now, &mut rng).unwrap();
            let headers: HttpHeaders = stream.headers().clone();
            let incoming = inbound::handle_headers(&headers, &limits).unwrap();
            let mut receiver = incoming.receive(&policy);
            let mut sink = Digesting(Some(DigestAlgorithm::Sha256.hasher()), 0);
            let mut expected = DigestAlgorithm::Sha256.hasher();
            for chunk in chunks(&pattern, len) {
                expected.update(chunk);
                stream.push(chunk, &mut out).unwrap();
                receiver.push(&out, &mut sink, &mut rng);
                out.clear();
            }
            stream.finish(&mut out, &mut rng).unwrap();
            receiver.push(&out, &mut sink, &mut rng);
            out.clear();
            let received = receiver
                .finish(&mut sink, &mut NoDuplicateCheck, &mut rng)
                .unwrap();
            let pipe_peak = HEAP.peak_usage().saturating_sub(base);
            assert_eq!(sink.1, len);
            assert_eq!(sink.0.take().unwrap().finish(), expected.finish());
            assert!(received.signature.is_some());
            println!(
                "{name:>22} {size:>6}: build {:5.2}   build + parse {:5.2}   (wire {} bytes{})",
                build_peak as f64 / MIB as f64,
                pipe_peak as f64 / MIB as f64,
                wire,
                if announced.is_some() {
                    ", Content-Length known before the first byte"
                } else {
                    ""
                },
            );
        }
    }
}
