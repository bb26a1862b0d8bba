"""Connection notifications: Create/Describe/Modify/DeleteVpcEndpoint
ConnectionNotification(s) with boto3 and the AWS CLI, and the messages of
the Connect, Accept, Reject and Delete events, POSTed as SNS does to a real
HTTP server this test runs and listed at /_emulator/notifications."""

import json
import queue
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import CONSUMER, PROVIDER, REGION, Aws, start_emulator, stop_emulator, wait_for
from topology import build_consumer, build_provider, create_endpoint

TOPIC = f"arn:aws:sns:{REGION}:{PROVIDER}:endpoint-events"
CONSUMER_TOPIC = f"arn:aws:sns:{REGION}:{CONSUMER}:my-endpoint"
UNROUTED = f"arn:aws:sns:{REGION}:{PROVIDER}:kept-only"
DEAD = f"arn:aws:sns:{REGION}:{PROVIDER}:nobody-listens"


class Subscriber:
    """A real HTTP server that records every POST it receives."""

    def __init__(self):
        self.received = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.put((self.path, {k.lower(): v for k, v in self.headers.items()}, body.decode()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout=10):
        path, headers, body = self.received.get(timeout=timeout)
        return path, headers, json.loads(body)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def world():
    sub = Subscriber()
    routes = [
        f"--notification-url={TOPIC}=http://127.0.0.1:{sub.port}/sns/provider",
        f"--notification-url={CONSUMER_TOPIC}=http://127.0.0.1:{sub.port}/sns/consumer",
        f"--notification-url={DEAD}=http://127.0.0.1:{closed_port()}/",
    ]
    emu, url = start_emulator(routes)
    try:
        yield emu, url, sub
    finally:
        stop_emulator(emu)
        sub.close()


def make_client(url):
    def make(service, account):
        return boto3.client(
            service, endpoint_url=url, region_name=REGION, aws_access_key_id=account,
            aws_secret_access_key="any-secret", config=Config(retries={"max_attempts": 1}),
        )
    return make


def admin(url, path, method="GET"):
    req = urllib.request.Request(f"{url}{path}", method=method)
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def check_delivery(sub, path, event, endpoint_id, service_id, state):
    got_path, headers, envelope = sub.next()
    assert got_path == path
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["content-type"].startswith("text/plain")
    assert headers["x-amz-sns-message-id"] == envelope["MessageId"]
    assert envelope["Type"] == "Notification"
    assert envelope["TopicArn"] == headers["x-amz-sns-topic-arn"]
    message = json.loads(envelope["Message"])
    assert message["eventType"] == event, message
    assert message["vpcEndpointId"] == endpoint_id
    assert message["vpcEndpointOwner"] == CONSUMER
    assert message["vpcEndpointState"] == state
    assert message["serviceId"] == service_id
    return envelope, message


def test_events_are_posted_to_the_topics_url_and_listed(world):
    emu, url, sub = world
    admin(url, "/_emulator/notifications", "DELETE")
    client = make_client(url)
    provider_ec2 = client("ec2", PROVIDER)
    consumer_ec2 = client("ec2", CONSUMER)
    provider = build_provider(client)
    consumer = build_consumer(client)

    made = provider_ec2.create_vpc_endpoint_connection_notification(
        ServiceId=provider.service_id, ConnectionNotificationArn=TOPIC,
        ConnectionEvents=["Connect", "Accept", "Reject", "Delete"],
    )["ConnectionNotification"]
    assert made["ConnectionNotificationId"].startswith("vpce-nfn-")
    assert made["ConnectionNotificationState"] == "Enabled"
    assert made["ConnectionNotificationType"] == "Topic"
    assert made["ServiceId"] == provider.service_id
    assert sorted(made["ConnectionEvents"]) == ["Accept", "Connect", "Delete", "Reject"]
    # A second notification whose topic has no URL: its messages are kept only.
    kept = provider_ec2.create_vpc_endpoint_connection_notification(
        ServiceId=provider.service_id, ConnectionNotificationArn=UNROUTED, ConnectionEvents=["Connect"],
    )["ConnectionNotification"]["ConnectionNotificationId"]

    # A request that fails publishes nothing.
    with pytest.raises(ClientError) as e:
        consumer_ec2.create_vpc_endpoint(
            VpcEndpointType="Interface", VpcId=consumer.vpc, ServiceName=provider.service_name,
            SubnetIds=["subnet-0123456789abcdef0"],
        )
    assert e.value.response["Error"]["Code"] == "InvalidSubnetID.NotFound"

    first = create_endpoint(client, provider, consumer)["VpcEndpointId"]
    check_delivery(sub, "/sns/provider", "Connect", first, provider.service_id, "pendingAcceptance")

    # The consumer asks to hear about its own endpoint.
    mine = consumer_ec2.create_vpc_endpoint_connection_notification(
        VpcEndpointId=first, ConnectionNotificationArn=CONSUMER_TOPIC, ConnectionEvents=["Accept", "Reject"],
    )["ConnectionNotification"]
    assert mine["VpcEndpointId"] == first and "ServiceId" not in mine

    provider_ec2.accept_vpc_endpoint_connections(ServiceId=provider.service_id, VpcEndpointIds=[first])
    accepted = [sub.next(), sub.next()]
    paths = sorted(p for p, _, _ in accepted)
    assert paths == ["/sns/consumer", "/sns/provider"]
    for path, _, envelope in accepted:
        message = json.loads(envelope["Message"])
        assert message["eventType"] == "Accept" and message["vpcEndpointId"] == first
        assert message["vpcEndpointState"] == "pending"
        assert envelope["TopicArn"] == (CONSUMER_TOPIC if path == "/sns/consumer" else TOPIC)

    second = create_endpoint(client, provider, consumer)["VpcEndpointId"]
    check_delivery(sub, "/sns/provider", "Connect", second, provider.service_id, "pendingAcceptance")
    provider_ec2.reject_vpc_endpoint_connections(ServiceId=provider.service_id, VpcEndpointIds=[second])
    check_delivery(sub, "/sns/provider", "Reject", second, provider.service_id, "rejected")

    consumer_ec2.delete_vpc_endpoints(VpcEndpointIds=[first])
    check_delivery(sub, "/sns/provider", "Delete", first, provider.service_id, "deleting")
    # Nothing else was sent: the consumer's notification does not ask for Delete.
    with pytest.raises(queue.Empty):
        sub.received.get(timeout=0.5)

    listed = admin(url, "/_emulator/notifications")["notifications"]
    events = [(n["topic_arn"], n["message"]["eventType"], n["message"]["vpcEndpointId"]) for n in listed]
    assert sorted(events) == sorted([
        (TOPIC, "Connect", first), (UNROUTED, "Connect", first),
        (TOPIC, "Accept", first), (CONSUMER_TOPIC, "Accept", first),
        (TOPIC, "Connect", second), (UNROUTED, "Connect", second),
        (TOPIC, "Reject", second), (TOPIC, "Delete", first),
    ])
    # Each topic hears of the events in the order they happened.
    assert [e[1:] for e in events if e[0] == TOPIC] == [
        ("Connect", first), ("Accept", first), ("Connect", second), ("Reject", second), ("Delete", first)]
    routed = wait_for(
        lambda: all(n["delivery"]["state"] == "delivered" for n in admin(url, "/_emulator/notifications")["notifications"]
                    if n["delivery"]) and admin(url, "/_emulator/notifications")["notifications"],
        "every routed message delivered",
    )
    for n in routed:
        assert json.loads(n["sns"]["Message"]) == n["message"]
        if n["topic_arn"] == UNROUTED:
            assert n["delivery"] is None
        else:
            assert n["delivery"]["http_status"] == 200
    only = admin(url, f"/_emulator/notifications?topic={UNROUTED}")["notifications"]
    assert [n["message"]["vpcEndpointId"] for n in only] == [first, second]

    # After deleting the service's notifications, events publish nothing.
    out = provider_ec2.delete_vpc_endpoint_connection_notifications(
        ConnectionNotificationIds=[made["ConnectionNotificationId"], kept]
    )
    assert out["Unsuccessful"] == []
    before = len(admin(url, "/_emulator/notifications")["notifications"])
    third = create_endpoint(client, provider, consumer)["VpcEndpointId"]
    provider_ec2.reject_vpc_endpoint_connections(ServiceId=provider.service_id, VpcEndpointIds=[third])
    assert len(admin(url, "/_emulator/notifications")["notifications"]) == before
    consumer_ec2.delete_vpc_endpoints(VpcEndpointIds=[second, third])
    consumer_ec2.delete_vpc_endpoint_connection_notifications(ConnectionNotificationIds=[mine["ConnectionNotificationId"]])


def test_a_dead_subscriber_never_holds_up_a_write(world):
    emu, url, sub = world
    client = make_client(url)
    provider_ec2 = client("ec2", PROVIDER)
    provider = build_provider(client, acceptance_required=False, name="dead", cidr_prefix="10.1", targets=("10.1.128.142",))
    consumer = build_consumer(client, cidr_prefix="10.25")
    nfn = provider_ec2.create_vpc_endpoint_connection_notification(
        ServiceId=provider.service_id, ConnectionNotificationArn=DEAD, ConnectionEvents=["Connect", "Accept"],
    )["ConnectionNotification"]["ConnectionNotificationId"]
    started = time.monotonic()
    endpoint = create_endpoint(client, provider, consumer)["VpcEndpointId"]
    took = time.monotonic() - started
    # Delivery retries for over a second; the answer does not wait for it.
    assert took < 1.0, f"CreateVpcEndpoint took {took:.2f}s"
    mine = lambda: [n for n in admin(url, f"/_emulator/notifications?topic={DEAD}")["notifications"]
                    if n["message"]["vpcEndpointId"] == endpoint]
    # Acceptance not required: the service accepts at once, both are announced.
    assert [n["message"]["eventType"] for n in mine()] == ["Connect", "Accept"]
    failed = wait_for(lambda: all(n["delivery"]["state"] == "failed" for n in mine()) and mine(),
                      "the deliveries to a closed port to fail", timeout=15)
    assert all(n["delivery"]["attempts"] == 3 and "connect" in n["delivery"]["error"] for n in failed)
    client("ec2", CONSUMER).delete_vpc_endpoints(VpcEndpointIds=[endpoint])
    provider_ec2.delete_vpc_endpoint_connection_notifications(ConnectionNotificationIds=[nfn])


def test_describe_modify_delete_with_the_aws_cli(world):
    emu, url, sub = world
    client = make_client(url)
    provider = build_provider(client, name="cli", cidr_prefix="10.2", targets=("10.2.128.142",))
    cli = Aws(url, PROVIDER)
    made = cli("ec2", "create-vpc-endpoint-connection-notification", "--service-id", provider.service_id,
               "--connection-notification-arn", UNROUTED, "--connection-events", "Connect", "Accept",
               "--client-token", "nfn-token-1")["ConnectionNotification"]
    nid = made["ConnectionNotificationId"]
    again = cli("ec2", "create-vpc-endpoint-connection-notification", "--service-id", provider.service_id,
                "--connection-notification-arn", UNROUTED, "--connection-events", "Connect", "Accept",
                "--client-token", "nfn-token-1")["ConnectionNotification"]
    assert again["ConnectionNotificationId"] == nid

    listed = cli("ec2", "describe-vpc-endpoint-connection-notifications",
                 "--connection-notification-id", nid)["ConnectionNotificationSet"]
    assert [n["ConnectionNotificationArn"] for n in listed] == [UNROUTED]
    by_filter = cli("ec2", "describe-vpc-endpoint-connection-notifications", "--filters",
                    f"Name=service-id,Values={provider.service_id}")["ConnectionNotificationSet"]
    assert [n["ConnectionNotificationId"] for n in by_filter] == [nid]
    assert cli("ec2", "describe-vpc-endpoint-connection-notifications", "--filters",
               "Name=connection-notification-arn,Values=arn:aws:sns:*:*:other")["ConnectionNotificationSet"] == []

    cli("ec2", "modify-vpc-endpoint-connection-notification", "--connection-notification-id", nid,
        "--connection-events", "Reject", "--connection-notification-arn", TOPIC)
    n = cli("ec2", "describe-vpc-endpoint-connection-notifications",
            "--connection-notification-id", nid)["ConnectionNotificationSet"][0]
    assert n["ConnectionEvents"] == ["Reject"] and n["ConnectionNotificationArn"] == TOPIC

    # Another account sees none of it.
    consumer = Aws(url, CONSUMER)
    assert "InvalidConnectionNotification" in consumer.fails(
        "ec2", "describe-vpc-endpoint-connection-notifications", "--connection-notification-id", nid)
    assert consumer("ec2", "describe-vpc-endpoint-connection-notifications")["ConnectionNotificationSet"] == []

    # Refusals, each changing nothing.
    assert "InvalidConnectionNotification" in cli.fails(
        "ec2", "create-vpc-endpoint-connection-notification", "--service-id", provider.service_id,
        "--connection-notification-arn", "arn:aws:s3:::bucket", "--connection-events", "Connect")
    assert "InvalidParameterValue" in cli.fails(
        "ec2", "create-vpc-endpoint-connection-notification", "--service-id", provider.service_id,
        "--connection-notification-arn", TOPIC, "--connection-events", "Explode")
    assert "InvalidVpcEndpointServiceId.NotFound" in cli.fails(
        "ec2", "create-vpc-endpoint-connection-notification", "--service-id", "vpce-svc-0123456789abcdef0",
        "--connection-notification-arn", TOPIC, "--connection-events", "Connect")
    assert "MissingParameter" in cli.fails(
        "ec2", "create-vpc-endpoint-connection-notification",
        "--connection-notification-arn", TOPIC, "--connection-events", "Connect")
    assert "InvalidParameterCombination" in cli.fails(
        "ec2", "create-vpc-endpoint-connection-notification", "--service-id", provider.service_id,
        "--vpc-endpoint-id", "vpce-0123456789abcdef0",
        "--connection-notification-arn", TOPIC, "--connection-events", "Connect")
    assert "InvalidConnectionNotification" in cli.fails(
        "ec2", "modify-vpc-endpoint-connection-notification", "--connection-notification-id",
        "vpce-nfn-0123456789abcdef0", "--connection-events", "Accept")
    assert len(cli("ec2", "describe-vpc-endpoint-connection-notifications")["ConnectionNotificationSet"]) >= 1

    out = cli("ec2", "delete-vpc-endpoint-connection-notifications", "--connection-notification-ids", nid,
              "vpce-nfn-0123456789abcdef0")
    assert [(u["ResourceId"], u["Error"]["Code"]) for u in out["Unsuccessful"]] == [
        ("vpce-nfn-0123456789abcdef0", "InvalidConnectionNotification")]
    assert "InvalidConnectionNotification" in cli.fails(
        "ec2", "describe-vpc-endpoint-connection-notifications", "--connection-notification-id", nid)
