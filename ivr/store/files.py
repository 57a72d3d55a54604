"""Files that hold personal data: owner-only from the moment they exist.

The SQLite database (and its -wal/-shm), the recording spool, kept training audio
(spoken NIKs), the call journal, uploaded lists and the secret key are created with
mode 0600 in folders of mode 0700, explicitly rather than through the process umask
(the rendered prompts must stay readable by Asterisk), and ``tighten`` brings files
left by an older version to the same modes at start-up.  The one exception is a
recording spool the deployment shares with Asterisk through a group (see ``is_shared``):
there group access stays and only access for others is taken away.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700
SHARED_DIR_MODE = 0o2770        # a spool shared with Asterisk through a group
SHARED_DIR_MASK = 0o2770
SHARED_FILE_MASK = 0o660


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


# --- the recording spool ------------------------------------------------------------------
# Asterisk writes the recordings and the service reads them.  Run as one user, the spool is
# owner-only like the rest.  Run as two users (the compose file: `asterisk` and `hotline`),
# it is shared through a group (2770, set up by the deployment): then group access stays,
# and only access for others is taken away.

def is_shared(folder: Path) -> bool:
    """A folder deliberately shared with a group: group-writable or set-group-ID."""
    try:
        mode = os.stat(folder).st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IWGRP | stat.S_ISGID))


def spool_folder(path: Path) -> Path:
    """Create a folder in the spool (Asterisk does not create folders).  New folders take
    the sharing of the folder above them (0700, or 2770 in a shared spool); existing ones
    are left as the deployment made them."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    mode = SHARED_DIR_MODE if is_shared(probe) else DIR_MODE
    for folder in reversed(missing):
        try:
            os.mkdir(folder, mode)
        except FileExistsError:
            continue
        _chmod(folder, mode)        # mkdir's mode passes through the umask; setgid needs chmod
    return path


def spool_file(path: Path) -> None:
    """Narrow a recording: 0600, or no access for others in a shared spool.  A recording
    Asterisk wrote as another user cannot be changed here; its folder keeps others out."""
    path = Path(path)
    if is_shared(path.parent):
        _narrow(path, SHARED_FILE_MASK)
    else:
        _chmod(path, FILE_MODE)


def tighten(folder: Path, *, skip: Path | None = None) -> int:
    """Make ``folder`` and every folder below it 0700 and every file 0600 (for a shared
    folder, see ``is_shared``: take away only access for others); returns how many modes
    were changed.  ``skip``: a subtree left out (the spool, tightened by its own rule).
    Symbolic links are left alone (their targets may be shared, such as prompt audio)."""
    folder = Path(folder)
    if not folder.is_dir() or folder.is_symlink():
        return 0
    shared = is_shared(folder)
    skip = Path(skip).resolve() if skip is not None else None
    fix_dir = (lambda p: _narrow(p, SHARED_DIR_MASK, keep=DIR_MODE)) if shared else (lambda p: _chmod(p, DIR_MODE))
    fix_file = (lambda p: _narrow(p, SHARED_FILE_MASK)) if shared else (lambda p: _chmod(p, FILE_MODE))
    changed = int(fix_dir(folder))
    for root, dirs, files in os.walk(folder):
        if skip is not None:
            dirs[:] = [d for d in dirs if Path(root, d).resolve() != skip]
        for name in dirs:
            path = Path(root, name)
            if not path.is_symlink():
                changed += fix_dir(path)
        for name in files:
            path = Path(root, name)
            if not path.is_symlink():
                changed += fix_file(path)
    return changed


def _narrow(path: Path, mask: int, keep: int = 0) -> bool:
    try:
        current = stat.S_IMODE(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False
    return _chmod(path, (current & mask) | keep)


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
        # another user's file (a recording Asterisk wrote as its own user): its folder keeps
        # others out, and changing it is the deployment's business
        log.debug("cannot change the permissions of %s (not its owner)", path.name)
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
