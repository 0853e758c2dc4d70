//! The streaming receiver: any chunking of the same body gives the same outcome, byte
//! for byte (payload, MIC, layers, file name, error and concealed cause), for messages
//! that are accepted and for every kind of damage.

mod common;

use as2_proto::Limits;
use as2_proto::cms::algorithm::{ContentEncryption, DigestAlgorithm};
use as2_proto::cms::signed::{SignOptions, Signer};
use as2_proto::message::headers::{As2Id, HttpHeaders};
use as2_proto::message::inbound::{self, InboundPolicy, NoDuplicateCheck};
use as2_proto::message::outbound::{self, Compression, MdnRequest, OutboundMessage};
use rand::RngExt;

/// Splits `body` into chunks whose sizes come from `sizes` (cycled).
fn chunks<'b>(body: &'b [u8], sizes: &[usize]) -> Vec<&'b [u8]> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
        i += 1;
    }
    out
}

/// Everything observable about one receipt of `body` pushed in `sizes`-sized chunks.
fn outcome(
    headers: &HttpHeaders,
    body: &[u8],
    policy: &InboundPolicy<'_>,
    sizes: &[usize],
) -> String {
    let limits = policy.limits;
    let incoming = match inbound::handle(headers, body, limits) {
        Ok(i) => i,
        Err(e) => return format!("handle: {e:?}"),
    };
    let mut rng = common::rng(7);
    let mut sink = Vec::new();
    let mut receiver = incoming.receive(policy);
    for chunk in chunks(body, sizes) {
        receiver.push(chunk, &mut sink, &mut rng);
    }
    let verdict = receiver.finish(&mut sink, &mut NoDuplicateCheck, &mut rng);
    if let Ok(received) = &verdict {
        // Streamed: the payload is in the sink, and its length in the verdict.
        assert!(received.payload.is_empty());
        assert_eq!(received.payload_len, sink.len() as u64);
        // Whole-buffer: the same length beside the payload itself.
        let whole = incoming.accept(policy, &mut NoDuplicateCheck, &mut common::rng(7));
        let whole = whole.expect("accept agrees with the streamed verdict");
        assert_eq!(
            (whole.payload_len, &whole.payload),
            (sink.len() as u64, &sink)
        );
    }
    format!("{verdict:?}\npayload: {sink:?}")
}

/// The chunkings every body is tried with, besides the whole body in one push.
fn chunkings(seed: u64, len: usize) -> Vec<Vec<usize>> {
    let mut rng = common::rng(seed);
    let mut small: Vec<usize> = (0..64).map(|_| rng.random_range(1..=17)).collect();
    small.push(1);
    let large: Vec<usize> = (0..64).map(|_| rng.random_range(1..=4096)).collect();
    let mut all = vec![large, small];
    // Byte by byte for small bodies only (debug builds).
    if len < 20_000 {
        all.push(vec![1]);
    }
    all
}

struct Case {
    name: String,
    headers: HttpHeaders,
    body: Vec<u8>,
}

fn cases(sender: &common::Identity, receiver: &common::Identity) -> Vec<Case> {
    let mut rng = common::rng(1);
    let mut payload = b"ISA*00*~\nGS*PO~\r\n--boundary-like\r\n".to_vec();
    payload.extend((0..=255u8).cycle().take(5000));
    let mut out = Vec::new();
    for sign in [None, Some(DigestAlgorithm::Sha256)] {
        for cipher in [
            None,
            Some(ContentEncryption::Aes256Cbc),
            Some(ContentEncryption::TripleDesCbc),
        ] {
            for compression in [
                Compression::None,
                Compression::BeforeSigning,
                Compression::AfterSigning,
            ] {
                if sign.is_none() && compression == Compression::AfterSigning {
                    continue;
                }
                let mut m = OutboundMessage::new(
                    As2Id::new("Sender").unwrap(),
                    As2Id::new("Receiver").unwrap(),
                    &payload,
                );
                m.file_name = Some("po.x12".into());
                m.compression = compression;
                m.mdn = MdnRequest::sync().signed(&[DigestAlgorithm::Sha256]);
                if let Some(digest) = sign {
                    let mut options = SignOptions::default();
                    options.digest = digest;
                    m.signing = Some((Signer::new(&sender.cert, &sender.key), options));
                }
                if let Some(c) = cipher {
                    m.encryption.0 = vec![&receiver.cert];
                    m.encryption.1.cipher = c;
                }
                let built = outbound::build(&m, common::now(), &mut rng).unwrap();
                out.push(Case {
                    name: format!("{sign:?} {cipher:?} {compression:?}"),
                    headers: built.headers.clone(),
                    body: built.body,
                });
            }
        }
    }
    out
}

#[test]
fn any_chunking_gives_the_same_outcome() {
    let pki = common::Pki::new();
    let sender = pki.party("sender", 2048);
    let receiver = pki.party("receiver", 2048);
    let limits = Limits::default();
    let keys = [(receiver.cert.clone(), receiver.key.clone())];
    let partner = [sender.cert.clone()];
    let signed_policy = InboundPolicy::new(&keys, &partner, &limits);
    let mut open_policy = InboundPolicy::new(&keys, &[], &limits);
    open_policy.accept_bare_payload = true;
    let mut rng = common::rng(3);
    let mut accepted = 0;
    let cases = cases(&sender, &receiver);
    let count = cases.len();
    for case in cases {
        let mut bodies = vec![("intact".to_owned(), case.body.clone())];
        for _ in 0..6 {
            let mut damaged = case.body.clone();
            let at = rng.random_range(0..damaged.len());
            damaged[at] ^= 1 << rng.random_range(0..8);
            bodies.push((format!("bit flipped at {at}"), damaged));
        }
        for _ in 0..3 {
            let at = rng.random_range(0..case.body.len());
            bodies.push((format!("truncated at {at}"), case.body[..at].to_vec()));
        }
        for (what, body) in &bodies {
            for policy in [&signed_policy, &open_policy] {
                let whole = outcome(&case.headers, body, policy, &[usize::MAX]);
                if what == "intact" && whole.starts_with("Ok(") {
                    accepted += 1;
                }
                for sizes in chunkings(body.len() as u64, body.len()) {
                    let chunked = outcome(&case.headers, body, policy, &sizes);
                    assert_eq!(
                        chunked,
                        whole,
                        "{} / {what}: chunks {:?}...",
                        case.name,
                        &sizes[..sizes.len().min(4)]
                    );
                }
            }
        }
    }
    // Every intact message is accepted by the policy that fits it (signed ones by the
    // policy with the partner's certificate, unsigned ones by the open policy).
    assert_eq!(accepted, count);
}
