"""``faceid-desktop`` (and ``python -m faceid_desktop`` without a CLI command): open the desktop app."""

from __future__ import annotations

import argparse
import os
import signal
import re
import sys
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .. import __version__
from ..arguments import OneLineParser, directory

# OpenCV and FFmpeg would log a warning for every missing camera or unreadable file; the window says it in
# one line instead. Set before OpenCV is first imported (the core imports it lazily from here on).
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``faceid-desktop``."""
    parser = OneLineParser(
        prog="faceid-desktop", description="FaceID Desktop: enroll your face, unlock with it, tune the threshold.")
    parser.add_argument("--camera", default=None, metavar="SPEC",
                        help="camera index (default: the last one used, else 0; when that one does not work, a "
                        "camera that does), a video file or a folder of photos (files play in real time and loop; "
                        "remembered as an absolute path); the window's Camera box chooses too")
    parser.add_argument("--profile", metavar="NAME", help="profile to select at start")
    parser.add_argument("--screen", choices=("enroll", "unlock", "tune"), help="screen to show at start")
    parser.add_argument("--data-dir", type=directory, metavar="DIR",
                        help="where profiles and settings are kept (default: $FACEID_HOME, else the user data directory)")
    parser.add_argument("--fullscreen", action="store_true", help="start in full-screen mode")
    parser.add_argument("--on-unlock", metavar="COMMAND", help="command to run (without a shell) on each unlock")
    parser.add_argument("--theme", choices=("auto", "light", "dark"), default="auto", help="light or dark look")
    parser.add_argument("--captures", type=int, default=15, metavar="N", help="faces captured when enrolling (default 15)")
    parser.add_argument("--training-steps", type=int, default=100, metavar="N",
                        help="training steps in the enrollment wizard (0 skips training)")
    parser.add_argument("--version", action="version", version=f"faceid-desktop {__version__}")
    return parser


#: Printed (to stderr, exit code 2) when there is no display to open a window on.
NO_DISPLAY = ("faceid-desktop: no display found (DISPLAY and WAYLAND_DISPLAY are unset): start it from a "
              "desktop session, or over SSH with X forwarding (ssh -X); without a screen use the faceid "
              "command (faceid --help)")

#: The X11 libraries Qt's xcb platform plugin loads that minimal Linux installs lack, each with its
#: Debian/Ubuntu and Fedora package: without them Qt aborts ("xcb-cursor0 or libxcb-cursor0 is needed").
X11_LIBRARIES = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
}


def _loadable(soname: str) -> bool:
    import ctypes

    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_libraries(environ: Mapping[str, str] | None = None, platform: str | None = None,
                      loadable: Callable[[str], bool] | None = None) -> str | None:
    """One line naming the system packages to install when Qt's X11 plugin would abort for want of a
    library, or None (not Linux, not X11, or nothing missing)."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    plugin = environ.get("QT_QPA_PLATFORM", "").split(":", 1)[0].strip().lower()
    # Qt picks Wayland by itself in a Wayland session; only an X11 start needs these
    if plugin and plugin != "xcb" or not plugin and environ.get("WAYLAND_DISPLAY"):
        return None
    loadable = loadable or _loadable
    missing = [packages for soname, packages in X11_LIBRARIES.items() if not loadable(soname)]
    if not missing:
        return None
    debian = " ".join(dict.fromkeys(p[0] for p in missing))
    fedora = " ".join(dict.fromkeys(p[1] for p in missing))
    return (f"faceid-desktop: the window needs system libraries that are missing; install them with "
            f"'sudo apt install {debian}' (Debian, Ubuntu) or 'sudo dnf install {fedora}' (Fedora)")


def has_display(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """False when Qt would abort for want of a display: on Linux and other X11/Wayland systems, no
    ``DISPLAY`` and no ``WAYLAND_DISPLAY`` while ``QT_QPA_PLATFORM`` is unset or asks for ``xcb`` or
    ``wayland``. Other platform plugins (offscreen, vnc, eglfs, ...) and macOS and Windows need no check."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform.startswith(("win", "darwin")) or platform == "cygwin":
        return True
    plugin = environ.get("QT_QPA_PLATFORM", "").split(":", 1)[0].strip().lower()
    # Qt accepts a ';'-separated list of plugins to try; only X11 and Wayland ones need a display
    wanted = {p.strip() for p in plugin.split(";") if p.strip()}
    if wanted and not wanted <= {"xcb", "wayland", "wayland-egl"}:
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def unknown_platform(environ: Mapping[str, str] | None = None, plugin_dir: Path | None = None) -> str | None:
    """One line when ``QT_QPA_PLATFORM`` names no platform plugin that Qt has, or None.

    Qt aborts the process (a core dump, exit code 134) after listing the plugins it has, so the names are
    checked first against the plugin files of the Qt the app runs on (``libq<name>.so``, ``q<name>.dll``,
    ``libq<name>.dylib``; the Wayland plugin also answers to ``wayland-*``). Skipped when
    ``QT_QPA_PLATFORM_PLUGIN_PATH`` points Qt at plugins of its own.
    """
    environ = os.environ if environ is None else environ
    wanted = [p.strip() for p in environ.get("QT_QPA_PLATFORM", "").split(":", 1)[0].split(";") if p.strip()]
    if not wanted or environ.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        return None
    if plugin_dir is None:
        from PySide6.QtCore import QLibraryInfo

        plugin_dir = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    try:
        names = {re.sub(r"^(lib)?q", "", f.name.split(".")[0]) for f in plugin_dir.iterdir() if f.is_file()}
    except OSError:
        return None  # a Qt laid out differently: let Qt itself judge
    if not names or any(w.lower() in names or w.lower().startswith("wayland") and "wayland" in names
                        for w in wanted):
        return None
    return (f"faceid-desktop: QT_QPA_PLATFORM={environ['QT_QPA_PLATFORM'].strip()[:40]!r} names no Qt platform "
            f"plugin; unset it, or choose one of: {', '.join(sorted(names))}")


def binding_problem() -> str | None:
    """One line saying why the installed Qt binding would crash the app, or None when it is sound.

    PySide6 6.12.0 loses references when Python emits a signal: one to ``True`` per emit, and references
    to the arguments of emits queued to another thread (seen with ``None``). The camera threads emit several
    signals per frame, so on Python 3.11, where ``True`` and ``None`` are ordinary counted objects (they are
    immortal from 3.12 on), a count reaches zero within minutes and Python aborts ("bool_dealloc:
    deallocating True or False", or "none_dealloc"). Measured, not read off the version number, so a fixed
    build passes.
    """
    if sys.version_info >= (3, 12):
        return None
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    emits = 64
    before = sys.getrefcount(True)
    for _ in range(emits):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    if lost < emits // 2:  # other threads may move the count a little; the bug loses one per emit
        return None
    import ctypes

    for _ in range(lost):  # give back what the probe took, or Python would abort at exit instead
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
    return (f"faceid-desktop: PySide6 {pyside_version} has a reference-count bug that would crash the app on "
            f"Python {sys.version_info.major}.{sys.version_info.minor}; install a tested version: "
            "pip install 'PySide6-Essentials>=6.6,<6.12'")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app; returns the exit code (2 with one line on stderr when the arguments are wrong or there is
    no display: Qt would otherwise abort with a core dump)."""
    args = build_parser().parse_args(argv)
    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        return 2
    if args.captures < 2:
        print("faceid-desktop: --captures must be at least 2", file=sys.stderr)
        return 2
    if args.training_steps < 0:
        print("faceid-desktop: --training-steps must be 0 or more", file=sys.stderr)
        return 2
    from ..threads import configure_threads, prepare_environment

    prepare_environment()
    try:
        configure_threads()
    except ValueError as error:
        print(f"faceid-desktop: {error}", file=sys.stderr)
        return 2

    problem = unknown_platform() or missing_libraries() or binding_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2

    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from ..camera import SourceError, check_source
    from ..camera_list import absolute_spec
    from ..storage import ProfileStore, default_data_dir
    from ..training import TrainingConfig
    from .camera_worker import CameraHub
    from .enroll_wizard import WizardOptions
    from .errors import ExceptionGuard
    from .main_window import MainWindow
    from .settings import AppSettings, SettingsError
    from .theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("FaceID Desktop")
    app.setOrganizationName("faceid-desktop")
    app.setDesktopFileName("faceid-desktop")
    apply_theme(app, args.theme)
    data_dir = args.data_dir or default_data_dir()
    try:
        settings = AppSettings(data_dir / "gui.ini")
    except SettingsError as error:
        print(f"faceid-desktop: {error}", file=sys.stderr)
        return 2
    try:
        # stored absolute: a relative clip given today must still be found when started from elsewhere
        if args.camera:  # as typed (the error names it so); what can be judged without opening it
            check_source(args.camera)  # a bad value is never remembered
        spec = absolute_spec(args.camera) if args.camera else (settings.camera or "0")
    except (ValueError, SourceError) as error:
        print(f"faceid-desktop: --camera: {error}", file=sys.stderr)
        return 2
    store = ProfileStore(data_dir)
    if args.profile:
        try:
            known = store.exists(args.profile)
        except (OSError, ValueError) as error:
            print(f"faceid-desktop: --profile: {error}", file=sys.stderr)
            return 2
        if not known:
            names = ", ".join(store.names()) or "none yet"
            print(f"faceid-desktop: --profile: no profile named {args.profile!r} (profiles: {names})", file=sys.stderr)
            return 2
        settings.profile = args.profile
    if args.screen:
        settings.screen = args.screen
    options = WizardOptions(target=args.captures, training=TrainingConfig(steps=max(1, args.training_steps)),
                            train=args.training_steps > 0)
    hub = CameraHub(spec)
    window = MainWindow(hub, store, settings, options, on_unlock=args.on_unlock, camera_fallback=not args.camera)
    if args.camera:
        window.remember_once_open(spec)  # not before: a camera that cannot be opened is never remembered

    def show_error(text: str) -> None:
        window.show_message(text)
        box = QMessageBox(QMessageBox.Icon.Warning, "FaceID Desktop", text, QMessageBox.StandardButton.Ok, window)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # Ctrl-C and SIGTERM close the window as its close button does (threads stopped, settings saved). Python
    # runs signal handlers only between bytecodes, so a timer gives it a moment while Qt's loop waits.
    previous = {signum: signal.signal(signum, lambda *_: window.close()) for signum in (signal.SIGINT, signal.SIGTERM)}
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(200)
    try:
        with ExceptionGuard(show_error):
            if args.fullscreen:
                window.showFullScreen()
            else:
                window.show()
            return app.exec()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
