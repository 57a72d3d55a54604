"""Files that hold personal data: owner-only from the moment they exist.

The SQLite database (and its -wal/-shm), the recording spool, kept training audio
(spoken NIKs), the call journal, uploaded lists and the secret key are created with
mode 0600 in folders of mode 0700, explicitly rather than through the process umask
(the rendered prompts must stay readable by Asterisk), and ``tighten_data_dir`` brings
files left by an older version or another program (Asterisk writes the recordings) to
the same modes at start-up.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700; tighten it if it exists."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            pass
    _chmod(path, DIR_MODE)
    return path


def create_private(path: Path, *, exclusive: bool = True) -> int:
    """Open a new file for writing with mode 0600 (no moment of wider access); a file
    descriptor.  ``exclusive``: fail when it exists (never follows a planted link)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)        # an existing file opened without O_EXCL keeps its old mode
    return fd


def private_file(path: Path) -> None:
    """Make an existing file 0600 (quietly skipped when it is gone or not ours)."""
    _chmod(Path(path), FILE_MODE)


def tighten(folder: Path) -> int:
    """Make ``folder`` and every folder below it 0700 and every file 0600; returns how
    many modes were changed.  Symbolic links are left alone (their targets may be
    shared, such as prompt audio)."""
    folder = Path(folder)
    if not folder.is_dir() or folder.is_symlink():
        return 0
    changed = int(_chmod(folder, DIR_MODE))
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            path = Path(root, name)
            if not path.is_symlink():
                changed += _chmod(path, DIR_MODE)
        for name in files:
            path = Path(root, name)
            if not path.is_symlink():
                changed += _chmod(path, FILE_MODE)
    return changed


def _chmod(path: Path, mode: int) -> bool:
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) == mode:
            return False
        os.chmod(path, mode)
        return True
    except FileNotFoundError:
        return False
    except PermissionError:
        # another user's file (Asterisk running as its own user): say so once per file
        log.warning("cannot restrict the permissions of %s (not its owner)", path.name)
        return False


def sqlite_files(database: Path) -> list[Path]:
    """The database file and the journal files SQLite keeps beside it."""
    return [database] + [database.with_name(database.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def prepare_sqlite(database: Path) -> None:
    """Create the database file 0600 before SQLite does (SQLite then gives its -wal and
    -shm files the same mode), and tighten existing ones."""
    if not database.parent.exists():
        private_dir(database.parent)
    if not database.exists():
        try:
            os.close(create_private(database))
        except FileExistsError:
            pass
    for path in sqlite_files(database):
        private_file(path)
