//! The sending half of `examples/receiver.rs`, through files: PartnerA signs
//! `examples/data/po-4711.x12` (SHA-256), encrypts it to PartnerB (AES-256-CBC) and asks
//! for a signed synchronous MDN. The HTTP headers go to `target/as2/headers.json` (a JSON
//! list of `[name, value]` pairs, in wire order) and the body to `target/as2/body.bin`.
//! Run from the repository root (the keys are in `examples/pki`):
//!
//! ```sh
//! cargo run --example sender && cargo run --example receiver
//! ```
use as2_proto::cms::{algorithm::DigestAlgorithm::Sha256, signed::Signer};
use as2_proto::message::outbound::{self, MdnRequest, OutboundMessage};
use as2_proto::{Certificate, PrivateKey};
use std::{fs, time::SystemTime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cert = Certificate::from_pem(&fs::read("examples/pki/PartnerA/sign.crt")?)?;
    let key = PrivateKey::from_pem(&fs::read("examples/pki/PartnerA/sign.key")?, None)?;
    let partner = Certificate::from_pem(&fs::read("examples/pki/PartnerB/enc.crt")?)?;
    let payload = fs::read("examples/data/po-4711.x12")?;
    let mut message = OutboundMessage::new("PartnerA".parse()?, "PartnerB".parse()?, &payload);
    message.signing = Some((Signer::new(&cert, &key), Default::default()));
    message.encryption.0 = vec![&partner];
    message.mdn = MdnRequest::sync().signed(&[Sha256]);
    let built = outbound::build(&message, SystemTime::now(), &mut rand::rng())?;
    fs::create_dir_all("target/as2")?;
    serde_json::to_writer(fs::File::create("target/as2/headers.json")?, &built.headers)?;
    fs::write("target/as2/body.bin", &built.body)?;
    Ok(())
}
