"""The log says which request or flow each line is about: API lines carry
the request id and action, data plane lines the endpoint, source and
target; and a log that is not a terminal has no colour codes."""

import re
import urllib.error
import urllib.request

from backends import BODY
from conftest import start_emulator, stop_emulator, wait_for
from test_dataplane import curl
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
