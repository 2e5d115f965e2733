"""The calls bench/webhooks.py replays: scenarios walked once against the app to discover each
step's form and URL, then written as signed requests for wrk."""

from __future__ import annotations

import http.client
import random
import secrets
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "be" * 16
PUBLIC_BASE_URL = "https://hotline.example.com"
HOTLINE_NUMBER = "+864008001234"
ORDERS = 1000


@dataclass(frozen=True)
class Step:
    """One webhook of a call: how its URL is found and what Twilio posts."""

    kind: str  # incoming | press | silence | recorded | status
    digits: str = ""


@dataclass(frozen=True)
class Scenario:
    """A kind of call: who calls, what they do, and its share of the mix.

    ``keys`` is what the caller does after the greeting, as in ``flask simulate call --keys``:
    digits (and ``#``) pressed at the prompt, ``.`` silence, ``record`` a message finished with
    ``#``. Every call starts with /voice/incoming and ends with a ``completed`` status callback.
    """

    name: str
    weight: int
    caller_prefix: str
    country: str
    keys: str
    duration: int

    @property
    def steps(self) -> tuple[Step, ...]:
        """The call's webhooks in order."""
        middle = [
            Step("silence") if key == "." else Step("recorded", "#") if key == "record"
            else Step("press", key)
            for key in self.keys.split()
        ]  # fmt: skip
        return (Step("incoming"), *middle, Step("status"))


SCENARIOS = (
    Scenario("order status, zh", 4, "+86138", "CN", "1 2 {order}#", 75),
    Scenario("message, zh", 2, "+86139", "CN", "1 9 record", 95),
    Scenario("silence (English for +1), agent busy, message", 2, "+1415555", "US", ". 0", 40),
    Scenario("wrong key, then product queue (busy), zh", 1, "+86137", "CN", "1 7 1", 50),
    Scenario("case status, en", 1, "+86186", "CN", "2 5 12345674#", 45),
    Scenario("hang up at the greeting", 1, "+86135", "CN", "", 6),
)


def twilio_params(call_sid: str, caller: str, country: str, status: str) -> dict[str, str]:
    """The fields Twilio posts with every voice webhook of an inbound call."""
    city, state = ("BEIJING", "Beijing") if country == "CN" else ("SAN FRANCISCO", "CA")
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": status,
        "Called": HOTLINE_NUMBER,
        "CalledCity": "",
        "CalledCountry": "CN",
        "CalledState": "",
        "CalledZip": "",
        "Caller": caller,
        "CallerCity": city,
        "CallerCountry": country,
        "CallerState": state,
        "CallerZip": "",
        "Direction": "inbound",
        "From": caller,
        "FromCity": city,
        "FromCountry": country,
        "FromState": state,
        "FromZip": "",
        "To": HOTLINE_NUMBER,
        "ToCity": "",
        "ToCountry": "CN",
        "ToState": "",
        "ToZip": "",
    }


@dataclass
class CallValues:
    """What differs from one call to the next."""

    call_sid: str
    caller: str
    order: str
    recording_sid: str


def step_params(scenario: Scenario, step: Step, values: CallValues) -> dict[str, str]:
    """The form Twilio posts for ``step`` of a call."""
    status = "ringing" if step.kind == "incoming" else "in-progress"
    if step.kind == "status":
        status = "completed"
    params = twilio_params(values.call_sid, values.caller, scenario.country, status)
    if step.kind == "press":
        params["Digits"] = step.digits.replace("{order}", values.order)
        params["msg"] = "Gather End"
        if params["Digits"].endswith("#"):
            params["FinishedOnKey"] = "#"
    elif step.kind == "recorded":
        params["Digits"] = step.digits
        params["RecordingSid"] = values.recording_sid
        params["RecordingUrl"] = (
            f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/"
            + values.recording_sid
        )
        params["RecordingDuration"] = "23"
    elif step.kind == "status":
        params["CallDuration"] = str(scenario.duration)
        params["Duration"] = str(scenario.duration // 60 + 1)
        params["CallbackSource"] = "call-progress-events"
        params["SequenceNumber"] = "0"
        params["Timestamp"] = "Tue, 24 Nov 2026 12:00:00 +0000"
    return params


def raw_request(path: str, params: dict[str, str]) -> bytes:
    """A signed HTTP/1.1 POST as Twilio sends it, ready for wrk to write to the socket."""
    body = urlencode(params).encode()
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + path, params)
    head = (
        f"POST {path} HTTP/1.1\r\n"
        "Host: hotline.example.com\r\n"
        "User-Agent: TwilioProxy/1.1\r\n"
        "Accept: */*\r\n"
        "Cache-Control: max-age=259200\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def path_of(url: str) -> str:
    """The path and query of one of the app's absolute action URLs."""
    if not url.startswith(PUBLIC_BASE_URL + "/"):
        raise RuntimeError(f"the app handed Twilio a URL outside PUBLIC_BASE_URL: {url!r}")
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def next_url(twiml: bytes, step: Step) -> str:
    """Where Twilio would post ``step``, read from the previous TwiML answer."""
    doc = ET.fromstring(twiml)
    if step.kind == "press":
        gather = doc.find("Gather")
        if gather is None:
            raise RuntimeError(f"expected a <Gather> for keys {step.digits!r}, got {twiml!r}")
        return path_of(gather.attrib["action"])
    if step.kind == "silence":
        redirect = doc.find("Redirect")
        if redirect is None or not redirect.text:
            raise RuntimeError(f"expected a <Redirect> after silence, got {twiml!r}")
        return path_of(redirect.text)
    if step.kind == "recorded":
        record = doc.find("Record")
        if record is None:
            raise RuntimeError(f"expected a <Record>, got {twiml!r}")
        return path_of(record.attrib["action"])
    raise ValueError(step.kind)


@dataclass
class Discovered:
    """A scenario's webhook paths, as read from the running app, and its answers' sizes."""

    scenario: Scenario
    paths: list[str]
    body_sizes: list[int]


def post(port: int, raw: bytes) -> tuple[int, bytes]:
    """Send one raw request to the server on loopback; (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(raw.replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nConnection: close\r\n", 1))
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        return reply.status, reply.read()


def discover(port: int) -> list[Discovered]:
    """Walk each scenario once through the running app, following its TwiML."""
    found = []
    for scenario in SCENARIOS:
        values = call_values(scenario, random.Random(0), order_numbers())
        paths, sizes, previous = [], [], b""
        for step in scenario.steps:
            if step.kind == "incoming":
                path = "/voice/incoming"
            elif step.kind == "status":
                path = "/voice/status"
            else:
                path = next_url(previous, step)
            status, body = post(port, raw_request(path, step_params(scenario, step, values)))
            if status // 100 != 2:
                raise RuntimeError(f"{scenario.name}: {path} answered {status}: {body[:300]!r}")
            paths.append(path)
            sizes.append(len(body))
            previous = body
        found.append(Discovered(scenario, paths, sizes))
    return found


def call_values(scenario: Scenario, rng: random.Random, orders: list[str]) -> CallValues:
    """Fresh values for one call."""
    digits = 11 - (len(scenario.caller_prefix) - 1) if scenario.country == "CN" else 11
    caller = scenario.caller_prefix + "".join(rng.choice("0123456789") for _ in range(digits))
    return CallValues(
        call_sid="CA" + secrets.token_hex(16),
        caller=caller[:16],
        order=rng.choice(orders),
        recording_sid="RE" + secrets.token_hex(16),
    )


def signed_call(d: Discovered, rng: random.Random, orders: list[str]) -> Iterator[bytes]:
    """The signed webhooks of one new call of ``d``'s scenario, in order."""
    values = call_values(d.scenario, rng, orders)
    for step, path in zip(d.scenario.steps, d.paths, strict=True):
        yield raw_request(path, step_params(d.scenario, step, values))


def write_pool(
    prefix: Path, discovered: list[Discovered], requests: int, threads: int, spacing: int, seed: int
) -> int:
    """Write ``threads`` files of NUL-separated signed requests; return how many calls they hold.

    Each wrk thread cycles through ``spacing`` calls at a time, one webhook of each in turn, so
    the next webhook of a call is ``spacing`` requests behind its previous one: answered by then,
    as Twilio waits for an answer before it sends the next.
    """
    rng = random.Random(seed)
    mix = [d for d in discovered for _ in range(d.scenario.weight)]
    orders = order_numbers()
    calls = 0
    for thread in range(threads):
        active: list[Iterator[bytes]] = []
        written = 0
        with open(f"{prefix}.{thread}", "wb") as out:
            while written < requests // threads + 1:
                slot = written % spacing
                request = next(active[slot], None) if slot < len(active) else None
                if request is None:
                    call = signed_call(rng.choice(mix), rng, orders)
                    calls += 1
                    if slot < len(active):
                        active[slot] = call
                    else:
                        active.append(call)
                    request = next(call)
                out.write(request + b"\0")
                written += 1
    return calls


def order_numbers() -> list[str]:
    """The order numbers imported before the run."""
    return [f"{n:08d}" for n in range(10_000_000, 10_000_000 + ORDERS)]


def write_orders(path: Path) -> Path:
    """A CSV of the orders the delivery calls ask about, for ``flask orders import``."""
    statuses = ["pending", "shipped", "in_transit", "out_for_delivery", "delivered"]
    rows = [
        f"{number},{statuses[i % 5]},SF Express,2026-12-0{i % 9 + 1}\n"
        for i, number in enumerate(order_numbers())
    ]
    path.write_text("order_number,status,carrier,eta\n" + "".join(rows))
    return path


def route(path: str) -> str:
    """The route a webhook path belongs to."""
    path = path.split("?")[0]
    return "/voice/input/…" if path.startswith("/voice/input/") else path


LUA = r"""-- Generated by bench/webhooks.py: replays pre-signed requests and counts response statuses.
local threads = {}
local count = 0

function setup(thread)
  thread:set("id", count)
  count = count + 1
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1] .. "." .. id, "rb"))
  local data = file:read("*a")
  file:close()
  pool = {}
  for record in string.gmatch(data, "[^%z]+") do
    pool[#pool + 1] = record
  end
  size = #pool
  sent = 0
  statuses = {}
end

function request()
  sent = sent + 1
  return pool[(sent - 1) % size + 1]
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local total, parts, repeats = {}, {}, 0
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get("statuses")) do
      total[key] = (total[key] or 0) + n
    end
    repeats = repeats + math.max(thread:get("sent") - thread:get("size"), 0)
  end
  for key, n in pairs(total) do
    parts[#parts + 1] = string.format('"%s": %d', key, n)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us": %d, "requests": %d, "bytes": %d, "repeats": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}, ' ..
    '"statuses": {%s}}\n',
    summary.duration, summary.requests, summary.bytes, repeats,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, table.concat(parts, ", ")))
end
"""
