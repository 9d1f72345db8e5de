"""Who used the CPU during a measurement: the client, the S3 store, the origin, the rest.

On a 2-core machine shared by everything, "the asset is slower" only means something
next to where the cores went. ``Stopwatch`` records wall time and CPU seconds of

* ``client``: this process (the asset runs in process; all its threads, Rust ones too)
  plus waited-for children (rclone, s5cmd run as subprocesses),
* each live child process by name (``weed`` = SeaweedFS, ``rclone`` = the static origin,
  ``python`` = the generated origin),
* ``machine``: every core's busy time (so PostgreSQL and anything else show up as the
  difference).
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field
from typing import Self

_TICKS = os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    self_, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return self_.ru_utime + self_.ru_stime + kids.ru_utime + kids.ru_stime


def _live_children() -> dict[int, tuple[str, float]]:
    """pid -> (command name, CPU seconds) of this process's running children."""
    me = os.getpid()
    found: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue  # gone meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2 :].split()
        # rest[1] is ppid; rest[11], rest[12] are utime, stime (fields 4, 14, 15 of stat(5))
        if int(rest[1]) == me:
            found[int(entry)] = (name, (int(rest[11]) + int(rest[12])) / _TICKS)
    return found


def _machine_busy() -> float:
    with open("/proc/stat", encoding="ascii") as fh:
        cpu = [int(v) for v in fh.readline().split()[1:]]
    idle = cpu[3] + (cpu[4] if len(cpu) > 4 else 0)  # idle + iowait
    return (sum(cpu[:8]) - idle) / _TICKS  # guest time is already inside user


@dataclass
class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds`` and ``sw.cpu`` (name -> CPU s)."""

    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    def __enter__(self) -> Self:
        self._children = _live_children()
        self._own = _own_cpu()
        self._machine = _machine_busy()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._t0
        machine = _machine_busy() - self._machine
        cpu = {"client": _own_cpu() - self._own}
        for pid, (name, used) in _live_children().items():
            before = self._children.get(pid, (name, 0.0))[1]
            cpu[name] = cpu.get(name, 0.0) + used - before
        cpu["machine"] = machine
        self.cpu = cpu
