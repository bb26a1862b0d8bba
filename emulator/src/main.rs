use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use privatelink_emulator::config::{Args, Config};
use privatelink_emulator::dataplane::DataPlane;
use tokio::sync::watch;
use tracing::{error, info};

// The API allocates many small strings per request; mimalloc keeps that cheap.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
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
    // Every endpoint listener and flow holds descriptors; the soft limit is
    // often 1024, far below what a few hundred endpoints need.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => info!(open_files = n, "descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the descriptor limit"),
    }
    let api_listener = match std::net::TcpListener::bind(config.api_addr).and_then(|l| {
        l.set_nonblocking(true)?;
        Ok(l)
    }) {
        Ok(l) => l,
        Err(e) => {
            error!(
                "cannot listen on {}: {e} (choose another address with --api-addr or PRIVATELINK_API_ADDR; port 0 picks a free one)",
                config.api_addr
            );
            return ExitCode::from(1);
        }
    };
    let addr = match api_listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            error!("cannot read the bound address: {e}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let shared = privatelink_emulator::shared(&config);
    let (stop_tx, stop_rx) = watch::channel(false);

    // One thread serves the API: requests are short and the world sits behind
    // one lock, so hopping between worker threads would only add latency.
    let api = {
        let shared = shared.clone();
        let mut stop = stop_rx.clone();
        std::thread::Builder::new().name("api".into()).spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(api_listener)?;
                privatelink_emulator::serve(listener, shared, async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
                Ok::<(), std::io::Error>(())
            })
        })
    };
    let api = match api {
        Ok(h) => h,
        Err(e) => {
            error!("cannot start the API thread: {e}");
            return ExitCode::from(1);
        }
    };

    runtime.block_on(async {
        let dataplane = DataPlane::start(shared.clone(), config.dataplane);
        // The readiness line tests and scripts wait for.
        println!("privatelink-emulator: api listening on http://{addr}");
        let _ = std::io::stdout().flush();
        info!(%addr, strict_auth = config.auth.strict, port_offset = config.dataplane.port_offset, "serving EC2, ELBv2 and STS; data plane on 127.0.0.0/8");
        shutdown_signal().await;
        let _ = stop_tx.send(true);
        dataplane.shutdown().await;
    });
    match api.join() {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            error!("api: {e}");
            ExitCode::from(1)
        }
        Err(_) => ExitCode::from(1),
    }
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
