"""packaging/pam/pam-faceid, driven the way pam_exec drives it, against a fake `faceid`.

The helper guards sudo and login, so what matters is that it fails closed: success only when faceid itself
succeeded for the right user, and non-zero on every refusal, error or hang (PAM then asks for the password).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import pytest

HELPER = Path(__file__).resolve().parents[1] / "packaging" / "pam" / "pam-faceid"

pytestmark = [
    pytest.mark.skipif(not Path("/bin/sh").exists(), reason="the PAM helper is a /bin/sh script; no /bin/sh here"),
    pytest.mark.skipif(shutil.which("timeout") is None, reason="the PAM helper needs coreutils' timeout"),
]


def _under_ssh() -> bool:
    """Whether these tests run inside an SSH session, where the helper rightly refuses everything."""
    pid = os.getpid()
    while pid > 1:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False
        if comm in {"sshd", "sshd-session", "sshd-auth", "dropbear", "mosh-server"}:
            return True
        pid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
    return False


needs_local = pytest.mark.skipif(_under_ssh(), reason="running inside an SSH session: the helper refuses by design")
USER = pwd.getpwuid(os.getuid()).pw_name


def fake_faceid(tmp_path: Path, code: int = 0, sleep: float = 0) -> Path:
    """A stand-in for faceid that logs its uid and arguments, then sleeps and exits with ``code``.

    Values are written into the script because the helper runs faceid with an emptied environment.
    """
    log = tmp_path / "faceid.log"
    script = tmp_path / "faceid"
    script.write_text(f'#!/bin/sh\n{{ id -u; printf "%s\\n" "$@"; }} > "{log}"\nsleep {sleep}\nexit {code}\n')
    script.chmod(0o755)
    return script


def run_helper(tmp_path: Path, faceid: Path | None, with_profile: bool = True,
               **overrides: str | None) -> subprocess.CompletedProcess:
    """Run the helper with pam_exec's variables for a local sudo by the current user, plus ``overrides``
    (None removes a variable)."""
    data = tmp_path / "data"
    (data / "profiles").mkdir(parents=True, exist_ok=True)
    if with_profile:
        (data / "profiles" / f"{USER}.json").write_text("{}")
    env = {
        "PATH": "/usr/bin:/bin",
        "PAM_TYPE": "auth",
        "PAM_USER": USER,
        "PAM_SERVICE": "sudo",
        "PAM_TTY": "/dev/pts/0",
        "FACEID_BIN": str(faceid) if faceid else str(tmp_path / "absent"),
        "FACEID_DATA_DIR": str(data),
        "FACEID_TIMEOUT": "3",
        "FACEID_WALL_LIMIT": "10",
    }
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(["/bin/sh", str(HELPER)], env=env, capture_output=True, text=True, timeout=30)


def logged(tmp_path: Path) -> list[str] | None:
    """The fake's log: [uid, args...], or None when the fake never ran."""
    log = tmp_path / "faceid.log"
    return log.read_text().splitlines() if log.exists() else None


@needs_local
def test_success_only_when_faceid_succeeds_as_the_user(tmp_path):
    result = run_helper(tmp_path, fake_faceid(tmp_path, 0))
    assert result.returncode == 0, result.stderr
    uid, *args = logged(tmp_path)
    assert int(uid) == os.getuid()  # as root: dropped to PAM_USER, which is root here; else run directly
    assert args == ["auth", "--profile", USER, "--timeout", "3", "--data-dir", str(tmp_path / "data")]


@needs_local
def test_camera_is_passed_when_configured(tmp_path):
    assert run_helper(tmp_path, fake_faceid(tmp_path, 0), FACEID_CAMERA="/dev/video2").returncode == 0
    assert logged(tmp_path)[-2:] == ["--camera", "/dev/video2"]


@needs_local
def test_localhost_is_not_remote(tmp_path):
    assert run_helper(tmp_path, fake_faceid(tmp_path, 0), PAM_RHOST="localhost").returncode == 0


@pytest.mark.parametrize("code", [1, 2, 3, 124])
def test_faceid_failure_falls_back(tmp_path, code):
    result = run_helper(tmp_path, fake_faceid(tmp_path, code))
    assert result.returncode != 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"PAM_TYPE": "account"},
        {"PAM_TYPE": "password"},
        {"PAM_TYPE": None},
        {"PAM_RHOST": "10.0.0.5"},
        {"SSH_CONNECTION": "10.0.0.5 50000 10.0.0.1 22"},
        {"SSH_CLIENT": "10.0.0.5 50000 22"},
        {"PAM_TTY": "ssh"},
        {"PAM_USER": None},
        {"PAM_USER": "-rf"},
        {"PAM_USER": "../etc"},
        {"FACEID_TIMEOUT": "soon"},
        {"FACEID_WALL_LIMIT": "0"},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_refused_without_running_faceid(tmp_path, overrides):
    result = run_helper(tmp_path, fake_faceid(tmp_path, 0), **overrides)
    assert result.returncode != 0
    assert logged(tmp_path) is None


def test_user_without_profile_is_refused(tmp_path):
    assert run_helper(tmp_path, fake_faceid(tmp_path, 0), with_profile=False).returncode != 0
    assert logged(tmp_path) is None


def test_missing_or_relative_faceid_is_refused(tmp_path):
    assert run_helper(tmp_path, None).returncode != 0
    assert run_helper(tmp_path, None, FACEID_BIN="faceid").returncode != 0


@pytest.mark.skipif(os.geteuid() != 0, reason="the ownership check applies when the helper runs as root")
def test_root_refuses_a_faceid_others_can_write(tmp_path):
    faceid = fake_faceid(tmp_path, 0)
    faceid.chmod(0o777)
    assert run_helper(tmp_path, faceid).returncode != 0
    assert logged(tmp_path) is None


@needs_local
def test_hanging_faceid_is_cut_off(tmp_path):
    start = time.monotonic()
    result = run_helper(tmp_path, fake_faceid(tmp_path, 0, sleep=30), FACEID_WALL_LIMIT="1")
    assert result.returncode != 0
    assert time.monotonic() - start < 8
