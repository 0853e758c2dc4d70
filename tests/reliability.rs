//! Resends (draft-ietf-ediint-rfc4130bis §5.5, draft-duker-as2-reliability): a message
//! received twice is delivered once, and the resend is answered with the MDN sent the
//! first time when the duplicate check kept it.

use std::collections::HashSet;

use as2_proto::cms::algorithm::DigestAlgorithm::Sha256;
use as2_proto::cms::signed::Signer;
use as2_proto::mdn::{self, MdnSettings, MdnStatus, Report, SentMessage};
use as2_proto::message::inbound::{self, DuplicateCheck, InboundPolicy, StoredMdn};
use as2_proto::message::outbound::{self, BuiltMessage, MdnRequest, OutboundMessage};
use as2_proto::partner::MemoryDuplicateStore;
use as2_proto::retry::{Next, Outcome, RetryPolicy, RetrySchedule};
use as2_proto::{Certificate, Limits, MessageId, PrivateKey};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

macro_rules! pki {
    ($file:literal) => {
        include_bytes!(concat!("../examples/pki/", $file))
    };
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Inside the validity of the example PKI.
fn now(offset: u64) -> std::time::SystemTime {
    as2_proto::unix_time(1_800_000_000 + offset)
}

struct Parties {
    a_cert: Certificate,
    a_key: PrivateKey,
    b_cert: Certificate,
    b_key: PrivateKey,
    b_keys: Vec<(Certificate, PrivateKey)>,
    b_enc: Certificate,
}

fn parties() -> Parties {
    let b_enc = Certificate::from_pem(pki!("PartnerB/enc.crt")).unwrap();
    let b_enc_key = PrivateKey::from_pem(pki!("PartnerB/enc.key"), None).unwrap();
    Parties {
        a_cert: Certificate::from_pem(pki!("PartnerA/sign.crt")).unwrap(),
        a_key: PrivateKey::from_pem(pki!("PartnerA/sign.key"), None).unwrap(),
        b_cert: Certificate::from_pem(pki!("PartnerB/sign.crt")).unwrap(),
        b_key: PrivateKey::from_pem(pki!("PartnerB/sign.key"), None).unwrap(),
        b_keys: vec![(b_enc.clone(), b_enc_key)],
        b_enc,
    }
}

/// PartnerA's signed, encrypted message asking for a signed receipt (asynchronous when
/// `async_url` is given), under `message_id` when given.
fn send(
    p: &Parties,
    payload: &[u8],
    message_id: Option<MessageId>,
    async_url: Option<&str>,
    seed: u64,
) -> BuiltMessage {
    let mut message = OutboundMessage::new(
        "PartnerA".parse().unwrap(),
        "PartnerB".parse().unwrap(),
        payload,
    );
    message.signing = Some((Signer::new(&p.a_cert, &p.a_key), Default::default()));
    message.encryption.0 = vec![&p.b_enc];
    message.mdn = match async_url {
        Some(url) => MdnRequest::asynchronous(url),
        None => MdnRequest::sync(),
    }
    .signed(&[Sha256]);
    message.message_id = message_id;
    outbound::build(&message, now(0), &mut rng(seed)).unwrap()
}

/// What PartnerB's endpoint does: accept, reply, keep the MDN it sent. Returns the
/// received payload, whether it was a duplicate, and the reply.
fn receive(
    p: &Parties,
    built: &BuiltMessage,
    duplicates: &mut dyn DuplicateCheck,
    at: u64,
    seed: u64,
) -> (Vec<u8>, bool, mdn::Reply) {
    let limits = Limits::default();
    let incoming = inbound::handle(&built.headers, &built.body, &limits).unwrap();
    let partner = [p.a_cert.clone()];
    let policy = InboundPolicy::new(&p.b_keys, &partner, &limits);
    let outcome = incoming.accept(&policy, duplicates, &mut rng(seed));
    let received = outcome.as_ref().expect("accepted");
    let (payload, duplicate) = (received.payload.clone(), received.duplicate);
    let settings = MdnSettings::signed(Signer::new(&p.b_cert, &p.b_key));
    let reply = mdn::reply(
        &incoming,
        &Report::from_outcome(&outcome),
        &settings,
        now(at),
        &mut rng(seed + 1),
    )
    .unwrap();
    if let (Some(sent), Some(id)) = (&reply.mdn, &incoming.message_id) {
        duplicates.store_mdn(&incoming.from, id, StoredMdn::from(sent));
    }
    (payload, duplicate, reply)
}

/// The sender's check of the MDN in a synchronous reply.
fn verify(p: &Parties, built: &BuiltMessage, reply: &mdn::Reply) -> mdn::Verdict {
    let limits = Limits::default();
    let receipt = mdn::parse(&reply.response.headers, &reply.response.body, &limits).unwrap();
    let sent = SentMessage::from_built(built, vec![p.b_cert.clone()]);
    receipt.verify(&sent, &limits).unwrap()
}

const PAYLOAD: &[u8] = b"ISA*00*          *00*          *ZZ*SENDER~";

/// The sync MDN was lost on the way back; the sender's schedule resends the very same
/// message, and gets back the very MDN the receiver sent the first time.
#[test]
fn a_resend_gets_the_first_mdn_byte_for_byte() {
    let p = parties();
    let built = send(&p, PAYLOAD, None, None, 1);
    let mut store = MemoryDuplicateStore::new(16);

    let (payload, duplicate, first) = receive(&p, &built, &mut store, 1, 10);
    assert_eq!(payload, PAYLOAD);
    assert!(!duplicate);

    // The sender never saw that response: its read timed out.
    let mut schedule = RetrySchedule::new(RetryPolicy::default(), now(0));
    let Next::RetryAt(at) = schedule.record(Outcome::NoResponse, now(60)) else {
        panic!("a retry");
    };
    assert_eq!(at, now(60 + 300));

    // Later, another seed: a new MDN would differ in boundary, Message-ID and Date.
    let (payload, duplicate, second) = receive(&p, &built, &mut store, 360, 20);
    assert!(payload.is_empty(), "a duplicate is never delivered");
    assert!(duplicate);
    assert_eq!(second.response.status, 200);
    assert_eq!(second.response.body, first.response.body);
    assert_eq!(second.response.headers, first.response.headers);
    let (m1, m2) = (first.mdn.unwrap(), second.mdn.clone().unwrap());
    assert_eq!(m2.message_id, m1.message_id);
    assert_eq!(m2.original_message_id, m1.original_message_id);
    assert_eq!(m2.disposition, m1.disposition);
    assert_eq!(m2.signed, Some(Sha256));
    assert_eq!(m2.disposition.status, MdnStatus::Processed);

    // The sender accepts it as the receipt of its message.
    let verdict = verify(&p, &built, &second);
    assert!(verdict.is_success() && verdict.is_authentic());
    assert_eq!(
        schedule.record(Outcome::from_verdict(&verdict), now(361)),
        Next::Done
    );
}

/// A duplicate check that keeps no MDNs (the trait's defaults): the resend is answered as
/// before, with a new `processed/Warning: duplicate-document` MDN.
#[test]
fn without_a_kept_mdn_a_resend_gets_duplicate_document() {
    let p = parties();
    let built = send(&p, PAYLOAD, None, None, 1);
    let mut seen = HashSet::new();
    let (_, _, first) = receive(&p, &built, &mut seen, 1, 10);
    let (payload, duplicate, second) = receive(&p, &built, &mut seen, 360, 20);
    assert!(payload.is_empty() && duplicate);
    assert_ne!(second.response.body, first.response.body);
    let mdn = second.mdn.clone().unwrap();
    assert_ne!(mdn.message_id, first.mdn.unwrap().message_id);
    assert_eq!(
        mdn.disposition.status,
        MdnStatus::Warning("duplicate-document".into())
    );
    let verdict = verify(&p, &built, &second);
    assert!(verdict.is_success());
}

/// The same Message-ID with other content (a sender's bug, or someone probing): never
/// delivered, and answered with a new duplicate-document MDN carrying the MIC of what was
/// sent this time, not the first MDN (whose MIC is the first content's).
#[test]
fn other_content_under_a_seen_message_id_is_not_a_resend() {
    let p = parties();
    let first_message = send(&p, PAYLOAD, None, None, 1);
    let mut store = MemoryDuplicateStore::new(16);
    let (_, _, first) = receive(&p, &first_message, &mut store, 1, 10);

    let other = send(
        &p,
        b"ISA*00*          *00*          *ZZ*SOMEONE ELSE~",
        Some(first_message.message_id.clone()),
        None,
        2,
    );
    assert_eq!(other.message_id, first_message.message_id);
    assert_ne!(other.mic, first_message.mic);
    let (payload, duplicate, second) = receive(&p, &other, &mut store, 360, 20);
    assert!(payload.is_empty(), "never delivered");
    assert!(duplicate);
    assert_ne!(second.response.body, first.response.body);
    let mdn = second.mdn.clone().unwrap();
    assert_eq!(
        mdn.disposition.status,
        MdnStatus::Warning("duplicate-document".into())
    );
    assert!(verify(&p, &other, &second).is_success());
    // The first MDN is still kept for a genuine resend of the first message.
    let (_, _, third) = receive(&p, &first_message, &mut store, 720, 30);
    assert_eq!(third.response.body, first.response.body);
}

/// An asynchronous resend: the HTTP answer is a plain acknowledgement and the first MDN
/// goes, unchanged, to the Receipt-Delivery-Option URL of the resend.
#[test]
fn an_async_resend_posts_the_first_mdn() {
    let p = parties();
    let url = "https://a.example/as2/mdn";
    let built = send(&p, PAYLOAD, None, Some(url), 1);
    let mut store = MemoryDuplicateStore::new(16);
    let (_, _, first) = receive(&p, &built, &mut store, 1, 10);
    let first = first.mdn.unwrap();
    assert_eq!(first.async_url.as_deref(), Some(url));

    let (payload, duplicate, second) = receive(&p, &built, &mut store, 360, 20);
    assert!(payload.is_empty() && duplicate);
    assert_eq!(second.response.status, 200);
    assert_ne!(second.response.body, first.body);
    let mdn = second.mdn.unwrap();
    assert_eq!(mdn.async_url.as_deref(), Some(url));
    assert_eq!((&mdn.headers, &mdn.body), (&first.headers, &first.body));
}

/// A stored MDN survives the caller's serde store (e.g. a database column of JSON).
#[test]
fn stored_mdns_round_trip_through_json() {
    let p = parties();
    let built = send(&p, PAYLOAD, None, None, 1);
    let mut store = MemoryDuplicateStore::new(16);
    let (_, _, first) = receive(&p, &built, &mut store, 1, 10);
    let stored = StoredMdn::from(first.mdn.as_ref().unwrap());
    let json = serde_json::to_string(&stored).unwrap();
    assert_eq!(serde_json::from_str::<StoredMdn>(&json).unwrap(), stored);
}
