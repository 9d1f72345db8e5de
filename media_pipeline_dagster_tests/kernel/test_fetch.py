"""The fetch policy: addresses, schemes, the local audio root, redirects, against a real HTTP origin."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from urllib.parse import quote

import pytest

from media_pipeline_dagster.kernel.fetch import (
    FetchError,
    FetchPolicy,
    FetchRefused,
    download_to_file,
    mask_url,
    open_url,
    parse_networks,
    post,
)

LOOPBACK_ALLOWED = FetchPolicy(allowed_networks=parse_networks(["127.0.0.1/32"]))
NOTHING_ALLOWED = FetchPolicy()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "::ffff:127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "ff02::1",
        "100.64.0.1",
        "2002:7f00:1::1",  # 6to4 around 127.0.0.1
    ],
)
def test_internal_addresses_are_refused_unless_allowed(address):
    assert NOTHING_ALLOWED.address_refusal(address) is not None
    everything = FetchPolicy(allowed_networks=parse_networks(["0.0.0.0/0", "::/0"]))
    assert everything.address_refusal(address) is None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert NOTHING_ALLOWED.address_refusal(address) is None


def test_an_allowed_network_is_exactly_that_network():
    assert LOOPBACK_ALLOWED.address_refusal("127.0.0.1") is None
    assert "loopback" in LOOPBACK_ALLOWED.address_refusal("127.0.0.2")
    assert "link-local" in LOOPBACK_ALLOWED.address_refusal("169.254.169.254")


def test_bad_cidr_is_a_clear_error():
    with pytest.raises(ValueError, match="'10.0.0.0/33' is not a network in CIDR notation"):
        parse_networks(["10.0.0.0/33"])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.mp3",
        "http://2130706433/x.mp3",
        "http://0x7f000001/x.mp3",
        "http://127.1/x.mp3",
        "http://[::ffff:127.0.0.1]/x.mp3",
        "http://[::1]:8080/x.mp3",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0:80/x",
        "http://10.0.0.1/x.mp3",
    ],
)
def test_literal_internal_hosts_are_refused_before_connecting(url):
    with pytest.raises(FetchRefused, match="address"):
        NOTHING_ALLOWED.check_url(url)


@pytest.mark.parametrize(
    "url,reason",
    [
        ("ftp://example.com/a.mp3", "scheme 'ftp' is not allowed"),
        ("gopher://example.com/", "scheme 'gopher' is not allowed"),
        ("//example.com/a.mp3", "scheme 'missing' is not allowed"),
        ("http:///a.mp3", "no host name"),
        ("http://example.com:99999/a.mp3", "not a valid URL"),
        ("http://[/a.mp3", "not a valid URL"),
        ("file:///etc/passwd", "no local audio root is configured"),
    ],
)
def test_schemes_and_malformed_urls(url, reason):
    with pytest.raises(FetchRefused, match=reason):
        NOTHING_ALLOWED.check_url(url)


def test_masked_urls_hide_query_values_and_passwords():
    assert (
        mask_url("https://u:secret@host/a.mp3?sig=abc&X-Amz-Credential=k")
        == "https://***@host/a.mp3?sig=***&X-Amz-Credential=***"
    )
    assert mask_url("https://host/a.mp3") == "https://host/a.mp3"
    refused = FetchRefused("ftp://host/a?token=s3cr3t", "scheme 'ftp' is not allowed")
    assert "s3cr3t" not in str(refused) and "token=***" in str(refused)


# -- the local audio root -------------------------------------------------------------


@pytest.fixture
def audio_root(tmp_path: Path) -> Path:
    root = tmp_path / "audio"
    (root / "calls").mkdir(parents=True)
    (root / "calls" / "a.wav").write_bytes(b"RIFF....WAVE")
    (tmp_path / "secret.txt").write_text("root:x:0:0")
    (root / "calls" / "inside-link.wav").symlink_to(root / "calls" / "a.wav")
    (root / "calls" / "outside-link.wav").symlink_to(tmp_path / "secret.txt")
    return root


def test_file_urls_only_inside_the_root_symlinks_followed(audio_root: Path):
    policy = FetchPolicy(local_root=audio_root)
    assert (
        policy.local_path((audio_root / "calls" / "a.wav").as_uri())
        == (audio_root / "calls" / "a.wav").resolve()
    )
    assert (
        policy.local_path((audio_root / "calls" / "inside-link.wav").as_uri())
        == (audio_root / "calls" / "a.wav").resolve()
    )
    refusals = set()
    for url in [
        (audio_root / "calls" / "outside-link.wav").as_uri(),  # a link out of the root
        (audio_root.parent / "secret.txt").as_uri(),  # exists, outside
        (audio_root.parent / "no-such-file.txt").as_uri(),  # does not exist, outside
        audio_root.as_uri() + "/../secret.txt",
        "file:///etc/passwd",
    ]:
        with pytest.raises(FetchRefused) as refused:
            policy.check_url(url)
        refusals.add(refused.value.reason)
        assert "root:x" not in str(refused.value)
    assert refusals == {
        "the path is outside the local audio root"
    }  # existing or not: the same answer
    with pytest.raises(FetchRefused, match="must name a local path"):
        policy.local_path("file://otherhost/calls/a.wav")


def test_download_of_a_file_url(audio_root: Path, tmp_path: Path):
    policy = FetchPolicy(local_root=audio_root)
    dest = tmp_path / "out.wav"
    download_to_file(policy, (audio_root / "calls" / "inside-link.wav").as_uri(), dest)
    assert dest.read_bytes() == b"RIFF....WAVE"
    with pytest.raises(FetchRefused):
        download_to_file(
            policy, (audio_root / "calls" / "outside-link.wav").as_uri(), tmp_path / "x"
        )
    assert not (tmp_path / "x").exists()


# -- over the network -------------------------------------------------------------------


class Listener:
    """A TCP port that counts connections: proof that a refused address was never contacted."""

    def __init__(self, host: str):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def internal_listener():
    listener = Listener("127.0.0.2")  # loopback, but outside the tests' allowed 127.0.0.1/32
    yield listener
    listener.close()


def _status(policy: FetchPolicy, url: str) -> int:
    async def go():
        async with policy.session(connect_timeout=2, read_timeout=5) as session:
            async with open_url(session, policy, url) as response:
                await response.read()
                return response.status

    return asyncio.run(go())


def _redirect_to(origin, target: str, status: int = 302) -> str:
    return origin.url(f"/redirect-to?status={status}&url={quote(target, safe='')}")


def test_redirects_are_followed_up_to_five(origin):
    assert _status(LOOPBACK_ALLOWED, origin.url("/redirect/5/gen/1000/a.mp3")) == 200
    with pytest.raises(FetchRefused, match="more than 5 redirects"):
        _status(LOOPBACK_ALLOWED, origin.url("/redirect/6/gen/1000/a.mp3"))


def test_every_redirect_hop_is_checked(origin, internal_listener):
    cases = {
        f"http://127.0.0.2:{internal_listener.port}/admin/x": "loopback address 127.0.0.2",
        "http://169.254.169.254/latest/meta-data/iam/": "link-local",
        "file:///etc/passwd": "no local audio root",
        "gopher://127.0.0.1:70/": "scheme 'gopher'",
    }
    for target, reason in cases.items():
        for status in (301, 302, 303, 307, 308):
            with pytest.raises(FetchRefused, match=reason):
                _status(LOOPBACK_ALLOWED, _redirect_to(origin, target, status))
    assert internal_listener.connections == 0


def test_a_name_resolving_to_loopback_is_refused_when_loopback_is_not_allowed(origin):
    url = origin.url("/gen/1000/a.mp3").replace("127.0.0.1", "localhost")
    with pytest.raises(FetchRefused, match="localhost resolves to a loopback address"):
        _status(NOTHING_ALLOWED, url)
    assert _status(LOOPBACK_ALLOWED, url) == 200  # ::1 is dropped, 127.0.0.1 is allowed


def test_the_socket_itself_refuses_a_disallowed_address():
    """The backstop under the resolver: whatever produced the address, the socket is never made."""
    with pytest.raises(OSError, match="loopback address 127.0.0.1"):
        NOTHING_ALLOWED._socket_factory(
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))
        )


def test_sync_download_and_post_through_the_policy(origin, tmp_path: Path, internal_listener):
    dest = tmp_path / "a.mp3"
    download_to_file(LOOPBACK_ALLOWED, origin.url("/redirect/2/gen/5000/a.mp3"), dest)
    assert dest.stat().st_size == 5000
    with pytest.raises(FetchError) as failed:
        download_to_file(LOOPBACK_ALLOWED, origin.url("/fault/404/a.mp3"), tmp_path / "b")
    assert failed.value.status == 404 and not failed.value.transient
    with pytest.raises(FetchRefused):
        download_to_file(
            LOOPBACK_ALLOWED,
            _redirect_to(origin, f"http://127.0.0.2:{internal_listener.port}/"),
            tmp_path / "c",
        )
    # A POST never follows a redirect: the 307 is the answer, the target never sees the body.
    assert (
        post(
            LOOPBACK_ALLOWED,
            _redirect_to(origin, f"http://127.0.0.2:{internal_listener.port}/", 307),
            b"{}",
            {},
        )
        == 307
    )
    assert internal_listener.connections == 0
