//! When to resend an outbound message that did not get through
//! (draft-ietf-ediint-rfc4130bis §5.4 and §5.5, draft-duker-as2-reliability): a schedule
//! with no clock and no timer.
//!
//! The caller makes an attempt, reports how it ended with [`RetrySchedule::record`] and
//! the time it ended, and is told what to do next: resend at a time ([`Next::RetryAt`]),
//! keep waiting for the attempt to finish ([`Next::Pending`]), stop because the message
//! was delivered ([`Next::Done`]), or stop because no resend can help or the policy's
//! limits are reached ([`Next::GiveUp`]). Nothing here sleeps or reads the clock; the
//! optional jitter ([`RetrySchedule::record_jittered`]) is drawn from the caller's random
//! source.
//!
//! **Every resend reuses the message's Message-ID** (draft §5.5: "Each retry attempt MUST
//! reuse the same Message-ID value"), and should be the very bytes sent the first time:
//! the receiver recognises the Message-ID, does not deliver the payload twice, and answers
//! with the MDN it sent the first time when it still has it
//! ([`DuplicateCheck`](crate::DuplicateCheck)).
//!
//! How an attempt's outcome is classified:
//!
//! | Outcome | Next step | Why |
//! | --- | --- | --- |
//! | 1xx (102 Processing) | [`Next::Pending`] | not a final status; draft §5.4/§5.5: MUST NOT trigger or suppress a retry |
//! | 2xx with an MDN reporting `processed` and a matching MIC | [`Next::Done`] | delivered |
//! | 2xx, asynchronous MDN still to come | [`Next::Pending`] | record the MDN, or [`Outcome::MdnOverdue`], when known |
//! | no response (connection refused or broken, read timeout), async MDN overdue | retry | draft §5.4: the transfer may not have happened |
//! | 408, 425, 500, 502, 503, 504 and other 5xx | retry | transient (draft §5.4, §5.5) |
//! | 429 | retry, after Retry-After | rate limiting is temporary by definition (RFC 6585 §4) |
//! | 501, 505 | give up | the server cannot ever handle the request; a resend cannot change that |
//! | 400, 401, 403, 404, 413, other 4xx and 3xx | give up | permanent (draft §5.4: "4xx other than 408") |
//! | MDN `failed` or `processed/error` | give up | the partner refused the message (draft §5.5) |
//! | 2xx with an MDN that confirms nothing (bad signature, MIC mismatch) | give up | draft §5.5: no retry after a final 2xx; a resend would get the same MDN back |
//!
//! A `Retry-After` on 503 or 429 (delay-seconds or an HTTP-date) makes the schedule wait
//! at least that long, capped at [`RetryPolicy::max_interval`]; it never shortens the
//! backoff, so a server cannot make the sender hammer it ("The objective of error recovery
//! is reliability, not speed", draft §5.5).
//!
//! ```
//! use std::time::Duration;
//! use as2_proto::retry::{GiveUp, Next, Outcome, RetryPolicy, RetrySchedule};
//!
//! let start = as2_proto::unix_time(1_800_000_000);
//! let mut schedule = RetrySchedule::new(RetryPolicy::default(), start);
//! // The first POST: the partner's server is down.
//! let failed_at = start + Duration::from_secs(2);
//! let next = schedule.record(Outcome::status(503), failed_at);
//! assert_eq!(next, Next::RetryAt(failed_at + Duration::from_secs(5 * 60)));
//! // The resend (same Message-ID): the partner refuses it for good.
//! let next = schedule.record(Outcome::status(403), failed_at + Duration::from_secs(301));
//! assert_eq!(next, Next::GiveUp(GiveUp::PermanentStatus(403)));
//! ```

use core::fmt;
use std::time::{Duration, SystemTime};

use rand_core::Rng;
use serde::{Deserialize, Serialize};

use crate::mdn::{MdnStatus, Verdict};
use crate::message::headers::HttpResponse;
use crate::partner::{TransportError, TransportErrorKind};

/// How often, and for how long, a message is resent.
///
/// The `n`-th resend waits `first_interval × backoff_factor^(n-1)`, at most
/// `max_interval`; no resend is scheduled after `max_duration` from the first attempt or
/// beyond `max_attempts` attempts in all. The defaults follow the example of
/// draft-ietf-ediint-rfc4130bis §5.5 ("5 min, 10 min, 20 min, 40 min, …"); see each field
/// for its reason.
///
/// Serde (JSON or TOML, like the partner configuration): every field is optional,
/// durations are whole seconds, unknown fields and invalid values are refused:
///
/// ```
/// let policy: as2_proto::RetryPolicy = serde_json::from_str(
///     r#"{ "first_interval_seconds": 60, "max_attempts": 5 }"#,
/// )?;
/// assert_eq!(policy.first_interval, std::time::Duration::from_secs(60));
/// assert_eq!(policy.backoff_factor, 2.0); // the default
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RetryPolicyFields")]
#[non_exhaustive]
pub struct RetryPolicy {
    /// The wait before the first resend. Default 5 minutes: the draft's example, and where
    /// Axway's and AdroitLogic's AS2 gateways start; long enough for a server restart.
    #[serde(rename = "first_interval_seconds", serialize_with = "as_seconds")]
    pub first_interval: Duration,
    /// Each wait is the previous one times this (at least 1). Default 2, the draft's
    /// doubling.
    pub backoff_factor: f64,
    /// The longest wait between two attempts, and the most a `Retry-After` is honoured.
    /// Default 1 hour (where Axway's schedule levels off): a partner back from an outage
    /// is reached within the hour.
    #[serde(rename = "max_interval_seconds", serialize_with = "as_seconds")]
    pub max_interval: Duration,
    /// No resend is scheduled later than this after the first attempt. Default 24 hours:
    /// an overnight outage or maintenance window is ridden out, and a message older than
    /// a day needs a person rather than another resend (the draft leaves it to business
    /// requirements, "several days" to "one or two attempts").
    #[serde(rename = "max_duration_seconds", serialize_with = "as_seconds")]
    pub max_duration: Duration,
    /// Attempts in all, the first one included (at least 1). Default 10: with the default
    /// intervals the last resend goes about six hours after the first attempt (5, 10, 20,
    /// 40 minutes, then hourly); the draft asks for a limit "to prevent indefinite
    /// retries when persistent errors occur".
    pub max_attempts: u32,
    /// The fraction (0 to 1) by which [`RetrySchedule::record_jittered`] may shorten each
    /// backoff at random, so that the resends of many messages held up by one outage do
    /// not all arrive at once. Default 0: [`RetrySchedule::record`] is exact, and a single
    /// sender's queue rarely needs spreading.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_interval: Duration::from_secs(5 * 60),
            backoff_factor: 2.0,
            max_interval: Duration::from_secs(60 * 60),
            max_duration: Duration::from_secs(24 * 60 * 60),
            max_attempts: 10,
            jitter: 0.0,
        }
    }
}

impl RetryPolicy {
    /// Checks the values that deserialising checks: a finite backoff factor of at least 1,
    /// `max_interval` not below `first_interval`, at least one attempt, and a jitter
    /// between 0 and 1. A schedule never panics on a policy that fails this check; it
    /// only behaves as the nearest valid one.
    pub fn validate(&self) -> Result<(), RetryPolicyError> {
        if !self.backoff_factor.is_finite() || self.backoff_factor < 1.0 {
            return Err(RetryPolicyError::BackoffFactor);
        }
        if self.max_interval < self.first_interval {
            return Err(RetryPolicyError::MaxIntervalBelowFirst);
        }
        if self.max_attempts == 0 {
            return Err(RetryPolicyError::NoAttempts);
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(RetryPolicyError::Jitter);
        }
        Ok(())
    }

    /// The backoff before resend number `n` (1 for the first resend), without jitter or
    /// `Retry-After`.
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = if self.backoff_factor.is_finite() {
            self.backoff_factor.max(1.0)
        } else {
            1.0
        };
        let exponent = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
        let seconds = self.first_interval.as_secs_f64() * factor.powi(exponent);
        // Overflow (an infinite product) lands on the cap.
        Duration::try_from_secs_f64(seconds)
            .unwrap_or(self.max_interval)
            .min(self.max_interval)
    }
}

fn as_seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_secs())
}

/// The serde form of [`RetryPolicy`], checked on the way in.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RetryPolicyFields {
    first_interval_seconds: u64,
    backoff_factor: f64,
    max_interval_seconds: u64,
    max_duration_seconds: u64,
    max_attempts: u32,
    jitter: f64,
}

impl Default for RetryPolicyFields {
    fn default() -> Self {
        let policy = RetryPolicy::default();
        RetryPolicyFields {
            first_interval_seconds: policy.first_interval.as_secs(),
            backoff_factor: policy.backoff_factor,
            max_interval_seconds: policy.max_interval.as_secs(),
            max_duration_seconds: policy.max_duration.as_secs(),
            max_attempts: policy.max_attempts,
            jitter: policy.jitter,
        }
    }
}

impl TryFrom<RetryPolicyFields> for RetryPolicy {
    type Error = RetryPolicyError;

    fn try_from(fields: RetryPolicyFields) -> Result<Self, Self::Error> {
        let policy = RetryPolicy {
            first_interval: Duration::from_secs(fields.first_interval_seconds),
            backoff_factor: fields.backoff_factor,
            max_interval: Duration::from_secs(fields.max_interval_seconds),
            max_duration: Duration::from_secs(fields.max_duration_seconds),
            max_attempts: fields.max_attempts,
            jitter: fields.jitter,
        };
        policy.validate()?;
        Ok(policy)
    }
}

/// Why a [`RetryPolicy`] is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryPolicyError {
    /// `backoff_factor` is below 1 or not a number.
    BackoffFactor,
    /// `max_interval` is shorter than `first_interval`.
    MaxIntervalBelowFirst,
    /// `max_attempts` is 0.
    NoAttempts,
    /// `jitter` is not between 0 and 1.
    Jitter,
}

impl fmt::Display for RetryPolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BackoffFactor => "backoff_factor must be a number of at least 1",
            Self::MaxIntervalBelowFirst => {
                "max_interval_seconds must not be below first_interval_seconds"
            }
            Self::NoAttempts => "max_attempts must be at least 1",
            Self::Jitter => "jitter must be between 0 and 1",
        })
    }
}

impl std::error::Error for RetryPolicyError {}

/// A `Retry-After` header value (RFC 9110 §10.2.3): a delay or a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryAfter {
    /// `delay-seconds`; a value too large for 64 bits is read as the longest delay.
    Delay(Duration),
    /// An HTTP-date, in any form [`HttpHeaders`](crate::HttpHeaders) dates are read in.
    At(SystemTime),
}

impl RetryAfter {
    /// Reads a header value; `None` for anything that is neither digits nor a date
    /// (garbage is ignored, as RFC 9110 lets a recipient do with an invalid field).
    pub fn parse(value: &[u8]) -> Option<Self> {
        let text = core::str::from_utf8(value).ok()?.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            let seconds = text.parse::<u64>().unwrap_or(u64::MAX);
            return Some(Self::Delay(Duration::from_secs(seconds)));
        }
        crate::time::parse_http_date(text).map(Self::At)
    }

    /// The delay from `now`: zero for a time already past.
    pub fn delay_from(self, now: SystemTime) -> Duration {
        match self {
            Self::Delay(delay) => delay,
            Self::At(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        }
    }
}

/// How a final or interim HTTP status is treated (see the [module table](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusClass {
    /// 1xx: not a final status (102 Processing); ignored.
    Interim,
    /// 2xx: the message was received; its MDN says the rest.
    Success,
    /// 408, 425, 429, and 5xx except 501 and 505: resend later.
    Transient,
    /// Everything else: a resend cannot succeed.
    Permanent,
}

impl StatusClass {
    /// The class of `status`.
    pub fn of(status: u16) -> Self {
        match status {
            100..=199 => Self::Interim,
            200..=299 => Self::Success,
            // 501 Not Implemented and 505 HTTP Version Not Supported describe the server,
            // not its state: they come back on every resend.
            501 | 505 => Self::Permanent,
            408 | 425 | 429 | 500..=599 => Self::Transient,
            _ => Self::Permanent,
        }
    }
}

/// How the partner judged the message, from its MDN (synchronous or asynchronous).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MdnOutcome {
    /// `processed` (or `processed/warning`) with a matching MIC, or none expected.
    Delivered,
    /// `failed` or `processed/error`: the partner refused the message.
    Refused(MdnStatus),
    /// An MDN that confirms nothing: it did not parse or verify, names another message,
    /// reports another MIC, or has a disposition other than `processed` or a refusal.
    Unusable,
}

impl MdnOutcome {
    /// The outcome of a verified MDN ([`Mdn::verify`](crate::Mdn::verify)): delivered when
    /// [`Verdict::is_success`], refused for `failed` and `processed/error`, else unusable
    /// (a MIC mismatch among them). An MDN that fails to verify is [`MdnOutcome::Unusable`].
    pub fn from_verdict(verdict: &Verdict) -> Self {
        if verdict.is_success() {
            return Self::Delivered;
        }
        match &verdict.status {
            status @ (MdnStatus::Error(_) | MdnStatus::Failed(_)) => Self::Refused(status.clone()),
            _ => Self::Unusable,
        }
    }
}

/// How one attempt ended, as the caller reports it to [`RetrySchedule::record`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// No final status arrived: the connection could not be made or broke, or the read
    /// timed out. The partner may or may not have the message; a resend is safe because it
    /// carries the same Message-ID.
    NoResponse,
    /// An HTTP status with no MDN to judge: an error status, an interim 1xx, or the 2xx
    /// that acknowledges a message whose asynchronous MDN is still to come. When a response
    /// carries the synchronous MDN, record [`Outcome::Mdn`] instead.
    Status {
        /// The status code.
        status: u16,
        /// The `Retry-After` header, honoured on 503 and 429.
        retry_after: Option<RetryAfter>,
    },
    /// The MDN for the message, synchronous or asynchronous.
    Mdn(MdnOutcome),
    /// The asynchronous MDN did not arrive within the time agreed with the partner: the
    /// message or the MDN was lost, and a resend asks for the MDN again (the receiver
    /// answers a resend with the MDN it already sent, without delivering the payload
    /// twice).
    MdnOverdue,
    /// Nothing was sent because nothing can be as configured (a URL that is neither
    /// `http` nor `https`).
    Unsendable,
}

impl Outcome {
    /// A status without `Retry-After`.
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            retry_after: None,
        }
    }

    /// The status of `response` with its `Retry-After` header, if any (read whatever the
    /// status; only 503 and 429 use it).
    pub fn from_response(response: &HttpResponse) -> Self {
        Self::Status {
            status: response.status,
            retry_after: response
                .headers
                .get("Retry-After")
                .and_then(RetryAfter::parse),
        }
    }

    /// The outcome of a failed POST through the caller's
    /// [`Transport`](crate::partner::Transport): [`Outcome::Unsendable`] for an invalid
    /// URL scheme, else [`Outcome::NoResponse`] (name resolution and connection failures
    /// are usually temporary).
    pub fn from_transport_error(error: &TransportError) -> Self {
        match error.kind {
            TransportErrorKind::InvalidProtocol => Self::Unsendable,
            _ => Self::NoResponse,
        }
    }

    /// The outcome of a verified MDN ([`MdnOutcome::from_verdict`]).
    pub fn from_verdict(verdict: &Verdict) -> Self {
        Self::Mdn(MdnOutcome::from_verdict(verdict))
    }
}

/// Why a schedule stopped without delivering the message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUp {
    /// The partner answered with a status a resend cannot change (see [`StatusClass`]).
    PermanentStatus(u16),
    /// The partner's MDN refused the message (`failed` or `processed/error`).
    Refused(MdnStatus),
    /// A 2xx came with an MDN that confirms nothing; a resend would be answered with the
    /// same MDN.
    UnusableMdn,
    /// Nothing can be sent as configured.
    Unsendable,
    /// Every attempt the policy allows has failed.
    AttemptsExhausted {
        /// The attempts made.
        attempts: u32,
    },
    /// The next resend would fall after the policy's `max_duration` from the first attempt.
    DeadlineReached {
        /// The first attempt plus `max_duration`.
        deadline: SystemTime,
    },
}

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PermanentStatus(status) => write!(f, "the partner answered HTTP {status}"),
            Self::Refused(status) => write!(f, "the partner's MDN refused the message: {status}"),
            Self::UnusableMdn => f.write_str("the partner's MDN confirms nothing"),
            Self::Unsendable => f.write_str("the message cannot be sent as configured"),
            Self::AttemptsExhausted { attempts } => write!(f, "{attempts} attempts failed"),
            Self::DeadlineReached { .. } => f.write_str("the retry period has ended"),
        }
    }
}

/// What to do after an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// Resend the message, with the same Message-ID, at this time.
    RetryAt(SystemTime),
    /// The attempt has not ended (an interim 1xx, or an asynchronous MDN still to come):
    /// keep waiting and record how it ends.
    Pending,
    /// The message was delivered.
    Done,
    /// Stop: no resend.
    GiveUp(GiveUp),
}

/// The retry state of one outbound message; see the [module docs](self).
///
/// The whole state is the policy, the time of the first attempt and the number of
/// attempts made, so a retry queue in a database keeps those three and rebuilds the
/// schedule with [`RetrySchedule::resume`].
#[derive(Clone, Debug)]
pub struct RetrySchedule {
    policy: RetryPolicy,
    first_attempt_at: SystemTime,
    attempts: u32,
    awaits_mdn: bool,
    finished: Option<Next>,
}

impl RetrySchedule {
    /// The schedule of a message whose first attempt is made at `first_attempt_at`, and
    /// which asked for an MDN (see [`RetrySchedule::without_mdn`]).
    pub fn new(policy: RetryPolicy, first_attempt_at: SystemTime) -> Self {
        Self::resume(policy, first_attempt_at, 1)
    }

    /// A schedule rebuilt from storage: `attempts` attempts have been made (counting the
    /// one under way), the first at `first_attempt_at`.
    pub fn resume(policy: RetryPolicy, first_attempt_at: SystemTime, attempts: u32) -> Self {
        RetrySchedule {
            policy,
            first_attempt_at,
            attempts: attempts.max(1),
            awaits_mdn: true,
            finished: None,
        }
    }

    /// For a message sent without asking for an MDN: a 2xx status completes it.
    pub fn without_mdn(mut self) -> Self {
        self.awaits_mdn = false;
        self
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// When the first attempt was made.
    pub fn first_attempt_at(&self) -> SystemTime {
        self.first_attempt_at
    }

    /// Attempts made so far, the one under way included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The last time a resend may be scheduled for (`None` beyond the calendar).
    pub fn deadline(&self) -> Option<SystemTime> {
        self.first_attempt_at.checked_add(self.policy.max_duration)
    }

    /// The final [`Next::Done`] or [`Next::GiveUp`], once reached.
    pub fn finished(&self) -> Option<&Next> {
        self.finished.as_ref()
    }

    /// Records how the current attempt ended at `now`, and says what to do next. Exact:
    /// the policy's jitter is not applied. Once the schedule has finished, every call
    /// returns the same final answer.
    pub fn record(&mut self, outcome: Outcome, now: SystemTime) -> Next {
        self.record_with(outcome, now, |backoff| backoff)
    }

    /// [`RetrySchedule::record`] with each backoff shortened by a random fraction of at
    /// most [`RetryPolicy::jitter`], drawn from `rng` (only when a resend is scheduled).
    pub fn record_jittered<R: Rng + ?Sized>(
        &mut self,
        outcome: Outcome,
        now: SystemTime,
        rng: &mut R,
    ) -> Next {
        let jitter = self.policy.jitter;
        self.record_with(outcome, now, |backoff| {
            jittered(backoff, jitter, rng.next_u64())
        })
    }

    fn record_with(
        &mut self,
        outcome: Outcome,
        now: SystemTime,
        adjust: impl FnOnce(Duration) -> Duration,
    ) -> Next {
        if let Some(finished) = &self.finished {
            return finished.clone();
        }
        let retry_after = match self.classify(outcome) {
            Step::Wait => return Next::Pending,
            Step::Stop(next) => {
                self.finished = Some(next.clone());
                return next;
            }
            Step::Retry(retry_after) => retry_after,
        };
        let next = self.schedule(now, retry_after, adjust);
        if matches!(next, Next::GiveUp(_)) {
            self.finished = Some(next.clone());
        }
        next
    }

    fn classify(&self, outcome: Outcome) -> Step {
        let give_up = |reason| Step::Stop(Next::GiveUp(reason));
        match outcome {
            Outcome::NoResponse | Outcome::MdnOverdue => Step::Retry(None),
            Outcome::Unsendable => give_up(GiveUp::Unsendable),
            Outcome::Mdn(MdnOutcome::Delivered) => Step::Stop(Next::Done),
            Outcome::Mdn(MdnOutcome::Refused(status)) => give_up(GiveUp::Refused(status)),
            Outcome::Mdn(MdnOutcome::Unusable) => give_up(GiveUp::UnusableMdn),
            Outcome::Status {
                status,
                retry_after,
            } => match StatusClass::of(status) {
                StatusClass::Interim => Step::Wait,
                StatusClass::Success if self.awaits_mdn => Step::Wait,
                StatusClass::Success => Step::Stop(Next::Done),
                StatusClass::Transient => {
                    Step::Retry(retry_after.filter(|_| matches!(status, 429 | 503)))
                }
                StatusClass::Permanent => give_up(GiveUp::PermanentStatus(status)),
            },
        }
    }

    /// The next attempt after a failed one, or the limit that forbids it.
    fn schedule(
        &mut self,
        now: SystemTime,
        retry_after: Option<RetryAfter>,
        adjust: impl FnOnce(Duration) -> Duration,
    ) -> Next {
        if self.attempts >= self.policy.max_attempts.max(1) {
            return Next::GiveUp(GiveUp::AttemptsExhausted {
                attempts: self.attempts,
            });
        }
        let backoff = adjust(self.policy.backoff(self.attempts));
        let asked = retry_after.map_or(Duration::ZERO, |r| {
            r.delay_from(now).min(self.policy.max_interval)
        });
        let at = now.checked_add(backoff.max(asked));
        match (at, self.deadline()) {
            (Some(at), Some(deadline)) if at > deadline => {
                Next::GiveUp(GiveUp::DeadlineReached { deadline })
            }
            (Some(at), _) => {
                self.attempts = self.attempts.saturating_add(1);
                Next::RetryAt(at)
            }
            (None, deadline) => Next::GiveUp(GiveUp::DeadlineReached {
                deadline: deadline.unwrap_or(now),
            }),
        }
    }
}

/// What an outcome means for the schedule.
enum Step {
    /// Not final: wait.
    Wait,
    /// Final: done or give up.
    Stop(Next),
    /// Failed: resend, after at least this `Retry-After`.
    Retry(Option<RetryAfter>),
}

/// `backoff` shortened by `jitter × u`, `u` uniform in [0, 1) from `random`.
fn jittered(backoff: Duration, jitter: f64, random: u64) -> Duration {
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // The top 53 bits as a fraction: exact in an f64.
    let unit = (random >> 11) as f64 / (1u64 << 53) as f64;
    Duration::try_from_secs_f64(backoff.as_secs_f64() * (1.0 - jitter * unit)).unwrap_or(backoff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::headers::HttpHeaders;

    fn t(seconds: u64) -> SystemTime {
        crate::unix_time(1_800_000_000 + seconds)
    }

    const MIN: u64 = 60;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 100,
            max_duration: Duration::from_secs(1_000_000),
            ..RetryPolicy::default()
        }
    }

    /// Failed attempts, each recorded the moment the previous schedule said to resend;
    /// returns the waits between attempts, in minutes, and the final answer.
    fn run(schedule: &mut RetrySchedule, outcome: Outcome, limit: usize) -> (Vec<u64>, Next) {
        let mut now = schedule.first_attempt_at();
        let mut waits = Vec::new();
        for _ in 0..limit {
            match schedule.record(outcome.clone(), now) {
                Next::RetryAt(at) => {
                    waits.push(at.duration_since(now).unwrap().as_secs() / MIN);
                    now = at;
                }
                other => return (waits, other),
            }
        }
        (waits, Next::Pending)
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut schedule = RetrySchedule::new(policy(), t(0));
        let (waits, _) = run(&mut schedule, Outcome::NoResponse, 8);
        assert_eq!(waits, [5, 10, 20, 40, 60, 60, 60, 60]);
        assert_eq!(schedule.attempts(), 9);
    }

    #[test]
    fn default_policy_gives_up_after_ten_attempts() {
        let mut schedule = RetrySchedule::new(RetryPolicy::default(), t(0));
        let (waits, last) = run(&mut schedule, Outcome::status(503), 20);
        assert_eq!(waits, [5, 10, 20, 40, 60, 60, 60, 60, 60]);
        assert_eq!(
            last,
            Next::GiveUp(GiveUp::AttemptsExhausted { attempts: 10 })
        );
        // Final: the same answer whatever comes next.
        assert_eq!(schedule.record(Outcome::status(200), t(999_999)), last);
        assert_eq!(schedule.finished(), Some(&last));
    }

    #[test]
    fn attempt_limit_counts_the_first_attempt() {
        let one = RetryPolicy {
            max_attempts: 1,
            ..policy()
        };
        let mut schedule = RetrySchedule::new(one, t(0));
        assert_eq!(
            schedule.record(Outcome::NoResponse, t(1)),
            Next::GiveUp(GiveUp::AttemptsExhausted { attempts: 1 })
        );
        // Resumed from storage after three attempts, with four allowed: one more.
        let four = RetryPolicy {
            max_attempts: 4,
            ..policy()
        };
        let mut schedule = RetrySchedule::resume(four, t(0), 3);
        assert_eq!(
            schedule.record(Outcome::NoResponse, t(0)),
            Next::RetryAt(t(20 * MIN))
        );
        assert_eq!(
            schedule.record(Outcome::NoResponse, t(20 * MIN)),
            Next::GiveUp(GiveUp::AttemptsExhausted { attempts: 4 })
        );
    }

    #[test]
    fn duration_limit_stops_resends_past_the_deadline() {
        // Two hours: 5 + 10 + 20 + 40 minutes fit (75), the next 60 would end at 135.
        let two_hours = RetryPolicy {
            max_duration: Duration::from_secs(120 * MIN),
            ..policy()
        };
        let mut schedule = RetrySchedule::new(two_hours, t(0));
        let (waits, last) = run(&mut schedule, Outcome::NoResponse, 10);
        assert_eq!(waits, [5, 10, 20, 40]);
        assert_eq!(
            last,
            Next::GiveUp(GiveUp::DeadlineReached {
                deadline: t(120 * MIN)
            })
        );
        assert_eq!(schedule.deadline(), Some(t(120 * MIN)));
        // A resend exactly at the deadline is still allowed.
        let exact = RetryPolicy {
            max_duration: Duration::from_secs(5 * MIN),
            ..policy()
        };
        let mut schedule = RetrySchedule::new(exact, t(0));
        assert_eq!(
            schedule.record(Outcome::NoResponse, t(0)),
            Next::RetryAt(t(5 * MIN))
        );
    }

    #[test]
    fn backoff_never_overflows() {
        let huge = RetryPolicy {
            first_interval: Duration::from_secs(u64::MAX / 2),
            max_interval: Duration::MAX,
            max_duration: Duration::MAX,
            backoff_factor: 1e300,
            max_attempts: u32::MAX,
            ..policy()
        };
        assert_eq!(huge.backoff(u32::MAX), Duration::MAX);
        let mut schedule = RetrySchedule::new(huge, t(0));
        assert!(matches!(
            schedule.record(Outcome::NoResponse, t(0)),
            Next::GiveUp(GiveUp::DeadlineReached { .. })
        ));
        // Invalid values set directly behave as the nearest valid ones.
        let odd = RetryPolicy {
            backoff_factor: f64::NAN,
            max_attempts: 0,
            ..policy()
        };
        assert_eq!(odd.backoff(5), Duration::from_secs(5 * MIN));
        let mut schedule = RetrySchedule::new(odd, t(0));
        assert!(matches!(
            schedule.record(Outcome::NoResponse, t(0)),
            Next::GiveUp(GiveUp::AttemptsExhausted { attempts: 1 })
        ));
    }

    #[test]
    fn status_classes() {
        for status in [100, 102, 103] {
            assert_eq!(StatusClass::of(status), StatusClass::Interim, "{status}");
        }
        for status in [200, 202, 204] {
            assert_eq!(StatusClass::of(status), StatusClass::Success, "{status}");
        }
        for status in [408, 425, 429, 500, 502, 503, 504, 507] {
            assert_eq!(StatusClass::of(status), StatusClass::Transient, "{status}");
        }
        for status in [0, 99, 301, 400, 401, 403, 404, 405, 413, 415, 501, 505, 600] {
            assert_eq!(StatusClass::of(status), StatusClass::Permanent, "{status}");
        }
    }

    #[test]
    fn each_outcome_leads_to_its_step() {
        let retry = Next::RetryAt(t(10 + 5 * MIN));
        let cases = [
            (Outcome::NoResponse, retry.clone()),
            (Outcome::MdnOverdue, retry.clone()),
            (Outcome::status(408), retry.clone()),
            (Outcome::status(425), retry.clone()),
            (Outcome::status(429), retry.clone()),
            (Outcome::status(500), retry.clone()),
            (Outcome::status(502), retry.clone()),
            (Outcome::status(503), retry.clone()),
            (Outcome::status(504), retry.clone()),
            (Outcome::status(102), Next::Pending),
            (Outcome::status(202), Next::Pending),
            (
                Outcome::status(400),
                Next::GiveUp(GiveUp::PermanentStatus(400)),
            ),
            (
                Outcome::status(401),
                Next::GiveUp(GiveUp::PermanentStatus(401)),
            ),
            (
                Outcome::status(403),
                Next::GiveUp(GiveUp::PermanentStatus(403)),
            ),
            (
                Outcome::status(404),
                Next::GiveUp(GiveUp::PermanentStatus(404)),
            ),
            (
                Outcome::status(413),
                Next::GiveUp(GiveUp::PermanentStatus(413)),
            ),
            (
                Outcome::status(501),
                Next::GiveUp(GiveUp::PermanentStatus(501)),
            ),
            (Outcome::Mdn(MdnOutcome::Delivered), Next::Done),
            (
                Outcome::Mdn(MdnOutcome::Refused(MdnStatus::Failed(
                    "unsupported format".into(),
                ))),
                Next::GiveUp(GiveUp::Refused(MdnStatus::Failed(
                    "unsupported format".into(),
                ))),
            ),
            (
                Outcome::Mdn(MdnOutcome::Refused(MdnStatus::Error(
                    "decryption-failed".into(),
                ))),
                Next::GiveUp(GiveUp::Refused(MdnStatus::Error(
                    "decryption-failed".into(),
                ))),
            ),
            (
                Outcome::Mdn(MdnOutcome::Unusable),
                Next::GiveUp(GiveUp::UnusableMdn),
            ),
            (Outcome::Unsendable, Next::GiveUp(GiveUp::Unsendable)),
        ];
        for (outcome, expected) in cases {
            let mut schedule = RetrySchedule::new(policy(), t(0));
            assert_eq!(
                schedule.record(outcome.clone(), t(10)),
                expected,
                "{outcome:?}"
            );
        }
        // Without an MDN asked for, a 2xx completes the transfer.
        let mut schedule = RetrySchedule::new(policy(), t(0)).without_mdn();
        assert_eq!(schedule.record(Outcome::status(200), t(1)), Next::Done);
    }

    /// 102 Processing is neither a failure nor an attempt: the attempt goes on, and what
    /// ends it decides.
    #[test]
    fn interim_status_is_ignored() {
        let mut schedule = RetrySchedule::new(policy(), t(0));
        assert_eq!(schedule.record(Outcome::status(102), t(30)), Next::Pending);
        assert_eq!(schedule.record(Outcome::status(102), t(60)), Next::Pending);
        assert_eq!(schedule.attempts(), 1);
        assert_eq!(
            schedule.record(Outcome::NoResponse, t(90)),
            Next::RetryAt(t(90 + 5 * MIN))
        );
        assert_eq!(schedule.record(Outcome::status(102), t(400)), Next::Pending);
        assert_eq!(
            schedule.record(Outcome::Mdn(MdnOutcome::Delivered), t(401)),
            Next::Done
        );
    }

    /// An asynchronous exchange: the 2xx leaves the attempt open until the MDN comes, or
    /// is overdue and the message is resent.
    #[test]
    fn async_mdn_overdue_resends() {
        let mut schedule = RetrySchedule::new(policy(), t(0));
        assert_eq!(schedule.record(Outcome::status(204), t(1)), Next::Pending);
        assert_eq!(
            schedule.record(Outcome::MdnOverdue, t(3600)),
            Next::RetryAt(t(3600 + 5 * MIN))
        );
        assert_eq!(
            schedule.record(Outcome::status(204), t(4000)),
            Next::Pending
        );
        assert_eq!(
            schedule.record(Outcome::Mdn(MdnOutcome::Delivered), t(4001)),
            Next::Done
        );
    }

    #[test]
    fn retry_after_lengthens_the_wait_up_to_the_cap() {
        let status = |status, value: &str| Outcome::Status {
            status,
            retry_after: RetryAfter::parse(value.as_bytes()),
        };
        let first = |outcome| RetrySchedule::new(policy(), t(0)).record(outcome, t(0));
        // Longer than the backoff: honoured.
        assert_eq!(first(status(503, "1200")), Next::RetryAt(t(20 * MIN)));
        assert_eq!(first(status(429, "1200")), Next::RetryAt(t(20 * MIN)));
        // An HTTP-date 30 minutes ahead.
        assert_eq!(
            first(status(503, "Fri, 15 Jan 2027 08:30:00 GMT")),
            Next::RetryAt(crate::unix_time(1_800_001_800))
        );
        // Shorter than the backoff, or past: the backoff.
        assert_eq!(first(status(503, "10")), Next::RetryAt(t(5 * MIN)));
        assert_eq!(
            first(status(503, "Sun, 06 Nov 1994 08:49:37 GMT")),
            Next::RetryAt(t(5 * MIN))
        );
        // Beyond max_interval: capped at one hour.
        assert_eq!(first(status(503, "86400")), Next::RetryAt(t(60 * MIN)));
        assert_eq!(
            first(status(503, "99999999999999999999999")),
            Next::RetryAt(t(60 * MIN))
        );
        // Ignored on other statuses.
        assert_eq!(first(status(500, "1200")), Next::RetryAt(t(5 * MIN)));
        assert_eq!(first(status(502, "1200")), Next::RetryAt(t(5 * MIN)));
    }

    #[test]
    fn retry_after_parsing() {
        assert_eq!(
            RetryAfter::parse(b" 120 "),
            Some(RetryAfter::Delay(Duration::from_secs(120)))
        );
        assert_eq!(
            RetryAfter::parse(b"0"),
            Some(RetryAfter::Delay(Duration::ZERO))
        );
        assert_eq!(
            RetryAfter::parse(b"18446744073709551616"),
            Some(RetryAfter::Delay(Duration::from_secs(u64::MAX)))
        );
        let date = RetryAfter::parse(b"Fri, 31 Dec 1999 23:59:59 GMT");
        assert_eq!(date, Some(RetryAfter::At(crate::unix_time(946_684_799))));
        assert_eq!(
            date.unwrap().delay_from(crate::unix_time(946_684_000)),
            Duration::from_secs(799)
        );
        assert_eq!(
            date.unwrap().delay_from(crate::unix_time(946_685_000)),
            Duration::ZERO
        );
        for garbage in [
            &b""[..],
            b"   ",
            b"-5",
            b"1.5",
            b"+30",
            b"30s",
            b"soon",
            b"Fri, 31 Dec 1999",
            b"Fri, 32 Dec 1999 23:59:59 GMT",
            b"\xff\xfe",
        ] {
            assert_eq!(RetryAfter::parse(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn outcome_from_response_and_transport_error() {
        let mut headers = HttpHeaders::new();
        headers.push("Retry-After", "90");
        let response = HttpResponse::new(503, headers, Vec::new());
        assert_eq!(
            Outcome::from_response(&response),
            Outcome::Status {
                status: 503,
                retry_after: Some(RetryAfter::Delay(Duration::from_secs(90)))
            }
        );
        let plain = HttpResponse::new(404, HttpHeaders::new(), Vec::new());
        assert_eq!(Outcome::from_response(&plain), Outcome::status(404));
        let error = |kind| TransportError::new(kind, "x");
        assert_eq!(
            Outcome::from_transport_error(&error(TransportErrorKind::ConnectionFailed)),
            Outcome::NoResponse
        );
        assert_eq!(
            Outcome::from_transport_error(&error(TransportErrorKind::UnresolvableHostname)),
            Outcome::NoResponse
        );
        assert_eq!(
            Outcome::from_transport_error(&error(TransportErrorKind::InvalidProtocol)),
            Outcome::Unsendable
        );
    }

    /// Jitter only shortens, stays within its fraction, and is the same for the same
    /// random source.
    #[test]
    fn jitter_comes_from_the_callers_rng() {
        use rand::SeedableRng;
        let jittery = RetryPolicy {
            jitter: 0.5,
            ..policy()
        };
        let waits = |seed| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut schedule = RetrySchedule::new(jittery.clone(), t(0));
            let mut now = t(0);
            let mut waits = Vec::new();
            for _ in 0..6 {
                let Next::RetryAt(at) =
                    schedule.record_jittered(Outcome::NoResponse, now, &mut rng)
                else {
                    panic!("a retry");
                };
                waits.push(at.duration_since(now).unwrap());
                now = at;
            }
            waits
        };
        let (a, b, c) = (waits(1), waits(1), waits(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        for (n, wait) in (1..).zip(&a) {
            let full = jittery.backoff(n);
            assert!(
                *wait <= full && *wait >= full / 2,
                "{n}: {wait:?} of {full:?}"
            );
        }
        assert_eq!(
            jittered(Duration::from_secs(100), 1.0, 0),
            Duration::from_secs(100)
        );
        assert!(jittered(Duration::from_secs(100), 1.0, u64::MAX) < Duration::from_secs(1));
        assert_eq!(
            jittered(Duration::from_secs(100), f64::NAN, u64::MAX),
            Duration::from_secs(100)
        );
        // `record` ignores the policy's jitter.
        let mut schedule = RetrySchedule::new(jittery.clone(), t(0));
        assert_eq!(
            schedule.record(Outcome::NoResponse, t(0)),
            Next::RetryAt(t(5 * MIN))
        );
    }

    #[test]
    fn policy_serde_round_trips_and_validates() {
        let policy = RetryPolicy::default();
        let json = serde_json::to_string(&policy).unwrap();
        assert_eq!(
            json,
            r#"{"first_interval_seconds":300,"backoff_factor":2.0,"max_interval_seconds":3600,"max_duration_seconds":86400,"max_attempts":10,"jitter":0.0}"#
        );
        assert_eq!(serde_json::from_str::<RetryPolicy>(&json).unwrap(), policy);
        assert_eq!(serde_json::from_str::<RetryPolicy>("{}").unwrap(), policy);
        #[cfg(feature = "toml")]
        {
            let text = "first_interval_seconds = 60\nbackoff_factor = 1.5\nmax_attempts = 3\n";
            let parsed: RetryPolicy = toml::from_str(text).unwrap();
            assert_eq!(parsed.first_interval, Duration::from_secs(60));
            assert_eq!(parsed.backoff_factor, 1.5);
            assert_eq!(parsed.max_attempts, 3);
            assert_eq!(parsed.max_interval, policy.max_interval);
            let back: RetryPolicy = toml::from_str(&toml::to_string(&parsed).unwrap()).unwrap();
            assert_eq!(back, parsed);
            assert!(toml::from_str::<RetryPolicy>("backoff_factor = nan").is_err());
        }
        for (bad, expected) in [
            (r#"{"backoff_factor":0.5}"#, RetryPolicyError::BackoffFactor),
            (
                r#"{"first_interval_seconds":7200}"#,
                RetryPolicyError::MaxIntervalBelowFirst,
            ),
            (r#"{"max_attempts":0}"#, RetryPolicyError::NoAttempts),
            (r#"{"jitter":1.5}"#, RetryPolicyError::Jitter),
            (r#"{"jitter":-0.1}"#, RetryPolicyError::Jitter),
        ] {
            let error = serde_json::from_str::<RetryPolicy>(bad).unwrap_err();
            assert!(
                error.to_string().contains(&expected.to_string()),
                "{bad}: {error}"
            );
        }
        assert!(serde_json::from_str::<RetryPolicy>(r#"{"retries":3}"#).is_err());
        assert!(serde_json::from_str::<RetryPolicy>(r#"{"max_attempts":-1}"#).is_err());
    }
}
