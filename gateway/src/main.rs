//! `as2-gateway`: the AS2 server and client on the `as2-proto` core. See the crate's
//! README for the commands.

use std::process::ExitCode;

use as2_gateway::cli::{self, ClientOptions, ServerOptions};
use as2_gateway::send::{ClientOutcome, run_client};
use as2_gateway::serve::start_server;

const USAGE: &str = "\
usage: as2-gateway server ...   serve AS2 messages and MDNs (--help for its flags)
       as2-gateway client ...   send a file through a connector (--help for its flags)";

#[tokio::main]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let command = args.remove(0);
    match command.as_str() {
        "server" => server(&args).await,
        "client" => client(&args).await,
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("as2-gateway: unknown command {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn server(args: &[String]) -> ExitCode {
    if cli::wants_help(args) {
        println!("{}", cli::SERVER_USAGE);
        return ExitCode::SUCCESS;
    }
    let options = match ServerOptions::parse(args) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("server: {why}\n{}", cli::SERVER_USAGE);
            return ExitCode::from(2);
        }
    };
    cli::init_logging();
    let endpoint = match start_server(&options).await {
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

async fn client(args: &[String]) -> ExitCode {
    if cli::wants_help(args) {
        println!("{}", cli::CLIENT_USAGE);
        return ExitCode::SUCCESS;
    }
    let options = match ClientOptions::parse(args) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("client: {why}\n{}", cli::CLIENT_USAGE);
            return ExitCode::from(2);
        }
    };
    cli::init_logging();
    match run_client(&options).await {
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
