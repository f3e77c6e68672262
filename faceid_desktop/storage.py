"""Profiles on disk: one JSON file per profile plus the files it references, never lost or half-written.

Layout of the profile directory (``<data dir>/profiles``, mode 0700; every file 0600)::

    alice.json                   the profile: schema, metadata, settings, and the files it references
    alice.3f2a9c0d1b4e5f67.npy   its (N, 128) float32 embeddings; the middle part is the file's SHA-256[:16]
    .alice.<16 hex>.tmp          a write that a crash interrupted: ignored, removed by the next save of alice

    alice.0a1b2c3d4e5f6789.safetensors   its on-device adapter (``faceid train``), when it has one

``alice.json`` looks like this (``"files"`` maps a role to a referenced file: ``"embeddings"`` always,
``"adapter"`` when the profile has one)::

    {"schema": 2, "name": "alice", "model_id": "<sha-256 of the weights>",
     "created_at": 1700000000.0, "updated_at": 1700000100.0,
     "settings": {"threshold": 0.93, "alpha": 0.2, "rule": "threshold", "frames_to_accept": 2, "window": 5,
                  "timeout": 4.0},
     "templates": [{"captured_at": 1700000000.0, "source": "camera:0", "quality": 0.9}, ...],
     "files": {"embeddings": {"file": "alice.3f2a9c0d1b4e5f67.npy", "sha256": "<64 hex>",
                              "size": 2688, "dtype": "<f4", "shape": [N, 128]},
               "adapter": {"file": "alice.0a1b2c3d4e5f6789.safetensors", "sha256": "<64 hex>",
                           "size": 66208, "dtype": "<f4", "shape": [129, 128]}}}

Schema 1 (session one's format: no ``rule``, no adapter, thresholds on the raw-embedding scale) is still
read: its threshold is rescaled to the unit scale (:data:`SCHEMA1_THRESHOLD_SCALE`) and the next save
writes schema 2.

The JSON file is the single point of commit. A save writes the referenced files first, under names derived
from their content (so it never changes the bytes the current JSON points to), then replaces the JSON, and
only then deletes what is no longer referenced: a crash at any moment leaves the old or the new profile
whole. Saves and removals hold an exclusive ``flock`` on the directory, loads a shared one, so a load never
sees the files of a profile half-way through a save from another process. :meth:`ProfileStore.load`
checks everything and only reads: it never deletes, rewrites or repairs.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import math
import numbers
import os
import re
import shlex
import secrets
import time
import unicodedata
from contextlib import contextmanager, suppress
from dataclasses import fields
from pathlib import Path
from typing import Callable, Any, Iterator

import numpy as np
import platformdirs

import safetensors.numpy

from .profile import NAME_PATTERN, Adapter, DecisionSettings, Profile, Template, check_name
from .safefs import UntrustedPathError, check_directory, check_stat, make_private, open_regular

try:
    import fcntl
except ImportError:  # not POSIX: no advisory locks, so saves from two processes at once are not serialized
    fcntl = None  # type: ignore[assignment]

APP_NAME = "faceid-desktop"
#: Version of the profile JSON format written by this module (it also reads schema 1).
SCHEMA = 2
#: Schema 1 thresholds were distances between raw embeddings; the unit-length measure of schema 2 puts the
#: same operating point (FAR 1e-4 on the owner protocol: 0.429 raw, 0.313 unit) at this fraction of them.
SCHEMA1_THRESHOLD_SCALE = 0.313 / 0.429
#: Length of an embedding (SFace's).
EMBEDDING_DIM = 128

_POSIX = os.name == "posix"
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_DIR_MODE, _FILE_MODE = 0o700, 0o600
_MAX_JSON_BYTES = 16 << 20  # far above any real profile; stops a stray huge file from eating memory
_LOCK_TIMEOUT = 10.0  # seconds; a save takes milliseconds, so only a stopped process holds the lock longer
_ARRAYS_DTYPE = "<f4"  # little-endian, so a profile directory can move between machines

_TOP_KEYS = ("schema", "name", "model_id", "created_at", "updated_at", "settings", "templates", "files")
_TEMPLATE_KEYS = ("captured_at", "source", "quality")
_FILE_KEYS = ("file", "sha256", "size", "dtype", "shape")
_SETTINGS_FIELDS = tuple((f.name, {"int": "int", "str": "str"}.get(str(f.type), "float"))
                         for f in fields(DecisionSettings))
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Suffixes of the files a profile references.
_REFERENCED_SUFFIXES = ("npy", "safetensors")
_ADAPTER_KEYS = ("head.linear.weight", "head.linear.bias")
_ADAPTER_SHAPE = [EMBEDDING_DIM + 1, EMBEDDING_DIM]  # the weight's rows plus the bias, as recorded


class ProfileError(ValueError):
    """A profile cannot be loaded or removed, or the profile directory cannot be trusted.

    The message is one line naming the file and the problem, fit to show the user as is.

    Attributes:
        path: the file or directory at fault, when there is one.
    """

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class AdapterFileError(ProfileError):
    """The profile's adapter file is missing, damaged or cannot be read (the rest of the profile may be
    fine: :meth:`ProfileStore.load` with ``read_adapter=False`` reads it without the adapter)."""


class OutdatedProfileError(ProfileError):
    """A profile whose templates were made by another face model (e.g. dlib's ResNet before SFace): its
    embeddings cannot be compared with today's, so it must be enrolled again. Nothing is deleted."""


#: Lengths a stored template of the current model may have (they are written unit length).
_MIN_TEMPLATE_LENGTH, _MAX_TEMPLATE_LENGTH = 0.5, 2.0


class _Invalid(Exception):
    """A problem with a profile's content; the caller adds which file or profile it is about, and what to
    do unless ``remedy`` says it (a profile of a newer version: update the app, not enroll again)."""

    def __init__(self, problem: str, remedy: str = "") -> None:
        super().__init__(problem)
        self.remedy = remedy


def default_data_dir() -> Path:
    """The per-user data directory: ``$FACEID_HOME`` when set, else platformdirs' user data directory.

    That is e.g. ``~/.local/share/faceid-desktop`` on Linux. Profiles live in its ``profiles`` subfolder.
    """
    home = os.environ.get("FACEID_HOME")
    return Path(home).expanduser() if home else Path(platformdirs.user_data_dir(APP_NAME))


class ProfileStore:
    """The enrolled profiles under a data directory, saved atomically and checked on load.

    Args:
        root: the data directory; :func:`default_data_dir` when None. Profiles live in ``root/profiles``,
            which is created (mode 0700) by the first save.

    Attributes:
        root: the data directory.
        directory: the profile directory, ``root / "profiles"``.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_data_dir()
        self.directory = self.root / "profiles"

    def __repr__(self) -> str:
        return f"ProfileStore({str(self.root)!r})"

    # ------------------------------------------------------------------ queries

    def names(self) -> list[str]:
        """Sorted names of the saved profiles (empty when the directory does not exist yet).

        Anything at ``<name>.json`` with a valid name counts, as for :meth:`exists`: a directory or FIFO
        in its place is listed so that :meth:`load` and :meth:`remove` can say what is wrong, not hidden;
        temporary files are ignored. A listed profile may still fail to load (see :meth:`load`).
        """
        try:
            entries = list(os.scandir(self.directory))
        except (FileNotFoundError, NotADirectoryError):
            return []
        found = []
        for entry in entries:
            stem, dot, suffix = entry.name.rpartition(".")
            if dot and suffix == "json" and NAME_PATTERN.match(stem):
                found.append(stem)
        return sorted(found)

    def exists(self, name: str) -> bool:
        """Whether a profile named ``name`` is saved (its JSON file exists; it may still fail to load).

        Raises:
            ValueError: ``name`` is not a valid profile name (see :func:`~faceid_desktop.profile.check_name`).
        """
        # lexists: anything at that name (even a FIFO or a dangling symlink) is reported by load, not ignored
        return os.path.lexists(self._json_path(check_name(name)))

    def check_new_name(self, name: str) -> None:
        """Refuse ``name`` for a new profile when another one's name differs from it in case only ("ME"
        beside "me"): users would take them for one, and a case-insensitive file system (macOS, Windows)
        stores them as one file. Lookups stay exact; nothing is refused when ``name`` itself exists.

        Raises:
            ValueError: ``name`` is not a valid profile name.
            ProfileError: a profile named like ``name`` but for case exists, or ``name`` mixes letters of
                several scripts (Latin and Cyrillic: a look-alike of another name).
        """
        check_name(name)
        names = self.names()
        if name in names:
            return
        # letters of several scripts: a Cyrillic "е" in "mе" passes for "me" beside it (found by trying it)
        scripts = sorted({unicodedata.name(c, "?").split()[0] for c in name if c.isalpha()})
        if len(scripts) > 1:
            raise ProfileError(f"profile name {name!r} mixes letters of several scripts ({', '.join(scripts)}), "
                               "so it could pass for another name; use letters of one script",
                               self._json_path(name))
        for other in names:
            if other.casefold() == name.casefold():
                raise ProfileError(f"a profile named {other!r} already exists (names that differ only in "
                                   "case would be taken for one)", self._json_path(other))

    # ------------------------------------------------------------------ load

    def load(self, name: str, model_id: str | None = None, read_adapter: bool = True) -> Profile:
        """Read and check a profile; the files are only read, never changed.

        Args:
            name: the profile's name.
            model_id: SHA-256 of the weights in use; when given, a profile enrolled with other weights is
                refused (its embeddings would be meaningless).
            read_adapter: False: the adapter file is not read and the profile comes without it (what
                dropping a missing or damaged adapter needs).

        Returns:
            The profile, its templates in enrollment order, each embedding a (128,) float32 row exactly as
            saved.

        Raises:
            ValueError: ``name`` is not a valid profile name.
            ProfileError: no such profile (the message lists those that exist); the JSON file is not
                valid JSON, truncated, of another schema version, or has missing, extra or mistyped fields,
                a ``name`` other than its file's, settings out of range, or a template count other than
                the embeddings' rows; the embeddings file is missing, damaged (size or SHA-256 mismatch),
                not a (N, 128) float32 array or holds NaN/inf; the directory or a file is writable by group
                or others; the profile was enrolled with other weights than ``model_id``; a file cannot be
                read.
        """
        check_name(name)
        try:
            with self._locked(exclusive=False) as dir_fd:
                return self._load_locked(name, model_id, dir_fd, read_adapter)
        except FileNotFoundError:
            raise self._unknown(name) from None
        except NotADirectoryError:
            raise ProfileError(f"{self.directory}: not a directory", self.directory) from None

    def _load_locked(self, name: str, model_id: str | None, dir_fd: int | None,
                     read_adapter: bool = True) -> Profile:
        """:meth:`load` with the directory lock already held (shared or exclusive)."""
        json_path = self._json_path(name)
        self._check_directory(dir_fd)
        raw = self._read(json_path, None, missing=lambda: self._unknown(name))
        remedy = f"remove the profile (faceid profiles remove {name}) and enroll again"
        try:
            doc = _parse_json(raw)
            parts = _decode(doc, name)
        except _Invalid as problem:
            raise ProfileError(f"{json_path}: {problem}; {problem.remedy or remedy}", json_path) from None
        record = doc["files"]["embeddings"]
        arrays_path = self.directory / record["file"]
        data = self._read(
            arrays_path,
            record["size"],
            missing=lambda: ProfileError(
                f"{arrays_path}: embeddings file of profile {name!r} is missing "
                f"(referenced by {json_path.name}); start over: faceid profiles remove {name}, then faceid enroll {name} ...",
                arrays_path,
            ),
            remedy=remedy,
        )
        try:
            embeddings = _decode_arrays(data, record)
        except _Invalid as problem:
            raise ProfileError(f"{arrays_path}: {problem}; {remedy}", arrays_path) from None
        try:
            settings = DecisionSettings(**parts["settings"])
        except ValueError as problem:
            raise ProfileError(f"{json_path}: settings out of range: {problem}", json_path) from None
        if model_id is not None and parts["model_id"] != model_id:
            raise OutdatedProfileError(
                f"profile {name} was made with an older face model: enroll again "
                f"(faceid enroll {name} PHOTOS... replaces it; until then it is kept as it is)",
                json_path,
            )
        if model_id is not None:
            # Templates of this model are unit length; a zero or scaled row was not written by this app
            # (an all-zero file matched nothing and enroll --add appended to it).
            lengths = np.linalg.norm(embeddings.astype(np.float64), axis=1)
            odd = np.flatnonzero((lengths < _MIN_TEMPLATE_LENGTH) | (lengths > _MAX_TEMPLATE_LENGTH))
            if odd.size:
                rows = ", ".join(map(str, odd[:5])) + (", ..." if odd.size > 5 else "")
                raise ProfileError(f"{arrays_path}: embeddings are not unit length (rows {rows}: length "
                                   f"{lengths[odd[0]]:.3g}); {remedy}", arrays_path)
        adapter = None
        if "adapter" in doc["files"] and read_adapter:
            adapter = self._read_adapter(name, doc["files"]["adapter"], json_path)
        templates = tuple(Template(embedding=embeddings[i], **meta) for i, meta in enumerate(parts["templates"]))
        return Profile(
            adapter=adapter,
            name=name,
            model_id=parts["model_id"],
            templates=templates,
            settings=settings,
            created_at=parts["created_at"],
            updated_at=parts["updated_at"],
        )

    def _read_adapter(self, name: str, record: dict, json_path: Path) -> Adapter:
        path = self.directory / record["file"]
        remedy = f"drop the adapter with: faceid train {name} --off (then train again if wanted)"
        try:
            data = self._read(path, record["size"], missing=lambda: ProfileError(
                f"{path}: adapter file of profile {name!r} is missing (referenced by {json_path.name}); "
                f"drop the adapter with: faceid train {name} --off", path), remedy=remedy)
            return _decode_adapter(data, record)
        except _Invalid as problem:
            raise AdapterFileError(f"{path}: {problem}; {remedy}", path) from None
        except ProfileError as error:
            raise AdapterFileError(str(error), path) from None

    # ------------------------------------------------------------------ save / remove

    def save(self, profile: Profile) -> None:
        """Write a profile atomically, replacing any saved profile of the same name.

        The profile is stored as given (``created_at``/``updated_at`` included); embeddings are stored as
        float32. After a crash at any point, :meth:`load` returns the old or the new version; leftovers of
        the crash are removed by the next save of this profile.

        Raises:
            ValueError: the profile cannot be stored faithfully: an embedding that is not a (128,) float
                array or holds NaN/inf, a non-finite time, a quality outside [0, 1], a mistyped field.
            ProfileError: the profile directory is writable by group or others, or is locked by another
                process for too long; a new profile's name differs from an existing one's in case only; the
                disk is full (the files of the new version are removed again).
            OSError: the directory or files cannot be written (read-only, ...).
        """
        self._make_directory()
        with self._locked(exclusive=True) as dir_fd:
            self.check_new_name(profile.name)
            self._save_locked(profile, dir_fd)

    def check_trusted(self) -> None:
        """Refuse to read a data or profile directory that another account owns or can write, or that a
        folder above lets another account replace, before listing it (the same check as :meth:`load`):
        the names in it would be that account's. Nothing to check when there is no profile directory yet.

        Raises:
            ProfileError: one line naming the folder and the fix.
        """
        try:
            with self._locked(exclusive=False) as dir_fd:
                self._check_directory(dir_fd)
        except (FileNotFoundError, NotADirectoryError):
            return  # nothing listed from it: names() finds no profiles there

    def check_writable(self) -> None:
        """Make sure profiles can be saved here, before any long work whose result would be lost.

        Raises:
            ProfileError: the directory cannot be created or written (read-only, not a directory, ...).
        """
        try:
            self._make_directory()
        except OSError as error:
            where = Path(error.filename) if error.filename else self.directory  # the folder that could not be made
            raise ProfileError(f"{where}: cannot create the {'profile' if where == self.directory else 'data'} "
                               f"directory: {error.strerror}", where) from None
        if not os.access(self.directory, os.W_OK):
            raise ProfileError(f"{self.directory}: cannot write profiles here (read-only or not yours)",
                               self.directory)

    def update(self, name: str, change: Callable[[Profile | None], Profile], model_id: str | None = None,
               replace_outdated: bool = False, read_adapter: bool = True) -> Profile:
        """Read, change and write a profile as one step that no other FaceID Desktop process can interleave.

        Two commands changing one profile at once (two enrollments, an enrollment and a threshold change)
        would otherwise each write their own version and one change would be lost.

        Args:
            name: the profile's name.
            change: gets the current profile (None when there is none) and returns the one to save; it may
                raise (e.g. ProfileError "exists") to abort, and nothing is written then.
            model_id: as for :meth:`load`.
            replace_outdated: a profile made by another model than ``model_id`` is passed to ``change`` as
                None (a new enrollment replaces it) instead of raising :class:`OutdatedProfileError`.
            read_adapter: as for :meth:`load`.

        Returns:
            The profile saved.

        Raises:
            everything :meth:`load` and :meth:`save` raise (a new name that differs from an existing one's
            in case only, too), and what ``change`` raises.
        """
        check_name(name)
        self._make_directory()
        with self._locked(exclusive=True) as dir_fd:
            # First: on a case-insensitive file system "ME.json" would open me.json as profile ME.
            self.check_new_name(name)
            current = None
            if os.path.lexists(self._json_path(name)):
                try:
                    current = self._load_locked(name, model_id, dir_fd, read_adapter)
                except OutdatedProfileError:
                    if not replace_outdated:
                        raise
            profile = change(current)
            if profile.name != name:
                raise ValueError(f"update of profile {name!r} returned profile {profile.name!r}")
            self._save_locked(profile, dir_fd)
        return profile

    def update_existing(self, name: str, change: Callable[[Profile], Profile], model_id: str | None = None,
                        read_adapter: bool = True) -> Profile:
        """:meth:`update` of a profile that must still be there: one removed by another command since the
        caller read it (``profiles remove`` while ``train`` ran) is not written back.

        Raises:
            ProfileError: the profile was removed meanwhile (nothing written); and what :meth:`update`
                raises.
        """
        def existing(current: Profile | None) -> Profile:
            if current is None:
                raise ProfileError(f"profile {name!r} was removed meanwhile; nothing written", self._json_path(name))
            return change(current)

        return self.update(name, existing, model_id, read_adapter=read_adapter)

    def _save_locked(self, profile: Profile, dir_fd: int | None) -> None:
        """:meth:`save` with the directory made and the exclusive lock held."""
        try:
            doc, arrays = _encode(profile)
        except _Invalid as problem:
            raise ValueError(f"cannot save profile {getattr(profile, 'name', '?')!r}: {problem}") from None
        name = profile.name
        digest = hashlib.sha256(arrays).hexdigest()
        arrays_name = f"{name}.{digest[:16]}.npy"
        doc["files"] = {
            "embeddings": {
                "file": arrays_name,
                "sha256": digest,
                "size": len(arrays),
                "dtype": _ARRAYS_DTYPE,
                "shape": [len(profile.templates), EMBEDDING_DIM],
            }
        }
        referenced = {arrays_name: arrays}
        if profile.adapter is not None:
            adapter = _encode_adapter(profile.adapter)
            adapter_digest = hashlib.sha256(adapter).hexdigest()
            adapter_name = f"{name}.{adapter_digest[:16]}.safetensors"
            doc["files"]["adapter"] = {"file": adapter_name, "sha256": adapter_digest, "size": len(adapter),
                                       "dtype": _ARRAYS_DTYPE, "shape": _ADAPTER_SHAPE}
            referenced[adapter_name] = adapter
        text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
        self._check_directory(dir_fd)
        before = set(os.listdir(self.directory))
        try:
            # The referenced files must be durable under their names before the JSON can point to them.
            for file_name, data in referenced.items():
                self._write_atomically(name, file_name, data, dir_fd)
            self._write_atomically(name, f"{name}.json", text.encode("ascii"), dir_fd)
        except OSError as error:
            try:
                in_place = self._json_path(name).read_bytes() == text.encode("ascii")
            except OSError:
                in_place = False
            if in_place:
                raise  # the new profile is in place (only the folder's sync failed): its files stay
            # the old profile (or none) is what load sees: the new files nothing refers to go
            for file_name in set(referenced) - before:
                with suppress(OSError):
                    os.unlink(self.directory / file_name)
            if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
                raise ProfileError(f"{self.directory}: the disk is full; profile {name!r} was not saved "
                                   "(what was saved before is unchanged)", self.directory) from None
            raise
        self._collect_garbage(name, keep=set(referenced))

    def remove(self, name: str) -> None:
        """Delete a profile: its JSON file first (the profile is gone from then on), then its other files.

        Raises:
            ValueError: ``name`` is not a valid profile name.
            ProfileError: no such profile (the message lists those that exist), or a directory in place of
                its JSON file.
            OSError: the JSON file cannot be deleted (its other files are deleted as far as possible).
        """
        check_name(name)
        try:
            with self._locked(exclusive=True) as dir_fd:
                path = self._json_path(name)
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    raise self._unknown(name) from None
                except IsADirectoryError:
                    raise ProfileError(f"{path}: a directory, not a profile file; nothing removed. Fix: check it, "
                                       f"then rm -r {shlex.quote(str(path))}", path) from None
                _sync_directory(dir_fd)
                self._collect_garbage(name, keep=set())
        except FileNotFoundError:
            raise self._unknown(name) from None

    # ------------------------------------------------------------------ internals

    def _json_path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def _unknown(self, name: str) -> ProfileError:
        existing = self.names()
        listing = f"existing profiles: {', '.join(existing)}" if existing else "no profile is enrolled yet"
        path = self._json_path(name)
        return ProfileError(f"unknown profile {name!r} (no {path}); {listing}", path)

    def _make_directory(self) -> None:
        # Only the levels created here get 0700 (missing parents too, as the XDG base directory spec asks;
        # with the umask's mode a umask of 000 made them 0777, and the group-writable check then refused
        # the folders just made); existing parents (e.g. ~/.local/share) are left alone.
        missing = [p for p in self.root.parents if not os.path.lexists(p)]
        for path in [*reversed(missing), self.root, self.directory]:
            try:
                os.mkdir(path, _DIR_MODE)
            except FileExistsError:
                continue
            if _POSIX:  # so that a power cut cannot lose the new directory with the profile in it
                fd = os.open(path.parent, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    @contextmanager
    def _locked(self, exclusive: bool) -> Iterator[int | None]:
        """Open the profile directory and hold a flock on it; yields its fd (None where not POSIX).

        Raises FileNotFoundError when the directory does not exist.
        """
        if not _POSIX:
            if not self.directory.is_dir():
                raise FileNotFoundError(errno.ENOENT, "no profile directory", str(self.directory))
            yield None
            return
        fd = os.open(self.directory, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        try:
            if fcntl is not None:
                operation = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
                deadline = time.monotonic() + _LOCK_TIMEOUT
                while True:
                    try:
                        fcntl.flock(fd, operation)
                        break
                    except BlockingIOError:
                        # Polling rather than blocking so that a stopped process cannot hang an unlock.
                        if time.monotonic() > deadline:
                            raise ProfileError(
                                f"{self.directory}: locked by another FaceID Desktop process for more than "
                                f"{_LOCK_TIMEOUT:.0f} s; try again",
                                self.directory,
                            ) from None
                        time.sleep(0.005)
            yield fd
        finally:
            os.close(fd)  # also releases the lock

    def _check_directory(self, dir_fd: int | None) -> None:
        """Refuse a data or profile directory that another account owns or can write (see
        :mod:`faceid_desktop.safefs`): it could hold that account's face under our profile's name."""
        if dir_fd is None:
            return
        try:
            check_directory(self.root)
            info = os.fstat(dir_fd)
            check_stat(info, self.directory, "directory")
            make_private(dir_fd, info)
        except UntrustedPathError as error:
            raise ProfileError(str(error), error.path) from None

    def _read(self, path: Path, expected_size: int | None, missing, remedy: str = "") -> bytes:
        """The bytes of a regular, private file of ours; ``missing()`` is raised when it does not exist, and
        ``remedy`` (what the user can do) ends the message when its size is not ``expected_size``.

        A FIFO, device, directory or symlink in its place is refused at once, never waited on.
        """
        try:
            fd = open_regular(path)
        except FileNotFoundError:
            raise missing() from None
        except UntrustedPathError as error:
            raise ProfileError(str(error), path) from None
        except OSError as error:
            raise ProfileError(f"{path}: cannot read: {error.strerror or error}", path) from None
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if expected_size is None:
                if info.st_size > _MAX_JSON_BYTES:
                    raise ProfileError(f"{path}: {info.st_size} bytes, too large for a profile file", path)
            elif info.st_size != expected_size:
                short = " (truncated)" if info.st_size < expected_size else ""
                raise ProfileError(
                    f"{path}: {info.st_size} bytes but the profile records {expected_size}{short}; "
                    f"the file is damaged; {remedy}",
                    path,
                )
            try:
                return f.read()
            except OSError as error:
                raise ProfileError(f"{path}: cannot read: {error.strerror}", path) from None

    def _write_atomically(self, name: str, target: str, data: bytes, dir_fd: int | None) -> None:
        # The temporary name carries the profile name so that the next save of that profile finds it.
        tmp = self.directory / f".{name}.{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY, _FILE_MODE)
        except OSError as error:
            if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                # the temporary file's name means nothing to the user; the folder is what to fix
                raise ProfileError(f"{self.directory}: cannot write profiles here (read-only or not yours)",
                                   self.directory) from None
            raise
        try:
            try:
                if _POSIX:
                    os.fchmod(fd, _FILE_MODE)  # exactly 0600 whatever the umask, before any byte is written
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.directory / target)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
        _sync_directory(dir_fd)

    def _collect_garbage(self, name: str, keep: set[str]) -> None:
        """Delete the profile's unreferenced files and its leftover temporary files (best effort)."""
        owned = re.compile(re.escape(name) + r"\.[0-9a-f]{16}\.(?:" + "|".join(_REFERENCED_SUFFIXES) + ")")
        temporary = re.compile(r"\." + re.escape(name) + r"\.[0-9a-f]{16}\.tmp")
        for entry in os.listdir(self.directory):
            # fullmatch keeps profile 'a' off the files of profile 'a.0123456789abcdef' and vice versa.
            if (owned.fullmatch(entry) and entry not in keep) or temporary.fullmatch(entry):
                with suppress(OSError):  # best effort: e.g. a directory put in a file's place stays
                    os.unlink(self.directory / entry)


def _sync_directory(dir_fd: int | None) -> None:
    # Makes the renames durable; without it a power cut could persist the JSON but not its arrays file.
    if dir_fd is not None:
        os.fsync(dir_fd)


# ---------------------------------------------------------------------- encoding and checking


def _describe(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return "null" if value is None else f"{kind.get(type(value), type(value).__name__)} {text}"


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _Invalid(f"field {where} must be a number, got {_describe(value)}")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise _Invalid(f"field {where} must be finite, got {value!r}")
    return result


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _Invalid(f"field {where} must be an integer, got {_describe(value)}")
    return int(value)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"field {where} must be a string, got {_describe(value)}")
    return value


_CHECKS = {"int": _integer, "float": _number, "str": _string}


def _quality(value: Any, where: str) -> float:
    quality = _number(value, where)
    if not 0.0 <= quality <= 1.0:
        raise _Invalid(f"field {where} must be in [0, 1], got {quality}")
    return quality


def _object(value: Any, keys: tuple[str, ...], prefix: str) -> dict:
    """``value`` if it is an object with exactly ``keys``; ``prefix`` is its fields' dotted path ('settings.')."""
    if not isinstance(value, dict):
        raise _Invalid(f"field '{prefix[:-1]}' must be an object, got {_describe(value)}")
    missing = [repr(prefix + k) for k in keys if k not in value]
    extra = sorted(repr(prefix + k) for k in value if k not in keys)
    problems = [
        f"{what} field{'s' if len(names) > 1 else ''} {', '.join(names)}"
        for what, names in (("missing", missing), ("unexpected", extra))
        if names
    ]
    if problems:
        raise _Invalid("; ".join(problems))
    return value


def _encode(profile: Profile) -> tuple[dict, bytes]:
    """The profile's JSON document (without ``"files"``) and its embeddings as ``.npy`` bytes."""
    if not isinstance(profile, Profile):
        raise _Invalid(f"expected a Profile, got {type(profile).__name__}")
    model_id = _string(profile.model_id, "'model_id'")
    if not model_id:
        raise _Invalid("field 'model_id' is empty")
    settings = profile.settings
    if not isinstance(settings, DecisionSettings):
        raise _Invalid(f"settings must be DecisionSettings, got {type(settings).__name__}")
    settings_doc = {key: _CHECKS[kind](getattr(settings, key), f"'settings.{key}'") for key, kind in _SETTINGS_FIELDS}
    rows, metadata = [], []
    for i, template in enumerate(profile.templates):
        if not isinstance(template, Template):
            raise _Invalid(f"templates[{i}] must be a Template, got {type(template).__name__}")
        embedding = np.asarray(template.embedding)
        if embedding.shape != (EMBEDDING_DIM,) or embedding.dtype.kind != "f":
            raise _Invalid(
                f"templates[{i}].embedding must be a ({EMBEDDING_DIM},) float array, "
                f"got {embedding.dtype} {embedding.shape}"
            )
        with np.errstate(over="ignore"):  # values beyond float32's range become inf, refused just below
            row = embedding.astype(_ARRAYS_DTYPE)
        if not np.isfinite(row).all():
            raise _Invalid(f"templates[{i}].embedding holds NaN or infinite values (as float32)")
        rows.append(row)
        metadata.append(
            {
                "captured_at": _number(template.captured_at, f"'templates[{i}].captured_at'"),
                "source": _string(template.source, f"'templates[{i}].source'"),
                "quality": _quality(template.quality, f"'templates[{i}].quality'"),
            }
        )
    matrix = np.stack(rows) if rows else np.zeros((0, EMBEDDING_DIM), _ARRAYS_DTYPE)
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(matrix), allow_pickle=False)
    doc = {
        "schema": SCHEMA,
        "name": profile.name,
        "model_id": model_id,
        "created_at": _number(profile.created_at, "'created_at'"),
        "updated_at": _number(profile.updated_at, "'updated_at'"),
        "settings": settings_doc,
        "templates": metadata,
    }
    return doc, buffer.getvalue()


def _reject_constant(token: str) -> None:
    raise _Invalid(f"invalid JSON: {token} is not a number JSON allows")


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        raise _Invalid("empty file (truncated by a crash or a full disk?)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Invalid(f"invalid JSON: not UTF-8 text (byte {error.start}); the file is damaged") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise _Invalid("invalid JSON: nested too deeply for a profile") from None
    except json.JSONDecodeError as error:
        ends_early = error.pos >= len(text.rstrip()) or error.msg.startswith("Unterminated string")
        what = "truncated JSON (the file ends too early)" if ends_early else "invalid JSON"
        raise _Invalid(f"{what}: {error.msg} (line {error.lineno}, column {error.colno})") from None


def _decode(doc: Any, name: str) -> dict[str, Any]:
    """Check a parsed profile document against schema 1 and return its fields (settings as a dict)."""
    if not isinstance(doc, dict):
        raise _Invalid(f"not a profile: the top level must be an object, got {_describe(doc)}")
    if "schema" not in doc:
        raise _Invalid("not a profile: no 'schema' field")
    schema = doc["schema"]
    if isinstance(schema, bool) or not isinstance(schema, int):
        raise _Invalid(f"field 'schema' must be an integer, got {_describe(schema)}")
    if schema not in (1, SCHEMA):
        problem = f"schema version {schema} is not supported; this version reads versions 1 and {SCHEMA}"
        raise _Invalid(problem, "written by a newer FaceID Desktop; update it" if schema > SCHEMA else "")
    _object(doc, _TOP_KEYS, "")
    stored_name = _string(doc["name"], "'name'")
    if stored_name != name:
        raise _Invalid(f"field 'name' is {stored_name!r} but the file is named for profile {name!r}")
    model_id = _string(doc["model_id"], "'model_id'")
    if not model_id:
        raise _Invalid("field 'model_id' is empty")
    settings_fields = tuple((k, kind) for k, kind in _SETTINGS_FIELDS if schema > 1 or k != "rule")
    settings = _object(doc["settings"], tuple(k for k, _ in settings_fields), "settings.")
    settings = {key: _CHECKS[kind](settings[key], f"'settings.{key}'") for key, kind in settings_fields}
    if schema == 1:
        settings["threshold"] = round(settings["threshold"] * SCHEMA1_THRESHOLD_SCALE, 4)
    if not isinstance(doc["templates"], list):
        raise _Invalid(f"field 'templates' must be an array, got {_describe(doc['templates'])}")
    templates = []
    for i, meta in enumerate(doc["templates"]):
        meta = _object(meta, _TEMPLATE_KEYS, f"templates[{i}].")
        templates.append(
            {
                "captured_at": _number(meta["captured_at"], f"'templates[{i}].captured_at'"),
                "source": _string(meta["source"], f"'templates[{i}].source'"),
                "quality": _quality(meta["quality"], f"'templates[{i}].quality'"),
            }
        )
    if not isinstance(doc["files"], dict) or "embeddings" not in doc["files"]:
        raise _Invalid("field 'files' must be an object with an 'embeddings' entry")
    roles = ("embeddings", "adapter") if schema > 1 and "adapter" in doc["files"] else ("embeddings",)
    files = _object(doc["files"], roles, "files.")
    shape = _file_record(files["embeddings"], "embeddings", name, "npy")
    if shape != [len(templates), EMBEDDING_DIM]:
        raise _Invalid(
            f"{len(templates)} templates but the embeddings are recorded as shape {tuple(shape)}; "
            f"expected ({len(templates)}, {EMBEDDING_DIM})"
        )
    if "adapter" in files and _file_record(files["adapter"], "adapter", name, "safetensors") != _ADAPTER_SHAPE:
        raise _Invalid(f"field 'files.adapter.shape' must be {_ADAPTER_SHAPE}")
    return {
        "model_id": model_id,
        "created_at": _number(doc["created_at"], "'created_at'"),
        "updated_at": _number(doc["updated_at"], "'updated_at'"),
        "settings": settings,
        "templates": templates,
    }


def _file_record(record: Any, role: str, name: str, suffix: str) -> list[int]:
    """Check a ``files`` entry and return its recorded shape."""
    record = _object(record, _FILE_KEYS, f"files.{role}.")
    digest = _string(record["sha256"], f"'files.{role}.sha256'")
    if not _SHA256_HEX.fullmatch(digest):
        raise _Invalid(f"field 'files.{role}.sha256' must be 64 lowercase hex digits, got {_describe(digest)}")
    file_name = _string(record["file"], f"'files.{role}.file'")
    if file_name != f"{name}.{digest[:16]}.{suffix}":
        # Also keeps a hand-edited file name from pointing outside the profile directory.
        raise _Invalid(
            f"field 'files.{role}.file' must be {name}.{digest[:16]}.{suffix} (from its SHA-256), got {file_name!r}"
        )
    size = _integer(record["size"], f"'files.{role}.size'")
    if size < 0:
        raise _Invalid(f"field 'files.{role}.size' must be >= 0, got {size}")
    if record["dtype"] != _ARRAYS_DTYPE:
        raise _Invalid(f"field 'files.{role}.dtype' must be {_ARRAYS_DTYPE!r}, got {_describe(record['dtype'])}")
    shape = record["shape"]
    if not (isinstance(shape, list) and len(shape) == 2 and all(type(v) is int for v in shape)):
        raise _Invalid(f"field 'files.{role}.shape' must be [rows, {EMBEDDING_DIM}], got {_describe(shape)}")
    return shape


def _encode_adapter(adapter: Adapter) -> bytes:
    """The adapter as safetensors bytes (no pickle)."""
    return safetensors.numpy.save({_ADAPTER_KEYS[0]: np.ascontiguousarray(adapter.weight, dtype=_ARRAYS_DTYPE),
                                   _ADAPTER_KEYS[1]: np.ascontiguousarray(adapter.bias, dtype=_ARRAYS_DTYPE)})


def _decode_adapter(data: bytes, record: dict) -> Adapter:
    """The adapter from checked safetensors bytes."""
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise _Invalid("SHA-256 does not match the one the profile records; the file is damaged")
    try:
        tensors = safetensors.numpy.load(data)
    except Exception as error:  # safetensors raises its own error types for malformed headers
        raise _Invalid(f"not a valid safetensors file ({error})") from None
    if sorted(tensors) != sorted(_ADAPTER_KEYS):
        raise _Invalid(f"adapter tensors must be {', '.join(_ADAPTER_KEYS)}, got {', '.join(sorted(tensors))}")
    if any(t.dtype != np.dtype(_ARRAYS_DTYPE) for t in tensors.values()):
        raise _Invalid("adapter tensors must be float32")
    try:
        return Adapter(tensors[_ADAPTER_KEYS[0]], tensors[_ADAPTER_KEYS[1]])
    except ValueError as error:
        raise _Invalid(str(error)) from None


def _decode_arrays(data: bytes, record: dict) -> np.ndarray:
    """The (N, 128) float32 embeddings from checked ``.npy`` bytes (size already checked by the reader)."""
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise _Invalid("SHA-256 does not match the one the profile records; the file is damaged")
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise _Invalid(f"not a valid .npy file ({error})") from None
    if not isinstance(array, np.ndarray) or array.dtype != np.dtype(_ARRAYS_DTYPE):
        raise _Invalid(f"embeddings must be float32 ({_ARRAYS_DTYPE}), got {getattr(array, 'dtype', type(array))}")
    expected = tuple(record["shape"])
    if array.shape != expected:
        raise _Invalid(f"embeddings have shape {array.shape}, the profile records {expected}")
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        rows = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
        raise _Invalid(f"embeddings hold NaN or infinite values (rows {rows})")
    return array.astype(np.float32, copy=False)
