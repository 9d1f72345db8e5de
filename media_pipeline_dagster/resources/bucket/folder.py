"""A local folder standing in for a bucket (the local profile, the demo, tests).

A file keeps no content type or user metadata, so those are dropped here, silently; the
ETag is the MD5 of the content, as S3 gives for a single-part upload.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from obstore.store import LocalStore

from .base import Bucket, MiB
from .errors import BucketError, StorageUnavailable
from .types import ListedObject, Listing, ObjectHead, SetupOptions, SetupReport, iso_utc

WRITE_TEST_PREFIX = "_archive_setup/"
# obstore's LocalStore writes "<name>#<n>" and renames it when complete.
_STAGING = re.compile(r"#\d+$")


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(MiB), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FolderBucket(Bucket):
    """A folder as a bucket; ``describe()`` is its ``file://`` URL."""

    root_dir: str
    bucket: str = ""  # the name the bucket would have, for reports

    @property
    def root(self) -> Path:
        return Path(self.root_dir).expanduser().resolve()

    def _build_store(self) -> LocalStore:
        self.root.mkdir(parents=True, exist_ok=True)
        return LocalStore(self.root, mkdir=True)

    def describe(self) -> str:
        return self.root.as_uri()

    @property
    def keeps_metadata(self) -> bool:
        return False

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"key {key!r} would leave the bucket folder {self.root}")
        return path

    def preflight(self, prefix: str = "") -> None:
        root = Path(self.root_dir)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"the bucket folder {root} cannot be created: {exc}") from None
        if not os.access(root, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"the bucket folder {root} is not writable by this process")

    def put_file(
        self, key: str, path: Path, *, content_type: str, md5: str, metadata: Mapping[str, str]
    ) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            shutil.copyfile(path, partial)
            copied = file_md5(partial)
            if copied != md5:
                raise OSError(
                    f"copy of {path} has md5 {copied}, expected {md5}; the file changed while copying"
                )
            os.replace(partial, target)  # readers never see half a file
        finally:
            partial.unlink(missing_ok=True)

    def head(self, key: str, version: str | None = None) -> ObjectHead | None:
        path = self._path(key)
        if version is not None or not path.is_file():
            return None  # a folder keeps one version, named by no id
        return ObjectHead(size=path.stat().st_size, etag=file_md5(path))

    def list_versions(
        self,
        *,
        exclude_prefix: str = "",
        page_size: int = 1000,
        known: Callable[[], Mapping[str, ListedObject]] | None = None,
        hasher: Callable[[Path], str] = file_md5,
    ) -> Listing:
        """A walk; a file whose size and mtime match ``known`` keeps its ETag, unhashed."""
        root = Path(self.root_dir)
        self._obstore()  # creates the folder, as every other use of the bucket does
        if not root.is_dir():
            raise BucketError(
                "no_bucket", f"bucket folder {root}", "not a folder", endpoint=str(root)
            )
        listing = Listing([], method="folder walk", pages=1)
        remembered = known() if known else {}
        for path in _walk(root):
            key = path.relative_to(root).as_posix()
            if exclude_prefix and key.startswith(exclude_prefix):
                continue
            try:
                key.encode("utf-8")
            except UnicodeEncodeError:
                listing.skipped.append(
                    key.encode("utf-8", "backslashreplace").decode() + ": file name is not UTF-8"
                )
                continue
            stat = path.stat()
            modified = iso_utc(stat.st_mtime)
            seen = remembered.get(key)
            if seen and seen.size == stat.st_size and seen.last_modified == modified and seen.etag:
                etag = seen.etag
            else:
                etag = hasher(path)
            listing.objects.append(ListedObject(key, stat.st_size, etag, None, modified))
        listing.objects.sort(key=lambda o: o.key)
        return listing

    def setup(self, options: SetupOptions) -> SetupReport:
        """Created if missing, written to; no lifecycle or versioning."""
        root = self.root
        report = SetupReport(
            bucket=self.bucket,
            existed=root.is_dir(),
            region="local folder",
            lifecycle="not applicable (local folder)",
            versioning="not applicable (local folder)",
        )
        if not report.existed:
            if options.check_only:
                report.problems.append(f"folder {root} does not exist")
                return report
            root.mkdir(parents=True, exist_ok=True)
            report.created = True
            report.changes.append(f"folder {root} created")
        if options.write_test and not options.check_only:
            probe = root / f"{WRITE_TEST_PREFIX}write-test-{secrets.token_hex(4)}"
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"media archive write test\n")
            probe.unlink()
            report.write_test = "ok (write, delete)"
        return report


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if not _STAGING.search(name):
                yield Path(dirpath, name)
