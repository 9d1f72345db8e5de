"""Load for ``gateway.py``, run as its own process (aiohttp) so the client's CPU is not the gateway's.

    python _gateway_load.py steady <base> <key> <rate> <seconds> <status_ids>
    python _gateway_load.py burst  <base> <key> <submits> <first_id> <status_rate> <status_ids>

``steady``: an open loop of status requests, one every 1/rate seconds whatever the
answers' speed (slow answers show as latency, not as a lower rate).
``burst``: ``submits`` POSTs of different recordings (ids first_id, first_id + 1, ...) all at once, and
meanwhile the same open loop of status requests until the last submit is answered.
Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p * len(ordered)) - 1))] if ordered else 0.0


async def status_loop(
    session, base: str, rate: float, ids: int, until, latencies: list[float], errors: Counter
) -> int:
    async def one(i: int) -> None:
        started = time.perf_counter()
        try:
            async with session.get(f"{base}/api/media/status/{i % ids + 1}") as answer:
                await answer.read()
                if answer.status != 200:
                    errors[answer.status] += 1
        except Exception as exc:  # a failed request is a result here
            errors[type(exc).__name__] += 1
        latencies.append(time.perf_counter() - started)

    tasks, start, n = [], time.perf_counter(), 0
    while not until(time.perf_counter() - start):
        due = start + n / rate
        if due > time.perf_counter():
            await asyncio.sleep(due - time.perf_counter())
        tasks.append(asyncio.create_task(one(n)))
        n += 1
    await asyncio.gather(*tasks)
    return n


async def steady(base: str, key: str, rate: float, seconds: float, ids: int) -> dict:
    import aiohttp

    latencies: list[float] = []
    errors: Counter = Counter()
    async with aiohttp.ClientSession(
        headers={"X-API-Key": key}, connector=aiohttp.TCPConnector(limit=256)
    ) as session:
        start = time.perf_counter()
        n = await status_loop(
            session, base, rate, ids, lambda elapsed: elapsed >= seconds, latencies, errors
        )
        wall = time.perf_counter() - start
    return {
        "requests": n,
        "wall": wall,
        "errors": sum(errors.values()),
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies),
    }


async def burst(
    base: str, key: str, submits: int, first_id: int, status_rate: float, ids: int
) -> dict:
    import aiohttp

    answers: list[tuple[int | str, float]] = []
    latencies: list[float] = []
    errors: Counter = Counter()
    timeout = aiohttp.ClientTimeout(total=600)
    connector = aiohttp.TCPConnector(limit=submits + 64)
    async with aiohttp.ClientSession(
        headers={"X-API-Key": key}, connector=connector, timeout=timeout
    ) as session:

        async def submit(i: int) -> None:
            started = time.perf_counter()
            try:
                async with session.post(
                    f"{base}/api/media/transcribe", data={"recording_id": str(i)}
                ) as answer:
                    await answer.read()
                    status: int | str = answer.status
            except Exception as exc:
                status = type(exc).__name__
            answers.append((status, time.perf_counter() - started))

        start = time.perf_counter()
        burst_task = asyncio.gather(*(submit(i) for i in range(first_id, first_id + submits)))
        statuses = asyncio.create_task(
            status_loop(
                session, base, status_rate, ids, lambda _: burst_task.done(), latencies, errors
            )
        )
        await burst_task
        wall = time.perf_counter() - start
        await statuses
    codes = Counter(status for status, _ in answers)
    return {
        "ok": codes[200],
        "refused": codes[503],
        "other": sum(n for c, n in codes.items() if c not in (200, 503)),
        "other_codes": {str(c): n for c, n in codes.items() if c not in (200, 503)},
        "wall": wall,
        "p50": percentile([s for _, s in answers], 0.5),
        "p99": percentile([s for _, s in answers], 0.99),
        "ok_p99": percentile([s for c, s in answers if c == 200], 0.99),
        "refused_max": max([s for c, s in answers if c == 503], default=0.0),
        "status_requests": len(latencies),
        "status_errors": dict(errors),
        "status_p50": percentile(latencies, 0.5),
        "status_p99": percentile(latencies, 0.99),
    }


def main() -> None:
    mode, base, key = sys.argv[1], sys.argv[2], sys.argv[3]
    numbers = [float(a) for a in sys.argv[4:]]
    if mode == "steady":
        result = asyncio.run(steady(base, key, numbers[0], numbers[1], int(numbers[2])))
    else:
        result = asyncio.run(
            burst(base, key, int(numbers[0]), int(numbers[1]), numbers[2], int(numbers[3]))
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
