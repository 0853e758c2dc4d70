//! The gateway's state in a database: transfers, the duplicate history and the MDNs
//! answered, transfers awaiting an asynchronous MDN, and the job queue.
//!
//! [`Database`] is an enum over the backends: SQLite (a file in the data directory, one
//! process) is the embedded default; PostgreSQL is shared by several instances behind one
//! load balancer. Each query is written once, in SQL both take (`$1` placeholders,
//! `ON CONFLICT`, `RETURNING`), and `on_backend!` runs it on whichever pool there is;
//! only the job claim differs (`FOR UPDATE SKIP LOCKED` on PostgreSQL). Each backend has
//! its versioned migrations (`gateway/migrations/sqlite/`, `gateway/migrations/postgres/`),
//! applied at start (on PostgreSQL under an advisory lock, so instances may start
//! together).
//!
//! A duplicate is an `INSERT ... ON CONFLICT DO NOTHING` against a UNIQUE constraint
//! (insert first, never read-then-write); a job is claimed by one `UPDATE ... RETURNING`
//! with a lease; a pending asynchronous MDN is claimed by the one `DELETE` that removes it.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use as2_proto::message::inbound::StoredMdn;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// The SQLite migrations (`gateway/migrations/sqlite/`), embedded.
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
/// The PostgreSQL migrations (`gateway/migrations/postgres/`), embedded.
pub static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A database error.
pub type DbError = sqlx::Error;

/// Where the gateway keeps its state.
#[derive(Clone, Debug)]
pub enum Database {
    /// SQLite: one file, one process at a time writing (the embedded default).
    Sqlite(SqlitePool),
    /// PostgreSQL: shared by every instance of a scaled-out gateway.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the pool of whichever backend `$db` is: one copy
/// of each query in the source, type-checked against each backend.
macro_rules! on_backend {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Database::Sqlite($pool) => $body,
            Database::Postgres($pool) => $body,
        }
    };
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The time `millis` milliseconds after the Unix epoch.
pub fn from_millis(millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

/// One transfer, as `GET /api/transfers/{id}` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, sqlx::FromRow)]
pub struct Transfer {
    /// The transfer id (a UUID).
    pub id: String,
    /// `outbound` or `inbound`.
    pub direction: String,
    /// The partner's AS2 ID.
    pub partner: String,
    /// The bare Message-ID.
    pub message_id: String,
    /// The connector it was sent through (outbound).
    pub connector_id: Option<String>,
    /// The file's name.
    pub file_name: Option<String>,
    /// One of [`status`]'s.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the first attempt was made (Unix milliseconds): the retry schedule counts
    /// its deadline from there.
    pub first_attempt_at: Option<i64>,
    /// What a job needs to (re)send it (JSON; internal).
    #[serde(skip)]
    pub request: String,
    /// The JSON status record, relative to the store.
    pub record_path: Option<String>,
    /// The MDN, relative to the store.
    pub mdn_path: Option<String>,
    /// Why it failed (or the last attempt failed).
    pub failure: Option<String>,
    /// When it was created (Unix milliseconds).
    pub created_at: i64,
    /// When it last changed (Unix milliseconds).
    pub updated_at: i64,
}

/// How a transfer changed.
#[derive(Clone, Debug, Default)]
pub struct TransferUpdate<'a> {
    /// The new status.
    pub status: &'a str,
    /// Attempts made, if it changed.
    pub attempts: Option<i64>,
    /// When the first attempt was made, if it is being made.
    pub first_attempt_at: Option<i64>,
    /// The status record written.
    pub record_path: Option<&'a str>,
    /// The MDN written.
    pub mdn_path: Option<&'a str>,
    /// Why it failed.
    pub failure: Option<&'a str>,
}

/// A job claimed from the queue.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Job {
    /// Its id.
    pub id: i64,
    /// `send`, `async_mdn` or `mdn_timeout`.
    pub kind: String,
    /// The transfer it is for.
    pub transfer_id: Option<String>,
    /// What it needs (JSON).
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// When it was first queued (Unix milliseconds).
    pub created_at: i64,
}

/// A transfer's states.
pub mod status {
    /// Waiting for its first attempt.
    pub const QUEUED: &str = "QUEUED";
    /// An attempt is under way.
    pub const SENDING: &str = "SENDING";
    /// Delivered; its asynchronous MDN is awaited.
    pub const AWAITING_MDN: &str = "AWAITING_MDN";
    /// An attempt failed; a resend (same Message-ID) is queued.
    pub const RETRYING: &str = "RETRYING";
    /// Delivered and confirmed by the MDN (or no MDN asked for).
    pub const COMPLETED: &str = "COMPLETED";
    /// Given up: refused, or no resend can help or is allowed.
    pub const FAILED: &str = "FAILED";
    /// Received again (inbound): answered with the MDN kept, not delivered twice.
    pub const DUPLICATE: &str = "DUPLICATE";
}

/// The job kinds.
pub mod kind {
    /// Send (or resend) an outbound transfer.
    pub const SEND: &str = "send";
    /// POST an asynchronous MDN to the partner.
    pub const ASYNC_MDN: &str = "async_mdn";
    /// Stop waiting for an asynchronous MDN.
    pub const MDN_TIMEOUT: &str = "mdn_timeout";
}

/// The columns of a claimed [`Job`].
const JOB_COLUMNS: &str = "id, kind, transfer_id, payload, attempts, created_at";

impl Database {
    /// Opens the database `url` names and brings its schema up to date:
    /// `postgres://...` (or `postgresql://...`, any libpq-style URL sqlx takes) or
    /// `sqlite:PATH` (`sqlite://PATH`).
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::open_postgres(url).await
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Self::open_sqlite(Path::new(path)).await
        } else {
            Err(DbError::Configuration(
                format!("database {url:?}: not a postgres:// or sqlite: URL").into(),
            ))
        }
    }

    /// Opens (creating it if need be) the SQLite database at `path` and brings its schema
    /// up to date.
    pub async fn open_sqlite(path: &Path) -> Result<Self, DbError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(DbError::Io)?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        SQLITE_MIGRATOR.run(&pool).await?;
        Ok(Database::Sqlite(pool))
    }

    /// Connects to the PostgreSQL database at `url` (it must exist) and brings its schema
    /// up to date.
    pub async fn open_postgres(url: &str) -> Result<Self, DbError> {
        let options = PgConnectOptions::from_str(url)?.application_name("as2-gateway");
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        POSTGRES_MIGRATOR.run(&pool).await?;
        Ok(Database::Postgres(pool))
    }

    /// Closes the connections.
    pub async fn close(&self) {
        on_backend!(self, pool => pool.close().await)
    }

    /// Records `message_id` from `partner`; `true` if it is new, `false` if it had been
    /// received before (by this instance or another). One insert against the UNIQUE
    /// constraint.
    pub async fn record_message_id(
        &self,
        partner: &str,
        message_id: &str,
        now: SystemTime,
    ) -> Result<bool, DbError> {
        let done = on_backend!(self, pool => sqlx::query(
            "INSERT INTO duplicates (partner, message_id, received_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(partner)
        .bind(message_id)
        .bind(millis(now))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Forgets a Message-ID recorded by [`Database::record_message_id`] (the message
    /// could not be stored: its resend must be taken as new).
    pub async fn forget_message_id(&self, partner: &str, message_id: &str) -> Result<(), DbError> {
        on_backend!(self, pool => sqlx::query(
            "DELETE FROM duplicates WHERE partner = $1 AND message_id = $2",
        )
        .bind(partner)
        .bind(message_id)
        .execute(pool)
        .await
        .map(drop))
    }

    /// The MDN answered for `message_id` from `partner`, if one was kept.
    pub async fn stored_mdn(
        &self,
        partner: &str,
        message_id: &str,
    ) -> Result<Option<StoredMdn>, DbError> {
        let json: Option<String> = on_backend!(self, pool => sqlx::query_scalar(
            "SELECT mdn FROM stored_mdns WHERE partner = $1 AND message_id = $2",
        )
        .bind(partner)
        .bind(message_id)
        .fetch_optional(pool)
        .await?);
        json.map(|j| serde_json::from_str(&j).map_err(|e| DbError::Decode(Box::new(e))))
            .transpose()
    }

    /// Keeps the MDN answered for a message whose Message-ID was recorded (the first one
    /// kept wins; the MDN of a message never recorded, a refused one, is not kept).
    pub async fn store_mdn(
        &self,
        partner: &str,
        message_id: &str,
        mdn: &StoredMdn,
        now: SystemTime,
    ) -> Result<(), DbError> {
        let json = serde_json::to_string(mdn).map_err(|e| DbError::Decode(Box::new(e)))?;
        on_backend!(self, pool => sqlx::query(
            "INSERT INTO stored_mdns (partner, message_id, mdn, stored_at) \
             SELECT $1, $2, $3, $4 WHERE EXISTS \
             (SELECT 1 FROM duplicates WHERE partner = $1 AND message_id = $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(partner)
        .bind(message_id)
        .bind(&json)
        .bind(millis(now))
        .execute(pool)
        .await
        .map(drop))
    }

    /// Records an outbound message awaiting its asynchronous MDN.
    pub async fn put_pending_mdn(
        &self,
        message_id: &str,
        transfer_id: &str,
        sent_json: &str,
        deadline: SystemTime,
    ) -> Result<(), DbError> {
        on_backend!(self, pool => sqlx::query(
            "INSERT INTO pending_mdns (message_id, transfer_id, sent, deadline) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (message_id) DO UPDATE SET \
             transfer_id = excluded.transfer_id, sent = excluded.sent, \
             deadline = excluded.deadline",
        )
        .bind(message_id)
        .bind(transfer_id)
        .bind(sent_json)
        .bind(millis(deadline))
        .execute(pool)
        .await
        .map(drop))
    }

    /// The pending record (JSON) of an outbound message awaiting its asynchronous MDN.
    pub async fn pending_mdn(&self, message_id: &str) -> Result<Option<String>, DbError> {
        on_backend!(self, pool => sqlx::query_scalar(
            "SELECT sent FROM pending_mdns WHERE message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(pool)
        .await)
    }

    /// Claims an outbound message awaiting its asynchronous MDN: `true` for the one caller
    /// (of any instance) whose `DELETE` removes the record, which then records the
    /// became of it).
    pub async fn claim_pending_mdn(&self, message_id: &str) -> Result<bool, DbError> {
        let done = on_backend!(self, pool => sqlx::query(
            "DELETE FROM pending_mdns WHERE message_id = $1",
        )
        .bind(message_id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// Adds a transfer.
    pub async fn insert_transfer(&self, t: &Transfer) -> Result<(), DbError> {
        self.insert_row(&TransferRow {
            transfer: t.clone(),
            outcome: TransferOutcome::default(),
        })
        .await
    }

    /// Updates a transfer's status (and what else `update` names).
    pub async fn update_transfer(
        &self,
        id: &str,
        update: &TransferUpdate<'_>,
        now: SystemTime,
    ) -> Result<(), DbError> {
        on_backend!(self, pool => sqlx::query(
            "UPDATE transfers SET status = $1, attempts = COALESCE($2, attempts), \
             first_attempt_at = COALESCE($3, first_attempt_at), \
             record_path = COALESCE($4, record_path), mdn_path = COALESCE($5, mdn_path), \
             failure = COALESCE($6, failure), updated_at = $7 WHERE id = $8",
        )
        .bind(update.status)
        .bind(update.attempts)
        .bind(update.first_attempt_at)
        .bind(update.record_path)
        .bind(update.mdn_path)
        .bind(update.failure)
        .bind(millis(now))
        .bind(id)
        .execute(pool)
        .await
        .map(drop))
    }

    /// Moves a transfer from status `from` to `to`; `false` if it was not in `from`.
    pub async fn update_status_if(
        &self,
        id: &str,
        from: &str,
        to: &str,
        now: SystemTime,
    ) -> Result<bool, DbError> {
        let done = on_backend!(self, pool => sqlx::query(
            "UPDATE transfers SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        )
        .bind(to)
        .bind(millis(now))
        .bind(id)
        .bind(from)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// A transfer by id.
    pub async fn transfer(&self, id: &str) -> Result<Option<Transfer>, DbError> {
        on_backend!(self, pool => sqlx::query_as("SELECT * FROM transfers WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await)
    }

    /// Queues a job to run at `run_at`; its id.
    pub async fn enqueue(
        &self,
        kind: &str,
        transfer_id: Option<&str>,
        payload: &str,
        run_at: SystemTime,
    ) -> Result<i64, DbError> {
        on_backend!(self, pool => sqlx::query_scalar(
            "INSERT INTO jobs (kind, transfer_id, payload, run_at, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(kind)
        .bind(transfer_id)
        .bind(payload)
        .bind(millis(run_at))
        .bind(millis(SystemTime::now()))
        .fetch_one(pool)
        .await)
    }

    /// Claims the earliest job due at `now` for `worker`, for at most `lease` (after which
    /// another worker, of this instance or another, may claim it: its claimer is taken
    /// for dead). One statement: no two workers get the same job. On PostgreSQL the
    /// sub-select locks the row it picks `FOR UPDATE SKIP LOCKED`, so concurrent claims
    /// pass over each other's rows instead of both updating the same one; SQLite
    /// serialises writers.
    pub async fn claim_job(
        &self,
        worker: &str,
        now: SystemTime,
        lease: Duration,
    ) -> Result<Option<Job>, DbError> {
        let lock = match self {
            Database::Sqlite(_) => "",
            Database::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE jobs SET claimed_by = $1, claimed_until = $2 WHERE id = \
             (SELECT id FROM jobs WHERE run_at <= $3 AND \
              (claimed_until IS NULL OR claimed_until < $3) ORDER BY run_at, id LIMIT 1{lock}) \
             RETURNING {JOB_COLUMNS}"
        );
        on_backend!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(worker)
            .bind(millis(now + lease))
            .bind(millis(now))
            .fetch_optional(pool)
            .await)
    }

    /// Removes a finished job.
    pub async fn finish_job(&self, id: i64) -> Result<(), DbError> {
        on_backend!(self, pool => sqlx::query("DELETE FROM jobs WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(drop))
    }

    /// Puts a job back to run again at `run_at`, with one more attempt counted.
    pub async fn reschedule_job(&self, id: i64, run_at: SystemTime) -> Result<(), DbError> {
        on_backend!(self, pool => sqlx::query(
            "UPDATE jobs SET run_at = $1, attempts = attempts + 1, claimed_by = NULL, \
             claimed_until = NULL WHERE id = $2",
        )
        .bind(millis(run_at))
        .bind(id)
        .execute(pool)
        .await
        .map(drop))
    }

    /// Removes the jobs of `kind` for a transfer (an asynchronous MDN arrived: its
    /// timeout is moot).
    pub async fn delete_jobs(&self, kind: &str, transfer_id: &str) -> Result<(), DbError> {
        on_backend!(self, pool => sqlx::query(
            "DELETE FROM jobs WHERE kind = $1 AND transfer_id = $2",
        )
        .bind(kind)
        .bind(transfer_id)
        .execute(pool)
        .await
        .map(drop))
    }

    /// The jobs queued (claimed or not).
    pub async fn queued_jobs(&self) -> Result<i64, DbError> {
        on_backend!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
            .fetch_one(pool)
            .await)
    }
}

/// What a transfer came to (the columns of migration `0002`): its payload size, the MDN's
/// disposition and the failure code.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, sqlx::FromRow)]
pub struct TransferOutcome {
    /// Payload bytes (for a refused inbound message, its body as received; 0 for a
    /// duplicate, which is not delivered again).
    pub size_bytes: Option<i64>,
    /// The MDN's disposition (`automatic-action/MDN-sent-automatically; processed`, ...).
    pub mdn_disposition: Option<String>,
    /// The status record's `failure-code` (`DECRYPT_FAILED`, ...).
    pub failure_code: Option<String>,
}

/// A transfer with its outcome, as the transfers API and the operator's page show it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, sqlx::FromRow)]
pub struct TransferRow {
    /// The transfer.
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub transfer: Transfer,
    /// What it came to.
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub outcome: TransferOutcome,
}

/// The most transfers [`Database::list_transfers`] returns.
pub const MAX_LISTED: i64 = 1000;

/// `INSERT` of an inbound transfer, every column (`$n` placeholders: SQLite and
/// PostgreSQL alike).
const INSERT_ROW: &str = "INSERT INTO transfers (id, direction, partner, message_id, \
     connector_id, file_name, status, attempts, first_attempt_at, request, record_path, \
     mdn_path, failure, created_at, updated_at, size_bytes, mdn_disposition, failure_code) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";

/// The newest transfers first, optionally of one partner and one status.
const LIST_TRANSFERS: &str = "SELECT * FROM transfers \
     WHERE ($1 IS NULL OR partner = $1) AND ($2 IS NULL OR status = $2) \
     ORDER BY created_at DESC, id DESC LIMIT $3";

const SET_OUTCOME: &str = "UPDATE transfers SET size_bytes = $1, mdn_disposition = $2, \
     failure_code = $3 WHERE id = $4";

const JOBS_BY_KIND: &str = "SELECT kind, COUNT(*) AS n FROM jobs GROUP BY kind";

const PENDING_MDNS: &str = "SELECT COUNT(*) FROM pending_mdns";

/// Inbound transfers, outcomes, the listing and the gauges read at scrape time.
impl Database {
    /// Adds a transfer with its outcome (an inbound one: a message received, whatever
    /// became of it).
    pub async fn insert_row(&self, row: &TransferRow) -> Result<(), DbError> {
        let (t, o) = (&row.transfer, &row.outcome);
        on_backend!(self, pool => {
                sqlx::query(INSERT_ROW)
                    .bind(&t.id)
                    .bind(&t.direction)
                    .bind(&t.partner)
                    .bind(&t.message_id)
                    .bind(&t.connector_id)
                    .bind(&t.file_name)
                    .bind(&t.status)
                    .bind(t.attempts)
                    .bind(t.first_attempt_at)
                    .bind(&t.request)
                    .bind(&t.record_path)
                    .bind(&t.mdn_path)
                    .bind(&t.failure)
                    .bind(t.created_at)
                    .bind(t.updated_at)
                    .bind(o.size_bytes)
                    .bind(&o.mdn_disposition)
                    .bind(&o.failure_code)
                    .execute(pool)
                    .await?;
                Ok(())
        })
    }

    /// Records what a transfer came to (an outbound transfer, where it ends).
    pub async fn set_outcome(&self, id: &str, outcome: &TransferOutcome) -> Result<(), DbError> {
        on_backend!(self, pool => {
                sqlx::query(SET_OUTCOME)
                    .bind(outcome.size_bytes)
                    .bind(&outcome.mdn_disposition)
                    .bind(&outcome.failure_code)
                    .bind(id)
                    .execute(pool)
                    .await?;
                Ok(())
        })
    }

    /// A transfer with its outcome, by id.
    pub async fn transfer_row(&self, id: &str) -> Result<Option<TransferRow>, DbError> {
        on_backend!(self, pool => sqlx::query_as("SELECT * FROM transfers WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await)
    }

    /// The newest transfers first (at most `limit`, capped at [`MAX_LISTED`]), of
    /// `partner` and in `status` when given.
    pub async fn list_transfers(
        &self,
        partner: Option<&str>,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TransferRow>, DbError> {
        let limit = limit.clamp(0, MAX_LISTED);
        on_backend!(self, pool => sqlx::query_as(LIST_TRANSFERS)
            .bind(partner)
            .bind(status)
            .bind(limit)
            .fetch_all(pool)
            .await)
    }

    /// The jobs queued (claimed or not), by kind.
    pub async fn jobs_by_kind(&self) -> Result<Vec<(String, i64)>, DbError> {
        on_backend!(self, pool => sqlx::query_as(JOBS_BY_KIND).fetch_all(pool).await)
    }

    /// Outbound messages awaiting their asynchronous MDN.
    pub async fn pending_mdn_count(&self) -> Result<i64, DbError> {
        on_backend!(self, pool => sqlx::query_scalar(PENDING_MDNS).fetch_one(pool).await)
    }
}

#[cfg(test)]
mod transfer_row_tests {
    use super::*;

    fn row(id: &str, partner: &str, status: &str, created_at: i64) -> TransferRow {
        TransferRow {
            transfer: Transfer {
                id: id.into(),
                direction: "inbound".into(),
                partner: partner.into(),
                message_id: format!("m-{id}"),
                connector_id: None,
                file_name: Some("po.x12".into()),
                status: status.into(),
                attempts: 1,
                first_attempt_at: Some(created_at),
                request: "{}".into(),
                record_path: None,
                mdn_path: None,
                failure: None,
                created_at,
                updated_at: created_at,
            },
            outcome: TransferOutcome {
                size_bytes: Some(42),
                mdn_disposition: Some("automatic-action/MDN-sent-automatically; processed".into()),
                failure_code: None,
            },
        }
    }

    #[tokio::test]
    async fn transfers_are_listed_newest_first_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open_sqlite(&dir.path().join("state.sqlite"))
            .await
            .unwrap();
        db.insert_row(&row("t1", "A", status::COMPLETED, 1))
            .await
            .unwrap();
        db.insert_row(&row("t2", "B", status::FAILED, 2))
            .await
            .unwrap();
        db.insert_row(&row("t3", "A", status::DUPLICATE, 3))
            .await
            .unwrap();
        let ids = |rows: Vec<TransferRow>| -> Vec<String> {
            rows.into_iter().map(|r| r.transfer.id).collect()
        };
        let all = db.list_transfers(None, None, 10).await.unwrap();
        assert_eq!(all[0], row("t3", "A", status::DUPLICATE, 3));
        assert_eq!(ids(all), ["t3", "t2", "t1"]);
        let a = db.list_transfers(Some("A"), None, 10).await.unwrap();
        assert_eq!(ids(a), ["t3", "t1"]);
        let failed = db.list_transfers(None, Some(status::FAILED), 10).await;
        assert_eq!(ids(failed.unwrap()), ["t2"]);
        let both = db
            .list_transfers(Some("A"), Some(status::COMPLETED), 10)
            .await;
        assert_eq!(ids(both.unwrap()), ["t1"]);
        assert_eq!(ids(db.list_transfers(None, None, 1).await.unwrap()), ["t3"]);

        let outcome = TransferOutcome {
            size_bytes: Some(7),
            mdn_disposition: None,
            failure_code: Some("DECRYPT_FAILED".into()),
        };
        db.set_outcome("t2", &outcome).await.unwrap();
        let t2 = db.transfer_row("t2").await.unwrap().unwrap();
        assert_eq!(t2.outcome, outcome);
        assert_eq!(db.transfer_row("nope").await.unwrap(), None);

        db.enqueue(kind::SEND, Some("t1"), "{}", SystemTime::now())
            .await
            .unwrap();
        db.enqueue(kind::SEND, Some("t2"), "{}", SystemTime::now())
            .await
            .unwrap();
        assert_eq!(
            db.jobs_by_kind().await.unwrap(),
            [(kind::SEND.to_owned(), 2)]
        );
        db.put_pending_mdn("m1", "t1", "{}", SystemTime::now())
            .await
            .unwrap();
        assert_eq!(db.pending_mdn_count().await.unwrap(), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open_sqlite(&dir.path().join("state.sqlite"))
            .await
            .unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn a_message_id_is_new_once_per_partner() {
        let (_dir, db) = db().await;
        let now = SystemTime::now();
        assert!(db.record_message_id("A", "m1", now).await.unwrap());
        assert!(!db.record_message_id("A", "m1", now).await.unwrap());
        assert!(db.record_message_id("B", "m1", now).await.unwrap());
        db.forget_message_id("A", "m1").await.unwrap();
        assert!(db.record_message_id("A", "m1", now).await.unwrap());
    }

    #[tokio::test]
    async fn the_first_mdn_of_a_recorded_message_is_kept() {
        let (_dir, db) = db().await;
        let now = SystemTime::now();
        let mdn = |body: &str| StoredMdn::new(Default::default(), body.as_bytes().to_vec());
        // Not recorded (a refused message): not kept.
        db.store_mdn("A", "m1", &mdn("refused"), now).await.unwrap();
        assert_eq!(db.stored_mdn("A", "m1").await.unwrap(), None);
        db.record_message_id("A", "m1", now).await.unwrap();
        db.store_mdn("A", "m1", &mdn("first"), now).await.unwrap();
        db.store_mdn("A", "m1", &mdn("second"), now).await.unwrap();
        assert_eq!(db.stored_mdn("A", "m1").await.unwrap(), Some(mdn("first")));
    }

    #[tokio::test]
    async fn a_job_is_claimed_once_until_its_lease_ends() {
        let (_dir, db) = db().await;
        let now = SystemTime::now();
        let later = now + Duration::from_secs(60);
        let id = db.enqueue(kind::SEND, Some("t1"), "{}", now).await.unwrap();
        db.enqueue(kind::SEND, Some("t2"), "{}", later)
            .await
            .unwrap();
        let lease = Duration::from_secs(10);
        let job = db.claim_job("w1", now, lease).await.unwrap().unwrap();
        assert_eq!((job.id, job.transfer_id.as_deref()), (id, Some("t1")));
        // Claimed, and the other is not due yet.
        assert_eq!(db.claim_job("w2", now, lease).await.unwrap(), None);
        // The lease ended: the claimer is taken for dead.
        let again = db.claim_job("w2", now + lease * 2, lease).await.unwrap();
        assert_eq!(again.map(|j| j.id), Some(id));
        db.reschedule_job(id, later).await.unwrap();
        let both = db.claim_job("w2", later, lease).await.unwrap().unwrap();
        assert_eq!(both.id, id);
        assert_eq!(both.attempts, 1);
        db.finish_job(id).await.unwrap();
        assert_eq!(db.queued_jobs().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn pending_mdns_are_claimed_once() {
        let (_dir, db) = db().await;
        let now = SystemTime::now();
        db.put_pending_mdn("m1", "t1", "{}", now).await.unwrap();
        assert_eq!(db.pending_mdn("m1").await.unwrap().as_deref(), Some("{}"));
        assert!(db.claim_pending_mdn("m1").await.unwrap());
        assert!(!db.claim_pending_mdn("m1").await.unwrap());
    }
}
