# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Liveliness checks of services run by unikernels (PRIVATE to the collection).

Do not use this from other collections or standalone plugins; it can change at any time.
No Ansible imports.

Mollymawk's checks (``liveliness_checks.ml``) are an HTTP GET that passes on any 2xx and a DNS
A lookup that passes on any answer, each raced against 5 s. These are a superset: HTTP with
expected status codes, a body regex and TLS settings; DNS with any record type, expected answers
and TCP; plain TCP connect. ``run_checks`` runs every check once per round until one round
passes completely, with ``retries`` further rounds ``delay`` seconds apart, never beyond the
overall ``timeout``.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import re
import socket
import time
import typing as t

try:
    import requests
except ImportError as exc:  # pragma: no cover - exercised by ansible-test's import sanity
    requests = None
    REQUESTS_IMPORT_ERROR: ImportError | None = exc
else:
    REQUESTS_IMPORT_ERROR = None

try:
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype
except ImportError as exc:  # pragma: no cover - exercised by ansible-test's import sanity
    dns = None
    DNSPYTHON_IMPORT_ERROR: ImportError | None = exc
else:
    DNSPYTHON_IMPORT_ERROR = None

DEFAULT_CHECK_TIMEOUT = 5.0
MAX_BODY = 1 << 20
_MIN_TIMEOUT = 0.05


class LivelinessError(Exception):
    """A check that cannot be run as specified (missing library, bad regex, bad address)."""


@dataclasses.dataclass(frozen=True)
class HttpCheck:
    url: str
    method: str = "GET"
    status_code: tuple[int, ...] = (200,)
    body_regex: str | None = None
    ca_path: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    follow_redirects: bool = True
    timeout: float = DEFAULT_CHECK_TIMEOUT

    kind = "http"

    def describe(self) -> str:
        return "HTTP %s %s" % (self.method, self.url)


@dataclasses.dataclass(frozen=True)
class DnsCheck:
    server: str
    name: str
    port: int = 53
    type: str = "A"
    expected: tuple[str, ...] | None = None
    tcp: bool = False
    timeout: float = DEFAULT_CHECK_TIMEOUT

    kind = "dns"

    def describe(self) -> str:
        server = "[%s]" % self.server if ":" in self.server else self.server
        return "DNS %s %s @%s:%d%s" % (self.type, self.name, server, self.port, "/tcp" if self.tcp else "")


@dataclasses.dataclass(frozen=True)
class TcpCheck:
    host: str
    port: int
    timeout: float = DEFAULT_CHECK_TIMEOUT

    kind = "tcp"

    def describe(self) -> str:
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "TCP %s:%d" % (host, self.port)


Check = t.Union[HttpCheck, DnsCheck, TcpCheck]


@dataclasses.dataclass
class Result:
    ok: bool
    attempts: list[dict[str, t.Any]]
    rounds: int
    elapsed: float
    failed_checks: list[str]

    def to_dict(self) -> dict[str, t.Any]:
        return dataclasses.asdict(self)


# --- single checks ---------------------------------------------------------------------


def check_http(check: HttpCheck, timeout: float) -> tuple[bool, str]:
    if requests is None:
        raise LivelinessError("the Python library requests is required for HTTP checks: %s" % REQUESTS_IMPORT_ERROR)
    pattern = _compile(check.body_regex)
    deadline = time.monotonic() + timeout
    verify: bool | str = check.ca_path or True
    with requests.Session() as session:
        try:
            response = session.request(check.method, check.url, headers=dict(check.headers), timeout=timeout, verify=verify,
                                       allow_redirects=check.follow_redirects, stream=True)
        except requests.exceptions.RequestException as exc:
            return False, _request_error(exc)
        try:
            body = _read_limited(response, deadline) if pattern is not None else b""
        except requests.exceptions.RequestException as exc:
            return False, "status %d, reading the body failed: %s" % (response.status_code, _request_error(exc))
        except TimeoutError:
            return False, "status %d, reading the body took longer than %.1f s" % (response.status_code, timeout)
        finally:
            response.close()
    if response.status_code not in check.status_code:
        return False, "status %d %s, expected %s" % (response.status_code, response.reason, _join(check.status_code))
    if pattern is not None:
        text = body.decode(response.encoding or "utf-8", "replace")
        if not pattern.search(text):
            return False, "status %d, body does not match %r" % (response.status_code, check.body_regex)
        return True, "status %d, body matches %r" % (response.status_code, check.body_regex)
    return True, "status %d %s" % (response.status_code, response.reason)


def _read_limited(response: t.Any, deadline: float) -> bytes:
    chunks = []
    size = 0
    for chunk in response.iter_content(16384):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY:
            break
        if time.monotonic() > deadline:
            raise TimeoutError()
    return b"".join(chunks)[:MAX_BODY]


def _request_error(exc: Exception) -> str:
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error: %s" % _root_cause(exc)
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection failed: %s" % _root_cause(exc)
    return "%s: %s" % (type(exc).__name__, exc)


def _root_cause(exc: BaseException) -> str:
    seen = 0
    while exc.__cause__ is not None or exc.__context__ is not None:
        nxt = exc.__cause__ or exc.__context__
        if nxt is None or seen > 10:
            break
        exc, seen = nxt, seen + 1
    text = str(exc)
    reason = getattr(exc, "reason", None)
    if reason is not None and str(reason):
        text = str(reason)
    return text or type(exc).__name__


def _compile(regex: str | None) -> re.Pattern | None:
    if regex is None:
        return None
    try:
        return re.compile(regex, re.MULTILINE)
    except re.error as exc:
        raise LivelinessError("invalid body_regex %r: %s" % (regex, exc)) from None


def _normalise_answer(rdtype: str, text: str) -> str:
    text = text.strip()
    if rdtype in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            return text
    if rdtype == "TXT" and len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return text.rstrip(".").lower() if rdtype in ("CNAME", "NS", "PTR", "MX", "SRV", "DNAME") else text


def check_dns(check: DnsCheck, timeout: float) -> tuple[bool, str]:
    if dns is None:
        raise LivelinessError("the Python library dnspython is required for DNS checks: %s" % DNSPYTHON_IMPORT_ERROR)
    try:
        ipaddress.ip_address(check.server)
    except ValueError:
        raise LivelinessError("DNS server must be an IP address, got %r" % check.server) from None
    try:
        rdtype = dns.rdatatype.from_text(check.type)
        query = dns.message.make_query(check.name, rdtype)
    except (dns.exception.DNSException, ValueError) as exc:
        raise LivelinessError("invalid DNS query %s %s: %s" % (check.type, check.name, exc)) from None
    type_text = dns.rdatatype.to_text(rdtype)
    try:
        if check.tcp:
            reply = dns.query.tcp(query, check.server, timeout=timeout, port=check.port)
        else:
            reply = dns.query.udp_with_fallback(query, check.server, timeout=timeout, port=check.port)[0]
    except dns.exception.Timeout:
        return False, "timeout"
    except (dns.exception.DNSException, OSError, EOFError) as exc:
        return False, "query failed: %s" % (exc or type(exc).__name__)
    rcode = dns.rcode.to_text(reply.rcode())
    if rcode != "NOERROR":
        return False, "answer %s" % rcode
    answers = []
    for rrset in reply.answer:
        if rrset.rdtype == rdtype:
            answers.extend(rdata.to_text() for rdata in rrset)
    if not answers:
        return False, "no %s record in the answer" % type_text
    shown = ", ".join(answers)
    if check.expected is None:
        return True, "answer %s" % shown
    got = sorted(set(_normalise_answer(type_text, a) for a in answers))
    want = sorted(set(_normalise_answer(type_text, a) for a in check.expected))
    if got != want:
        return False, "answer %s, expected %s" % (shown, ", ".join(check.expected))
    return True, "answer %s" % shown


def check_tcp(check: TcpCheck, timeout: float) -> tuple[bool, str]:
    try:
        with socket.create_connection((check.host, check.port), timeout=timeout):
            return True, "connected"
    except socket.timeout:
        return False, "timeout"
    except OSError as exc:
        return False, "connection failed: %s" % (exc.strerror or exc)


def run_check(check: Check, timeout: float) -> tuple[bool, str]:
    """One attempt of one check; ``timeout`` bounds it (LivelinessError for unusable checks)."""
    timeout = max(timeout, _MIN_TIMEOUT)
    if isinstance(check, HttpCheck):
        return check_http(check, timeout)
    if isinstance(check, DnsCheck):
        return check_dns(check, timeout)
    if isinstance(check, TcpCheck):
        return check_tcp(check, timeout)
    raise LivelinessError("unknown check %r" % (check,))


# --- rounds ----------------------------------------------------------------------------


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _join(values: t.Iterable[object]) -> str:
    return ", ".join(str(v) for v in values)


def run_checks(checks: t.Sequence[Check], retries: int = 10, delay: float = 2.0, timeout: float = 60.0,
               sleep: t.Callable[[float], None] = time.sleep, clock: t.Callable[[], float] = time.monotonic) -> Result:
    """Run all checks once per round until a round passes, at most ``1 + retries`` rounds.

    Each check gets its own timeout, cut to what is left of the overall ``timeout``; a round is
    never started (and a check never run) once the overall timeout has passed, except that the
    first round always runs. ``failed_checks`` lists the checks that failed in the last round.
    """
    if not checks:
        raise LivelinessError("no checks given")
    started = clock()
    deadline = started + timeout
    attempts: list[dict[str, t.Any]] = []
    failed: list[str] = []
    rounds = 0
    while True:
        rounds += 1
        failed = []
        for check in checks:
            remaining = deadline - clock()
            entry = {"round": rounds, "timestamp": _now(), "check": check.kind, "target": check.describe()}
            if remaining <= 0 and rounds > 1:
                ok, detail, took = False, "not run: overall timeout of %s s reached" % _num(timeout), 0.0
            else:
                before = clock()
                ok, detail = run_check(check, min(check.timeout, remaining))
                took = clock() - before
            entry.update(ok=ok, detail=detail, elapsed=round(took, 3))
            attempts.append(entry)
            if not ok:
                failed.append("%s: %s" % (check.describe(), detail))
        if not failed:
            return Result(True, attempts, rounds, round(clock() - started, 3), [])
        remaining = deadline - clock()
        if rounds > retries or remaining <= 0:
            return Result(False, attempts, rounds, round(clock() - started, 3), failed)
        if delay > 0:
            sleep(min(delay, remaining))
        if deadline - clock() <= 0:
            return Result(False, attempts, rounds, round(clock() - started, 3), failed)


def _num(value: float) -> str:
    return ("%f" % value).rstrip("0").rstrip(".")
