"""Instructions the transfer engine executes per file, counted by callgrind.

    python benchmarks/transfer_instructions.py              # 2,000 x 64 KiB
    python benchmarks/transfer_instructions.py --files 200  # quicker (about 20 s)

CPU seconds on these shared 2-core machines swing by a third between identical runs (see
README.md), too much to tell a change of a few percent. Instruction counts do not swing:
this script runs the transfer engine (``run_transfers``: policy-checked GET, SHA-256,
upload, the same path as ``audio_files``) in-process under ``valgrind --tool=callgrind``,
against SeaweedFS and ``rclone serve http`` running natively, and counts user-space
instructions of that window only. The reference, counted in the same process: SHA-256 of
the same bytes. Valgrind's CPU has no SHA extensions, so hashing dominates the total; the
figure to compare between commits is the rest, ``non_hash_instructions_per_file``.
Repeated runs of one commit agree within 0.1 %; kernel time is not counted.

Needs valgrind (Debian's ``valgrind`` package) and the ``bench`` extra (rclone).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (str(REPO), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import _origin  # noqa: E402

CHILD = "MPD_TRANSFER_INSTRUCTIONS_CHILD"


def callgrind(command: str) -> None:
    """Tell the callgrind running this process to do something (waits for the answer)."""
    subprocess.run(
        ["callgrind_control", command, str(os.getpid())], check=True, capture_output=True
    )


def child(files: int, size: int) -> None:
    import ingest
    import uvloop

    from media_pipeline_dagster.resources.transfer import (
        TransferJob,
        TransferSettings,
        run_transfers,
    )
    from media_pipeline_dagster_tests.servers.seaweed import seaweedfs_server

    rclone, _ = ingest.tool_paths()
    with tempfile.TemporaryDirectory(prefix="mpd-instr-") as tmp:
        scratch = Path(tmp)
        names = _origin.write_files(scratch / "origin" / "set", files, size)
        blobs = [(scratch / "origin" / "set" / n).read_bytes() for n in names]
        with (
            seaweedfs_server(scratch / "seaweedfs") as s3,
            _origin.static_origin(rclone, scratch / "origin") as origin,
        ):
            s3.create_bucket("bench")
            res = ingest.asset_resources(
                ingest.s3_spec(s3), "bench", "postgresql://unused/x", scratch
            )
            settings = TransferSettings(concurrency=32, fetch_policy=res["fetch_policy"].policy())
            failed: list[str] = []

            async def on_outcome(outcome) -> None:
                if not outcome.ok:
                    failed.append(outcome.error or "")

            def transfer(prefix: str) -> None:
                jobs = [
                    TransferJob(f"{origin}/set/{n}", f"{prefix}/{n}", "audio/mpeg") for n in names
                ]
                # On uvloop, as audio_files runs them.
                uvloop.run(run_transfers(jobs, res["object_store"], settings, on_outcome))

            transfer("warm-up")  # imports, first connections, SeaweedFS volume growth
            callgrind("--instr=on")
            transfer("counted")
            callgrind("--dump=transfers")
            for blob in blobs:
                hashlib.sha256(blob).digest()
            callgrind("--dump=sha256")
            callgrind("--instr=off")
            if failed:
                raise SystemExit(f"{len(failed)} transfers failed, e.g. {failed[0]}")


def totals(out_base: Path) -> dict[str, int]:
    """Instruction totals of the dumps callgrind wrote, by the dump's reason."""
    found: dict[str, int] = {}
    for path in out_base.parent.glob(out_base.name + ".*"):
        text = path.read_text(errors="replace")
        trigger = re.search(r"^desc: Trigger: Client Request: (\S+)", text, re.M) or re.search(
            r"^desc: Trigger: .*?(\w+)$", text, re.M
        )
        total = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        if trigger and total:
            found[trigger.group(1)] = int(total.group(1))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64 * 1024)
    args = parser.parse_args()
    if os.environ.get(CHILD):
        child(args.files, args.size)
        return
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        raise SystemExit("valgrind not found: apt-get install valgrind")
    with tempfile.TemporaryDirectory(prefix="mpd-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                f"--files={args.files}",
                f"--size={args.size}",
            ],
            env={**os.environ, CHILD: "1"},
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        counted = totals(out)
    transfers, sha = counted["transfers"], counted["sha256"]
    print(f"{args.files} x {args.size} B through run_transfers, counted by callgrind:")
    print(f"  transfers        {transfers:>15,} instructions")
    print(f"  SHA-256 of bytes {sha:>15,} instructions (reference, same process)")
    print(
        f"  the rest         {transfers - sha:>15,} ({(transfers - sha) / args.files:,.0f} per file)"
    )
    print(
        f"transfer_instructions={transfers} sha256_instructions={sha} "
        f"non_hash_instructions_per_file={(transfers - sha) / args.files:.0f}"
    )


if __name__ == "__main__":
    main()
