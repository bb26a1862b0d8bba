//! The `privatelink demo` walkthrough runs start to finish against a fresh
//! in-process emulator with a real HTTP backend, and says each step; and
//! again and again against the same emulator.

use std::process::Command;

#[test]
fn demo_runs_every_step() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let out = Command::new(env!("CARGO_BIN_EXE_privatelink"))
        .args(["demo", "--in-process", "--port", &port.to_string()])
        .output()
        .expect("the demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let steps = [
        "an internal Network Load Balancer",
        "the endpoint service, acceptance required",
        "allow the consumer's account",
        "find the service by name",
        "the interface endpoint",
        "State pendingAcceptance",
        "the pending connection",
        "accept it",
        "... available",
        "resolve the endpoint's regional name",
        "GET through the endpoint",
        "HTTP 200: AWS PrivateLink Connect Success.",
        "the access log: who connected?",
        "a private hosted zone internal.example.com for the VPC",
        "PrivateZone true",
        "an alias api.internal.example.com to the endpoint",
        "ChangeInfo INSYNC",
        "resolve the friendly name",
        "GET by the friendly name",
        "HTTP 200: AWS PrivateLink Connect Success.",
    ];
    let mut at = 0;
    for step in steps {
        let found = stdout[at..].find(step).unwrap_or_else(|| panic!("missing or out of order: {step:?}\n{stdout}"));
        at += found;
    }
    // The access log line names an NLB node in the provider VPC 10.0.0.0/16.
    let log_line = stdout.lines().rev().find(|l| l.contains("\"GET / HTTP/1.1\" 200")).expect("access log line");
    assert!(log_line.trim_start().starts_with("10.0."), "{log_line}");
    assert!(stdout.contains(";; SERVER: 10.24.0.2#53"), "answered by the VPC resolver: {stdout}");
    // Two A records in the consumer's subnets, for the regional name and
    // for the friendly name alike.
    let answers = |name: &str| -> Vec<String> {
        stdout
            .lines()
            .filter(|l| l.trim_start().starts_with(name) && l.contains(". 60 IN A 10.24."))
            .map(|l| l.split(". 60 IN A ").nth(1).unwrap_or("").to_string())
            .collect()
    };
    let regional = answers("vpce-");
    assert_eq!(regional.len(), 2, "{stdout}");
    assert_eq!(answers("api.internal.example.com"), regional, "{stdout}");
}

#[test]
fn demo_runs_again_against_the_same_emulator() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let emulator = rt.block_on(privatelink_emulator::Emulator::builder().start()).expect("the emulator starts");
    let url = emulator.api_url();
    for run in 1..=2 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let out = Command::new(env!("CARGO_BIN_EXE_privatelink"))
            .args(["--endpoint-url", &url, "demo", "--port", &port.to_string()])
            .output()
            .expect("the demo runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "run {run} failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(stdout.matches("HTTP 200: AWS PrivateLink Connect Success.").count(), 2, "run {run}: {stdout}");
        // The second run reuses the first run's zone: its VPC joins it.
        assert_eq!(stdout.contains("already holds internal.example.com (from an earlier run)"), run == 2, "{stdout}");
    }
    // `privatelink status` lists the one zone (SOA, NS and the alias) with
    // both runs' consumer VPCs.
    let out = Command::new(env!("CARGO_BIN_EXE_privatelink"))
        .args(["--endpoint-url", &url, "status"])
        .output()
        .expect("status runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let zones: Vec<&str> = stdout.lines().filter(|l| l.trim_start().starts_with("internal.example.com. ")).collect();
    assert_eq!(zones.len(), 1, "{stdout}");
    assert!(zones[0].contains("/hostedzone/Z"), "{stdout}");
    assert!(zones[0].ends_with("private, 3 records, account 222222222222"), "{stdout}");
    let at = stdout.find(zones[0]).unwrap_or(0) + zones[0].len();
    let vpcs: Vec<&str> = stdout[at..].lines().skip(1).take_while(|l| l.starts_with("    vpc ")).collect();
    assert_eq!(vpcs.len(), 2, "{stdout}");
    assert!(vpcs.iter().all(|l| l.starts_with("    vpc vpc-") && l.ends_with("(ap-northeast-1)")), "{stdout}");
    rt.block_on(emulator.shutdown()).expect("shutdown");
}

#[test]
fn demo_pauses_between_steps_and_names_the_console() {
    use std::io::Write;
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_privatelink"))
        .args(["demo", "--in-process", "--pause", "--port", &port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the demo runs");
    child.stdin.take().expect("stdin").write_all(&b"\n".repeat(64)).expect("Enter");
    let out = child.wait_with_output().expect("the demo ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let steps = stdout.lines().filter(|l| l.starts_with('[')).count();
    assert_eq!(stdout.matches("(Enter for the next step)").count(), steps - 1, "{stdout}");
    assert!(stdout.contains("/_emulator/console"), "{stdout}");
}

#[test]
fn demo_opens_the_console_in_the_browser_of_browser_env() {
    use std::io::Write;
    // The "browser" is curl: it fetches the page it is given into a file,
    // while the demo waits at its first pause with the emulator up.
    let dir = std::env::temp_dir().join(format!("privatelink-demo-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let page = dir.join("page.html");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_privatelink"))
        .args(["demo", "--in-process", "--pause", "--open-console", "--port", &port.to_string()])
        .env("BROWSER", format!("curl -s -o {}", page.display()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the demo runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let fetched = loop {
        let text = std::fs::read_to_string(&page).unwrap_or_default();
        if text.contains("</html>") || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    child.stdin.take().expect("stdin").write_all(&b"\n".repeat(64)).expect("Enter");
    let out = child.wait_with_output().expect("the demo ends");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("opened the console with curl -s -o"), "{stdout}");
    assert!(fetched.contains("<title>PrivateLink emulator console</title>"), "the browser got: {fetched:.300}");
}
