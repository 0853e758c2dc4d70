//! The streaming inbound pipeline: body chunks in, tentative payload bytes out, one
//! verdict at the end.
//!
//! [`Incoming::receive`](super::inbound::Incoming::receive) starts a [`Receiver`] from the
//! request headers. The caller pushes the body as it arrives, split anywhere
//! ([`Receiver::push`]), and the receiver writes payload bytes to a [`PayloadSink`] as
//! soon as every layer above them has let them through: decryption (AES-CBC, 3DES;
//! AES-GCM and AES-CCM in AuthEnvelopedData, whose tag is checked at the end: a tag that
//! does not verify refuses the message like any other failure inside an envelope),
//! decompression (zlib, within the caps of [`Limits`](crate::Limits)), `multipart/signed`
//! with its boundary found across chunk borders, opaque `signed-data`, any transfer
//! encoding. Digests are computed on the fly; the detached signature is verified at the
//! end. Memory does not depend on the payload's size: each layer keeps at most a block, a
//! header block or a signature, never the content.
//!
//! **Payload bytes are tentative until [`Receiver::finish`]**, which calls
//! [`PayloadSink::commit`] only for an accepted, non-duplicate message and
//! [`PayloadSink::abort`] otherwise. A sink that writes to a temporary file and renames it
//! on commit never exposes an unauthenticated payload.
//!
//! # One outcome whatever the chunking
//!
//! Each layer is a stage fed by the one above it. An error in a stage stops it and every
//! stage below, but the stages above keep consuming the body: a whole-buffer parser
//! finishes an outer layer (verifies a signature, checks the padding) before it reads the
//! inner one, so the outer layer's failure is the one reported. Here too the outermost
//! failure wins, and the rules of [`accept`](super::inbound::Incoming::accept) (which is
//! a loop over this receiver) apply unchanged: every failure inside an envelope before a
//! signature has verified is reported as the one decryption failure.
//!
//! # Differences from holding the whole body
//!
//! - The digest algorithms of a `multipart/signed` entity are those its `micalg`
//!   parameter names (all supported ones when it names none we know): a signature made
//!   with another digest than announced fails with
//!   [`VerificationError::UnannouncedDigest`](crate::VerificationError).
//! - When a signed text entity's line ends were changed in transit (bare LF in a part
//!   that is not `binary`), the canonical (CRLF) form is what is delivered, whichever of
//!   the two forms the signature verifies over: the payload is then exactly what was
//!   signed or its canonical form, never bytes an attacker chose.

use rand_core::CryptoRng;

use super::headers::{As2Id, DispositionOptions, MessageId};
use super::inbound::{InboundPolicy, Incoming, IncomingKind, Layer, Received, Rejected};
use super::related::{PartInfo, ReceivedPart, RelatedReader};
use crate::cms::ContentType;
use crate::cms::algorithm::{ContentEncryption, DigestAlgorithm, Hasher};
use crate::cms::signed::Verified;
use crate::cms::stream::{CompressedReader, EnvelopedReader, SignedReader};
use crate::error::{AlgorithmKind, Error, LayerKind, PolicyError};
use crate::limits::Limit;
use crate::mic::Mic;
use crate::mime::stream::{EntityCanonicalizer, HeaderBlock, TransferDecoder};
use crate::mime::{self, MimeLimits, TransferEncoding};
use crate::smime::envelope::is_pkcs7_mime;
use crate::smime::verify::{MultipartSignedReader, SignerRule};

/// Where a [`Receiver`] puts the payload.
///
/// Everything written is **tentative**: the message may still be refused (a signature
/// that does not verify, a padding or a structure that turns out bad at the end). Keep it
/// where nobody acts on it (a temporary file) until [`PayloadSink::commit`].
pub trait PayloadSink {
    /// The next tentative payload bytes, in order.
    fn write(&mut self, tentative: &[u8]);
    /// The message was accepted: the bytes written are the authentic payload.
    fn commit(&mut self);
    /// The message was refused, or is a duplicate that must not be delivered again:
    /// discard everything written.
    fn abort(&mut self);

    /// A part of a `multipart/related` payload (RFC 6362 multiple attachments) begins:
    /// the [`write`](Self::write)s until [`end_part`](Self::end_part) are its decoded
    /// octets. Called only for such payloads, once per part, in order; a single payload
    /// is written without it.
    ///
    /// By default nothing happens, and the parts' octets arrive one after the other:
    /// a sink that collects them (a `Vec<u8>`) holds their concatenation, which
    /// [`Received::parts`](super::inbound::Received::parts) splits again
    /// ([`Received::part_payloads`](super::inbound::Received::part_payloads)).
    fn begin_part(&mut self, part: &PartInfo) {
        let _ = part;
    }

    /// The part begun by [`begin_part`](Self::begin_part) is complete (still tentative,
    /// like everything written before the verdict).
    fn end_part(&mut self) {}
}

/// Collects the payload in memory (what [`Incoming::accept`] uses); `abort` empties it.
impl PayloadSink for Vec<u8> {
    fn write(&mut self, tentative: &[u8]) {
        self.extend_from_slice(tentative);
    }

    fn commit(&mut self) {}

    fn abort(&mut self) {
        self.clear();
        self.shrink_to_fit();
    }
}

/// Decrypted or decompressed content is treated as a MIME entity only if a header block
/// with a Content-Type ends within this many bytes (else it is a bare payload).
const MIME_SNIFF: usize = 8192;

/// The most body bytes run through the stages at once.
const PIECE: usize = 64 * 1024;

/// How many bytes of a CMS ContentInfo are enough to read its content type.
const CONTENT_INFO_SNIFF: usize = 64;

/// A message body being received; see the [module docs](self).
pub struct Receiver<'s> {
    policy: &'s InboundPolicy<'s>,
    mime_limits: MimeLimits,
    receipt: Option<&'s DispositionOptions>,
    from: As2Id,
    message_id: Option<MessageId>,
    stages: Vec<Stage<'s>>,
    /// Output buffers, one per stage, reused across pushes.
    scratch: Vec<Vec<u8>>,
    /// The error of the outermost stage that failed (every stage below it is gone), with
    /// that stage's level.
    failed: Option<(usize, Error)>,
    state: Unwrap,
    body_len: usize,
    /// Payload bytes written to the sink so far (tentative until the verdict).
    payload_len: u64,
    /// The payload entity's type and file name, once its headers are read.
    content_type: Option<String>,
    file_name: Option<String>,
    /// The parts of a `multipart/related` payload, once it has ended.
    parts: Vec<ReceivedPart>,
    /// The envelope just finished had an authenticated cipher whose tag did not verify.
    tag_failed: bool,
}

impl core::fmt::Debug for Receiver<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let stages: Vec<&str> = self.stages.iter().map(Stage::name).collect();
        f.debug_struct("Receiver")
            .field("stages", &stages)
            .field("failed", &self.failed)
            .field("body_len", &self.body_len)
            .finish_non_exhaustive()
    }
}

/// One layer of the pipeline.
enum Stage<'k> {
    /// A Content-Transfer-Encoding in front of CMS content.
    Decode(TransferDecoder),
    /// The first bytes of a CMS ContentInfo, until its content type is known.
    Sniff(Vec<u8>),
    Enveloped(Box<EnvelopedReader<'k>>),
    Compressed(Box<CompressedReader>),
    Opaque(Box<SignedReader>),
    Signed(Box<MultipartSignedReader>),
    /// A MIME entity's header block, until its Content-Type says what the body is.
    Head(Box<Head>),
    /// The payload entity's body, decoded into the sink.
    Payload(Box<Payload>),
    /// A `multipart/related` payload (multiple attachments), its parts decoded into the
    /// sink one after the other.
    Related(Box<Related>),
    /// Content with no MIME headers, delivered as it is (digested for the MIC of an
    /// unsigned message).
    Bare(Option<(DigestAlgorithm, Hasher)>),
}

impl Stage<'_> {
    fn name(&self) -> &'static str {
        match self {
            Stage::Decode(_) => "transfer decoding",
            Stage::Sniff(_) => "CMS content type",
            Stage::Enveloped(_) => "EnvelopedData",
            Stage::Compressed(_) => "CompressedData",
            Stage::Opaque(_) => "SignedData",
            Stage::Signed(_) => "multipart/signed",
            Stage::Head(_) => "MIME headers",
            Stage::Payload(_) => "payload",
            Stage::Related(_) => "multipart/related payload",
            Stage::Bare(_) => "bare payload",
        }
    }
}

/// What a stage's push asks of the pipeline.
enum Step<'k> {
    /// Output (if any) goes to the next stage.
    Continue,
    /// The stage decided what it is: replace it with these stages, then feed them the
    /// given bytes.
    Become(Vec<Stage<'k>>, Replay),
}

/// Bytes to feed a stage that replaced another.
enum Replay {
    /// This many bytes of the current input were consumed; feed the rest.
    Rest(usize),
    /// Feed these bytes (the current input included).
    Owned(Vec<u8>),
}

struct Head {
    block: HeaderBlock,
    /// The bytes seen, for a bare payload (at most [`MIME_SNIFF`] plus one push).
    seen: Vec<u8>,
}

impl Head {
    fn new(limits: &MimeLimits) -> Self {
        Head {
            block: HeaderBlock::new(limits),
            seen: Vec::new(),
        }
    }
}

struct Payload {
    decoder: TransferDecoder,
    mic: Option<(DigestAlgorithm, MicFeed)>,
}

struct Related {
    reader: RelatedReader,
    /// The MIC of an unsigned message, over the whole `multipart/related` entity.
    mic: Option<(DigestAlgorithm, MicFeed)>,
}

/// What the MIC of an unsigned message is computed over.
enum MicFeed {
    /// The bytes as they arrive (the top-level body).
    Raw(Hasher),
    /// The entity's canonical form (an entity that was decrypted or decompressed).
    Canonical(Box<EntityCanonicalizer>, Hasher, Vec<u8>),
}

impl MicFeed {
    fn update(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match self {
            MicFeed::Raw(h) => h.update(bytes),
            MicFeed::Canonical(canon, h, buf) => {
                buf.clear();
                canon.push(bytes, buf)?;
                h.update(buf);
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>, Error> {
        match self {
            MicFeed::Raw(h) => Ok(h.finish()),
            MicFeed::Canonical(mut canon, mut h, mut buf) => {
                buf.clear();
                canon.finish(&mut buf)?;
                h.update(&buf);
                Ok(h.finish())
            }
        }
    }
}

/// What unwrapping has found so far.
#[derive(Debug)]
struct Unwrap {
    /// Layers with the stage level that found them (sorted by level at the end: an outer
    /// signature is recorded when it verifies, after the layers inside it).
    layers: Vec<(usize, Layer)>,
    signature: Option<Verified>,
    mic: Option<Mic>,
    /// A signature has verified over what came out of the envelope (even if the policy
    /// then refuses the signer or its algorithm): the plaintext is not damaged.
    authentic: bool,
    /// An envelope has been decrypted: what follows is unauthenticated plaintext.
    decrypted: bool,
    /// The envelope's content key unwrapped to the right length and its padding was
    /// valid (for the operator only: garbage is as often well formed as not).
    well_formed: bool,
}

impl<'s> Receiver<'s> {
    /// Starts receiving the body of `incoming` under `policy`.
    pub(crate) fn new(incoming: &'s Incoming<'_>, policy: &'s InboundPolicy<'s>) -> Self {
        let from = incoming.from.clone();
        let message_id = incoming.message_id.clone();
        let receipt = incoming.receipt.as_ref().map(|r| &r.options);
        let mut receiver = Receiver {
            policy,
            mime_limits: policy.limits.mime(),
            receipt,
            from,
            message_id,
            stages: Vec::new(),
            scratch: Vec::new(),
            failed: None,
            state: Unwrap {
                layers: Vec::new(),
                signature: None,
                mic: None,
                authentic: false,
                decrypted: false,
                well_formed: true,
            },
            body_len: 0,
            payload_len: 0,
            content_type: None,
            file_name: None,
            parts: Vec::new(),
            tag_failed: false,
        };
        if let Err(e) = receiver.start(incoming) {
            receiver.failed = Some((0, e));
        }
        receiver
    }

    /// The stage for the top-level entity, whose headers are the HTTP headers.
    fn start(&mut self, incoming: &Incoming<'_>) -> Result<(), Error> {
        if incoming.kind == IncomingKind::Mdn {
            return Err(not_a_message());
        }
        if let Some(options) = self.receipt
            && options.signed_receipt_requested()
            && options
                .micalg
                .as_ref()
                .is_some_and(|m| m.importance == "required")
            && options.preferred_micalg().is_none()
        {
            return Err(Error::UnsupportedMicAlgorithms);
        }
        let ct = mime::ContentType::parse(incoming.content_type.as_bytes())?;
        let encoding = incoming
            .header("Content-Transfer-Encoding")
            .map(TransferEncoding::parse)
            .unwrap_or(TransferEncoding::SevenBit);
        let disposition = incoming.header("Content-Disposition");
        let stages = self.decide(0, &ct, encoding, disposition, None)?;
        self.stages = stages;
        Ok(())
    }

    /// Feeds the next body bytes, any size, split anywhere; payload bytes that come
    /// through go to `sink`, tentatively. Errors are kept for [`Receiver::finish`]: keep
    /// pushing the body (or stop early: the verdict is the same).
    pub fn push<R: CryptoRng + ?Sized>(
        &mut self,
        body: &[u8],
        sink: &mut dyn PayloadSink,
        rng: &mut R,
    ) {
        self.body_len = self.body_len.saturating_add(body.len());
        if self.body_len > self.policy.limits.max_body_size {
            let error = Limit::BodySize.exceeded(self.policy.limits);
            self.fail(0, error);
            return;
        }
        // A large push is taken in pieces: every stage's output buffer stays the size of
        // a piece (cache-sized), whatever the caller's chunk size.
        for piece in body.chunks(PIECE) {
            self.feed(0, piece, sink, rng);
        }
    }

    /// Whether nothing more can change the outcome (the outermost layer has failed):
    /// the caller may stop reading the body.
    pub fn is_decided(&self) -> bool {
        self.stages.is_empty() && self.failed.is_some()
    }

    /// Ends the body and gives the verdict: the payload sink is committed for an
    /// accepted new message and aborted otherwise (a refusal, or a duplicate, whose
    /// payload must not be delivered again). [`Received::payload`] is empty: the payload
    /// went to the sink.
    // `Rejected` is the outcome callers match on once per message; see `accept`.
    #[allow(clippy::result_large_err)]
    pub fn finish<R: CryptoRng + ?Sized>(
        mut self,
        sink: &mut dyn PayloadSink,
        duplicates: &mut dyn super::inbound::DuplicateCheck,
        rng: &mut R,
    ) -> Result<Received, Rejected> {
        let mut level = 0;
        while level < self.stages.len() {
            self.finish_stage(level, sink, rng);
            level = level.saturating_add(1);
        }
        let mut state = self.state;
        state.layers.sort_by_key(|(level, _)| *level);
        if let Some((level, error)) = self.failed {
            sink.abort();
            let (error, concealed) = state.conceal_until_authentic(level, error);
            return Err(Rejected {
                error,
                concealed: concealed.map(Box::new),
                layers: state.layers.into_iter().map(|(_, l)| l).collect(),
                mic: state.mic,
            });
        }
        let previous = match &self.message_id {
            Some(id) => duplicates.check(&self.from, id),
            None => super::inbound::Duplicate::New,
        };
        let duplicate = previous.is_duplicate();
        if duplicate {
            sink.abort();
        } else {
            sink.commit();
        }
        Ok(Received {
            payload: Vec::new(),
            payload_len: if duplicate { 0 } else { self.payload_len },
            content_type: self
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            file_name: self.file_name,
            parts: if duplicate { Vec::new() } else { self.parts },
            layers: state.layers.into_iter().map(|(_, l)| l).collect(),
            signature: state.signature,
            mic: state.mic,
            duplicate,
            previous_mdn: previous.into_mdn(),
        })
    }

    /// Records `error` from the stage at `level` and drops that stage and every stage
    /// below it; the stages above keep running, and their own failures replace this one.
    fn fail(&mut self, level: usize, error: Error) {
        self.stages.truncate(level);
        self.state.layers.retain(|(l, _)| *l <= level);
        self.failed = Some((level, error));
    }

    fn feed<R: CryptoRng + ?Sized>(
        &mut self,
        level: usize,
        data: &[u8],
        sink: &mut dyn PayloadSink,
        rng: &mut R,
    ) {
        if level >= self.stages.len() {
            return;
        }
        while self.scratch.len() <= level {
            self.scratch.push(Vec::new());
        }
        let mut out = self
            .scratch
            .get_mut(level)
            .map(std::mem::take)
            .unwrap_or_default();
        out.clear();
        match self.push_stage(level, data, &mut out, sink, rng) {
            Err(error) => self.fail(level, error),
            Ok(Step::Continue) => {
                if !out.is_empty() {
                    self.feed(level.saturating_add(1), &out, sink, rng);
                }
            }
            Ok(Step::Become(stages, replay)) => {
                self.stages.truncate(level);
                self.stages.extend(stages);
                match replay {
                    Replay::Rest(consumed) => {
                        let rest = data.get(consumed..).unwrap_or_default();
                        if !rest.is_empty() {
                            self.feed(level, rest, sink, rng);
                        }
                    }
                    Replay::Owned(bytes) => {
                        if !bytes.is_empty() {
                            self.feed(level, &bytes, sink, rng);
                        }
                    }
                }
            }
        }
        self.put_scratch(level, out);
    }

    fn put_scratch(&mut self, level: usize, out: Vec<u8>) {
        if let Some(slot) = self.scratch.get_mut(level) {
            *slot = out;
        }
    }

    /// Runs one stage on `input`, its output into `out`.
    fn push_stage<R: CryptoRng + ?Sized>(
        &mut self,
        level: usize,
        input: &[u8],
        out: &mut Vec<u8>,
        sink: &mut dyn PayloadSink,
        rng: &mut R,
    ) -> Result<Step<'s>, Error> {
        let Some(stage) = self.stages.get_mut(level) else {
            return Ok(Step::Continue);
        };
        match stage {
            Stage::Decode(decoder) => decoder.push(input, out)?,
            Stage::Sniff(buffer) => {
                buffer.extend_from_slice(input);
                let Some(content_type) = sniff_content_type(buffer)? else {
                    return Ok(Step::Continue);
                };
                let bytes = std::mem::take(buffer);
                let stages = self.dispatch(level, content_type)?;
                return Ok(Step::Become(stages, Replay::Owned(bytes)));
            }
            Stage::Enveloped(reader) => {
                let result = reader.push(input, out, rng);
                let cipher = reader.cipher();
                let decrypting = reader.decrypting();
                if let Some(cipher) = cipher {
                    self.note_envelope(level, cipher, decrypting)?;
                }
                result?;
            }
            Stage::Compressed(reader) => reader.push(input, out)?,
            Stage::Opaque(reader) => reader.push(input, out)?,
            Stage::Signed(signed) => signed.push(input, out)?,
            Stage::Head(head) => {
                let pushed = head.block.push(input);
                let taken = match &pushed {
                    Ok(Some(n)) => (*n).min(input.len()),
                    _ => input.len(),
                };
                head.seen
                    .extend_from_slice(input.get(..taken).unwrap_or_default());
                let mime = match pushed {
                    Ok(Some(_)) => head.block.headers().is_ok_and(|h| has_content_type(&h)),
                    Ok(None) if head.seen.len() <= MIME_SNIFF => return Ok(Step::Continue),
                    Ok(None) | Err(_) => false,
                };
                if mime {
                    let stages = self.head_complete(level)?;
                    return Ok(Step::Become(stages, Replay::Rest(taken)));
                }
                // No header block with a Content-Type: bare content.
                let mut all = std::mem::take(&mut head.seen);
                all.extend_from_slice(input.get(taken..).unwrap_or_default());
                let stage = self.bare(level)?;
                return Ok(Step::Become(vec![stage], Replay::Owned(all)));
            }
            Stage::Payload(payload) => {
                if let Some((_, feed)) = &mut payload.mic {
                    feed.update(input)?;
                }
                payload.decoder.push(input, out)?;
                self.payload_len = self.payload_len.saturating_add(out.len() as u64);
                sink.write(out);
                out.clear();
            }
            Stage::Related(related) => {
                if let Some((_, feed)) = &mut related.mic {
                    feed.update(input)?;
                }
                let written = related.reader.push(input, sink)?;
                self.payload_len = self.payload_len.saturating_add(written);
            }
            Stage::Bare(hasher) => {
                if let Some((_, h)) = hasher {
                    h.update(input);
                }
                self.payload_len = self.payload_len.saturating_add(input.len() as u64);
                sink.write(input);
            }
        }
        Ok(Step::Continue)
    }

    /// Ends the stage at `level`: its last output goes to the next stage, then any
    /// verdict it holds (a padding, a signature) is taken.
    fn finish_stage<R: CryptoRng + ?Sized>(
        &mut self,
        level: usize,
        sink: &mut dyn PayloadSink,
        rng: &mut R,
    ) {
        let mut out = Vec::new();
        let result = self.finish_one(level, &mut out, sink);
        if std::mem::take(&mut self.tag_failed) {
            // The envelope's tag did not verify: everything that came out of it is
            // refused, as a failure inside the envelope (so reported, like every other one
            // before a signature, as the one decryption failure; the operator is told).
            self.fail(
                level.saturating_add(1),
                Error::Malformed {
                    what: "decrypted content: the AES-GCM/CCM authentication tag does not verify",
                    offset: 0,
                },
            );
            return;
        }
        match result {
            Err(error) => self.fail(level, error),
            Ok(()) => {
                if !out.is_empty() {
                    self.feed(level.saturating_add(1), &out, sink, rng);
                }
                if let Err(error) = self.verdict(level) {
                    self.fail(level, error);
                }
            }
        }
    }

    fn finish_one(
        &mut self,
        level: usize,
        out: &mut Vec<u8>,
        sink: &mut dyn PayloadSink,
    ) -> Result<(), Error> {
        let Some(stage) = self.stages.get_mut(level) else {
            return Ok(());
        };
        match stage {
            Stage::Decode(decoder) => decoder.finish(out)?,
            Stage::Sniff(buffer) => {
                // Too short to say: the whole-buffer reader names what is missing.
                let bytes = std::mem::take(buffer);
                crate::cms::content_type(&bytes, self.policy.limits)?;
                return Err(Error::malformed("ContentInfo", 0));
            }
            Stage::Enveloped(reader) => {
                let end = reader.finish(out)?;
                self.state.well_formed = end.well_formed;
                if end.authentic == Some(false) {
                    self.tag_failed = true;
                }
            }
            Stage::Compressed(reader) => reader.finish(out)?,
            Stage::Opaque(_) | Stage::Bare(_) => {}
            Stage::Signed(signed) => signed.finish(out)?,
            Stage::Head(head) => {
                let mime = head.block.finish().is_ok()
                    && head.block.headers().is_ok_and(|h| has_content_type(&h));
                let seen = std::mem::take(&mut head.seen);
                let stages = if mime {
                    self.head_complete(level)?
                } else {
                    vec![self.bare(level)?]
                };
                self.stages.truncate(level);
                self.stages.extend(stages);
                if let Some(Stage::Bare(hasher)) = self.stages.get_mut(level) {
                    if let Some((_, h)) = hasher {
                        h.update(&seen);
                    }
                    self.payload_len = self.payload_len.saturating_add(seen.len() as u64);
                    sink.write(&seen);
                }
                // The stage that replaced the header block ends here too.
                return self.finish_one(level, out, sink);
            }
            Stage::Payload(payload) => {
                payload.decoder.finish(out)?;
                self.payload_len = self.payload_len.saturating_add(out.len() as u64);
                sink.write(out);
                out.clear();
            }
            Stage::Related(related) => {
                let (written, parts) = related.reader.finish(sink)?;
                self.payload_len = self.payload_len.saturating_add(written);
                self.parts = parts;
            }
        }
        Ok(())
    }

    /// The verdict of a finished stage: a signature verified, a MIC computed.
    fn verdict(&mut self, level: usize) -> Result<(), Error> {
        let policy = self.policy;
        let Some(stage) = self.stages.get_mut(level) else {
            return Ok(());
        };
        let verified = match stage {
            Stage::Opaque(reader) => reader.finish(policy.partner_certificates),
            Stage::Signed(signed) => signed.verify(policy.partner_certificates, policy.limits),
            Stage::Payload(_) | Stage::Related(_) => {
                let mic = match stage {
                    Stage::Payload(payload) => payload.mic.take(),
                    Stage::Related(related) => related.mic.take(),
                    _ => None,
                };
                if let Some((algorithm, feed)) = mic {
                    self.state.mic = Some(Mic {
                        algorithm,
                        digest: feed.finish()?,
                    });
                }
                return Ok(());
            }
            Stage::Bare(hasher) => {
                if let Some((algorithm, h)) = hasher.take() {
                    self.state.mic = Some(Mic {
                        algorithm,
                        digest: h.finish(),
                    });
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        let verified = verified.inspect_err(|e| self.state.note_verified_but_refused(e))?;
        self.state.authentic = true;
        let verified = signer_rule(policy).check(verified)?;
        self.state.record_signature(level, verified)
    }

    /// Records the envelope's layer once its cipher is known, and that decryption began.
    fn note_envelope(
        &mut self,
        level: usize,
        cipher: ContentEncryption,
        decrypting: bool,
    ) -> Result<(), Error> {
        if !self
            .state
            .layers
            .iter()
            .any(|(l, layer)| *l == level && matches!(layer, Layer::Encrypted(_)))
        {
            if !self.policy.accept_legacy_algorithms && cipher == ContentEncryption::TripleDesCbc {
                return Err(Error::UnsupportedAlgorithm {
                    kind: AlgorithmKind::ContentEncryption,
                    oid: cipher.oid(),
                });
            }
            self.state
                .push(level, Layer::Encrypted(cipher), LayerKind::Encryption)?;
        }
        if decrypting {
            self.state.decrypted = true;
        }
        Ok(())
    }

    /// The reader for a CMS content type.
    fn dispatch(
        &mut self,
        level: usize,
        content_type: ContentType,
    ) -> Result<Vec<Stage<'s>>, Error> {
        let limits = self.policy.limits;
        let reader = match content_type {
            ContentType::EnvelopedData => {
                // Refuse a second envelope before spending work on it.
                self.state.ensure_new(LayerKind::Encryption)?;
                Stage::Enveloped(Box::new(EnvelopedReader::new(
                    limits,
                    self.policy.decryption,
                    self.policy.accept_legacy_algorithms,
                )))
            }
            ContentType::AuthEnvelopedData => {
                self.state.ensure_new(LayerKind::Encryption)?;
                Stage::Enveloped(Box::new(EnvelopedReader::new_auth(
                    limits,
                    self.policy.decryption,
                )))
            }
            ContentType::CompressedData => {
                self.state
                    .push(level, Layer::Compressed, LayerKind::Compression)?;
                Stage::Compressed(Box::new(CompressedReader::new(limits)))
            }
            ContentType::SignedData => Stage::Opaque(Box::new(SignedReader::new(limits))),
            ContentType::Data => return Err(Error::UnsupportedFormat("bare id-data content")),
        };
        // What comes out is a MIME entity (or, where allowed, a bare payload).
        Ok(vec![
            reader,
            Stage::Head(Box::new(Head::new(&self.mime_limits))),
        ])
    }

    /// Whether a stage above `level` is of the given kind.
    fn above(&self, level: usize, kind: LayerKind) -> bool {
        self.stages.iter().take(level).any(|s| {
            matches!(
                (s, kind),
                (Stage::Enveloped(_), LayerKind::Encryption)
                    | (Stage::Signed(_) | Stage::Opaque(_), LayerKind::Signature)
                    | (Stage::Compressed(_), LayerKind::Compression)
            )
        })
    }

    /// The MIC algorithm for an unsigned message, if a receipt was requested: the first
    /// supported one the sender asked for (SHA-256 when it named none we support).
    fn unsigned_mic_algorithm(&self) -> Option<DigestAlgorithm> {
        self.receipt.map(DispositionOptions::receipt_micalg)
    }

    /// The stages for an entity whose header block was just read at `level`.
    fn head_complete(&mut self, level: usize) -> Result<Vec<Stage<'s>>, Error> {
        let Some(Stage::Head(head)) = self.stages.get(level) else {
            return Err(Error::UnsupportedFormat("MIME entity"));
        };
        let headers = head.block.headers()?;
        let Some(ct) = headers.get("Content-Type") else {
            return Err(Error::UnsupportedFormat("MIME entity"));
        };
        let ct = mime::ContentType::parse(&ct.unfolded_value())?;
        let encoding = headers
            .get("Content-Transfer-Encoding")
            .map(|h| TransferEncoding::parse(&h.unfolded_value()))
            .unwrap_or(TransferEncoding::SevenBit);
        let disposition = headers
            .get("Content-Disposition")
            .map(|h| h.unfolded_value().into_owned());
        let header_bytes = head.block.bytes().to_vec();
        self.decide(
            level,
            &ct,
            encoding,
            disposition.as_deref(),
            Some(&header_bytes),
        )
    }

    /// What the body of an entity of type `ct` at `level` is: more layers or the
    /// payload. `header_bytes` is the entity's header block (`None` at the top, where
    /// the headers travelled as HTTP headers).
    fn decide(
        &mut self,
        level: usize,
        ct: &mime::ContentType,
        encoding: TransferEncoding,
        disposition: Option<&[u8]>,
        header_bytes: Option<&[u8]>,
    ) -> Result<Vec<Stage<'s>>, Error> {
        let policy = self.policy;
        let smime = is_pkcs7_mime(ct);
        if policy.require_encryption && !self.above(level, LayerKind::Encryption) && !smime {
            return Err(PolicyError::EncryptionRequired.into());
        }
        if smime {
            let mut stages = Vec::with_capacity(2);
            if !is_identity(&encoding) {
                stages.push(Stage::Decode(TransferDecoder::new(&encoding)));
            }
            stages.push(Stage::Sniff(Vec::new()));
            return Ok(stages);
        }
        if ct.is("multipart/signed") {
            let signed =
                MultipartSignedReader::new(ct, policy.limits, policy.binary_canonicalization)?;
            return Ok(vec![
                Stage::Signed(Box::new(signed)),
                Stage::Head(Box::new(Head::new(&self.mime_limits))),
            ]);
        }
        if ct.is("multipart/report") {
            return Err(not_a_message());
        }
        if ct.is("multipart/related") {
            // Several files (RFC 6362): the payload entity is their multipart/related.
            self.check_policy(level)?;
            if !policy.accept_attachments {
                return Err(PolicyError::AttachmentsRefused.into());
            }
            // Its parts lie one level below it; it lies below each multipart/signed.
            let depth = self
                .stages
                .iter()
                .take(level)
                .filter(|s| matches!(s, Stage::Signed(_)))
                .count()
                .saturating_add(1);
            if depth > policy.limits.max_mime_depth {
                return Err(mime::MimeError::MaxDepthExceeded {
                    max_depth: policy.limits.max_mime_depth,
                }
                .into());
            }
            let mic = self.unsigned_mic(level, header_bytes)?;
            let reader = RelatedReader::new(ct, policy.limits)?;
            self.content_type = Some(ct.mime_type());
            self.file_name = None;
            return Ok(vec![Stage::Related(Box::new(Related { reader, mic }))]);
        }
        if ct.is_multipart() {
            return Err(Error::UnsupportedFormat(
                "multipart payloads other than multipart/related",
            ));
        }
        // The payload entity.
        self.check_policy(level)?;
        let mic = self.unsigned_mic(level, header_bytes)?;
        self.file_name = mime::file_name(disposition, ct);
        self.content_type = Some(ct.mime_type());
        Ok(vec![Stage::Payload(Box::new(Payload {
            decoder: TransferDecoder::new(&encoding),
            mic,
        }))])
    }

    /// The MIC of an unsigned message over the payload entity at `level`, if a receipt
    /// was requested: over the body as it arrives at the top (`header_bytes` `None`),
    /// else over the entity's canonical form.
    fn unsigned_mic(
        &self,
        level: usize,
        header_bytes: Option<&[u8]>,
    ) -> Result<Option<(DigestAlgorithm, MicFeed)>, Error> {
        let policy = self.policy;
        let signed_above = self.above(level, LayerKind::Signature);
        Ok(match (self.unsigned_mic_algorithm(), signed_above) {
            (Some(alg), false) => Some((
                alg,
                match header_bytes {
                    None => MicFeed::Raw(alg.hasher()),
                    Some(header_bytes) => {
                        let mut canon = Box::new(EntityCanonicalizer::new(
                            policy.binary_canonicalization,
                            &self.mime_limits,
                        ));
                        let mut hasher = alg.hasher();
                        let mut buf = Vec::new();
                        canon.push(header_bytes, &mut buf)?;
                        hasher.update(&buf);
                        MicFeed::Canonical(canon, hasher, buf)
                    }
                },
            )),
            _ => None,
        })
    }

    /// The stage for content with no MIME headers, where the policy allows it.
    fn bare(&mut self, level: usize) -> Result<Stage<'s>, Error> {
        // Decrypted content with no MIME headers at all (Mendelson sends the bare payload
        // unsigned): deliver it as application/octet-stream, but only where the policy
        // allows it. Damaged ciphertext decrypts to exactly this, so otherwise it is a
        // failure like any other before a signature.
        if self.policy.require_signature || !self.policy.accept_bare_payload {
            return Err(Error::UnsupportedFormat(
                "decrypted content has no MIME headers",
            ));
        }
        self.check_policy(level)?;
        let hasher = if self.above(level, LayerKind::Signature) {
            None
        } else {
            self.unsigned_mic_algorithm().map(|a| (a, a.hasher()))
        };
        self.content_type = Some("application/octet-stream".into());
        self.file_name = None;
        Ok(Stage::Bare(hasher))
    }

    /// The agreement's requirements, for a payload found at `level`.
    fn check_policy(&self, level: usize) -> Result<(), Error> {
        if self.policy.require_encryption && !self.above(level, LayerKind::Encryption) {
            return Err(PolicyError::EncryptionRequired.into());
        }
        if self.policy.require_signature && !self.above(level, LayerKind::Signature) {
            return Err(PolicyError::SignatureRequired.into());
        }
        Ok(())
    }
}

impl Unwrap {
    /// Damaged ciphertext decrypts (CBC has no integrity) to damaged content, and an
    /// attacker who replays our RecipientInfo with chosen blocks controls how. Until a
    /// signature has verified what came out of the envelope, every failure is therefore
    /// reported as the one [`Error::DecryptionFailed`]: a limit hit, a malformed,
    /// garbled or unsupported structure, a signature that does not verify, a missing
    /// signature the policy requires, a second envelope. Otherwise each would be an
    /// oracle on the plaintext (a padding oracle is one of them). An unsupported
    /// content-encryption or key-transport algorithm is a fact about the envelope
    /// itself, found before decryption, and stays as it is.
    ///
    /// A failure of the envelope itself (`level` is the envelope's: truncated, trailing
    /// bytes, a ciphertext that is not whole blocks) is a fact about the bytes sent, not
    /// about the plaintext, and stays as it is too.
    ///
    /// Returns the error to report and the real cause it hides, for the operator.
    /// Nothing learnt from the damaged plaintext reaches the sender either: the layers
    /// found inside the envelope and any MIC computed over it are dropped.
    fn conceal_until_authentic(&mut self, level: usize, error: Error) -> (Error, Option<Error>) {
        let envelope = self
            .layers
            .iter()
            .position(|(l, layer)| matches!(layer, Layer::Encrypted(_)) && *l < level);
        let Some(envelope) = envelope.filter(|_| self.decrypted && !self.authentic) else {
            return (error, None);
        };
        self.layers.truncate(envelope.saturating_add(1));
        self.mic = None;
        let cause = if self.well_formed {
            error
        } else {
            // Reported as what followed it, with the fact that the key or padding was
            // not well formed (usually the reason).
            Error::Malformed {
                what: "decrypted content: the content key, the CBC padding or the AEAD tag is not well formed",
                offset: 0,
            }
        };
        (Error::DecryptionFailed, Some(cause))
    }

    /// A verification error that `SignedData::verify` reports only after the signature
    /// has verified (the signer certificate's key usage) still proves the plaintext
    /// authentic: it is reported as it is, not concealed.
    fn note_verified_but_refused(&mut self, error: &Error) {
        if matches!(error, Error::CertificateUsage(_)) {
            self.authentic = true;
        }
    }

    /// Fails with `DUPLICATE_MESSAGE` if a layer of `kind` was already found.
    fn ensure_new(&self, kind: LayerKind) -> Result<(), Error> {
        let same = self.layers.iter().any(|(_, l)| {
            matches!(
                (l, kind),
                (Layer::Encrypted(_), LayerKind::Encryption)
                    | (Layer::Signed(_), LayerKind::Signature)
                    | (Layer::Compressed, LayerKind::Compression)
            )
        });
        if same {
            return Err(PolicyError::DuplicateLayer(kind).into());
        }
        Ok(())
    }

    fn push(&mut self, level: usize, layer: Layer, kind: LayerKind) -> Result<(), Error> {
        self.ensure_new(kind)?;
        self.layers.push((level, layer));
        Ok(())
    }

    /// Records a verified signature: its layer, the MIC it proves, and the signer.
    fn record_signature(&mut self, level: usize, verified: Verified) -> Result<(), Error> {
        self.push(level, Layer::Signed(verified.digest), LayerKind::Signature)?;
        self.mic = Some(Mic {
            algorithm: verified.digest,
            digest: verified.content_digest.clone(),
        });
        self.signature = Some(verified);
        Ok(())
    }
}

/// The signer rule of `policy`: one of the partner's certificates, accepted by the
/// policy's [`SignerTrust`](crate::smime::verify::SignerTrust) if it has one.
fn signer_rule<'p>(policy: &'p InboundPolicy<'_>) -> SignerRule<'p> {
    SignerRule {
        certificates: policy.partner_certificates,
        trust: policy.signer_trust,
        accept_sha1: policy.accept_legacy_algorithms,
    }
}

fn not_a_message() -> Error {
    Error::UnsupportedFormat("an MDN, not a message: verify it with the MDN layer")
}

fn is_identity(encoding: &TransferEncoding) -> bool {
    matches!(
        encoding,
        TransferEncoding::SevenBit | TransferEncoding::EightBit | TransferEncoding::Binary
    )
}

fn has_content_type(headers: &mime::Headers<'_>) -> bool {
    headers
        .iter()
        .any(|h| h.name_eq_ignore_case("Content-Type"))
}

/// The content type of a ContentInfo from its first bytes: `Ok(None)` while more are
/// needed. `ContentInfo ::= SEQUENCE { contentType OBJECT IDENTIFIER, ... }`, the
/// SEQUENCE of definite or indefinite length.
fn sniff_content_type(bytes: &[u8]) -> Result<Option<ContentType>, Error> {
    let malformed = || Error::malformed("ContentInfo", 0);
    let mut pos = 0usize;
    let mut next = || -> Option<u8> {
        let b = bytes.get(pos).copied();
        pos = pos.saturating_add(1);
        b
    };
    let more = |bytes: &[u8]| {
        if bytes.len() >= CONTENT_INFO_SNIFF {
            Err(malformed())
        } else {
            Ok(None)
        }
    };
    match next() {
        None => return Ok(None),
        Some(0x30) => {}
        Some(_) => return Err(malformed()),
    }
    match next() {
        None => return Ok(None),
        Some(0x80) => {}
        Some(n) if n < 0x80 => {}
        Some(n @ 0x81..=0x88) => {
            for _ in 0..(n & 0x7f) {
                if next().is_none() {
                    return more(bytes);
                }
            }
        }
        Some(_) => return Err(malformed()),
    }
    match next() {
        None => return more(bytes),
        Some(0x06) => {}
        Some(_) => return Err(malformed()),
    }
    let len = match next() {
        None => return more(bytes),
        Some(n) if n < 0x80 => usize::from(n),
        Some(_) => return Err(malformed()),
    };
    let start = pos;
    let Some(oid_bytes) = bytes.get(start..start.saturating_add(len)) else {
        return more(bytes);
    };
    let oid = const_oid::ObjectIdentifier::from_bytes(oid_bytes).map_err(|_| malformed())?;
    ContentType::from_oid(&oid)
        .map(Some)
        .ok_or(Error::UnsupportedAlgorithm {
            kind: AlgorithmKind::ContentType,
            oid,
        })
}
