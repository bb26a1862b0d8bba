use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use privatelink_emulator::config::{Args, Config};
use tokio::net::TcpListener;
use tracing::{error, info};

// The API allocates many small strings per request; mimalloc keeps that cheap.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// One thread serves the API: requests are short and the world sits behind one
// lock, so hopping between worker threads only adds wake-up latency.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&args.log).unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let config = match Config::load(&args) {
        Ok(c) => c,
        Err(e) => {
            error!("{e}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(config.api_addr).await {
        Ok(l) => l,
        Err(e) => {
            error!(
                "cannot listen on {}: {e} (choose another address with --api-addr or PRIVATELINK_API_ADDR; port 0 picks a free one)",
                config.api_addr
            );
            return ExitCode::from(1);
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            error!("cannot read the bound address: {e}");
            return ExitCode::from(1);
        }
    };
    let shared = privatelink_emulator::shared(&config);
    // The readiness line tests and scripts wait for.
    println!("privatelink-emulator: api listening on http://{addr}");
    let _ = std::io::stdout().flush();
    info!(%addr, strict_auth = config.auth.strict, "serving EC2, ELBv2 and STS");
    privatelink_emulator::serve(listener, shared, shutdown_signal()).await;
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    info!("shutting down");
}
