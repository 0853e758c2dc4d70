//! An AS2 server over HTTP: `cargo run --example server -- --config
//! examples/config/partner-b.toml --listen 127.0.0.1:5080 --data /tmp/as2-b`.
//!
//! It accepts AS2 POSTs (on any path) under the agreements of the partner configuration,
//! answers with a synchronous MDN, or with a 200 and then POSTs the asynchronous MDN to
//! the URL the sender asked for, and also takes asynchronous MDNs for messages sent from
//! the same data directory by `examples/client.rs`. Payloads, `.mdn` files and JSON
//! status records go under `--data` in the reference layout (`processed/`, `failed/`);
//! see `examples/gateway/mod.rs` for the layout and how async MDNs are matched.

mod gateway;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if gateway::wants_help(&args) {
        println!("{}", gateway::SERVER_USAGE);
        return ExitCode::SUCCESS;
    }
    let options = match gateway::ServerOptions::parse(&args) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("server: {why}\n{}", gateway::SERVER_USAGE);
            return ExitCode::from(2);
        }
    };
    gateway::init_logging();
    let endpoint = match gateway::start_server(&options).await {
        Ok(endpoint) => endpoint,
        Err(e) => {
            eprintln!("server: {e}");
            return ExitCode::from(2);
        }
    };
    println!("listening on http://{}", endpoint.addr);
    match endpoint.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}
