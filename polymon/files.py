"""Small-file persistence shared by the stateful parts (keys, triggers): atomic replacement."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` so a crash leaves the old or the new file, never a torn one:
    write a temporary file, fsync it, rename it over `path`, fsync the directory."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def adopt_owner(directory: Path, paths: list[Path]) -> None:
    """Give `paths` the owner of `directory` when root made them there (`polymon keys create`
    run by root in the state directory of a service that runs as another user, who could not
    read them otherwise). No-op for other users and for paths that already match."""
    if os.geteuid() != 0:
        return
    owner = directory.stat()
    for path in paths:
        stat = path.stat()
        if (stat.st_uid, stat.st_gid) != (owner.st_uid, owner.st_gid):
            os.chown(path, owner.st_uid, owner.st_gid)
