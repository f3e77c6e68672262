#!/bin/sh
# Build the one-folder bundle (faceid + faceid-desktop) with PyInstaller.
# Usage: packaging/pyinstaller/build.sh VENV OUT
#   VENV: a venv with FaceID Desktop's dependencies (pip install -e . in the repo); PyInstaller is added if missing.
#   OUT:  the bundle lands in OUT/dist/faceid; OUT/build keeps PyInstaller's work files (faster rebuilds).
# Outside the repo by design: a build tree inside it would be picked up by tests and git.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 VENV OUT" >&2
    exit 2
fi
venv=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
py="$venv/bin/python"
[ -x "$py" ] || { echo "$0: $py not found" >&2; exit 2; }

# Fail before the long analysis when the venv cannot run the app anyway.
"$py" -c "import torch, torchvision, dlib, cv2, PySide6.QtWidgets, pyqtgraph, platformdirs, safetensors" || {
    echo "$0: $venv lacks FaceID Desktop's dependencies (pip install -e . in the repo)" >&2
    exit 2
}
# The bundle carries whatever the venv holds: refuse versions other than the tested ones
# (pip install -c packaging/constraints.txt -e . makes a matching venv); FACEID_ALLOW_UNTESTED=1 overrides.
if [ "${FACEID_ALLOW_UNTESTED:-0}" != 1 ]; then
    "$py" - "$here/../constraints.txt" <<'EOF' || exit 2
import sys
from importlib.metadata import PackageNotFoundError, version
wrong = []
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if "==" not in line:
        continue
    name, wanted = (part.strip() for part in line.split("==", 1))
    try:
        have = version(name)
    except PackageNotFoundError:
        continue  # not installed: a test-only package, or one this platform does not need
    if have != wanted:
        wrong.append(f"{name} {have} (tested: {wanted})")
if wrong:
    print("build.sh: untested versions in the venv: " + ", ".join(wrong)
          + "; pip install -c packaging/constraints.txt -e . (or FACEID_ALLOW_UNTESTED=1)", file=sys.stderr)
    sys.exit(1)
EOF
fi
"$py" -m PyInstaller --version >/dev/null 2>&1 || "$py" -m pip install --quiet pyinstaller

if "$py" -c "import sys, torch; sys.exit(0 if torch.version.cuda else 1)"; then
    # PyPI's Linux torch wheel links CUDA (libtorch_cuda.so needs cudnn, cublas, nccl, ...), so all of it is
    # carried even though the app runs on the CPU; a CPU-only torch build in VENV makes the bundle far smaller.
    echo "$0: note: torch in $venv is a CUDA build: the bundle will carry its CUDA libraries (several GB)" >&2
fi

mkdir -p "$out"
start=$(date +%s)
"$py" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$out/dist" --workpath "$out/build" "$here/faceid.spec"
end=$(date +%s)
echo "built $out/dist/faceid in $((end - start)) s, $(du -sh "$out/dist/faceid" | cut -f1)"
