//! `privatelink`: drive the emulator as people do.
//!
//! - `demo`: the provider/consumer walkthrough, step by step, narrated;
//! - `dig NAME --vpc VPC`, `curl URL --vpc VPC`: as a host inside a VPC;
//! - `status`: a readable tree of accounts, VPCs, services and endpoints;
//! - `fault ...`: take targets or zones down, slow or reset flows, make API
//!   actions throttle or fail; list and clear faults.

mod demo;

use std::net::Ipv4Addr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use privatelink_client::{host, Host};
use serde_json::Value;

#[derive(Parser)]
#[command(name = "privatelink", version, about = "Drive the PrivateLink emulator: demo, dig, curl, status, faults")]
struct Cli {
    /// The emulator's API (what `--endpoint-url` is for the AWS CLI).
    #[arg(long, env = "PRIVATELINK_ENDPOINT_URL", default_value = "http://127.0.0.1:4566", global = true)]
    endpoint_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the walkthrough: NLB, endpoint service, permissions, endpoint,
    /// acceptance, dig, curl, and the backend's view of the source address.
    Demo {
        /// Start an emulator inside this process instead of using --endpoint-url.
        #[arg(long)]
        in_process: bool,
        /// Listener and backend port (80 as in the walkthrough; needs privileges).
        #[arg(long, default_value_t = 80)]
        port: u16,
        /// Wait for Enter before each step (to talk over the web console).
        #[arg(long)]
        pause: bool,
        /// Open the web console in a browser first: the command in $BROWSER,
        /// else xdg-open (open on macOS).
        #[arg(long)]
        open_console: bool,
    },
    /// Resolve a name as a host inside a VPC does.
    Dig {
        name: String,
        #[arg(long)]
        vpc: String,
        /// The host's address in the VPC (default: base + 10).
        #[arg(long)]
        from: Option<Ipv4Addr>,
    },
    /// GET a URL from a host inside a VPC.
    Curl {
        url: String,
        #[arg(long)]
        vpc: String,
        #[arg(long)]
        from: Option<Ipv4Addr>,
    },
    /// Accounts, VPCs, services and endpoints, with states, names and
    /// addresses, Route 53 hosted zones with their VPCs, and the faults in
    /// force.
    Status,
    /// Inject a fault, list the faults in force, or clear them.
    Fault {
        #[command(subcommand)]
        fault: FaultCommand,
    },
}

/// Where a flow fault applies: an endpoint, a target, or flows of both.
#[derive(clap::Args)]
struct Scope {
    /// The endpoint (vpce-...) whose flows it affects.
    #[arg(long)]
    endpoint: Option<String>,
    /// The target (its registered id, with :PORT for one port only).
    #[arg(long)]
    target: Option<String>,
    /// Seconds until the fault ends by itself.
    #[arg(long = "for", value_name = "SECONDS")]
    for_seconds: Option<f64>,
}

#[derive(Subcommand)]
enum FaultCommand {
    /// Take a target down: connections to it are refused (or, with
    /// --blackhole, never answered) and its health checks fail.
    TargetDown {
        /// The target's registered id (an IP or instance id), with :PORT for one port only.
        #[arg(long)]
        target: String,
        /// The host is gone: connections time out instead of being refused.
        #[arg(long)]
        blackhole: bool,
        #[arg(long = "for", value_name = "SECONDS")]
        for_seconds: Option<f64>,
    },
    /// Fail an availability zone: its NLB nodes and endpoint ENIs stop
    /// answering, its targets are gone, regional names leave it out.
    ZoneDown {
        #[arg(long)]
        zone: String,
        #[arg(long = "for", value_name = "SECONDS")]
        for_seconds: Option<f64>,
    },
    /// Delay every chunk of matching flows.
    Latency {
        #[command(flatten)]
        scope: Scope,
        #[arg(long)]
        ms: u64,
    },
    /// Limit each direction of matching flows to this many bytes a second.
    Bandwidth {
        #[command(flatten)]
        scope: Scope,
        #[arg(long)]
        bytes_per_second: u64,
    },
    /// Reset this share (0 to 1) of new matching flows.
    Reset {
        #[command(flatten)]
        scope: Scope,
        #[arg(long)]
        rate: f64,
    },
    /// Make an API action (`*`: every action) answer throttling
    /// (RequestLimitExceeded for EC2, Throttling for ELBv2) or a 5xx.
    Api {
        #[arg(long)]
        action: String,
        /// ec2 or elasticloadbalancing (default: either).
        #[arg(long)]
        service: Option<String>,
        /// throttle, internal-error (500) or unavailable (503).
        #[arg(long, default_value = "throttle")]
        error: String,
        /// Share (0 to 1) of the action's requests that fail.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// Fail this many requests at most.
        #[arg(long)]
        count: Option<u64>,
        #[arg(long = "for", value_name = "SECONDS")]
        for_seconds: Option<f64>,
    },
    /// The faults in force, with how often each struck.
    List,
    /// Clear one fault by id, or all of them.
    Clear { id: Option<String> },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { in_process, port, pause, open_console } => {
            demo::run(&cli.endpoint_url, in_process, port, demo::Show { pause, open_console }).await
        }
        Command::Dig { name, vpc, from } => dig(&cli.endpoint_url, &name, &vpc, from).await,
        Command::Curl { url, vpc, from } => curl(&cli.endpoint_url, &url, &vpc, from).await,
        Command::Status => status(&cli.endpoint_url).await,
        Command::Fault { fault } => fault_command(&cli.endpoint_url, fault).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("privatelink: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn host(url: &str, vpc: &str, from: Option<Ipv4Addr>) -> Result<Host, String> {
    let address = match from {
        Some(a) => a,
        None => {
            let st = host::status(url).await.map_err(|e| e.to_string())?;
            let cidr =
                vpcs(&st).into_iter().find(|v| v["vpc_id"] == vpc).and_then(|v| v["cidr"].as_str().map(str::to_string));
            let base: Ipv4Addr = cidr
                .and_then(|c| c.split('/').next().and_then(|b| b.parse().ok()))
                .ok_or_else(|| format!("no VPC {vpc}"))?;
            Ipv4Addr::from(u32::from(base) + 10)
        }
    };
    Host::in_vpc(url, vpc, address).await.map_err(|e| e.to_string())
}

async fn dig(url: &str, name: &str, vpc: &str, from: Option<Ipv4Addr>) -> Result<(), String> {
    let h = host(url, vpc, from).await?;
    let answers = h.resolve_with_ttls(name).await.map_err(|e| e.to_string())?;
    if answers.is_empty() {
        return Err(format!("{name}: NXDOMAIN in {vpc}"));
    }
    println!(";; ANSWER SECTION (as seen from {} in {vpc}; host addresses):", h.address);
    for (a, ttl) in answers {
        println!("{name}.\t{ttl}\tIN\tA\t{a}");
    }
    Ok(())
}

async fn curl(url: &str, target: &str, vpc: &str, from: Option<Ipv4Addr>) -> Result<(), String> {
    let h = host(url, vpc, from).await?;
    let (code, body) = h.http_get(target).await.map_err(|e| e.to_string())?;
    print!("{body}");
    if code >= 400 {
        return Err(format!("HTTP {code}"));
    }
    Ok(())
}

async fn fault_command(url: &str, command: FaultCommand) -> Result<(), String> {
    use privatelink_client::faults;
    use serde_json::json;
    let scoped = |kind: &str, scope: &Scope, mut spec: Value| {
        spec["kind"] = json!(kind);
        if let Some(e) = &scope.endpoint {
            spec["endpoint"] = json!(e);
        }
        if let Some(t) = &scope.target {
            spec["target"] = json!(t);
        }
        (spec, scope.for_seconds)
    };
    let (spec, for_seconds) = match command {
        FaultCommand::List => {
            for f in faults::list(url).await.map_err(|e| e.to_string())? {
                println!("{}", faults::describe(&f));
            }
            return Ok(());
        }
        FaultCommand::Clear { id } => {
            let n = faults::clear(url, id.as_deref()).await.map_err(|e| e.to_string())?;
            println!("cleared {n} fault{}", if n == 1 { "" } else { "s" });
            return Ok(());
        }
        FaultCommand::TargetDown { target, blackhole, for_seconds } => (
            json!({"kind": "target-down", "target": target, "mode": if blackhole { "blackhole" } else { "refuse" }}),
            for_seconds,
        ),
        FaultCommand::ZoneDown { zone, for_seconds } => (json!({"kind": "zone-down", "zone": zone}), for_seconds),
        FaultCommand::Latency { scope, ms } => scoped("latency", &scope, json!({"ms": ms})),
        FaultCommand::Bandwidth { scope, bytes_per_second } => {
            scoped("bandwidth", &scope, json!({"bytes_per_second": bytes_per_second}))
        }
        FaultCommand::Reset { scope, rate } => scoped("reset", &scope, json!({"rate": rate})),
        FaultCommand::Api { action, service, error, rate, count, for_seconds } => {
            let mut spec = json!({"kind": "api", "action": action, "error": error, "rate": rate});
            if let Some(s) = service {
                spec["service"] = json!(s);
            }
            if let Some(c) = count {
                spec["count"] = json!(c);
            }
            (spec, for_seconds)
        }
    };
    let fault = faults::add(url, spec, for_seconds).await.map_err(|e| e.to_string())?;
    println!("{}", faults::describe(&fault));
    Ok(())
}

fn vpcs(st: &Value) -> Vec<Value> {
    st["regions"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["vpcs"].as_array().cloned().unwrap_or_default())
        .collect()
}

async fn status(url: &str) -> Result<(), String> {
    let st = host::status(url).await.map_err(|e| e.to_string())?;
    for region in st["regions"].as_array().into_iter().flatten() {
        println!("{}", region["region"].as_str().unwrap_or("?"));
        let mut accounts: Vec<String> = Vec::new();
        for key in ["vpcs", "load_balancers", "endpoint_services", "vpc_endpoints"] {
            for r in region[key].as_array().into_iter().flatten() {
                let owner = r["owner"].as_str().unwrap_or("").to_string();
                if !accounts.contains(&owner) {
                    accounts.push(owner);
                }
            }
        }
        for account in accounts {
            println!("  account {account}");
            let mine = |key: &str| -> Vec<Value> {
                region[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| r["owner"] == account.as_str())
                    .cloned()
                    .collect()
            };
            for v in mine("vpcs") {
                println!(
                    "    {} {} (on the host: {}, resolver {})",
                    v["vpc_id"].as_str().unwrap_or(""),
                    v["cidr"].as_str().unwrap_or(""),
                    v["host_block"].as_str().unwrap_or(""),
                    v["resolver"].as_str().unwrap_or("")
                );
            }
            for l in mine("load_balancers") {
                let nodes: Vec<String> = l["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|n| format!("{} {}", n["zone"].as_str().unwrap_or(""), n["address"].as_str().unwrap_or("")))
                    .collect();
                println!(
                    "    nlb {} [{}] nodes: {}",
                    l["dns_name"].as_str().unwrap_or(""),
                    l["state"].as_str().unwrap_or(""),
                    nodes.join(", ")
                );
            }
            for s in mine("endpoint_services") {
                println!(
                    "    service {} [{}] acceptance required: {}, allowed: {}",
                    s["service_name"].as_str().unwrap_or(""),
                    s["state"].as_str().unwrap_or(""),
                    s["acceptance_required"],
                    s["allowed_principals"]
                );
            }
            for e in mine("vpc_endpoints") {
                println!(
                    "    endpoint {} [{}] in {} -> {}",
                    e["vpc_endpoint_id"].as_str().unwrap_or(""),
                    e["state"].as_str().unwrap_or(""),
                    e["vpc_id"].as_str().unwrap_or(""),
                    e["service_name"].as_str().unwrap_or("")
                );
                for n in e["dns_names"].as_array().into_iter().flatten() {
                    println!("      {}", n.as_str().unwrap_or(""));
                }
                println!("      addresses: {}", e["addresses"]);
            }
        }
    }
    print_hosted_zones(&st);
    let faults = st["faults"].as_array().cloned().unwrap_or_default();
    if !faults.is_empty() {
        println!("faults in force:");
        for f in &faults {
            println!("  {}", privatelink_client::faults::describe(f));
        }
    }
    if let Some(dp) = st.get("dataplane") {
        println!("data plane listeners:");
        for l in dp["listeners"].as_array().into_iter().flatten() {
            println!(
                "  {} (VPC {}) {} via NLB node {}",
                l["host_address"].as_str().unwrap_or(""),
                l["vpc_address"].as_str().unwrap_or(""),
                l["vpc_endpoint_id"].as_str().unwrap_or(""),
                l["nlb_node"]["vpc_address"].as_str().unwrap_or("")
            );
        }
    }
    Ok(())
}

/// Route 53's zones (global, beside the regions): name, id, private or
/// public, record count and owner; each private zone's VPCs.
fn print_hosted_zones(st: &Value) {
    let zones = st["hosted_zones"].as_array().cloned().unwrap_or_default();
    if zones.is_empty() {
        return;
    }
    println!("hosted zones:");
    for z in &zones {
        let records = z["record_count"].as_u64().unwrap_or(0);
        println!(
            "  {} /hostedzone/{} {}, {records} record{}, account {}",
            z["name"].as_str().unwrap_or(""),
            z["id"].as_str().unwrap_or(""),
            if z["private"].as_bool().unwrap_or(false) { "private" } else { "public" },
            if records == 1 { "" } else { "s" },
            z["owner"].as_str().unwrap_or("")
        );
        for v in z["vpcs"].as_array().into_iter().flatten() {
            println!("    vpc {} ({})", v["vpc_id"].as_str().unwrap_or(""), v["region"].as_str().unwrap_or(""));
        }
    }
}
