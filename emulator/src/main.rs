use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use privatelink_emulator::config::{Args, Config};
use privatelink_emulator::dns::{self, DnsServer};
use tokio::net::TcpListener;
use tracing::{error, info};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt().with_env_filter(log_filter(&args.log)).with_writer(std::io::stderr).init();
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
    let dns_sockets = match dns::bind(config.dns.addr).await {
        Ok(b) => b,
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            } else {
                ""
            };
            error!(
                "cannot serve DNS on {}: {e}{hint}; choose another address with --dns-addr or PRIVATELINK_DNS_ADDR, e.g. --dns-addr 127.0.0.1:5353 (port 0 picks a free one)",
                config.dns.addr
            );
            return ExitCode::from(1);
        }
    };
    let dns_addr = match dns_sockets.local_addr() {
        Ok(a) => a,
        Err(e) => {
            error!("cannot read the bound DNS address: {e}");
            return ExitCode::from(1);
        }
    };
    let shared = privatelink_emulator::shared(&config);
    let dns = match DnsServer::start(shared.clone(), dns_sockets, &config.dns) {
        Ok(d) => d,
        Err(e) => {
            error!("cannot start the DNS server: {e}");
            return ExitCode::from(1);
        }
    };
    // The readiness lines tests and scripts wait for; the API's comes last,
    // when everything answers.
    println!("privatelink-emulator: dns listening on {dns_addr}");
    println!("privatelink-emulator: api listening on http://{addr}");
    let _ = std::io::stdout().flush();
    info!(%addr, strict_auth = config.auth.strict, "serving EC2, ELBv2 and STS");
    info!(%dns_addr, vpc_port = config.dns.vpc_port.unwrap_or(dns_addr.port()), upstream = ?config.dns.upstream, "serving DNS");
    privatelink_emulator::serve(listener, shared, shutdown_signal()).await;
    dns.shutdown().await;
    ExitCode::SUCCESS
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
