"""Recording files on disk: multi-member gzip streams, listing, crash repair and retention.

All functions here are synchronous file I/O (the service calls them in a worker thread).
"""

from __future__ import annotations

import contextlib
import logging
import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Final

from polymon.core.backtest import RecordingFile
from polymon.errors import BadRequest, NotFound
from polymon.polymarket.recording.records import PART_SUFFIX, SUFFIX, is_recording_name

_CHUNK: Final = 1 << 20
_GZIP: Final = 31  # zlib wbits for the gzip container
log = logging.getLogger(__name__)


class GzipStream:
    """Decompresses a file of concatenated gzip members, one chunk at a time.

    After iterating, `complete_bytes` is the file offset just past the last complete member and
    `torn` tells whether bytes follow it that do not make a complete member (a crash during a
    write, or corruption). Output of a torn member is still yielded, as far as it decodes.
    Runtime complexity: O(file size); memory O(chunk size × compression ratio).
    """

    def __init__(self, fileobj: BinaryIO, chunk_bytes: int = _CHUNK) -> None:
        self.fileobj = fileobj
        self.chunk_bytes = chunk_bytes
        self.complete_bytes = 0
        self.torn = False

    def chunks(self) -> Iterator[tuple[bytes, bool]]:
        """(decompressed bytes, whether a member ended with them), in file order."""
        inflater = zlib.decompressobj(_GZIP)
        fed = 0  # bytes of the file handed to the inflaters so far
        started = False  # the current member has received input
        while data := self.fileobj.read(self.chunk_bytes):
            fed += len(data)
            while data:
                try:
                    out = inflater.decompress(data)
                except zlib.error:
                    self.torn = True
                    return
                started = True
                if not inflater.eof:
                    if out:
                        yield out, False
                    break
                data = inflater.unused_data
                self.complete_bytes = fed - len(data)
                yield out, True
                inflater = zlib.decompressobj(_GZIP)
                started = False
        self.torn = started


def gzip_member(data: bytes, level: int) -> bytes:
    """`data` as one complete gzip member."""
    deflater = zlib.compressobj(level, zlib.DEFLATED, _GZIP)
    return deflater.compress(data) + deflater.flush()


def list_recordings(directory: Path, *, with_open: bool = True) -> list[RecordingFile]:
    """The recording files in `directory`, oldest name first (names sort by opening time).

    A missing directory holds none.
    """
    out = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for entry in entries:
        is_part = entry.name.endswith(PART_SUFFIX)
        if not (entry.name.endswith(SUFFIX) or (with_open and is_part)):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # deleted meanwhile
        if entry.is_file(follow_symlinks=False):
            out.append(RecordingFile(name=entry.name, bytes=st.st_size,
                                     modified_ns=st.st_mtime_ns, open=is_part))  # fmt: skip
    return sorted(out, key=lambda f: f.name)


def repair(part: Path, level: int = 1) -> Path | None:
    """Close a `.part` file left by a crash: keep every complete line, rename it to its final
    name and return that; a file without any complete line is deleted (None).

    Complete members are kept as they are; the complete lines of a torn last member are
    written again as a new member, so what a reader saw in the `.part` is what stays.
    """
    with part.open("r+b") as f:
        stream = GzipStream(f)
        tail = bytearray()
        for out, ended in stream.chunks():
            tail += out
            if ended:
                tail.clear()
        kept = stream.complete_bytes > 0
        if stream.torn:
            lines = bytes(tail[: tail.rfind(b"\n") + 1])
            f.truncate(stream.complete_bytes)
            if lines:
                f.seek(stream.complete_bytes)
                f.write(gzip_member(lines, level))
                kept = True
            f.flush()
            os.fsync(f.fileno())
    if not kept:
        part.unlink()
        return None
    final = part.with_name(part.name.removesuffix(".part"))
    os.replace(part, final)
    return final


def repair_all(directory: Path, level: int = 1) -> list[str]:
    """Repair every `.part` file in `directory` (see `repair`); returns the final names."""
    repaired = []
    for item in list_recordings(directory):
        if item.open:
            try:
                final = repair(directory / item.name, level)
            except OSError as e:
                log.warning("recording %s could not be repaired: %s", item.name, e)
                continue
            if final is not None:
                repaired.append(final.name)
    return repaired


def enforce_retention(
    directory: Path, *, max_age_secs: float, max_total_bytes: int, now_ns: int
) -> list[str]:
    """Delete closed recordings older than `max_age_secs` (by modification time), then the
    oldest closed ones while all files together exceed `max_total_bytes` (0 = no limit for
    either). The file being written is counted, never deleted. Returns the deleted names."""
    files = list_recordings(directory)
    total = sum(f.bytes for f in files)
    deleted = []
    for item in files:
        if item.open:
            continue
        too_old = max_age_secs > 0 and now_ns - item.modified_ns > max_age_secs * 1e9
        too_big = max_total_bytes > 0 and total > max_total_bytes
        if not (too_old or too_big):
            continue
        with contextlib.suppress(FileNotFoundError):
            (directory / item.name).unlink()
        total -= item.bytes
        deleted.append(item.name)
    return deleted


def resolve(directory: Path, names: Iterable[str]) -> list[Path]:
    """The paths of the named closed recordings inside `directory`.

    Raises BadRequest for a name that is not a recording file name (so no path can leave the
    directory) and NotFound for one that does not exist there.
    """
    paths = []
    base = directory.resolve()
    for name in names:
        if not is_recording_name(name):
            raise BadRequest(f"`recordings`: {name[:80]!r} is not a recording file name")
        path = (base / name).resolve()
        if path.parent != base or not path.is_file():
            raise NotFound(f"recording {name} not found")
        paths.append(path)
    return paths
