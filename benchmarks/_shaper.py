"""A userspace WAN in front of a local server: round-trip delay and bandwidth caps.

    python benchmarks/_shaper.py --upstream 127.0.0.1:9000 --rtt-ms 40 --conn-mbit 50 --total-mbit 1000

Prints ``port=<n>`` once it listens on 127.0.0.1 (this machine has no netem). Each
accepted connection is proxied to the upstream with:

* one round trip before any byte flows (the TCP handshake across the WAN), then half the
  round trip on every byte in each direction (data in flight is pipelined, as on a real
  link: delay does not cap throughput, the window does);
* a bandwidth cap per connection and direction (``--conn-mbit``), and an aggregate cap per
  direction shared by all connections (``--total-mbit``), both token buckets.

It runs in its own process so its CPU is never billed to the client being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

CHUNK = 64 * 1024
BURST = 64 * 1024  # bytes a bucket may send back-to-back (about one TCP window's worth)


class TokenBucket:
    """Reservation-based: each send books its slot on the bucket's timeline."""

    def __init__(self, bytes_per_s: float):
        self.rate = bytes_per_s
        self.free_at = 0.0

    def delay_for(self, nbytes: int, now: float) -> float:
        start = max(now - BURST / self.rate, self.free_at)
        self.free_at = start + nbytes / self.rate
        return max(0.0, self.free_at - now - BURST / self.rate)


class Shaper:
    def __init__(self, upstream: tuple[str, int], rtt: float, conn_rate: float, total_rate: float):
        self.upstream = upstream
        self.one_way = rtt / 2
        self.rtt = rtt
        self.conn_rate = conn_rate
        self.totals = {"up": TokenBucket(total_rate), "down": TokenBucket(total_rate)}

    async def handle(self, client_reader, client_writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        await asyncio.sleep(self.rtt)  # the handshake across the WAN
        pumps = [
            asyncio.create_task(
                self.pump(client_reader, up_writer, TokenBucket(self.conn_rate), self.totals["up"])
            ),
            asyncio.create_task(
                self.pump(
                    up_reader, client_writer, TokenBucket(self.conn_rate), self.totals["down"]
                )
            ),
        ]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.gather(*pumps, return_exceptions=True)
        for writer in (client_writer, up_writer):
            with contextlib.suppress(Exception):
                writer.close()

    async def pump(self, reader, writer, conn: TokenBucket, total: TokenBucket) -> None:
        """Read, pace by both buckets, deliver each chunk one-way-delay after it was read."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=64)
        deliver = asyncio.create_task(self._deliver(queue, writer))
        try:
            while True:
                data = await reader.read(CHUNK)
                now = time.monotonic()
                if not data:
                    await queue.put((now + self.one_way, b""))
                    break
                wait = max(conn.delay_for(len(data), now), total.delay_for(len(data), now))
                if wait:
                    await asyncio.sleep(wait)
                await queue.put((time.monotonic() + self.one_way, data))
        except (ConnectionError, OSError):
            await queue.put((0.0, b""))
        await deliver

    @staticmethod
    async def _deliver(queue: asyncio.Queue, writer) -> None:
        try:
            while True:
                due, data = await queue.get()
                pause = due - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            return


async def main(args) -> None:
    host, port = args.upstream.rsplit(":", 1)
    shaper = Shaper(
        (host, int(port)), args.rtt_ms / 1000, args.conn_mbit * 125_000, args.total_mbit * 125_000
    )
    server = await asyncio.start_server(shaper.handle, "127.0.0.1", args.port, backlog=1024)
    print(f"port={server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="host:port of the server behind the WAN")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rtt-ms", type=float, default=40.0)
    parser.add_argument("--conn-mbit", type=float, default=50.0)
    parser.add_argument("--total-mbit", type=float, default=1000.0)
    arguments = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(arguments))
