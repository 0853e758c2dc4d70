//! The receiving half of `examples/sender.rs`, through files: reads
//! `target/as2/headers.json` and `target/as2/body.bin`, decrypts with PartnerB's key,
//! verifies PartnerA's signature and chains its certificate to the example CA at `now`,
//! writes the payload to `target/as2/payload.bin` and answers with a signed MDN
//! (`target/as2/mdn-headers.json`, `target/as2/mdn-body.bin`). A refused message gets its
//! error MDN and no payload. Run from the repository root (the keys are in
//! `examples/pki`):
//!
//! ```sh
//! cargo run --example sender && cargo run --example receiver
//! ```
use as2_proto::mdn::{self, MdnSettings, Report};
use as2_proto::message::inbound::{self, InboundPolicy, NoDuplicateCheck};
use as2_proto::{Certificate, Limits, PrivateKey, cms::signed::Signer, partner::ChainTrust};
use std::{fs, time::SystemTime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pem = |name: &str| fs::read(format!("examples/pki/{name}"));
    let ca = [Certificate::from_pem(&pem("ca/ca.crt")?)?];
    let partner = [Certificate::from_pem(&pem("PartnerA/sign.crt")?)?];
    let enc_key = PrivateKey::from_pem(&pem("PartnerB/enc.key")?, None)?;
    let keys = [(Certificate::from_pem(&pem("PartnerB/enc.crt")?)?, enc_key)];
    let sign_cert = Certificate::from_pem(&pem("PartnerB/sign.crt")?)?;
    let sign_key = PrivateKey::from_pem(&pem("PartnerB/sign.key")?, None)?;
    let (now, limits, mut rng) = (SystemTime::now(), Limits::default(), rand::rng());
    let headers = serde_json::from_slice(&fs::read("target/as2/headers.json")?)?;
    let body = fs::read("target/as2/body.bin")?;
    let incoming = inbound::handle(&headers, &body, &limits)?;
    let trust = ChainTrust::new(&ca, now);
    let policy = InboundPolicy::new(&keys, &partner, &limits).with_signer_trust(&trust);
    let outcome = incoming.accept(&policy, &mut NoDuplicateCheck, &mut rng);
    if let Ok(received) = &outcome {
        fs::write("target/as2/payload.bin", &received.payload)?;
    }
    let report = Report::from_outcome(&outcome);
    let settings = MdnSettings::signed(Signer::new(&sign_cert, &sign_key));
    let reply = mdn::reply(&incoming, &report, &settings, now, &mut rng)?;
    let mdn_headers = serde_json::to_vec(&reply.response.headers)?;
    fs::write("target/as2/mdn-headers.json", mdn_headers)?;
    fs::write("target/as2/mdn-body.bin", &reply.response.body)?;
    println!("{}", report.disposition);
    Ok(())
}
