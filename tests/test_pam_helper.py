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


def fake_loginctl(tmp_path: Path, remote: str = "no", kind: str = "wayland", leader: int | str = "",
                  code: int = 0) -> Path:
    """A stand-in for systemd's loginctl: answers `show-session ID -p ...` with what logind would know of
    the session (Remote, Type, Leader) and logs the session asked about."""
    script = tmp_path / "loginctl"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$2" > "{tmp_path / "loginctl.log"}"\n'
                      f'[ {code} -eq 0 ] || exit {code}\n'
                      f'printf "Remote=%s\\nType=%s\\nLeader=%s\\n" "{remote}" "{kind}" "{leader}"\n')
    script.chmod(0o755)
    return script


def helper_env(tmp_path: Path, faceid: Path | None, with_profile: bool = True,
               **overrides: str | None) -> dict[str, str]:
    """pam_exec's variables for a local sudo by the current user (logind: a local wayland session), plus
    ``overrides`` (None removes a variable)."""
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
    if not (tmp_path / "loginctl").exists():
        fake_loginctl(tmp_path)
    env["FACEID_LOGINCTL"] = str(tmp_path / "loginctl")
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_helper(tmp_path: Path, faceid: Path | None, with_profile: bool = True,
               **overrides: str | None) -> subprocess.CompletedProcess:
    """Run the helper as pam_exec would (see :func:`helper_env`)."""
    env = helper_env(tmp_path, faceid, with_profile, **overrides)
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


# --- issue 11: remoteness from logind, not from the process tree ------------------------------------------


def _detached_from_fake_sshd(tmp_path: Path, env: dict[str, str]) -> int:
    """Run the helper the way `setsid -f sudo ...` typed in an SSH session does: started by a process named
    sshd, then detached into a new session, so that no sshd is among its ancestors. Returns its exit code."""
    if shutil.which("setsid") is None:
        pytest.skip("needs util-linux setsid")
    sshd = tmp_path / "sshd"  # a shell under the SSH server's name: its /proc/PID/comm is "sshd"
    shutil.copy("/bin/sh", sshd)
    rc = tmp_path / "rc"
    inner = f'/bin/sh "{HELPER}"; echo $? > "{rc}.tmp"; mv "{rc}.tmp" "{rc}"'
    subprocess.run([str(sshd), "-c", f"setsid -f /bin/sh -c '{inner}'"], env=env, timeout=30, check=True)
    deadline = time.monotonic() + 20
    while not rc.exists():
        assert time.monotonic() < deadline, "the detached helper did not finish"
        time.sleep(0.05)
    return int(rc.read_text())


@needs_local
def test_a_detached_command_of_an_ssh_session_is_refused(tmp_path):
    """The attack: `setsid -f sudo ...` in an SSH session while the owner sits at the camera. logind knows
    the session is remote, whatever the process tree says."""
    fake_loginctl(tmp_path, remote="yes", kind="tty")
    assert _detached_from_fake_sshd(tmp_path, helper_env(tmp_path, fake_faceid(tmp_path, 0))) != 0
    assert logged(tmp_path) is None
    assert (tmp_path / "loginctl.log").exists()  # logind was asked


@needs_local
def test_a_detached_command_of_a_local_session_still_works(tmp_path):
    fake_loginctl(tmp_path, remote="no", kind="wayland")
    assert _detached_from_fake_sshd(tmp_path, helper_env(tmp_path, fake_faceid(tmp_path, 0))) == 0
    assert logged(tmp_path) is not None


@needs_local
def test_a_session_led_by_sshd_is_refused(tmp_path):
    sshd = tmp_path / "sshd"
    shutil.copy("/bin/sleep", sshd)
    leader = subprocess.Popen([str(sshd), "30"])
    try:
        fake_loginctl(tmp_path, remote="no", kind="tty", leader=leader.pid)
        result = run_helper(tmp_path, fake_faceid(tmp_path, 0), FACEID_PAM_DEBUG="1")
    finally:
        leader.kill()
        leader.wait()
    assert result.returncode != 0 and "opened by sshd" in result.stderr
    assert logged(tmp_path) is None


@pytest.mark.parametrize("answer", [
    {"code": 1},  # no session for this process (cron, a system service, a container without logind)
    {"remote": ""},  # logind does not say
    {"kind": "unspecified"},
    {"kind": "web"},
], ids=lambda a: ",".join(f"{k}={v}" for k, v in a.items()))
def test_an_unknown_session_fails_closed(tmp_path, answer):
    fake_loginctl(tmp_path, **answer)
    assert run_helper(tmp_path, fake_faceid(tmp_path, 0)).returncode != 0
    assert logged(tmp_path) is None


def test_no_loginctl_fails_closed(tmp_path):
    result = run_helper(tmp_path, fake_faceid(tmp_path, 0), FACEID_LOGINCTL=str(tmp_path / "absent"),
                        FACEID_PAM_DEBUG="1")
    assert result.returncode != 0 and "cannot tell whether the session is local" in result.stderr
    assert logged(tmp_path) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="the ownership check applies when the helper runs as root")
def test_root_refuses_a_loginctl_others_can_write(tmp_path):
    fake_loginctl(tmp_path).chmod(0o777)
    assert run_helper(tmp_path, fake_faceid(tmp_path, 0)).returncode != 0
    assert logged(tmp_path) is None
