//! Settings from the command line, the environment and a TOML file, in
//! that order of precedence.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

use crate::dns::DnsSettings;
use crate::model::Settings;

pub const DEFAULT_API_ADDR: &str = "127.0.0.1:4566";

/// A local, offline emulator of AWS PrivateLink: the EC2 and ELBv2 APIs
/// (endpoint services, endpoints, network load balancers) over AWS's Query
/// protocol, for the AWS CLI, boto3 and the SDKs (`--endpoint-url`).
#[derive(Debug, Parser, Default)]
#[command(name = "privatelink-emulator", version)]
pub struct Args {
    /// Address for the AWS API (EC2, ELBv2, STS) and the admin endpoints
    /// under /_emulator/. Port 0 picks a free port. [default: 127.0.0.1:4566]
    #[arg(long, env = "PRIVATELINK_API_ADDR")]
    pub api_addr: Option<SocketAddr>,

    /// TOML file with any of these settings, plus [[credentials]] entries
    /// (access_key_id, secret_access_key, account, optional arn).
    #[arg(long, env = "PRIVATELINK_CONFIG")]
    pub config: Option<PathBuf>,

    /// Verify SigV4 signatures against the configured credentials; reject
    /// unknown keys (AuthFailure) and bad signatures (SignatureDoesNotMatch).
    #[arg(long, env = "PRIVATELINK_STRICT_AUTH")]
    pub strict_auth: bool,

    /// How long transitional states (endpoint `pending`, NLB `provisioning`,
    /// `deleting`) last, in seconds; 0 (the default) moves on as soon as a
    /// client has seen the state once, so waiters still poll through it.
    #[arg(long, env = "PRIVATELINK_PENDING_SECONDS")]
    pub pending_seconds: Option<f64>,

    /// Account of requests whose access key is neither 12 digits nor
    /// configured. [default: 000000000000]
    #[arg(long, env = "PRIVATELINK_DEFAULT_ACCOUNT")]
    pub default_account: Option<String>,

    /// Region of unsigned requests. [default: us-east-1]
    #[arg(long, env = "PRIVATELINK_DEFAULT_REGION")]
    pub default_region: Option<String>,

    /// Added to every endpoint listener port on the host, for users who may
    /// not bind ports below 1024 (8000 serves listener port 80 on 8080).
    /// [default: 0]
    #[arg(long, env = "PRIVATELINK_PORT_OFFSET")]
    pub port_offset: Option<u16>,

    /// Idle timeout of flows through endpoints, in seconds, on listeners
    /// that keep AWS's default tcp.idle_timeout.seconds (others use their
    /// own). [default: 350]
    #[arg(long, env = "PRIVATELINK_IDLE_TIMEOUT_SECONDS")]
    pub idle_timeout_seconds: Option<u64>,
    /// Address of the DNS server's public view (UDP and TCP): the vpce
    /// names of every endpoint and the public TXT records. Port 0 picks a
    /// free port. Port 53 needs root or CAP_NET_BIND_SERVICE.
    /// [default: 127.0.0.1:53]
    #[arg(long, env = "PRIVATELINK_DNS_ADDR")]
    pub dns_addr: Option<SocketAddr>,

    /// Port of the per-VPC resolvers (each VPC's at base + 2 in its host
    /// block, serving its private DNS names too). [default: the port of --dns-addr]
    #[arg(long, env = "PRIVATELINK_VPC_DNS_PORT")]
    pub vpc_dns_port: Option<u16>,

    /// Forward names outside the emulator's zones to this resolver
    /// (ip:port). Unset (the default, offline): such names are NXDOMAIN.
    #[arg(long, env = "PRIVATELINK_DNS_UPSTREAM")]
    pub dns_upstream: Option<SocketAddr>,

    /// Most API connections open at once; more are closed at accept.
    /// [default: 1024]
    #[arg(long, env = "PRIVATELINK_API_MAX_CONNECTIONS")]
    pub api_max_connections: Option<usize>,

    /// Seconds a client has to send a request's headers, and again its
    /// body, before the API answers 408 and closes. [default: 10]
    #[arg(long, env = "PRIVATELINK_API_REQUEST_TIMEOUT_SECONDS")]
    pub api_request_timeout_seconds: Option<f64>,

    /// Most flows through the data plane at once (each holds two
    /// descriptors); more are reset at accept. [default: 16384]
    #[arg(long, env = "PRIVATELINK_MAX_FLOWS")]
    pub max_flows: Option<usize>,

    /// Listening sockets of loopback ENIs: `shared` is one socket for all
    /// of them, new connections steered to it by local address with an
    /// sk_lookup BPF program (Linux 5.9+, CAP_BPF and CAP_NET_ADMIN), so
    /// descriptors do not grow with endpoints; `per-address` is one socket
    /// per ENI address and listener port; `auto` is shared where the kernel
    /// allows it, else per-address. VPC resolvers on loopback follow it:
    /// steered to the DNS listener's own sockets, or a pair each with
    /// `per-address`. [default: auto]
    #[arg(long, env = "PRIVATELINK_LISTENER_SOCKETS", value_name = "auto|shared|per-address")]
    pub listener_sockets: Option<crate::dataplane::ListenerSockets>,

    /// Keep the world in this directory: every acknowledged change is on
    /// disk (journal + snapshot) before the API answers, and a restart
    /// restores it. Unset: in memory only.
    #[arg(long, env = "PRIVATELINK_STATE_DIR")]
    pub state_dir: Option<std::path::PathBuf>,

    /// Interface mode (Linux, CAP_NET_ADMIN): VPCs created inside this
    /// block keep their own addresses, added to a real interface: the one
    /// named after `=`, or the one already holding an address inside the
    /// block. Their resolvers answer at base+2 port 53, as in AWS.
    /// Repeatable; comma-separated in the environment variable.
    /// Example: --attach 10.24.0.0/16=eth1
    #[arg(long = "attach", env = "PRIVATELINK_ATTACH", value_delimiter = ',', value_name = "CIDR[=INTERFACE]")]
    pub attach: Vec<String>,

    /// Give every account a default VPC in each region, as AWS does:
    /// 172.31.0.0/16 with a default subnet (a /20, public IPs on launch) in
    /// every zone, made on the account's first request in that region and
    /// shown by DescribeAccountAttributes (default-vpc). Off by default:
    /// then accounts have none until CreateDefaultVpc.
    #[arg(long, env = "PRIVATELINK_DEFAULT_VPC")]
    pub default_vpc: bool,

    /// TOML file describing the starting world (VPCs and subnets of any
    /// account), created at start when there is no VPC yet.
    #[arg(long, env = "PRIVATELINK_SEED")]
    pub seed: Option<PathBuf>,

    /// Connection notifications: POST the messages of an SNS topic to an
    /// HTTP URL, as SNS does to an HTTP subscriber (`*` in the ARN matches
    /// any characters). Repeatable; comma-separated in the environment
    /// variable. Every message is also listed at GET /_emulator/notifications.
    /// Example: --notification-url arn:aws:sns:us-east-1:111111111111:events=http://127.0.0.1:9000/
    #[arg(
        long = "notification-url",
        env = "PRIVATELINK_NOTIFICATION_URL",
        value_delimiter = ',',
        value_name = "TOPIC_ARN=URL"
    )]
    pub notification_url: Vec<String>,

    /// Append a VPC Flow Logs (version 2) record for every flow through an
    /// endpoint to this file: one per direction on the consumer's endpoint
    /// ENI and on the NLB's ENI, REJECT for flows refused by security
    /// groups. The last 10,000
    /// flows are also at GET /_emulator/flow-logs.
    #[arg(long, env = "PRIVATELINK_FLOW_LOG_FILE")]
    pub flow_log_file: Option<PathBuf>,

    /// Append every DNS question and its answer to this file, one JSON
    /// object a line in Route 53 Resolver's query log format. The last
    /// 10,000 are also at GET /_emulator/query-logs.
    #[arg(long, env = "PRIVATELINK_QUERY_LOG_FILE")]
    pub query_log_file: Option<PathBuf>,

    /// Log filter (tracing syntax, e.g. `info` or `privatelink_emulator=debug`).
    #[arg(long, env = "PRIVATELINK_LOG", default_value = "info")]
    pub log: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub api_addr: Option<SocketAddr>,
    pub strict_auth: Option<bool>,
    pub pending_seconds: Option<f64>,
    pub default_account: Option<String>,
    pub default_region: Option<String>,
    pub port_offset: Option<u16>,
    pub idle_timeout_seconds: Option<u64>,
    pub dns_addr: Option<SocketAddr>,
    pub vpc_dns_port: Option<u16>,
    pub dns_upstream: Option<SocketAddr>,
    pub state_dir: Option<std::path::PathBuf>,
    pub api_max_connections: Option<usize>,
    pub api_request_timeout_seconds: Option<f64>,
    pub max_flows: Option<usize>,
    pub listener_sockets: Option<crate::dataplane::ListenerSockets>,
    #[serde(default)]
    pub attach: Vec<String>,
    pub seed: Option<PathBuf>,
    pub default_vpc: Option<bool>,
    pub flow_log_file: Option<PathBuf>,
    pub query_log_file: Option<PathBuf>,
    /// Topic ARN (`*` wildcards) -> URL, as `--notification-url`.
    #[serde(default)]
    pub notification_urls: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub credentials: Vec<FileCredential>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCredential {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account: String,
    pub arn: Option<String>,
}

/// Everything the emulator needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub api_addr: SocketAddr,
    pub auth: AuthSettings,
    pub model: Settings,
    pub dataplane: crate::dataplane::Settings,
    pub dns: DnsSettings,
    /// Where the world is kept (`--state-dir`); in memory when `None`.
    pub state_dir: Option<std::path::PathBuf>,
    pub api_limits: crate::server::Limits,
    /// Interface mode: blocks whose VPCs live on real interfaces.
    pub attachments: Vec<crate::addressing::Attachment>,
    /// The starting world, applied when there is no VPC yet.
    pub seed: Option<crate::seed::Seed>,
    /// Where connection notifications of each SNS topic are POSTed.
    pub notification_routes: Vec<crate::notify::Route>,
    /// Where flow log and query log records are appended.
    pub flow_log_file: Option<PathBuf>,
    pub query_log_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_addr: DEFAULT_API_ADDR.parse().expect("literal address"),
            auth: AuthSettings::default(),
            model: Settings::default(),
            dataplane: crate::dataplane::Settings::default(),
            dns: DnsSettings::default(),
            state_dir: None,
            api_limits: crate::server::Limits::default(),
            attachments: Vec::new(),
            seed: None,
            notification_routes: Vec::new(),
            flow_log_file: None,
            query_log_file: None,
        }
    }
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

impl Config {
    pub fn load(args: &Args) -> Result<Config, String> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let mut c = Config::default();
        if let Some(a) = args.api_addr.or(file.api_addr) {
            c.api_addr = a;
        }
        if let Some(a) = args.dns_addr.or(file.dns_addr) {
            c.dns.addr = a;
        }
        c.dns.vpc_port = args.vpc_dns_port.or(file.vpc_dns_port);
        c.dns.upstream = args.dns_upstream.or(file.dns_upstream);
        c.state_dir = args.state_dir.clone().or(file.state_dir);
        if let Some(n) = args.api_max_connections.or(file.api_max_connections) {
            if n == 0 {
                return Err("api max connections must be at least 1".into());
            }
            c.api_limits.max_connections = n;
        }
        if let Some(t) = args.api_request_timeout_seconds.or(file.api_request_timeout_seconds) {
            if !(0.05..=3600.0).contains(&t) {
                return Err(format!("api request timeout {t} must be between 0.05 and 3600 seconds"));
            }
            c.api_limits.request_timeout = std::time::Duration::from_secs_f64(t);
        }
        if let Some(n) = args.max_flows.or(file.max_flows) {
            if n == 0 {
                return Err("max flows must be at least 1".into());
            }
            c.dataplane.max_flows = n;
        }
        if let Some(l) = args.listener_sockets.or(file.listener_sockets) {
            c.dataplane.listener_sockets = l;
            c.dns.resolver_sockets = l;
        }
        c.auth.strict = args.strict_auth || file.strict_auth.unwrap_or(false);
        c.model.default_vpc = args.default_vpc || file.default_vpc.unwrap_or(false);
        if let Some(a) = args.default_account.clone().or(file.default_account) {
            if !is_account(&a) {
                return Err(format!("default account '{a}' must be 12 digits"));
            }
            c.auth.default_account = a;
        }
        if let Some(r) = args.default_region.clone().or(file.default_region) {
            if !crate::model::region::is_region_name(&r) {
                return Err(format!("default region '{r}' is not a region name"));
            }
            c.auth.default_region = r;
        }
        if let Some(s) = args.pending_seconds.or(file.pending_seconds) {
            if !(0.0..=3600.0).contains(&s) {
                return Err(format!("pending seconds {s} must be between 0 and 3600"));
            }
            c.model.pending_delay_ms = (s * 1000.0) as u64;
        }
        if let Some(o) = args.port_offset.or(file.port_offset) {
            c.dataplane.port_offset = o;
        }
        if let Some(t) = args.idle_timeout_seconds.or(file.idle_timeout_seconds) {
            if t == 0 {
                return Err("idle timeout must be at least one second".into());
            }
            c.dataplane.idle_timeout = std::time::Duration::from_secs(t);
        }
        let attach = if args.attach.is_empty() { &file.attach } else { &args.attach };
        for a in attach {
            let a: crate::addressing::Attachment = a.parse()?;
            if let Some(other) =
                c.attachments.iter().find(|o: &&crate::addressing::Attachment| o.cidr.overlaps(&a.cidr))
            {
                return Err(format!("attachments {other} and {a} overlap"));
            }
            c.model.attached.push(a.cidr);
            c.attachments.push(a);
        }
        c.flow_log_file = args.flow_log_file.clone().or(file.flow_log_file);
        c.query_log_file = args.query_log_file.clone().or(file.query_log_file);
        if let Some(path) = args.seed.clone().or(file.seed) {
            c.seed = Some(crate::seed::Seed::load(&path)?);
        }
        // The command line's routes come first: the first match wins.
        for r in &args.notification_url {
            c.notification_routes.push(r.parse()?);
        }
        for (topic, url) in &file.notification_urls {
            c.notification_routes.push(crate::notify::Route::new(topic, url)?);
        }
        let mut creds = HashMap::new();
        for f in file.credentials {
            if !is_account(&f.account) {
                return Err(format!("credential {}: account '{}' must be 12 digits", f.access_key_id, f.account));
            }
            creds.insert(
                f.access_key_id.clone(),
                Credential {
                    access_key_id: f.access_key_id,
                    secret_access_key: f.secret_access_key,
                    account: f.account,
                    arn: f.arn,
                },
            );
        }
        if c.auth.strict && creds.is_empty() {
            return Err("strict auth needs [[credentials]] in the config file".into());
        }
        c.auth.credentials = creds;
        Ok(c)
    }
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("invalid config {}: {e}", path.display()))
}

/// Credentials the emulator knows: an access key mapped to its account
/// (and secret, for strict mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account: String,
    /// Principal ARN; defaults to the account's root.
    pub arn: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub strict: bool,
    pub default_account: String,
    pub default_region: String,
    pub credentials: HashMap<String, Credential>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            strict: false,
            default_account: "000000000000".into(),
            default_region: "us-east-1".into(),
            credentials: HashMap::new(),
        }
    }
}
