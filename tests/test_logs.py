"""The log says which request or flow each line is about: API lines carry
the request id and action, data plane lines the endpoint, source and
target; and a log that is not a terminal has no colour codes. Flow logs
(VPC Flow Logs version 2) and DNS query logs (Route 53 Resolver's format)
hold what curl and dig sent, on the admin endpoints and in files."""

import json
import re
import subprocess
import urllib.error
import urllib.request

import pytest

from backends import BODY, free_port, require
from conftest import CONSUMER, PROVIDER, REGION, start_emulator, stop_emulator, wait_for
from test_dataplane import World, curl, listeners_of, to_host
from test_limits import served_world


def test_api_and_flow_lines_carry_their_context():
    emu, url = start_emulator(["--log", "privatelink_emulator=debug"])
    try:
        w, host = served_world(url)
        assert curl(f"http://{host}:{w.port}/", source=w.client_host).stdout == BODY
        req = urllib.request.Request(url, data=b"Action=DescribeVpcs&Version=2016-11-15&MaxResults=abc", method="POST")
        try:
            urllib.request.urlopen(req, timeout=5)
            raise AssertionError("MaxResults=abc was accepted")
        except urllib.error.HTTPError as e:
            request_id = re.search(r"<RequestID>([^<]+)</RequestID>", e.read().decode()).group(1)
        flow = re.compile(
            r"flow\{endpoint=vpce-[0-9a-f]{17} listener=127\.[0-9.:]+ source=127\.[0-9.:]+ "
            r"target=127\.[0-9.:]+\}.*flow ended"
        )
        wait_for(lambda: flow.search(emu.log_text()), "a flow's lines with endpoint, source and target")
        log = emu.log_text()
        answered = [l for l in log.splitlines() if "answered" in l and request_id in l]
        assert answered and 'action="DescribeVpcs"' in answered[0], answered
        assert "\x1b[" not in log, "colour codes in a log that is not a terminal"
        w.close()
    finally:
        stop_emulator(emu)


# Flow logs and DNS query logs: what the data plane and DNS record, checked
# against what curl and dig sent and received.

V2 = re.compile(
    r"2 (\d{12}) (eni-[0-9a-f]{17}) (\d+\.\d+\.\d+\.\d+) (\d+\.\d+\.\d+\.\d+) (\d+) (\d+) 6 (\d+) (\d+) (\d+) (\d+) "
    r"(ACCEPT|REJECT) OK"
)
V2_HEADER = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
             "action log-status")


def curl_measured(url, source):
    """curl that says which local port it used and the bytes it sent and got."""
    r = subprocess.run(
        ["curl", "-s", "--max-time", "5", "--interface", source, "-o", "/dev/null",
         "-w", "%{local_port} %{size_request} %{size_header} %{size_download} %{http_code}", url],
        capture_output=True, text=True,
    )
    port, sent, header, body, code = r.stdout.split()
    return int(port), int(sent), int(header) + int(body), code


def admin_text(url, path):
    with urllib.request.urlopen(f"{url}{path}", timeout=5) as r:
        return r.read().decode()


def admin_json(url, path):
    return json.loads(admin_text(url, path))


def v2_records(text):
    lines = [l for l in text.splitlines() if l]
    assert lines[0] == V2_HEADER, lines[:1]
    records = []
    for line in lines[1:]:
        m = V2.fullmatch(line)
        assert m, f"not a version 2 flow log record: {line!r}"
        account, eni, src, dst, sport, dport, packets, nbytes, start, end, action = m.groups()
        records.append(dict(account=account, eni=eni, src=src, dst=dst, sport=int(sport), dport=int(dport),
                            packets=int(packets), bytes=int(nbytes), start=int(start), end=int(end), action=action))
    return records


@pytest.fixture
def logged(tmp_path):
    flows, queries = tmp_path / "flows.log", tmp_path / "queries.log"
    emu, url = start_emulator(["--flow-log-file", str(flows), "--query-log-file", str(queries)])
    w = None
    try:
        w, host = served_world(url)
        yield emu, url, w, host, flows, queries
    finally:
        if w:
            w.close()
        stop_emulator(emu)


def test_flow_logs_record_what_curl_sent_on_both_interfaces(logged):
    emu, url, w, host, flows_file, _ = logged
    consumer, provider = w.client("ec2", CONSUMER), w.client("ec2", PROVIDER)
    enis = consumer.describe_network_interfaces(NetworkInterfaceIds=w.ep["NetworkInterfaceIds"])["NetworkInterfaces"]
    eni = next(e for e in enis if to_host(w.cblock, e["PrivateIpAddress"], f"10.{w.c}") == host)
    port, sent, got, code = curl_measured(f"http://{host}:{w.port}/", w.client_host)
    assert code == "200"
    ep = w.ep["VpcEndpointId"]

    flow = wait_for(lambda: next((f for f in admin_json(url, f"/_emulator/flows?endpoint={ep}")["flows"]
                                  if f["source"] == f"{w.client_vpc_ip}:{port}"), None), "curl's flow")
    assert flow["destination"] == f"{eni['PrivateIpAddress']}:{w.port}"
    assert flow["endpoint_eni"] == eni["NetworkInterfaceId"] and flow["consumer_account"] == CONSUMER
    assert (flow["bytes_in"], flow["bytes_out"]) == (sent, got)
    assert flow["action"] == "ACCEPT" and flow["ended"] == "closed"
    assert flow["start_ms"] <= flow["end_ms"]
    nlb = flow["nlb"]
    assert nlb["provider_account"] == PROVIDER
    assert nlb["target"] == f"{w.target_ips[0]}:{w.target_port}"
    node_ip, node_port = nlb["node"].split(":")
    # The node's address is what nginx logged as its client.
    assert w.target_host(node_ip) in w.backends[0].clients()
    node_eni = provider.describe_network_interfaces(
        Filters=[{"Name": "addresses.private-ip-address", "Values": [node_ip]}])["NetworkInterfaces"]
    assert [n["NetworkInterfaceId"] for n in node_eni] == [nlb["load_balancer_eni"]]
    assert node_eni[0]["Description"].startswith("ELB net/")

    records = [r for r in v2_records(admin_text(url, "/_emulator/flow-logs"))
               if port in (r["sport"], r["dport"]) or int(node_port) in (r["sport"], r["dport"])]
    by_direction = {(r["eni"], r["src"], r["dst"]): r for r in records}
    assert len(records) == 4 == len(by_direction), records
    inbound = by_direction[(eni["NetworkInterfaceId"], w.client_vpc_ip, eni["PrivateIpAddress"])]
    outbound = by_direction[(eni["NetworkInterfaceId"], eni["PrivateIpAddress"], w.client_vpc_ip)]
    to_target = by_direction[(nlb["load_balancer_eni"], node_ip, w.target_ips[0])]
    from_target = by_direction[(nlb["load_balancer_eni"], w.target_ips[0], node_ip)]
    assert (inbound["sport"], inbound["dport"]) == (port, w.port)
    assert (to_target["sport"], to_target["dport"]) == (int(node_port), w.target_port)
    assert {r["account"] for r in (inbound, outbound)} == {CONSUMER}
    assert {r["account"] for r in (to_target, from_target)} == {PROVIDER}
    for r, payload in ((inbound, sent), (outbound, got), (to_target, sent), (from_target, got)):
        # SYN or SYN-ACK, data, FIN at least; bytes are payload plus 40 per packet.
        assert r["packets"] >= 3, r
        assert r["bytes"] == payload + 40 * r["packets"], (r, payload)
        assert r["action"] == "ACCEPT" and r["start"] <= r["end"]
        assert r["start"] == flow["start_ms"] // 1000

    def in_file():
        text = flows_file.read_text()
        return text if all(f" {port} " in l or f" {node_port} " in l for l in text.splitlines()[1:5]) else None

    text = wait_for(in_file, "the flow in the flow log file")
    assert sorted(l for l in text.splitlines() if V2.fullmatch(l)) == sorted(
        l for l in admin_text(url, "/_emulator/flow-logs").splitlines()[1:])
    assert text.splitlines()[0] == V2_HEADER

    # Without the consumer's rule, the endpoint ENI's security group refuses:
    # one REJECT record, inbound, on the endpoint ENI only.
    rule = [{"IpProtocol": "tcp", "FromPort": w.port, "ToPort": w.port,
             "IpRanges": [{"CidrIp": f"10.{w.c}.0.0/16"}]}]
    consumer.revoke_security_group_ingress(GroupId=w.consumer.group, IpPermissions=rule)
    try:
        refused = wait_for(lambda: (lambda m: m[0] if m[3] == "000" else None)(
            curl_measured(f"http://{host}:{w.port}/", w.client_host)), "refused by the security group")
        rejected = wait_for(lambda: [r for r in v2_records(admin_text(url, "/_emulator/flow-logs"))
                                     if r["sport"] == refused or r["dport"] == refused], "the REJECT record")
        assert len(rejected) == 1, rejected
        r = rejected[0]
        assert (r["action"], r["account"], r["eni"]) == ("REJECT", CONSUMER, eni["NetworkInterfaceId"])
        assert (r["src"], r["dst"], r["dport"]) == (w.client_vpc_ip, eni["PrivateIpAddress"], w.port)
        f = [f for f in admin_json(url, "/_emulator/flows")["flows"] if f["source"].endswith(f":{refused}")]
        assert [(x["action"], x["ended"], x["nlb"], x["bytes_in"]) for x in f] == [
            ("REJECT", "security-group", None, 0)]
    finally:
        consumer.authorize_security_group_ingress(GroupId=w.consumer.group, IpPermissions=rule)
    # DELETE forgets them.
    urllib.request.urlopen(urllib.request.Request(f"{url}/_emulator/flows", method="DELETE"), timeout=5)
    assert admin_json(url, "/_emulator/flows")["flows"] == []


def test_dns_questions_in_the_query_log(logged):
    emu, url, w, host, _, queries_file = logged
    require("dig", "bind9-dnsutils")
    name = w.ep["DnsEntries"][0]["DnsName"]
    resolver = f"127.{w.cblock}.0.2"
    dig = ["dig", "+time=2", "+tries=1", "-p", str(emu.dns_port)]
    vpc_answer = subprocess.run([*dig, f"@{resolver}", "-b", w.client_host, name, "A", "+short"],
                                capture_output=True, text=True).stdout.split()
    public_answer = subprocess.run([*dig, "+tcp", "@127.0.0.1", name, "A", "+short"],
                                   capture_output=True, text=True).stdout.split()
    assert len(vpc_answer) == 2 and sorted(vpc_answer) == sorted(public_answer)
    missing = "nothing-here." + name.split(".", 1)[1]
    subprocess.run([*dig, f"@{resolver}", "-b", w.client_host, missing, "A"], capture_output=True, text=True)

    def logged_queries():
        records = admin_json(url, "/_emulator/query-logs")
        return records if len(records) >= 3 else None

    records = wait_for(logged_queries, "three questions in the query log")
    in_vpc = [r for r in records if r.get("vpc_id") == w.consumer.vpc and r["query_name"] == f"{name}."]
    assert len(in_vpc) == 1, records
    q = in_vpc[0]
    assert set(q) == {"version", "account_id", "region", "vpc_id", "query_timestamp", "query_name", "query_type",
                      "query_class", "rcode", "answers", "srcaddr", "srcport", "transport"}
    assert (q["version"], q["account_id"], q["region"]) == ("1.100000", CONSUMER, REGION)
    assert (q["query_type"], q["query_class"], q["rcode"], q["transport"]) == ("A", "IN", "NOERROR", "UDP")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", q["query_timestamp"])
    # The client is logged at its VPC address, as the VPC's resolver sees it.
    assert q["srcaddr"] == w.client_vpc_ip and q["srcport"].isdigit()
    assert sorted(a["Rdata"] for a in q["answers"]) == sorted(vpc_answer)
    assert {(a["Type"], a["Class"]) for a in q["answers"]} == {("A", "IN")}
    public = [r for r in records if "vpc_id" not in r and r["query_name"] == f"{name}."]
    assert len(public) == 1 and public[0]["transport"] == "TCP" and "account_id" not in public[0]
    assert sorted(a["Rdata"] for a in public[0]["answers"]) == sorted(public_answer)
    nx = [r for r in records if r["query_name"] == f"{missing}."]
    assert [(r["rcode"], r["answers"], r["vpc_id"]) for r in nx] == [("NXDOMAIN", [], w.consumer.vpc)]
    only_vpc = admin_json(url, f"/_emulator/query-logs?vpc-id={w.consumer.vpc}")
    assert {r["query_name"] for r in only_vpc} == {f"{name}.", f"{missing}."}

    def file_records():
        lines = queries_file.read_text().splitlines()
        return [json.loads(l) for l in lines] if len(lines) >= 3 else None

    assert wait_for(file_records, "the query log file") == records


def test_an_endpoint_not_yet_available_refuses_with_a_reject_record(client, emulator):
    """Before acceptance the endpoint's interfaces exist but carry nothing:
    AWS drops the flow and logs a REJECT on the endpoint ENI. The emulator
    holds the interface's address and resets the connection at once (so
    curl fails fast instead of timing out), logging the same REJECT; once
    accepted, the same client gets through with ACCEPT records."""
    w = World(client, emulator)
    try:
        w.start_nginx()
        ep = w.endpoint()["VpcEndpointId"]
        consumer = client("ec2", CONSUMER)
        assert consumer.describe_vpc_endpoints(VpcEndpointIds=[ep])["VpcEndpoints"][0]["State"] == "pendingAcceptance"
        enis = {e["NetworkInterfaceId"]: e["PrivateIpAddress"] for e in consumer.describe_network_interfaces(
            NetworkInterfaceIds=w.ep["NetworkInterfaceIds"])["NetworkInterfaces"]}

        def refusing():
            entries = [e for e in admin_json(emulator, "/_emulator/status")["dataplane"]["refusing_listeners"]
                       if e["vpc_endpoint_id"] == ep]
            return entries if len(entries) == len(enis) else None

        # Ready once the data plane has applied the endpoint (its listeners bound).
        with urllib.request.urlopen(f"{emulator}/_emulator/ready", timeout=15) as r:
            assert r.status == 200
        entries = refusing()
        assert entries, "the pending endpoint's interfaces are not held"
        assert {(e["network_interface_id"], e["endpoint_state"]) for e in entries} == {
            (eni, "pendingAcceptance") for eni in enis}
        assert listeners_of(emulator, ep) == [], "a pending endpoint serves nothing"
        eni, eni_ip = entries[0]["network_interface_id"], entries[0]["vpc_address"].split(":")[0]
        assert enis[eni] == eni_ip
        host = to_host(w.cblock, eni_ip, f"10.{w.c}")
        # curl forgets its port when the connection fails: it is given one.
        port = free_port()
        r = subprocess.run(["curl", "-s", "-S", "--max-time", "5", "--interface", w.client_host, "--local-port",
                            str(port), "-o", "/dev/null", "-w", "%{http_code}", f"http://{host}:{w.port}/"],
                           capture_output=True, text=True)
        # Reset at once: curl sees it while connecting (7), or after (52, 55, 56).
        assert r.returncode in (7, 52, 55, 56) and r.stdout == "000", ("a pending endpoint answered", r)

        flow = wait_for(lambda: next((f for f in admin_json(emulator, f"/_emulator/flows?endpoint={ep}")["flows"]
                                      if f["source"] == f"{w.client_vpc_ip}:{port}"), None), "the refused flow")
        assert (flow["action"], flow["ended"], flow["nlb"]) == ("REJECT", "endpoint-not-available", None)
        assert (flow["bytes_in"], flow["bytes_out"], flow["endpoint_eni"]) == (0, 0, eni)
        records = [r for r in v2_records(admin_text(emulator, f"/_emulator/flow-logs?interface-id={eni}"))
                   if port in (r["sport"], r["dport"])]
        assert len(records) == 1, records
        r = records[0]
        assert (r["action"], r["account"], r["eni"]) == ("REJECT", CONSUMER, eni)
        assert (r["src"], r["sport"], r["dst"], r["dport"]) == (w.client_vpc_ip, port, eni_ip, w.port)
        assert r["packets"] >= 1 and r["bytes"] == 40 * r["packets"], r
        assert r["start"] <= r["end"]

        # Accepted: the same address now carries the flow, logged ACCEPT.
        w.accept()
        w.wait_listeners()
        assert not [e for e in admin_json(emulator, "/_emulator/status")["dataplane"]["refusing_listeners"]
                    if e["vpc_endpoint_id"] == ep]
        port, sent, got, code = curl_measured(f"http://{host}:{w.port}/", w.client_host)
        assert code == "200"
        def accepted():
            text = admin_text(emulator, f"/_emulator/flow-logs?interface-id={eni}")
            return [r for r in v2_records(text) if port in (r["sport"], r["dport"])] or None

        accepted = wait_for(accepted, "the accepted flow's records")
        assert {(r["action"], r["src"]) for r in accepted} == {("ACCEPT", w.client_vpc_ip), ("ACCEPT", eni_ip)}
    finally:
        w.close()
