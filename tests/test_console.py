"""The web console in a real browser (Debian's chromium, headless, driven by
selenium through chromium-driver): after the walkthrough it shows both
accounts, the NLB, the service, the endpoint and its ENIs; accepting from
the console turns the endpoint available on the page without a reload; a
curl through the endpoint appears as a flow with the NLB node's address;
taking the target down from the console makes the next curl fail and the
target turn unhealthy on the page; the page logs no errors. Screenshots of
each step are kept in tests/artifacts/."""

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest

from backends import BODY
from conftest import CONSUMER, PROVIDER, REGION, wait_for
from test_dataplane import curl, world  # noqa: F401 - the fixture

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
HEALTH = dict(HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
              UnhealthyThresholdCount=2)


def browser():
    missing = [n for n in ("chromium", "chromedriver") if shutil.which(n) is None]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium (pip)")
    if missing:
        why = f"the console test needs {', '.join(missing)} (apt-get install chromium chromium-driver; pip install selenium)"
        if os.environ.get("REQUIRE_ALL_E2E") == "1":
            pytest.fail(why)
        pytest.skip(why)
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,2000",
              "--disable-gpu", "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


@pytest.fixture
def driver():
    d = browser()
    yield d
    d.quit()


def shot(driver, name):
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"console-{name}.png"))


def test_console_follows_the_walkthrough_accept_traffic_and_a_target_down(world, driver):  # noqa: F811
    from selenium.webdriver.common.by import By

    w = world(health=HEALTH)
    w.start_nginx()
    ep = w.endpoint()["VpcEndpointId"]
    driver.get(f"{w.emulator}/_emulator/console")
    find = lambda css: driver.find_elements(By.CSS_SELECTOR, css)  # noqa: E731

    from selenium.common.exceptions import StaleElementReferenceException

    def on_page(act, what):
        """What `act` returns, done again if the page redrew the elements
        it found before it was done with them (the topology is redrawn on
        every change and every 2 s)."""
        def attempt():
            try:
                return (act(),)
            except StaleElementReferenceException:
                return None
        return wait_for(attempt, what)[0]

    def endpoint_state():
        try:
            e = find(f"#endpoint-{ep}")
            return e and e[0].get_attribute("data-state")
        except StaleElementReferenceException:  # the topology was redrawn meanwhile
            return None

    assert wait_for(endpoint_state, "the endpoint on the page") == "pendingAcceptance"
    wait_for(lambda: find("#live[data-live=yes]"), "the event stream open")
    for account in (PROVIDER, CONSUMER):
        assert find(f"#account-{account}-{REGION}"), account
    assert find(f"#nlb-dp{w.p}") and find(f"#service-{w.provider.service_id}")
    assert len(find(f"#endpoint-{ep} li.eni")) == 2
    eni_ips = [e["PrivateIpAddress"] for e in w.client("ec2", CONSUMER).describe_network_interfaces(
        NetworkInterfaceIds=w.ep["NetworkInterfaceIds"])["NetworkInterfaces"]]
    text = on_page(lambda: find(f"#endpoint-{ep}")[0].text, "the endpoint's text")
    assert all(ip in text for ip in eni_ips), text
    shot(driver, "1-pending")

    # Accept from the page; it turns available without a reload.
    driver.execute_script("window.__notReloaded = true;")
    on_page(lambda: find(f"#endpoint-{ep} button.accept")[0].click(), "accept clicked")
    wait_for(lambda: endpoint_state() == "available", "available on the page", timeout=20)
    assert driver.execute_script("return window.__notReloaded === true;")
    w.wait_state("available")
    shot(driver, "2-accepted")

    # A curl through the endpoint shows up as a flow with the NLB node address.
    w.wait_listeners()
    host = w.eni_hosts()[0]
    assert curl(f"http://{host}:{w.port}/", source=w.client_host).returncode == 0
    lb = w.client("elbv2", PROVIDER).describe_load_balancers(LoadBalancerArns=[w.provider.lb_arn])["LoadBalancers"][0]
    nodes = {z["LoadBalancerAddresses"][0]["PrivateIPv4Address"] for z in lb["AvailabilityZones"]}

    def flow_row():
        try:
            rows = [r for r in find("#flows tr.flow") if ep in r.text]
            return rows and rows[0].find_element(By.CSS_SELECTOR, "td.node").text
        except StaleElementReferenceException:
            return None

    seen_node = wait_for(flow_row, "the flow on the page")
    assert seen_node.split(":")[0] in nodes, (seen_node, nodes)

    # The target's counters: the one flow, its bytes each way, as the
    # status endpoint counts them (the page refreshes them every 2 s).
    escaped = w.target_ips[0].replace(".", "\\.")
    target = f"#target-{escaped}-{w.target_port}"
    with urllib.request.urlopen(f"{w.emulator}/_emulator/status", timeout=5) as r:
        counted = json.load(r)["dataplane"]["targets"][w.provider.tg_arn][f"{w.target_ips[0]}:{w.target_port}"]
    assert (counted["connections"], counted["active"]) == (1, 0), counted
    assert counted["bytes_in"] > 0 and counted["bytes_out"] >= len(BODY), counted

    def target_counters():
        try:
            c = find(f"{target} .counters")
            return c and {k: int(c[0].get_attribute(f"data-{k.replace('_', '-')}"))
                          for k in ("connections", "active", "bytes_in", "bytes_out")}
        except StaleElementReferenceException:  # redrawn meanwhile
            return None

    wait_for(lambda: target_counters() == counted, "the target's counters on the page")
    shot(driver, "3-flow")

    # Take the target down from the page: the next curl fails, the target
    # turns unhealthy on the page.
    wait_for(lambda: find(f"{target}[data-health=healthy]"), "the target healthy on the page", timeout=30)
    on_page(lambda: find(f"{target} button.target-down")[0].click(), "target down clicked")
    wait_for(lambda: curl(f"http://{host}:{w.port}/", source=w.client_host, timeout=3).returncode != 0,
             "curl fails with the target down")
    wait_for(lambda: find(f"{target}[data-health=unhealthy]"), "unhealthy on the page", timeout=40)
    assert find("#faults li.fault")
    shot(driver, "4-target-down")
    on_page(lambda: find(f"{target} button.target-up")[0].click(), "target up clicked")
    wait_for(lambda: not find("#faults li.fault"), "the fault cleared on the page")

    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
