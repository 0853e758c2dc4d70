//! Peak heap memory of `build` and `parse` (issue 7's target: at most 2.5 times the
//! payload for a 50 MiB message signed with SHA-256 and encrypted with AES-256-CBC).
//!
//! ```sh
//! nice -n 10 cargo bench --bench memory
//! ```
//!
//! A counting global allocator (`peak_alloc`) records the largest number of heap bytes
//! live at once. The figure printed for `build` includes the caller's payload and the
//! built message; for `parse`, the received body and the delivered payload: what a
//! process doing only this would hold at its peak. (`peak_alloc` reallocates by copying,
//! so growing buffers count twice while they move: the figures are upper bounds.)

use std::time::{Duration, SystemTime};

use as2_proto::cms::algorithm::DigestAlgorithm;
use as2_proto::cms::signed::{SignOptions, Signer};
use as2_proto::message::headers::{As2Id, HttpHeaders};
use as2_proto::message::inbound::{self, InboundPolicy, NoDuplicateCheck};
use as2_proto::message::outbound::{self, Compression, MdnRequest, OutboundMessage};
use as2_proto::{Certificate, Limits, PrivateKey};
use peak_alloc::PeakAlloc;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

#[path = "edi.rs"]
mod edi;

const MIB: usize = 1024 * 1024;

fn load(crt: &[u8], key: &[u8]) -> (Certificate, PrivateKey) {
    (
        Certificate::from_pem(crt).unwrap(),
        PrivateKey::from_pem(key, None).unwrap(),
    )
}

fn main() {
    // `cargo bench` passes `--bench`; a filter, if any, selects profiles by name.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let (a_sign, a_key) = load(
        include_bytes!("../examples/pki/PartnerA/sign.crt"),
        include_bytes!("../examples/pki/PartnerA/sign.key"),
    );
    let (b_enc, b_key) = load(
        include_bytes!("../examples/pki/PartnerB/enc.crt"),
        include_bytes!("../examples/pki/PartnerB/enc.key"),
    );
    let limits = Limits::default();
    let decryption = [(b_enc.clone(), b_key)];
    let partner = [a_sign.clone()];
    let policy = InboundPolicy::new(&decryption, &partner, &limits);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut rng = ChaCha20Rng::seed_from_u64(3);

    println!("peak heap (payload and output included), times the payload size:");
    for len in [10 * MIB, 50 * MIB] {
        for (name, encrypt, compression) in [
            ("sign_encrypt", true, Compression::None),
            ("compress_sign_encrypt", true, Compression::BeforeSigning),
            ("sign", false, Compression::None),
        ] {
            if filter.as_deref().is_some_and(|f| !name.contains(f)) {
                continue;
            }
            let base = HEAP.current_usage();
            HEAP.reset_peak_usage();
            let payload = edi::x12(len);
            let mut msg = OutboundMessage::new(
                As2Id::new("PartnerA").unwrap(),
                As2Id::new("PartnerB").unwrap(),
                &payload,
            );
            msg.file_name = Some("po.x12".into());
            msg.signing = Some((Signer::new(&a_sign, &a_key), SignOptions::default()));
            msg.mdn = MdnRequest::sync().signed(&[DigestAlgorithm::Sha256]);
            msg.compression = compression;
            if encrypt {
                msg.encryption.0 = vec![&b_enc];
            }
            // Build: the payload is live before, the message after.
            HEAP.reset_peak_usage();
            let built = outbound::build(&msg, now, &mut rng).unwrap();
            let build_peak = HEAP.peak_usage() - base;
            let headers: HttpHeaders = built.headers.clone();
            let body = built.body;
            drop(msg);
            drop(payload);
            // Parse: the body is live before, the payload after.
            let before_parse = HEAP.current_usage();
            HEAP.reset_peak_usage();
            let received = inbound::handle(&headers, &body, &limits)
                .unwrap()
                .accept(&policy, &mut NoDuplicateCheck, &mut rng)
                .unwrap();
            let parse_peak = HEAP.peak_usage() - before_parse + body.len();
            assert_eq!(received.payload.len(), len);
            println!(
                "{name:>22} {:>3} MiB: build {:6.1} MiB = {:.2}x   parse {:6.1} MiB = {:.2}x",
                len / MIB,
                build_peak as f64 / MIB as f64,
                build_peak as f64 / len as f64,
                parse_peak as f64 / MIB as f64,
                parse_peak as f64 / len as f64,
            );
        }
    }
}
