use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use privatelink_emulator::config::{Args, Config};
use privatelink_emulator::dataplane::DataPlane;
use privatelink_emulator::dns::{self, DnsServer};
use tokio::sync::watch;
use tracing::{error, info};

// The API allocates many small strings per request; mimalloc keeps that cheap.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(&args.log))
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
    let shared = match privatelink_emulator::shared(&config) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot restore the state directory: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(seed) = &config.seed {
        match seed.apply(&shared) {
            Ok(0) => info!("seed not applied: the world already has VPCs"),
            Ok(n) => info!(vpcs = n, "seeded the starting world"),
            Err(e) => {
                error!("{e}");
                return ExitCode::from(1);
            }
        }
    }
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

    let explicit_dns = args.dns_addr.is_some() || std::env::var_os("PRIVATELINK_DNS_ADDR").is_some();
    let served = runtime.block_on(async {
        let dns = match start_dns(&config, shared.clone(), explicit_dns).await {
            Ok(d) => d,
            Err(()) => return false,
        };
        #[cfg(target_os = "linux")]
        let netplane = if config.attachments.is_empty() {
            None
        } else {
            match privatelink_emulator::netplane::NetPlane::start(shared.clone(), config.attachments.clone()).await {
                Ok(p) => Some(p),
                Err(e) => {
                    error!("interface mode: {e} (it needs Linux and CAP_NET_ADMIN)");
                    return false;
                }
            }
        };
        #[cfg(not(target_os = "linux"))]
        if !config.attachments.is_empty() {
            error!("interface mode (--attach) needs Linux");
            return false;
        }
        let dataplane = match privatelink_emulator::authority(&config)
            .and_then(|ca| DataPlane::start(shared.clone(), config.dataplane, ca))
        {
            Ok(d) => d,
            Err(e) => {
                error!("cannot start the data plane: {e}");
                return false;
            }
        };
        // The readiness lines tests and scripts wait for; the API's comes
        // last, when everything answers.
        if let Some((_, dns_addr)) = &dns {
            println!("privatelink-emulator: dns listening on {dns_addr}");
        }
        println!("privatelink-emulator: api listening on http://{addr}");
        let _ = std::io::stdout().flush();
        info!(%addr, strict_auth = config.auth.strict, port_offset = config.dataplane.port_offset, attached = ?config.attachments.iter().map(ToString::to_string).collect::<Vec<_>>(), "serving EC2, ELBv2 and STS; data plane on 127.0.0.0/8 and the attached blocks");
        shutdown_signal().await;
        let _ = stop_tx.send(true);
        dataplane.shutdown().await;
        if let Some((dns, _)) = dns {
            dns.shutdown().await;
        }
        #[cfg(target_os = "linux")]
        if let Some(p) = netplane {
            p.shutdown().await;
        }
        true
    });
    if !served {
        let _ = stop_tx.send(true);
        let _ = api.join();
        return ExitCode::from(1);
    }
    let joined = api.join();
    // Every request has been answered: fold the journal into a snapshot so
    // the next start has nothing to replay.
    if let Err(e) = shared.snapshot() {
        error!("cannot write the snapshot at shutdown: {e} (the journal still holds every change)");
    } else if config.state_dir.is_some() {
        info!("state written; stopped");
    }
    match joined {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            error!("api: {e}");
            ExitCode::from(1)
        }
        Err(_) => ExitCode::from(1),
    }
}

/// Starts DNS. A DNS address the user chose must work; the default port 53
/// may need privileges, and without them the emulator still serves the API
/// and the data plane, saying how to get DNS too.
async fn start_dns(
    config: &Config,
    shared: std::sync::Arc<privatelink_emulator::Shared>,
    explicit: bool,
) -> Result<Option<(DnsServer, std::net::SocketAddr)>, ()> {
    let advice = "choose another address with --dns-addr or PRIVATELINK_DNS_ADDR, e.g. --dns-addr 127.0.0.1:5353 (port 0 picks a free one)";
    let sockets = match dns::bind(config.dns.addr).await {
        Ok(b) => b,
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            } else {
                ""
            };
            if explicit {
                error!("cannot serve DNS on {}: {e}{hint}; {advice}", config.dns.addr);
                return Err(());
            }
            tracing::warn!("DNS is off: cannot serve it on {}: {e}{hint}; {advice}", config.dns.addr);
            return Ok(None);
        }
    };
    let dns_addr = sockets.local_addr().map_err(|e| error!("cannot read the bound DNS address: {e}"))?;
    let server =
        DnsServer::start(shared, sockets, &config.dns).map_err(|e| error!("cannot start the DNS server: {e}"))?;
    info!(%dns_addr, vpc_port = config.dns.vpc_port.unwrap_or(dns_addr.port()), upstream = ?config.dns.upstream, "serving DNS");
    Ok(Some((server, dns_addr)))
}

/// The user's log filter; hickory logs every query at info, which is noise
/// here (and costs throughput), so it is quieter unless asked for.
fn log_filter(spec: &str) -> tracing_subscriber::EnvFilter {
    let filter = tracing_subscriber::EnvFilter::try_new(spec).unwrap_or_else(|_| "info".into());
    if spec.contains("hickory") {
        return filter;
    }
    match "hickory_server=warn".parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
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
