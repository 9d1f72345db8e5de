"""The one policy for every URL the project fetches because data told it to.

CSV rows, ``public.recordings.location``, gateway requests, transcription audio reads and
webhooks all go through here, and so does every redirect hop:

* http and https only; ``file://`` only for paths that resolve (symlinks followed) inside
  a configured local audio root;
* at most ``max_redirects`` hops, each checked again;
* loopback, private, link-local (cloud metadata), unspecified, multicast and other
  non-global destinations are refused unless the operator allows their network by CIDR.
  The check runs on the address the socket actually connects to (the resolver's answer
  and, as a backstop, the socket factory), so a public name that resolves, or re-resolves,
  to an internal address is refused too.

Errors name the URL with query values masked and say why; they never carry bytes of a
refused body, and never tell whether a local path outside the root exists.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import threading
from collections.abc import AsyncIterator, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit, urlunsplit

import aiohttp
from aiohttp.resolver import ThreadedResolver

from .resilience import Kind, http_kind

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_MAX_REDIRECTS = 5


T = TypeVar("T")


class FetchError(Exception):
    """A fetch that did not give a body: ``transient`` says whether asking again may help."""

    def __init__(self, url: str, message: str, *, transient: bool, status: int | None = None):
        self.url = mask_url(url)
        self.transient = transient
        self.status = status
        super().__init__(message)


class FetchRefused(FetchError):
    """The policy refuses this URL; permanent: asking again gives the same answer."""

    def __init__(self, url: str, reason: str):
        self.reason = reason
        super().__init__(url, f"refused to fetch {mask_url(url)}: {reason}", transient=False)


class _AddressRefused(OSError):
    """Raised inside the connector; turned into ``FetchRefused`` with the URL by ``open_url``."""

    def __init__(self, host: str, reason: str):
        super().__init__(reason)
        self.host = host
        self.reason = reason


def mask_url(url: str) -> str:
    """The URL with query values and any password replaced by ``***`` (signed URLs carry secrets)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = urlencode(
        [(k, "***") for k, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*"
    )
    if parts.query and not query:
        query = "***"
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs as an operator writes them ('127.0.0.1/32, 10.0.0.0/8'); a bad one is a clear error."""
    networks = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(
                f"{value!r} is not a network in CIDR notation (e.g. 10.0.0.0/8 or 127.0.0.1/32)"
            ) from None
    return tuple(networks)


@functools.lru_cache(maxsize=4096)
def _literal_address(host: str) -> str | None:
    """The address a literal host means, legacy spellings included ('2130706433', '0x7f.1', '127.1')."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if all(c in "0123456789abcdefx." for c in host.lower()) and any(c.isdigit() for c in host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _plain(ip: IPAddress) -> IPAddress:
    """IPv4 behind its IPv6 disguises (::ffff:a.b.c.d, 6to4, Teredo) is judged as IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in (ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None):
            if inner is not None:
                return inner
    return ip


def _why_internal(ip: IPAddress) -> str | None:
    checks = (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local (cloud metadata lives here)", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("not globally routable", not ip.is_global),
    )
    return next((f"{name} address {ip}" for name, hit in checks if hit), None)


# What one connection may buffer before reading pauses is twice this. aiohttp's 64 KiB
# default pauses and resumes the socket for nearly every read of a large body: 1 MiB
# costs about a sixth less client CPU per byte (benchmarks/ingest.py, large set).
READ_BUFSIZE = 1 << 20


@functools.lru_cache(maxsize=4096)
def _address_refusal(allowed_networks: tuple[IPNetwork, ...], address: str) -> str | None:
    """``FetchPolicy.address_refusal``, remembered: a run asks about the same few origin
    addresses thousands of times, and parsing one costs more than the request line."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if any(ip in net for net in allowed_networks) or any(
        _plain(ip) in net for net in allowed_networks
    ):
        return None
    reason = _why_internal(_plain(ip)) or _why_internal(ip)
    if reason is None:
        return None
    return f"{reason} is not allowed (allow its network in MEDIA_PIPELINE_FETCH_ALLOW_NETWORKS if it is yours)"


@dataclass(frozen=True)
class FetchPolicy:
    allowed_networks: tuple[IPNetwork, ...] = ()
    local_root: Path | None = None
    max_redirects: int = DEFAULT_MAX_REDIRECTS

    def address_refusal(self, address: str) -> str | None:
        """Why connecting to this IP address is refused, or None when it is allowed."""
        return _address_refusal(self.allowed_networks, address)

    def check_url(self, url: str) -> str:
        """What can be decided before connecting: scheme, host present, literal addresses.
        Returns the scheme, lowercased."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError as exc:
            raise FetchRefused(url, f"not a valid URL ({exc})") from None
        scheme = parts.scheme.lower()
        if scheme == "file":
            self.local_path(url)
            return scheme
        if scheme not in ("http", "https"):
            raise FetchRefused(
                url, f"scheme {scheme or 'missing'!r} is not allowed (http and https only)"
            )
        if not host:
            raise FetchRefused(url, "no host name")
        literal = _literal_address(host)
        reason = self.address_refusal(literal) if literal is not None else None
        if reason:
            raise FetchRefused(url, reason)
        return scheme

    def local_path(self, url: str) -> Path:
        """The file a ``file://`` URL names, when it lies inside the local audio root.

        Refusals read the same whether or not the path exists."""
        parts = urlsplit(url)
        if self.local_root is None:
            raise FetchRefused(
                url,
                "file:// URLs are not allowed (no local audio root is configured: MEDIA_PIPELINE_LOCAL_AUDIO_ROOT)",
            )
        if parts.netloc not in ("", "localhost"):
            raise FetchRefused(url, "file:// URLs must name a local path")
        root = self.local_root.resolve()
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(root):
            raise FetchRefused(url, "the path is outside the local audio root")
        return path

    # -- connecting -------------------------------------------------------------------

    def check_socket_address(self, host: str, address: str) -> None:
        reason = self.address_refusal(address)
        if reason:
            raise _AddressRefused(host, reason)

    def session(
        self,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        total_timeout: float | None = None,
        limit: int = 100,
    ) -> aiohttp.ClientSession:
        """An aiohttp session that can only connect where this policy allows."""
        timeout = aiohttp.ClientTimeout(
            total=total_timeout, sock_connect=connect_timeout, sock_read=read_timeout
        )
        connector = aiohttp.TCPConnector(
            limit=limit,
            ttl_dns_cache=60,
            resolver=_PolicyResolver(self),
            socket_factory=self._socket_factory,
        )
        return aiohttp.ClientSession(
            timeout=timeout,
            connector=connector,
            raise_for_status=False,
            trust_env=False,
            read_bufsize=READ_BUFSIZE,
        )

    def _socket_factory(self, addr_info: Any) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        self.check_socket_address(str(sockaddr[0]), str(sockaddr[0]))
        return socket.socket(family=family, type=type_, proto=proto)


class _PolicyResolver(ThreadedResolver):
    """The system resolver, keeping only addresses the policy allows."""

    def __init__(self, policy: FetchPolicy):
        super().__init__()
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[Any]:
        answers = await super().resolve(host, port, family)
        allowed = [a for a in answers if self._policy.address_refusal(a["host"]) is None]
        if not allowed:
            reasons = sorted({self._policy.address_refusal(a["host"]) or "" for a in answers})
            raise _AddressRefused(host, f"{host} resolves to a " + "; ".join(reasons))
        return allowed


@asynccontextmanager
async def open_url(
    session: aiohttp.ClientSession,
    policy: FetchPolicy,
    url: str,
    *,
    method: str = "GET",
    data: Any = None,
    headers: dict[str, str] | None = None,
    follow_redirects: bool = True,
) -> AsyncIterator[Any]:
    """The response of ``url`` (after checked redirects, at most ``policy.max_redirects``).

    ``session`` must come from ``policy.session()``. Raises ``FetchRefused`` for anything the
    policy refuses; HTTP errors are the caller's to judge from ``response.status``."""
    current = url
    for _hop in range(policy.max_redirects + 1):
        if policy.check_url(current) == "file":
            raise FetchRefused(current, "a redirect to file:// is never followed")
        try:
            response = await session.request(
                method, current, data=data, headers=headers, allow_redirects=False
            )
        except aiohttp.InvalidURL as exc:
            raise FetchRefused(current, f"not a valid URL ({type(exc).__name__})") from None
        except _AddressRefused as exc:
            raise FetchRefused(current, exc.reason) from None
        except OSError as exc:
            refused = _find_refusal(exc)
            if refused is not None:
                raise FetchRefused(current, refused.reason) from None
            raise
        location = response.headers.get("Location")
        if not follow_redirects or response.status not in REDIRECT_STATUSES or not location:
            try:
                yield response
            finally:
                response.release()
            return
        response.release()
        current = urljoin(current, location)
        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
            method, data = "GET", None
    raise FetchRefused(url, f"more than {policy.max_redirects} redirects")


def _find_refusal(exc: OSError) -> _AddressRefused | None:
    """aiohttp wraps connector errors (``os_error``); with several addresses tried at once,
    happy eyeballs folds their errors into one message."""
    inner = getattr(exc, "os_error", exc)
    if isinstance(inner, _AddressRefused):
        return inner
    if "not allowed (allow its network" in str(inner):
        return _AddressRefused("", str(inner).removeprefix("Multiple exceptions: "))
    return None


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, even when this thread has a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the caller's thread below
            result["error"] = exc

    thread = threading.Thread(target=target, name="fetch-sync")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return cast(T, result["value"])


# -- synchronous use (transcription audio reads, webhook deliveries) ----------------------


def _status_error(url: str, status: int, action: str) -> FetchError:
    return FetchError(
        url,
        f"HTTP {status} {action} {mask_url(url)}",
        transient=http_kind(status) is Kind.TRANSIENT,
        status=status,
    )


def download_to_file(
    policy: FetchPolicy,
    url: str,
    dest: Path,
    *,
    timeout: float = 60.0,
    max_bytes: int | None = None,
) -> None:
    """Write the body of ``url`` (http(s) or file:// inside the local root) to ``dest``."""
    if url[:5].lower() == "file:":
        import shutil

        path = policy.local_path(url)
        if not path.is_file():
            raise FetchError(
                url,
                f"no such file in the local audio root: {mask_url(url)}",
                transient=False,
                status=404,
            )
        shutil.copyfile(path, dest)
        return
    run_sync(_download(policy, url, dest, timeout, max_bytes))


async def _download(
    policy: FetchPolicy, url: str, dest: Path, timeout: float, max_bytes: int | None
) -> None:
    try:
        async with policy.session(
            connect_timeout=min(timeout, 10.0), read_timeout=timeout, limit=1
        ) as session:
            async with open_url(session, policy, url) as response:
                if response.status >= 300:
                    raise _status_error(url, response.status, "fetching")
                size = 0
                with dest.open("wb") as fh:
                    async for chunk in response.content.iter_chunked(1 << 20):
                        size += len(chunk)
                        if max_bytes is not None and size > max_bytes:
                            raise FetchError(
                                url,
                                f"{mask_url(url)} is larger than {max_bytes} bytes",
                                transient=False,
                            )
                        fh.write(chunk)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise FetchError(
            url, f"fetching {mask_url(url)} failed: {type(exc).__name__}", transient=True
        ) from None


def post(
    policy: FetchPolicy, url: str, body: bytes, headers: dict[str, str], *, timeout: float = 10.0
) -> int:
    """POST once, never following a redirect (a 3xx is the answer); returns the status."""
    return run_sync(_post(policy, url, body, headers, timeout))


async def _post(
    policy: FetchPolicy, url: str, body: bytes, headers: dict[str, str], timeout: float
) -> int:
    try:
        async with policy.session(
            connect_timeout=timeout, read_timeout=timeout, total_timeout=timeout, limit=1
        ) as session:
            async with open_url(
                session,
                policy,
                url,
                method="POST",
                data=body,
                headers=headers,
                follow_redirects=False,
            ) as response:
                return int(response.status)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise FetchError(
            url, f"POST to {mask_url(url)} failed: {type(exc).__name__}", transient=True
        ) from None
