use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use privatelink_emulator::config::{Args, Config};
use privatelink_emulator::Emulator;
use tracing::{error, info};

// The API allocates many small strings per request; mimalloc keeps that cheap.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    small_pages_only();
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
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // A DNS address the user chose must work; the default port 53 may need
    // privileges, and without them the rest still serves.
    let explicit_dns = args.dns_addr.is_some() || std::env::var_os("PRIVATELINK_DNS_ADDR").is_some();
    let (strict, port_offset, durable) = (config.auth.strict, config.dataplane.port_offset, config.state_dir.is_some());
    let attached: Vec<String> = config.attachments.iter().map(ToString::to_string).collect();
    runtime.block_on(async move {
        let builder = Emulator::builder().config(config).dns_required(explicit_dns).api_thread(true);
        let emulator = match builder.start().await {
            Ok(e) => e,
            Err(e) => {
                error!("{e}");
                return ExitCode::from(1);
            }
        };
        // The readiness lines tests and scripts wait for; the API's comes
        // last, when everything answers.
        if let Some(dns_addr) = emulator.dns_addr() {
            println!("privatelink-emulator: dns listening on {dns_addr}");
        }
        let addr = emulator.api_addr();
        println!("privatelink-emulator: api listening on http://{addr}");
        let _ = std::io::stdout().flush();
        info!(%addr, strict_auth = strict, port_offset, ?attached, "serving EC2, ELBv2 and STS; data plane on 127.0.0.0/8 and the attached blocks");
        shutdown_signal().await;
        match emulator.shutdown().await {
            Ok(()) => {
                info!(durable, "{}", if durable { "state written; stopped" } else { "stopped" });
                ExitCode::SUCCESS
            }
            Err(e) => {
                error!("{e}");
                ExitCode::from(1)
            }
        }
    })
}

/// Keeps the process to 4 KiB pages. Transparent huge pages are zeroed
/// 2 MiB at a time inside whichever request first touches one: on a
/// virtual machine that stalled a CreateVpcEndpoint for 1 to 7 ms, seven
/// times in 1,000 creates (perf: `do_huge_pmd_anonymous_page` under the
/// allocator). They also hold memory the heap has not used: at 10,000
/// endpoints the process held 237 MB with them and 217 MB without. The
/// allocator is built not to ask for them (mimalloc's `no_thp`); this turns
/// them off for the process where the kernel hands them out unasked. The
/// flag holds for every thread and every later fault; on other systems
/// there is nothing to do.
fn small_pages_only() {
    // SAFETY: prctl reads its integer arguments only. A kernel without the
    // flag (before 3.15) refuses it and keeps its default.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
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
