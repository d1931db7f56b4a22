"""What the SQLite store checks about its file beyond SQLite itself.

An open SQLite connection keeps writing to its file after the file was deleted (or its
directory was, or another file was moved to its path): every commit succeeds, and all of it is
gone at the next start. ``OpenedFile`` remembers which file was opened (device and inode) and
says when the path no longer leads to it. ``write_health_row`` is ``/healthz``'s real write.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from bot.store.base import StoreUnavailable


class OpenedFile:
    """The file a connection was opened on, checked against what ``path`` leads to now."""

    def __init__(self, path: Path) -> None:
        self.path = path
        found = os.stat(path)
        self._identity = (found.st_dev, found.st_ino)

    def check(self) -> None:
        """Raise ``StoreUnavailable`` unless ``path`` still leads to the opened file."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            raise StoreUnavailable(
                f"the store file {self.path} is gone (it or its directory was deleted); "
                "what is written now would be lost at the next start"
            ) from None
        except OSError as exc:
            raise StoreUnavailable(
                f"the store file {self.path} cannot be reached: {exc.strerror}"
            ) from exc
        if (found.st_dev, found.st_ino) != self._identity:
            raise StoreUnavailable(
                f"the store file {self.path} is not the file that was opened (it was replaced "
                "or moved); what is written now would be lost at the next start"
            )


def write_health_row(conn: sqlite3.Connection, path: Path, owner: str, min_free: int) -> None:
    """Refuse a disk with less than ``min_free`` bytes free, then upsert ``owner``'s row."""
    try:
        disk = os.statvfs(path.parent)
    except OSError as exc:
        raise StoreUnavailable(
            f"the directory of the store {path} cannot be reached: {exc.strerror}"
        ) from exc
    free = disk.f_bavail * disk.f_frsize
    if free < min_free:
        raise StoreUnavailable(f"the disk of the store {path} is full ({free} bytes free)")
    conn.execute(
        "INSERT INTO health (owner, checked_at) VALUES (?, ?)"
        " ON CONFLICT (owner) DO UPDATE SET checked_at = excluded.checked_at",
        (owner, time.time_ns() // 1000),
    )
