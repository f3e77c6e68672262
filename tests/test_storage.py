"""ProfileStore: round trip, layout and permissions, every corruption refused in one line, crash safety.

Everything happens under tmp_path; no test touches the user's real data directory.
"""

from __future__ import annotations

import hashlib
import io
import json
import dataclasses
import os
import signal
import stat
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from faceid_desktop import storage
from faceid_desktop.profile import Adapter, DecisionSettings, Profile, Template, check_name
from faceid_desktop.storage import ProfileError, ProfileStore, default_data_dir

MODEL = "ab" * 32


def make_profile(name: str = "alice", version: int = 1, rows: int = 3, model_id: str = MODEL) -> Profile:
    """A profile whose content (embeddings, metadata, settings) differs from version to version."""
    rng = np.random.default_rng(version)
    templates = tuple(
        Template(
            embedding=(rng.standard_normal(128) * 0.1).astype(np.float32),
            captured_at=1.7e9 + 100.0 * version + i + 0.123456789,
            source=f"/home/u/Café/{version}_{i}.jpg#t={i * 0.04:.2f}",
            quality=0.5 + 0.125 * (i % 4),
        )
        for i in range(rows)
    )
    settings = DecisionSettings(threshold=0.4 + version / 100, alpha=0.15, frames_to_accept=3, window=7, timeout=2.5)
    return Profile(name, model_id, templates, settings, created_at=1.7e9 + 0.5, updated_at=1.7e9 + version)


def assert_same(loaded: Profile, expected: Profile) -> None:
    assert (loaded.name, loaded.model_id) == (expected.name, expected.model_id)
    assert (loaded.created_at, loaded.updated_at) == (expected.created_at, expected.updated_at)
    assert loaded.settings == expected.settings
    assert [(t.captured_at, t.source, t.quality) for t in loaded.templates] == [
        (t.captured_at, t.source, t.quality) for t in expected.templates
    ]
    assert loaded.embeddings.dtype == np.float32 and loaded.embeddings.shape == (len(expected.templates), 128)
    assert loaded.embeddings.tobytes() == expected.embeddings.tobytes()  # bit-exact


@pytest.fixture
def store(tmp_path: Path) -> ProfileStore:
    return ProfileStore(tmp_path / "data")


@pytest.fixture
def saved(store: ProfileStore) -> ProfileStore:
    store.save(make_profile())
    return store


def json_path(store: ProfileStore, name: str = "alice") -> Path:
    return store.directory / f"{name}.json"


def arrays_path(store: ProfileStore, name: str = "alice") -> Path:
    return store.directory / json.loads(json_path(store, name).read_text())["files"]["embeddings"]["file"]


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes() if p.is_file() else b"", p.lstat().st_mode) for p in directory.iterdir()}


def refused(store: ProfileStore, *fragments: str, name: str = "alice", model_id: str | None = None) -> str:
    """Assert that load fails with one line holding ``fragments`` and leaves the directory untouched."""
    before = snapshot(store.directory)
    with pytest.raises(ProfileError) as info:
        store.load(name, model_id)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert snapshot(store.directory) == before  # load never deletes, rewrites or repairs
    return message


def edit_json(store: ProfileStore, change) -> None:
    path = json_path(store)
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=2))


def replace_arrays(store: ProfileStore, array: np.ndarray) -> None:
    """Swap in other embeddings with a consistent record (name, hash, size), as a buggy writer would."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)  # object arrays get pickled: load must refuse them
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    arrays_path(store).unlink()
    fd = os.open(store.directory / f"alice.{digest[:16]}.npy", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)

    def change(doc):
        doc["files"]["embeddings"].update(file=f"alice.{digest[:16]}.npy", sha256=digest, size=len(data))

    edit_json(store, change)


# ---------------------------------------------------------------------- round trip and layout


def test_round_trip_is_exact(store):
    profile = make_profile()
    store.save(profile)
    assert_same(store.load("alice"), profile)
    assert_same(store.load("alice", model_id=MODEL), profile)


def test_layout_and_json_content(saved):
    doc = json.loads(json_path(saved).read_text())
    record = doc["files"]["embeddings"]
    data = arrays_path(saved).read_bytes()
    assert sorted(os.listdir(saved.directory)) == sorted(["alice.json", record["file"]])
    assert record == {
        "file": f"alice.{hashlib.sha256(data).hexdigest()[:16]}.npy",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "dtype": "<f4",
        "shape": [3, 128],
    }
    assert doc["schema"] == 2 and doc["name"] == "alice" and doc["model_id"] == MODEL
    assert doc["settings"] == vars(make_profile().settings)
    assert [t["quality"] for t in doc["templates"]] == [0.5, 0.625, 0.75]
    assert np.load(arrays_path(saved), allow_pickle=False).dtype == np.dtype("<f4")


def test_save_replaces_and_deletes_unreferenced_files(saved):
    old_arrays = arrays_path(saved)
    second = make_profile(version=2, rows=5)
    saved.save(second)
    assert_same(saved.load("alice"), second)
    assert not old_arrays.exists()
    assert sorted(os.listdir(saved.directory)) == sorted(["alice.json", arrays_path(saved).name])


def test_settings_only_change_keeps_one_arrays_file(saved):
    saved.save(make_profile().with_settings(threshold=0.3))
    assert saved.load("alice").settings.threshold == 0.3
    assert len(os.listdir(saved.directory)) == 2


def test_empty_profile_and_float64_embeddings(store):
    store.save(Profile("empty", MODEL, ()))
    assert store.load("empty").embeddings.shape == (0, 128)
    values = np.linspace(-1, 1, 128)  # float64: stored as float32, as Profile.embeddings does
    store.save(Profile("wide", MODEL, (Template(values, 1.0, "camera:0", 1.0),)))
    assert store.load("wide").embeddings.tobytes() == values.astype(np.float32).tobytes()


def raw_template(embedding, captured_at, source, quality):
    """A Template that skips its own validation, to check that save() refuses what it could not store."""
    template = object.__new__(Template)
    for key, value in dict(embedding=embedding, captured_at=captured_at, source=source, quality=quality).items():
        object.__setattr__(template, key, value)
    return template


@pytest.mark.parametrize(
    "template, fragment",
    [
        (raw_template(np.full(128, np.nan, np.float32), 1.0, "x", 0.5), "NaN or infinite"),
        (raw_template(np.full(128, 1e39), 1.0, "x", 0.5), "NaN or infinite"),  # overflows float32
        (raw_template(np.zeros(127, np.float32), 1.0, "x", 0.5), "(128,) float array"),
        (raw_template(np.zeros(128, np.int32), 1.0, "x", 0.5), "(128,) float array"),
        (raw_template(np.zeros(128, np.float32), float("inf"), "x", 0.5), "captured_at' must be finite"),
        (raw_template(np.zeros(128, np.float32), 1.0, Path("x"), 0.5), "source' must be a string"),
        (raw_template(np.zeros(128, np.float32), 1.0, "x", 1.5), "quality' must be in [0, 1]"),
    ],
)
def test_save_refuses_what_it_could_not_store_faithfully(store, template, fragment):
    with pytest.raises(ValueError, match="cannot save profile 'bob'") as info:
        store.save(Profile("bob", MODEL, (template,)))
    assert fragment in str(info.value)
    assert store.names() == []


def test_names_exists_remove(store):
    assert store.names() == [] and not store.exists("alice")  # nothing created yet
    for name in ("bob", "alice", "a.0123456789abcdef", "a"):
        store.save(make_profile(name))
    for stray in (".alice.0123456789abcdef.tmp", "notes.txt", "alice.fedcba9876543210.npy", ".hidden.json"):
        (store.directory / stray).write_text("x")
    assert store.names() == ["a", "a.0123456789abcdef", "alice", "bob"]
    assert store.exists("bob") and not store.exists("carol")

    store.remove("alice")
    assert store.names() == ["a", "a.0123456789abcdef", "bob"] and not store.exists("alice")
    assert not [n for n in os.listdir(store.directory) if n.startswith(("alice", ".alice"))]
    assert sorted(os.listdir(store.directory)).count("notes.txt") == 1
    refused(store, "unknown profile 'alice'", "existing profiles: a, a.0123456789abcdef, bob")
    with pytest.raises(ProfileError, match="unknown profile 'alice'"):
        store.remove("alice")
    for name in ("a", "a.0123456789abcdef", "bob"):  # prefixes of each other's file names, yet untouched
        assert_same(store.load(name), make_profile(name))


def test_unknown_profile_message(store):
    with pytest.raises(ProfileError, match=r"unknown profile 'carol' \(no .*carol\.json\); no profile is enrolled"):
        store.load("carol")
    with pytest.raises(ProfileError, match="unknown profile 'carol'"):
        store.remove("carol")


def test_model_id_mismatch(saved):
    """A profile of the older face model (dlib's ResNet): refused with what to do, kept, and replaceable."""
    from faceid_desktop.storage import OutdatedProfileError

    message = refused(saved, model_id="cd" * 32)
    assert message == ("profile alice was made with an older face model: enroll again (faceid enroll alice "
                       "PHOTOS... replaces it; until then it is kept as it is)")
    files = sorted(os.listdir(saved.directory))
    with pytest.raises(OutdatedProfileError):
        saved.update("alice", lambda current: current, model_id="cd" * 32)
    assert sorted(os.listdir(saved.directory)) == files  # nothing deleted or written
    seen = []

    def enroll_again(current):
        seen.append(current)
        return dataclasses.replace(make_profile("alice"), model_id="cd" * 32)

    saved.update("alice", enroll_again, model_id="cd" * 32, replace_outdated=True)
    assert seen == [None] and saved.load("alice", "cd" * 32).model_id == "cd" * 32


@pytest.mark.parametrize("name", ["../x", "a/b", "", "x" * 65, ".hidden", "a b", "e\u0301", "\u212b", "a\u200db",
                                  "\U00020000" * 64])
def test_invalid_names(store, name):
    for call in (store.load, store.exists, store.remove):
        with pytest.raises(ValueError, match="invalid profile name"):
            call(name)
    with pytest.raises(ValueError, match="invalid profile name"):
        make_profile(name)


@pytest.mark.parametrize("name", ["José", "Zoë", "李雷", "Ωμέγα_2"])
def test_names_in_any_script(store, name):
    store.save(make_profile(name))
    assert store.names() == [name] and store.load(name).name == name and store.exists(name)
    assert (store.directory / f"{name}.json").is_file()
    store.remove(name)
    assert store.names() == []


def test_a_name_differing_only_in_case_is_refused_lookups_stay_exact(store):
    store.save(make_profile("me"))
    for name in ("ME", "Me"):
        with pytest.raises(ProfileError, match="^a profile named 'me' already exists"):
            store.save(make_profile(name))
        with pytest.raises(ProfileError, match="^a profile named 'me' already exists"):
            store.update(name, lambda current: make_profile(name))
    store.save(make_profile("José"))
    with pytest.raises(ProfileError, match="^a profile named 'José' already exists"):
        store.check_new_name("JOSÉ")
    assert store.names() == ["José", "me"]
    store.save(make_profile("me", version=2))  # the profile itself is changed as before
    assert store.load("me").settings.threshold == make_profile("me", version=2).settings.threshold
    with pytest.raises(ProfileError, match="unknown profile 'ME'"):
        store.load("ME")


def test_a_combining_accent_is_refused_with_its_reason():
    with pytest.raises(ValueError, match="one character each"):
        check_name("Jose\u0301")  # looks like "José" (NFC), which is accepted


def test_longest_name(store):
    store.save(make_profile("x" * 64))
    assert store.names() == ["x" * 64]


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEID_HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home"
    assert ProfileStore().directory == tmp_path / "home" / "profiles"
    monkeypatch.delenv("FACEID_HOME")
    monkeypatch.setattr(storage.platformdirs, "user_data_dir", lambda app: str(tmp_path / "xdg" / app))
    assert ProfileStore().directory == tmp_path / "xdg" / "faceid-desktop" / "profiles"
    assert ProfileStore(tmp_path / "cli").directory == tmp_path / "cli" / "profiles"


# ---------------------------------------------------------------------- permissions


def test_files_and_directories_are_private_whatever_the_umask(store):
    old = os.umask(0)
    try:
        store.save(make_profile())
        store.save(make_profile(version=2))
    finally:
        os.umask(old)
    for path in (store.root, store.directory):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in store.directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_face_data_readable_by_others_is_made_private_again(saved):
    """Files an older version (or a chmod by hand) left readable by group or others are tightened when read."""
    loosened = [saved.directory] + list(saved.directory.iterdir())
    for path in loosened + [saved.root]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert_same(saved.load("alice"), make_profile())
    for path in loosened:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert stat.S_IMODE(saved.root.stat().st_mode) == 0o755  # the data directory may be a folder the user chose


def test_group_writable_directory_refused(saved):
    saved.directory.chmod(0o770)
    refused(saved, str(saved.directory), "writable by group or others", f"chmod 700 {saved.directory}")
    with pytest.raises(ProfileError, match="chmod 700"):
        saved.save(make_profile(version=2))
    saved.directory.chmod(0o700)
    assert_same(saved.load("alice"), make_profile())


@pytest.mark.parametrize("which", ["json", "arrays"])
@pytest.mark.parametrize("mode", [0o620, 0o602])
def test_group_or_world_writable_file_refused(saved, which, mode):
    path = json_path(saved) if which == "json" else arrays_path(saved)
    path.chmod(mode)
    refused(saved, str(path), "writable by group or others", f"chmod 600 {path}")


def test_symlinked_profile_file_refused(saved, tmp_path):
    target = tmp_path / "elsewhere.json"
    json_path(saved).rename(target)
    json_path(saved).symlink_to(target)
    refused(saved, "symbolic link")


# ---------------------------------------------------------------------- corruption


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(doc):
        for key in keys[:-1]:
            doc = doc[key]
        doc[keys[-1]] = value

    return change


def _delete(key):
    return lambda doc: doc.pop(key)


def _edit_hash_tail(doc):
    # Only the tail, so that the file name (which holds the hash's first 16 digits) still matches.
    record = doc["files"]["embeddings"]
    record["sha256"] = record["sha256"][:-1] + ("1" if record["sha256"][-1] == "0" else "0")


JSON_EDITS = {
    "schema 3": (_set("schema", 3), ["schema version 3 is not supported", "newer FaceID Desktop"]),
    "schema 0": (_set("schema", 0), ["schema version 0 is not supported"]),
    "schema string": (_set("schema", "1"), ["'schema' must be an integer, got string '1'"]),
    "no schema": (_delete("schema"), ["no 'schema' field"]),
    "missing field": (_delete("model_id"), ["missing field 'model_id'"]),
    "extra field": (_set("colour", "blue"), ["unexpected field 'colour'"]),
    "name differs": (_set("name", "bob"), ["field 'name' is 'bob'", "'alice'"]),
    "empty model_id": (_set("model_id", ""), ["'model_id' is empty"]),
    "created_at type": (_set("created_at", "yesterday"), ["'created_at' must be a number, got string"]),
    "updated_at bool": (_set("updated_at", True), ["'updated_at' must be a number, got boolean"]),
    "window string": (_set("settings", "window", "5"), ["'settings.window' must be an integer"]),
    "frames float": (_set("settings", "frames_to_accept", 2.0), ["'settings.frames_to_accept' must be an integer"]),
    "settings missing": (lambda d: d["settings"].pop("alpha"), ["missing field 'settings.alpha'"]),
    "settings not object": (_set("settings", [0.5]), ["'settings' must be an object, got array"]),
    "threshold NaN": (_set("settings", "threshold", float("nan")), ["NaN is not a number JSON allows"]),
    "threshold range": (_set("settings", "threshold", 7.0), ["settings out of range", "threshold"]),
    "frames > window": (_set("settings", "frames_to_accept", 9), ["settings out of range", "frames_to_accept"]),
    "quality null": (_set("templates", 0, "quality", None), ["'templates[0].quality' must be a number, got null"]),
    "quality range": (_set("templates", 2, "quality", 1.5), ["'templates[2].quality' must be in [0, 1]"]),
    "source type": (_set("templates", 1, "source", 7), ["'templates[1].source' must be a string"]),
    "template extra": (_set("templates", 0, "pose", 3), ["unexpected field 'templates[0].pose'"]),
    "templates type": (_set("templates", {}), ["'templates' must be an array"]),
    "fewer templates": (lambda d: d["templates"].pop(), ["2 templates", "(3, 128)"]),
    "shape edited": (_set("files", "embeddings", "shape", [3, 64]), ["recorded as shape (3, 64)"]),
    "extra file role": (_set("files", "weights", {}), ["unexpected field 'files.weights'"]),
    "hash not hex": (_set("files", "embeddings", "sha256", "x" * 64), ["64 lowercase hex"]),
    "file outside": (_set("files", "embeddings", "file", "../../etc/passwd"), ["'files.embeddings.file' must be"]),
    "dtype edited": (_set("files", "embeddings", "dtype", "<f8"), ["'files.embeddings.dtype' must be '<f4'"]),
    "size type": (_set("files", "embeddings", "size", "1664"), ["'files.embeddings.size' must be an integer"]),
    "hash edited": (_edit_hash_tail, ["SHA-256 does not match", ".npy"]),
    "empty object": (lambda d: d.clear(), ["no 'schema' field"]),
    "all but schema": (lambda d: [d.pop(k) for k in list(d) if k != "schema"], ["missing fields 'name', 'model_id'"]),
}


@pytest.mark.parametrize("case", list(JSON_EDITS))
def test_hand_edited_json_refused(saved, case):
    change, fragments = JSON_EDITS[case]
    edit_json(saved, change)
    refused(saved, *fragments)


@pytest.mark.parametrize(
    "content, fragment",
    [
        (None, "truncated JSON"),  # None: the first half of the real file
        (b"", "empty file"),
        (b"{not json}", "invalid JSON"),
        (b"\x00\xff\xfegarbage", "not UTF-8"),
        (b'{"schema": 1, "name": "ali', "truncated JSON"),
        (b"[1, 2, 3]", "top level must be an object"),
        (b'{"schema": 1} trailing', "invalid JSON"),
    ],
)
def test_damaged_json_refused(saved, content, fragment):
    path = json_path(saved)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2] if content is None else content)
    message = refused(saved, fragment)
    assert message.startswith(f"{path}: ")


def test_missing_arrays_file_refused(saved):
    path = arrays_path(saved)
    path.unlink()
    refused(saved, str(path), "is missing", "faceid profiles remove alice")


def test_truncated_arrays_file_refused(saved):
    path = arrays_path(saved)
    path.write_bytes(path.read_bytes()[:1000])
    refused(saved, str(path), "1000 bytes", "(truncated)")


def test_damaged_arrays_file_refused(saved):
    path = arrays_path(saved)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # one flipped bit in the last embedding
    path.write_bytes(bytes(data))
    refused(saved, str(path), "SHA-256 does not match")


@pytest.mark.parametrize(
    "array, fragments",
    [
        (np.where(np.arange(3)[:, None] == 1, np.nan, np.zeros((3, 128))).astype(np.float32), ["NaN", "rows 1"]),
        (np.full((3, 128), np.inf, np.float32), ["NaN or infinite", "rows 0, 1, 2"]),
        (np.zeros((3, 128), np.float64), ["must be float32"]),
        (np.zeros((3, 128), ">f4"), ["must be float32"]),
        (np.zeros((3, 64), np.float32), ["shape (3, 64)", "(3, 128)"]),
        (np.zeros((3, 128), object), ["not a valid .npy file"]),
    ],
)
def test_bad_arrays_with_consistent_record_refused(saved, array, fragments):
    replace_arrays(saved, array)
    refused(saved, *fragments)


@pytest.mark.parametrize("scale, fragment", [(0.0, "rows 0, 1, 2: length 0"), (5.0, "rows 0, 1, 2: length 5")])
def test_templates_that_are_not_unit_length_are_refused(saved, scale, fragment):
    """A hand-made zero (or scaled) file matched nothing and enroll --add appended to it."""
    rows = np.random.default_rng(0).standard_normal((3, 128))
    replace_arrays(saved, (scale * rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32))
    refused(saved, "not unit length", fragment, "enroll again", model_id=MODEL)
    saved.load("alice")  # without a model to check against (profiles show): read as it is


# ---------------------------------------------------------------------- concurrency and crashes


def test_lock_timeout(saved, monkeypatch):
    import fcntl

    monkeypatch.setattr(storage, "_LOCK_TIMEOUT", 0.05)
    fd = os.open(saved.directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(ProfileError, match="locked by another FaceID Desktop process"):
            saved.load("alice")
    finally:
        os.close(fd)
    saved.load("alice")


def test_concurrent_saves_and_loads(saved):
    versions = {v: make_profile(version=v) for v in range(1, 5)}
    errors: list[BaseException] = []

    def writer(v):
        try:
            for _ in range(8):
                saved.save(versions[v])
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    def reader():
        try:
            for _ in range(30):
                loaded = saved.load("alice")
                assert loaded.updated_at in {p.updated_at for p in versions.values()}
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(v,)) for v in versions] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    final = saved.load("alice")
    assert_same(final, versions[int(final.updated_at - 1.7e9)])
    assert len(os.listdir(saved.directory)) == 2


def _save_killed_at(root: Path, profile: Profile, func: str, k: int) -> int:
    """Save ``profile`` in a child process that SIGKILLs itself at its k-th call of ``os.<func>``.

    The child is forked (no fresh interpreter to start: keeps the test fast) and patches only its own ``os``.
    Returns 0 when the save completed, else the signal that ended the child.
    """
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            real, calls = getattr(os, func), [0]

            def dying(*args, **kwargs):
                calls[0] += 1
                if calls[0] == k:
                    if func == "write":  # leave a half-written temporary file behind
                        real(args[0], bytes(args[1])[: len(args[1]) // 2])
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*args, **kwargs)

            setattr(os, func, dying)
            ProfileStore(root).save(profile)
        except BaseException:  # noqa: BLE001 - reported through the exit status
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return os.WTERMSIG(status)
    assert os.WEXITSTATUS(status) == 0, "the save failed in the child (traceback above)"
    return 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_killed_mid_save_leaves_old_or_new_version(tmp_path):
    v1, v2, v3 = make_profile(version=1), make_profile(version=2, rows=4), make_profile(version=3)
    seen = {1: 0, 2: 0}
    for func in ("write", "fsync", "replace", "unlink"):
        for k in range(1, 20):
            store = ProfileStore(tmp_path / f"{func}{k}")
            store.save(v1)
            store.save(make_profile("bob"))
            killed_by = _save_killed_at(store.root, v2, func, k)
            assert killed_by in (0, signal.SIGKILL)
            loaded = store.load("alice", model_id=MODEL)  # never an error
            expected = v1 if loaded.updated_at == v1.updated_at else v2
            assert_same(loaded, expected)
            assert store.names() == ["alice", "bob"]
            if not killed_by:
                assert expected is v2
                assert len(os.listdir(store.directory)) == 4  # nothing left over
                break
            seen[1 if expected is v1 else 2] += 1
            store.save(v3)  # cleans up what the crash left
            assert_same(store.load("alice"), v3)
            alice_files = sorted(n for n in os.listdir(store.directory) if "alice" in n)
            assert alice_files == sorted(["alice.json", arrays_path(store).name])
            assert_same(store.load("bob"), make_profile("bob"))
        else:
            pytest.fail(f"save never completed with os.{func} patched")
    assert seen[1] and seen[2], seen  # both sides of the commit point were hit


# ---------------------------------------------------------------------- schema 2: rule, adapter, schema 1


def make_adapter(seed: int = 0) -> Adapter:
    rng = np.random.default_rng(seed)
    return Adapter(np.eye(128, dtype=np.float32) + rng.standard_normal((128, 128)).astype(np.float32) * 0.01,
                   rng.standard_normal(128).astype(np.float32) * 0.01)


def adapter_path(store: ProfileStore, name: str = "alice") -> Path:
    return store.directory / json.loads(json_path(store, name).read_text())["files"]["adapter"]["file"]


def test_rule_and_adapter_round_trip(store):
    profile = replace(make_profile(), adapter=make_adapter(), settings=DecisionSettings(rule="alpha", alpha=0.1))
    store.save(profile)
    loaded = store.load("alice")
    assert loaded.settings == profile.settings
    assert loaded.adapter.weight.tobytes() == profile.adapter.weight.tobytes()
    assert loaded.adapter.bias.tobytes() == profile.adapter.bias.tobytes()
    assert adapter_path(store).suffix == ".safetensors" and stat.S_IMODE(adapter_path(store).stat().st_mode) == 0o600
    store.save(replace(loaded, adapter=None))  # dropping the adapter deletes its file
    assert store.load("alice").adapter is None
    assert not any(p.suffix == ".safetensors" for p in store.directory.iterdir())


def test_damaged_adapter_refused(store):
    store.save(replace(make_profile(), adapter=make_adapter()))
    path = adapter_path(store)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert "SHA-256 does not match" in refused(store)
    path.unlink()
    assert "adapter file of profile 'alice' is missing" in refused(store)


def test_unknown_rule_refused(saved):
    edit_json(saved, lambda d: d["settings"].__setitem__("rule", "coin toss"))
    assert "settings out of range: rule must be one of threshold, alpha" in refused(saved)


def test_schema1_profile_is_read_and_its_threshold_rescaled(saved):
    def to_schema1(doc):
        doc["schema"] = 1
        del doc["settings"]["rule"]
        doc["settings"]["threshold"] = 0.43
    edit_json(saved, to_schema1)
    loaded = saved.load("alice")
    assert loaded.settings.rule == "threshold"
    assert loaded.settings.threshold == pytest.approx(0.43 * storage.SCHEMA1_THRESHOLD_SCALE, abs=1e-4)
    assert loaded.settings.threshold == pytest.approx(0.31, abs=0.01)  # the same operating point
    saved.save(loaded)
    assert json.loads(json_path(saved).read_text())["schema"] == storage.SCHEMA


# ---------------------------------------------------------------------- issue 11: untrusted files


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to another user (chown)")
@pytest.mark.parametrize("what", ["directory", "json", "arrays"])
def test_foreign_owned_profile_is_refused(saved, what):
    """Another user's profile directory or files (their face as ours, 0644 or 0700) are never trusted."""
    targets = {"directory": [saved.directory], "json": [json_path(saved)], "arrays": [arrays_path(saved)]}[what]
    if what == "directory":
        targets += list(saved.directory.iterdir())
    for path in targets:
        os.chown(path, 65534, 65534)
        if path.is_file():
            path.chmod(0o644)
    message = refused(saved, "owned by", "not by you", "chown")
    assert str(targets[0]) in message


def test_a_folder_above_the_data_directory_that_others_can_write_is_refused(tmp_path):
    """Not only the parent: whoever can rename an entry of a grandparent can move the branch away and put
    one of the owner's older data directories (a looser threshold, no lock-out state) in its place."""
    store = ProfileStore(tmp_path / "shared" / "mine" / "data")
    store.save(make_profile())
    (tmp_path / "shared").chmod(0o777)
    refused(store, str(tmp_path / "shared"), "writable by group or others", "chmod go-w")
    (tmp_path / "shared").chmod(0o1777)  # sticky, like /tmp: only an entry's owner may rename it
    assert_same(store.load("alice"), make_profile())


def test_open_data_directory_is_refused(saved):
    saved.root.chmod(0o777)
    refused(saved, str(saved.root), "writable by group or others", "chmod 700")
    saved.root.chmod(0o700)
    assert_same(saved.load("alice"), make_profile())


@pytest.mark.parametrize("which", ["json", "arrays"])
def test_fifo_in_place_of_a_profile_file_is_refused_at_once(saved, which):
    path = json_path(saved) if which == "json" else arrays_path(saved)
    path.unlink()
    os.mkfifo(path, 0o600)
    start = time.monotonic()
    refused(saved, str(path), "FIFO, not a regular file")
    assert time.monotonic() - start < 1


def test_arrays_replaced_by_a_directory_is_one_clear_line(saved):
    path = arrays_path(saved)
    path.unlink()
    path.mkdir()
    message = refused(saved, str(path), "a directory, not a regular file")
    assert "Is a directory" not in message


def test_deeply_nested_json_is_invalid_not_a_crash(saved):
    json_path(saved).write_bytes(b"[" * 100_000)
    refused(saved, "nested too deeply")


@pytest.mark.parametrize("name", ["alice\n", "alice\r", "alice ", "\nalice"])
def test_a_trailing_newline_is_not_a_second_name(store, name):
    with pytest.raises(ValueError, match="invalid profile name"):
        check_name(name)
    with pytest.raises(ValueError, match="invalid profile name"):
        store.save(make_profile(name=name))


def test_remove_with_a_directory_in_place_of_a_file(saved):
    json_file = json_path(saved)
    arrays = arrays_path(saved)
    arrays.unlink()
    arrays.mkdir()  # in place of the embeddings: the profile is still removed, the directory left
    saved.remove("alice")
    assert not json_file.exists() and "alice" not in saved.names()
    json_file.mkdir()  # in place of the JSON file: one line, nothing removed
    with pytest.raises(ProfileError, match="a directory, not a profile file; nothing removed"):
        saved.remove("alice")
    assert json_file.is_dir()
    assert saved.names() == ["alice"]  # listed, as exists() says, so that show and remove can name the problem


def test_update_existing_does_not_bring_back_a_removed_profile(saved):
    changed = saved.update_existing("alice", lambda current: current.with_settings(threshold=0.8))
    assert changed.settings.threshold == 0.8
    saved.remove("alice")
    with pytest.raises(ProfileError, match="removed meanwhile; nothing written"):
        saved.update_existing("alice", lambda current: current.with_settings(threshold=0.9))
    assert saved.names() == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_missing_parents_are_made_private_whatever_the_umask(tmp_path):
    store = ProfileStore(tmp_path / "a" / "b" / "data")
    old = os.umask(0)  # a umask of 000 once made the parents 0777, and the save then refused them
    try:
        store.save(make_profile())
    finally:
        os.umask(old)
    for path in (tmp_path / "a", tmp_path / "a" / "b", store.root, store.directory):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert store.names() == ["alice"]


def test_a_very_long_name_is_not_echoed_whole():
    with pytest.raises(ValueError, match=r"\.\.\. \(300 characters\)") as info:
        check_name("a" * 300)
    assert len(str(info.value)) < 200


def test_a_new_name_that_passes_for_another_is_refused(saved):
    with pytest.raises(ProfileError, match="differ only in case"):
        saved.save(make_profile(name="ALICE"))
    with pytest.raises(ProfileError, match="mixes letters of several scripts .CYRILLIC, LATIN."):
        saved.save(make_profile(name="\u0430lice"))  # a Cyrillic "a"
    saved.save(make_profile(name="\u0430\u043b\u0438\u0441\u0430"))  # all Cyrillic ("Alisa"): one script
    saved.save(make_profile(name="jos\u00e9_2"))  # accents, digits and '_' are not another script
    assert saved.names() == ["alice", "josé_2", "алиса"]


def test_a_full_disk_leaves_the_old_profile_and_no_stray_file(store, monkeypatch):
    """Found by a newcomer on a 12 KB tmpfs: `enroll --add` failed with "[Errno 28] No space left on device"
    and left the new embeddings file behind, referenced by nothing."""
    import errno

    old = make_profile("alice", version=1)
    store.save(old)
    files = sorted(os.listdir(store.directory))
    write = ProfileStore._write_atomically

    def full(self, name, target, data, dir_fd):
        if target.endswith(".json"):  # the embeddings went in; the disk fills up on the profile file
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(self, name, target, data, dir_fd)

    monkeypatch.setattr(ProfileStore, "_write_atomically", full)
    with pytest.raises(ProfileError, match="disk is full; profile 'alice' was not saved"):
        store.save(make_profile("alice", version=2, rows=5))
    assert sorted(os.listdir(store.directory)) == files
    assert_same(store.load("alice"), old)
