//! `baton`: the Baton node binary. See the README for the operations
//! contract (command line, configuration keys, metric names).

mod auth;
mod call_log;
mod calls;
mod config;
mod dialog_events;
mod limits;
mod metrics;
mod pull_limits;
mod replaces;
mod server;
mod uas_checks;

use clap::{Parser, Subcommand};

// Many small allocations per SIP message: mimalloc measured faster than the
// system allocator on the codec benchmark.
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;

/// Baton: a clustered SIP B2BUA whose calls move between a user's devices.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node. Without --config it runs on the embedded default
    /// configuration: SIP on udp/tcp 127.0.0.1:5060, metrics on
    /// 127.0.0.1:9090, domain `localhost`, demo users alice, bob and carol
    /// (password `demo`).
    Serve {
        /// A TOML configuration file. A bad file is refused at start with
        /// its file, line and key; nothing starts.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print the embedded default configuration and exit.
        #[arg(long)]
        print_default_config: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            print_default_config: true,
            ..
        } => {
            print!("{}", config::DEFAULT_TOML);
            ExitCode::SUCCESS
        }
        Command::Serve { config: path, .. } => {
            // mimalloc asks for transparent huge pages on its arenas; every
            // fresh 2 MiB page is then zeroed in full on first touch, which
            // measured as a quarter of the CPU per call. Off for this process.
            // (Inherited by every thread started after this point.)
            let _ = nix::sys::prctl::set_thp_disable(true);
            let config = match &path {
                Some(p) => match config::Config::load(p) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("baton: {e}");
                        return ExitCode::from(2);
                    }
                },
                None => config::Config::embedded_default(),
            };
            init_tracing();
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("baton: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            // The node's loop runs as a task among the workers, not on the
            // main thread: every hop to a call's actors would otherwise be a
            // cross-thread wake-up (measured: most of the CPU per call was
            // context switches).
            let node = runtime.block_on(async { tokio::spawn(server::run(config)).await });
            let node = node.unwrap_or_else(|e| Err(anyhow::anyhow!("the node's task failed: {e}")));
            match node {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("baton: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
