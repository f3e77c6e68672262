"""Trusting files in the data directory: owned by the user, private, regular, and opened without blocking.

Everything that decides who is let in (profiles, the lockout state, the audit log) lives in the user's data
directory. A file or directory there that another account owns or can write could hold that account's face
as ours, or a lockout count of its choosing, so it is refused with a one-line message that names the fix.
"Owned by the user" means owned by the effective user; for root, owned by root.

A file of the user's that group or others can *read* (an older version's 0644, a ``chmod`` by hand) is made
private again (0600) when it is opened, and so is the profiles directory (0700): face data is the user's
alone. The data directory itself is left as it is (``--data-dir`` may name a folder of the user's own).

Files are opened with ``O_NOFOLLOW`` (a planted symlink is refused, not followed) and ``O_NONBLOCK`` (a FIFO or
device put in place of a file would otherwise block the open, and with it every unlock), then checked with
``fstat`` on the open descriptor, so what is checked is what is read.
"""

from __future__ import annotations

import errno
import os
import shlex
import stat
from pathlib import Path

_POSIX = os.name == "posix"
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
O_BINARY = getattr(os, "O_BINARY", 0)


class UntrustedPathError(OSError):
    """A file or directory that another account could have written; the message is one line with the fix.

    Attributes:
        path: the file or directory at fault.
    """

    def __init__(self, message: str, path: Path | str) -> None:
        super().__init__(message)
        self.path = Path(path)

    def __str__(self) -> str:
        return self.args[0]


def _owner_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def check_stat(info: os.stat_result, path: Path | str, what: str) -> None:
    """Refuse ``path`` (already ``fstat``-ed into ``info``) unless the current user owns it and neither group
    nor others can write it.

    Args:
        info: the stat result of the open file or directory.
        path: its path, for the message.
        what: ``file`` or ``directory``, for the message and the suggested ``chmod``.

    Raises:
        UntrustedPathError: owned by another account, or writable by group or others.
    """
    if not _POSIX:
        return  # no POSIX owners or modes: nothing to check
    quoted = shlex.quote(str(path))
    uid = os.geteuid()
    if info.st_uid != uid:
        raise UntrustedPathError(
            f"{path}: owned by {_owner_name(info.st_uid)}, not by you ({_owner_name(uid)}), so its content is not "
            f"yours; refusing to use it. Fix: check it, then chown {_owner_name(uid)} {quoted}"
            + (" (or remove it)" if what == "file" else ""), path)
    if info.st_mode & 0o022 and what == "directory" and info.st_mode & stat.S_ISVTX:
        # a shared folder such as /tmp: making it private would break it for everyone else
        raise UntrustedPathError(
            f"{path}: a folder shared with other users (writable by all, like /tmp), so another user could "
            f"replace your face data; refusing to use it. Fix: use a private folder inside it, e.g. "
            f"--data-dir {shlex.quote(str(Path(path) / 'faceid'))}", path)
    if info.st_mode & 0o022:
        mode = "700" if what == "directory" else "600"
        raise UntrustedPathError(
            f"{path}: {what} writable by group or others, so another user could change what decides who is let "
            f"in; refusing to use it. Fix: chmod {mode} {quoted}", path)


def make_private(fd: int, info: os.stat_result) -> None:
    """Take group's and others' permissions off an open file or directory of the user's (already checked by
    :func:`check_stat`, ``info`` its ``fstat``): an older version's 0644, or a ``chmod`` by hand, must not
    leave face data readable by other accounts. A file system that refuses the change is left as it is."""
    if _POSIX and info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
        try:
            os.fchmod(fd, stat.S_IMODE(info.st_mode) & 0o700)
        except OSError:
            pass  # e.g. a read-only file system: reading is still safe, the data just stays as exposed as it was


def check_directory(path: Path) -> None:
    """Refuse a data directory that another account owns or can write, or where a folder above it lets
    another account rename it (or a folder it is in) away and put its own in its place.

    A folder above it is safe when it is owned by the user or by root and is writable by no one else, or when
    it is sticky (like ``/tmp``: only the owner of an entry may rename it); a symbolic link above it must be
    the user's or root's.

    Raises:
        UntrustedPathError: as described.
        FileNotFoundError: ``path`` does not exist.
    """
    if not _POSIX:
        return
    fd = os.open(path, os.O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    try:
        check_stat(os.fstat(fd), path, "directory")  # not made private: it may be a folder the user chose
    finally:
        os.close(fd)
    uid = os.geteuid()
    # every folder above it, not only the parent: whoever may rename an entry of a grandparent can move the
    # whole branch away and put one of the user's older data directories (a looser threshold, no lock-out
    # state) in its place (found by trying it)
    for parent in Path(os.path.abspath(path)).parents:
        link = os.lstat(parent)
        if stat.S_ISLNK(link.st_mode) and link.st_uid not in (uid, 0):
            raise UntrustedPathError(
                f"{path}: {parent} is a symbolic link of {_owner_name(link.st_uid)}, who could point it "
                f"elsewhere; refusing to use it. Fix: give the real path (--data-dir or FACEID_HOME)", path)
        info = os.stat(parent)
        sticky = bool(info.st_mode & stat.S_ISVTX)
        if info.st_uid not in (uid, 0) and not sticky:
            raise UntrustedPathError(
                f"{path}: {parent} belongs to {_owner_name(info.st_uid)}, who could rename your data "
                f"directory away and put another in its place; refusing to use it. Fix: move the data directory "
                f"into a folder of yours (--data-dir or FACEID_HOME)", path)
        if info.st_mode & 0o022 and not sticky:
            raise UntrustedPathError(
                f"{path}: {parent} is writable by group or others, who could rename your data directory "
                f"away and put another in its place; refusing to use it. Fix: chmod go-w "
                f"{shlex.quote(str(parent))} (or chmod +t it)", path)


def open_regular(path: Path, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """Open ``path`` without following a symlink and without blocking, and check the open file: a regular
    file, owned by the user, not writable by group or others. The descriptor is returned in blocking mode.

    Args:
        path: the file.
        flags: ``os.O_RDONLY``, or e.g. ``os.O_WRONLY | os.O_APPEND | os.O_CREAT``.
        mode: permission bits for a file created here.

    Returns:
        An open file descriptor; the caller closes it.

    Raises:
        FileNotFoundError: no such file (and ``O_CREAT`` not given).
        UntrustedPathError: a symlink, a FIFO, device, socket or directory, or a file owned or writable by
            someone else.
        OSError: the file cannot be opened for another reason.
    """
    try:
        fd = os.open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_BINARY, mode)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UntrustedPathError(f"{path}: is a symbolic link; refusing to follow it (remove it)", path) from None
        if error.errno == errno.ENXIO:  # a FIFO without a reader, opened for writing
            raise UntrustedPathError(f"{path}: not a regular file (a FIFO or device); remove it", path) from None
        if error.errno == errno.EISDIR:  # a directory opened for writing
            raise UntrustedPathError(f"{path}: is a directory, not a file; remove it", path) from None
        if error.errno == errno.EACCES:  # another account's private file: say whose, and the fix
            try:
                info = os.lstat(path)
            except OSError:
                info = None
            if info is not None:
                check_stat(info, path, "file")
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode)
                    else "a device or socket")
            raise UntrustedPathError(f"{path}: {kind}, not a regular file; refusing to read it (remove it)", path)
        check_stat(info, path, "file")
        make_private(fd, info)
        if O_NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: Path, max_bytes: int) -> bytes:
    """The bytes of a trusted regular file (see :func:`open_regular`), at most ``max_bytes``.

    Raises:
        FileNotFoundError: no such file.
        UntrustedPathError: as :func:`open_regular`; or the file is larger than ``max_bytes``.
        OSError: it cannot be read.
    """
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            raise UntrustedPathError(f"{path}: {size} bytes, far larger than this file can be; refusing to read it",
                                     path)
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


__all__ = ["UntrustedPathError", "check_directory", "check_stat", "make_private", "open_regular", "read_regular"]
