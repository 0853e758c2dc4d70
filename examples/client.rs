//! An AS2 client over HTTP: sends a file through a connector of the partner configuration
//! and reports the MDN outcome.
//!
//! ```text
//! cargo run --example client -- --config examples/config/partner-a.toml \
//!     --connector c-to-partner-b --file examples/data/po-4711.x12 --data /tmp/as2-a
//! cargo run --example client -- ... --mdn async --async-listen 127.0.0.1:0
//! ```
//!
//! With a synchronous MDN the response is verified at once; with `--async-listen` the
//! client listens for the asynchronous MDN itself, verifies it and exits. The status
//! record and the `.mdn` go under `--data`/outbox (`processed/` or `failed/`); see
//! `examples/gateway/mod.rs`. Prints the outcome; exit status 0 completed, 1 failed.

mod gateway;

use std::process::ExitCode;

use gateway::ClientOutcome;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if gateway::wants_help(&args) {
        println!("{}", gateway::CLIENT_USAGE);
        return ExitCode::SUCCESS;
    }
    let options = match gateway::ClientOptions::parse(&args) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("client: {why}\n{}", gateway::CLIENT_USAGE);
            return ExitCode::from(2);
        }
    };
    gateway::init_logging();
    match gateway::run_client(&options).await {
        Ok(ClientOutcome::Finished(f)) => {
            println!("{} {}", f.status, f.message_id);
            if let Some(d) = &f.record.disposition {
                println!("disposition: {d}");
            }
            if let Some(code) = &f.record.failure_code {
                println!("failure: {code}");
            }
            println!("record: {}", f.record_path.display());
            if let Some(mdn) = &f.mdn_path {
                println!("mdn: {}", mdn.display());
            }
            if f.status == as2_proto::record::StatusCode::Completed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Ok(ClientOutcome::AwaitingMdn {
            message_id,
            pending,
        }) => {
            println!("SENT {message_id}");
            println!("awaiting the asynchronous MDN: {}", pending.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("client: {e}");
            ExitCode::from(2)
        }
    }
}
