//! The Message Integrity Check (RFC 4130 §7.3.1): the digest a receiver returns in the MDN's
//! `Received-Content-MIC` field so the sender can prove what was received.
//!
//! What the MIC covers depends on the layers the payload travelled in. For a signed message
//! it is the digest of the signed MIME entity (headers included) with the signature's digest
//! algorithm, which is exactly the signature's message-digest; the signature code computes
//! it. For an unsigned message, [`Mic::of_unsigned`] holds the rule, for the sender
//! ([`BuiltMessage::mic`](crate::message::outbound::BuiltMessage::mic)) and the receiver
//! ([`Received::mic`](crate::message::inbound::Received::mic)) alike; its algorithm is the first
//! of the sender's `signed-receipt-micalg` list that we support.

use core::fmt;

use base64ct::{Base64, Encoding};

use crate::cms::algorithm::DigestAlgorithm;

/// How to spell digest names in `micalg` parameters and MIC fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MicNameStyle {
    /// `sha-256` (RFC 5751; the default).
    #[default]
    Dashed,
    /// `sha256`, which some older products require.
    Legacy,
}

impl MicNameStyle {
    /// The style a received algorithm name is written in: [`Dashed`](Self::Dashed) for
    /// `sha-256` (any case), [`Legacy`](Self::Legacy) for `sha256`; `None` for a name
    /// that is neither (another separator, or no algorithm this crate knows).
    pub fn of_name(name: &str) -> Option<Self> {
        let name = name.trim().trim_matches('"');
        DigestAlgorithm::from_name(name)?;
        if name.contains(['_', ' ']) {
            None
        } else if name.contains('-') {
            Some(Self::Dashed)
        } else {
            Some(Self::Legacy)
        }
    }
}

impl DigestAlgorithm {
    /// Parses an algorithm name leniently: `sha1`, `SHA-1`, `sha-256`, `sha256`, `SHA_512`...
    pub fn from_name(name: &str) -> Option<Self> {
        let normalised: String = name
            .trim()
            .trim_matches('"')
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match normalised.as_str() {
            "sha1" => Some(Self::Sha1),
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The algorithm's name in the given style.
    pub fn mic_name(self, style: MicNameStyle) -> &'static str {
        match (style, self) {
            (MicNameStyle::Dashed, _) => self.name(),
            (MicNameStyle::Legacy, Self::Sha1) => "sha1",
            (MicNameStyle::Legacy, Self::Sha256) => "sha256",
            (MicNameStyle::Legacy, Self::Sha384) => "sha384",
            (MicNameStyle::Legacy, Self::Sha512) => "sha512",
        }
    }
}

/// An unsigned message's payload entity, described by how it travelled: that decides which of
/// its bytes the MIC covers ([`Mic::of_unsigned`]).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum UnsignedPayload<'a> {
    /// The entity travelled inside an envelope, a compressed-data layer or both: its
    /// canonical bytes, header block and body, given as pieces that are hashed in order.
    Enclosed(&'a [&'a [u8]]),
    /// The entity was the message itself, with no layer at all (its MIME headers travelled
    /// as HTTP headers): `body` is the HTTP body as transferred, with its
    /// Content-Transfer-Encoding applied (not decoded).
    Message {
        /// The body as transferred.
        body: &'a [u8],
    },
}

/// A computed or received MIC: a digest and its algorithm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mic {
    /// The digest algorithm.
    pub algorithm: DigestAlgorithm,
    /// The digest bytes.
    pub digest: Vec<u8>,
}

impl Mic {
    /// Computes the MIC of a canonical MIME entity.
    pub fn compute(algorithm: DigestAlgorithm, entity: &[u8]) -> Self {
        Mic {
            algorithm,
            digest: algorithm.digest(entity),
        }
    }

    /// The MIC of an unsigned message, the one rule for sending and receiving.
    ///
    /// RFC 4130 §7.3.1 (unchanged in draft-ietf-ediint-rfc4130bis):
    ///
    /// > For any signed messages, the MIC to be returned is calculated on the RFC1767/RFC3023
    /// > MIME header and content. [...] For encrypted, unsigned messages, the MIC to be
    /// > returned is calculated on the decrypted RFC 1767/RFC3023 MIME header and content.
    /// > The content after decryption MUST be canonicalized before the MIC is calculated.
    /// > For unsigned, unencrypted messages, the MIC MUST be calculated over the message
    /// > contents without the MIME or any other RFC 2822 headers, since these are sometimes
    /// > altered or reordered by Mail Transport Agents (MTAs).
    ///
    /// RFC 5402 §4.1 adds that for an unsigned message the MIC covers the uncompressed
    /// content "including all MIME header fields", so a compressed-only message is treated
    /// like an encrypted one: [`UnsignedPayload::Enclosed`] covers the whole entity.
    ///
    /// [`UnsignedPayload::Message`] covers the body alone, *as transferred*: with its
    /// Content-Transfer-Encoding applied, not decoded, and not canonicalised. That is what
    /// the BouncyCastle-based phax/as2-lib digests (`BCCryptoHelper.calculateMIC` without
    /// headers writes the content through `MimeUtility.encode(.., part.getEncoding())`), it
    /// matches the other layerings, where the covered entity also carries its transfer
    /// encoding, and it needs no decoding to check. OpenAS2 digests the decoded content
    /// instead; the two agree for `Content-Transfer-Encoding: binary`, the AS2 default and
    /// what we send. pyas2lib computes no MIC for unsigned messages.
    /// `tests/interop_bouncycastle.rs` checks both directions against BouncyCastle.
    pub fn of_unsigned(algorithm: DigestAlgorithm, payload: UnsignedPayload<'_>) -> Self {
        let mut hasher = algorithm.hasher();
        match payload {
            UnsignedPayload::Enclosed(pieces) => pieces.iter().for_each(|p| hasher.update(p)),
            UnsignedPayload::Message { body } => hasher.update(body),
        }
        Mic {
            algorithm,
            digest: hasher.finish(),
        }
    }

    /// The field value `"<base64>, <algorithm>"`, e.g. for `Received-Content-MIC`.
    pub fn to_field(&self, style: MicNameStyle) -> String {
        format!(
            "{}, {}",
            Base64::encode_string(&self.digest),
            self.algorithm.mic_name(style)
        )
    }

    /// Parses `"<base64>, <algorithm>"`. `None` when the value is malformed or names an
    /// algorithm we do not support.
    pub fn parse_field(value: &str) -> Option<Self> {
        let (b64, alg) = value.split_once(',')?;
        let algorithm = DigestAlgorithm::from_name(alg)?;
        let b64: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
        let digest = Base64::decode_vec(&b64).ok()?;
        (digest.len() == algorithm.output_len()).then_some(Mic { algorithm, digest })
    }
}

/// [`Mic::of_unsigned`] for a payload that arrives in pieces: the streaming builder
/// ([`outbound::start`](crate::message::outbound::start)) starts it with how the payload
/// entity travels, feeds it the payload as it is pushed and finishes it into the same MIC.
#[derive(Clone, Debug)]
pub(crate) struct UnsignedMic {
    algorithm: DigestAlgorithm,
    hasher: crate::cms::algorithm::Hasher,
}

impl UnsignedMic {
    /// `enclosed_headers` is the payload entity's header block (blank line included) when
    /// the entity travels inside an envelope or a compressed-data layer
    /// ([`UnsignedPayload::Enclosed`]: headers and payload are covered), and `None` when it
    /// is the message itself ([`UnsignedPayload::Message`]: the payload alone, which is the
    /// HTTP body as transferred).
    pub(crate) fn new(algorithm: DigestAlgorithm, enclosed_headers: Option<&[u8]>) -> Self {
        let mut hasher = algorithm.hasher();
        if let Some(headers) = enclosed_headers {
            hasher.update(headers);
        }
        UnsignedMic { algorithm, hasher }
    }

    /// Feeds the next payload octets.
    pub(crate) fn update(&mut self, payload: &[u8]) {
        self.hasher.update(payload);
    }

    /// The MIC.
    pub(crate) fn finish(self) -> Mic {
        Mic {
            algorithm: self.algorithm,
            digest: self.hasher.finish(),
        }
    }
}

impl fmt::Display for Mic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_field(MicNameStyle::Dashed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_of_received_names() {
        assert_eq!(MicNameStyle::of_name("sha-256"), Some(MicNameStyle::Dashed));
        assert_eq!(MicNameStyle::of_name(" SHA-1 "), Some(MicNameStyle::Dashed));
        assert_eq!(MicNameStyle::of_name("sha256"), Some(MicNameStyle::Legacy));
        assert_eq!(
            MicNameStyle::of_name("\"SHA512\""),
            Some(MicNameStyle::Legacy)
        );
        assert_eq!(MicNameStyle::of_name("sha_256"), None);
        assert_eq!(MicNameStyle::of_name("md5"), None);
        assert_eq!(MicNameStyle::of_name(""), None);
    }

    #[test]
    fn names_are_lenient() {
        for (name, alg) in [
            ("sha1", DigestAlgorithm::Sha1),
            ("SHA-1", DigestAlgorithm::Sha1),
            (" sha-256 ", DigestAlgorithm::Sha256),
            ("sha256", DigestAlgorithm::Sha256),
            ("SHA384", DigestAlgorithm::Sha384),
            ("sha_512", DigestAlgorithm::Sha512),
        ] {
            assert_eq!(DigestAlgorithm::from_name(name), Some(alg), "{name}");
        }
        assert_eq!(DigestAlgorithm::from_name("md5"), None);
        assert_eq!(DigestAlgorithm::from_name("sha-224"), None);
    }

    #[test]
    fn unsigned_mic_covers_headers_only_when_enclosed() {
        let headers: &[u8] =
            b"Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: binary\r\n\r\n";
        let body: &[u8] = b"ISA*00*~\r\nIEA*1*~\r\n";
        let entity = [headers, body].concat();
        for alg in [DigestAlgorithm::Sha1, DigestAlgorithm::Sha256] {
            // RFC 4130 §7.3.1: a plain message's MIC is over its contents alone.
            assert_eq!(
                Mic::of_unsigned(alg, UnsignedPayload::Message { body }),
                Mic::compute(alg, body)
            );
            // Encrypted or compressed: the entity with its MIME headers, however it is cut.
            assert_eq!(
                Mic::of_unsigned(alg, UnsignedPayload::Enclosed(&[headers, body])),
                Mic::compute(alg, &entity)
            );
            assert_eq!(
                Mic::of_unsigned(alg, UnsignedPayload::Enclosed(&[&entity])),
                Mic::compute(alg, &entity)
            );
        }
    }

    /// The streaming form agrees with `of_unsigned` for both layerings, however the
    /// payload is cut.
    #[test]
    fn streaming_unsigned_mic_is_of_unsigned() {
        let headers: &[u8] = b"Content-Type: application/edi-x12\r\n\r\n";
        let body: &[u8] = b"ISA*00*~\r\nIEA*1*~\r\n";
        for alg in DigestAlgorithm::ALL {
            for cut in 0..=body.len() {
                let (a, b) = body.split_at(cut);
                let mut plain = UnsignedMic::new(alg, None);
                let mut enclosed = UnsignedMic::new(alg, Some(headers));
                for piece in [a, b] {
                    plain.update(piece);
                    enclosed.update(piece);
                }
                assert_eq!(
                    plain.finish(),
                    Mic::of_unsigned(alg, UnsignedPayload::Message { body })
                );
                assert_eq!(
                    enclosed.finish(),
                    Mic::of_unsigned(alg, UnsignedPayload::Enclosed(&[headers, body]))
                );
            }
        }
    }

    #[test]
    fn field_round_trip_in_both_styles() {
        let mic = Mic::compute(DigestAlgorithm::Sha256, b"abc");
        assert_eq!(
            mic.to_field(MicNameStyle::Dashed),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=, sha-256"
        );
        assert_eq!(
            mic.to_field(MicNameStyle::Legacy),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=, sha256"
        );
        for style in [MicNameStyle::Dashed, MicNameStyle::Legacy] {
            assert_eq!(Mic::parse_field(&mic.to_field(style)), Some(mic.clone()));
        }
        assert_eq!(
            Mic::parse_field("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=, md5"),
            None
        );
        // Wrong length for the algorithm.
        assert_eq!(Mic::parse_field("AAAA, sha-256"), None);
    }
}
