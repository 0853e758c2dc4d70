//! The Message Integrity Check (RFC 4130 §7.3.1): the digest a receiver returns in the MDN's
//! `Received-Content-MIC` field so the sender can prove what was received.
//!
//! For a signed message the MIC is the digest of the signed MIME entity (headers included)
//! with the signature's digest algorithm, which is exactly the signature's message-digest;
//! for an unsigned message it is the digest of the payload entity with the first algorithm
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

impl fmt::Display for Mic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_field(MicNameStyle::Dashed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
