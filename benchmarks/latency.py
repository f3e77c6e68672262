"""Per-stage latency of the face pipeline on 640x480 frames, our torch embedding beside dlib's.

Frames are made from the real photos in the shared data folder (seed and fr-examples): each photo is
scaled and centred into a 640x480 canvas and JPEG-encoded, as a webcam frame would arrive. Every stage is
timed on every frame, ``--repeats`` times, and the median in milliseconds is printed. Torch and OpenCV run
on ``--threads`` threads (2 by default, a laptop's share).

    python benchmarks/latency.py [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import cv2
import dlib
import numpy as np
import torch

from faceid_desktop.alignment import face_chip
from faceid_desktop.datasets import data_dir
from faceid_desktop.detection import FaceDetector
from faceid_desktop.embedding import Embedder
from faceid_desktop.images import IMAGE_SUFFIXES, read_rgb
from faceid_desktop.model_files import RECOGNITION_MODEL, model_path


def make_frames(root: Path, width: int = 640, height: int = 480) -> list[bytes]:
    """JPEG-encoded width x height BGR frames, one per photo in seed/ and fr-examples/."""
    photos = sorted(
        p for folder in ("seed", "fr-examples") for p in (root / "faces" / folder).rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
    )
    frames = []
    for path in photos:
        image = read_rgb(path)
        scale = min(width / image.shape[1], height / image.shape[0])
        resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        canvas = np.zeros((height, width, 3), np.uint8)
        top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
        canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        frames.append(jpeg.tobytes())
    return frames


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, (time.perf_counter() - start) * 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="passes over all frames (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="torch/OpenCV threads (default 2)")
    args = parser.parse_args(argv)

    root = data_dir()
    if root is None:
        print("latency: shared data folder not found (set FACEID_DATA)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)

    frames = make_frames(root)
    detector = FaceDetector()
    embedder = Embedder.pretrained()
    oracle = dlib.face_recognition_model_v1(str(model_path(RECOGNITION_MODEL)))
    stages = ["decode", "detect (HOG, 320 rows)", "landmarks (5 points)", "chip (ours)", "chip (dlib get_face_chip)",
              "embed (ours, torch)", "embed (dlib)"]
    times: dict[str, list[float]] = {s: [] for s in stages}
    faces_seen = 0

    embedder.embed(np.zeros((1, 150, 150, 3), np.uint8))  # warm-up: first-call allocations
    for _ in range(args.repeats):
        for jpeg in frames:
            raw = np.frombuffer(jpeg, np.uint8)
            image, ms = timed(lambda b: cv2.cvtColor(cv2.imdecode(b, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB), raw)
            times["decode"].append(ms)
            boxes, ms = timed(detector.boxes, image)
            times["detect (HOG, 320 rows)"].append(ms)
            if not boxes:
                continue
            faces_seen += 1
            box = boxes[0][0]
            points, ms = timed(detector.landmarks, image, box)
            times["landmarks (5 points)"].append(ms)
            chip, ms = timed(face_chip, image, points)
            times["chip (ours)"].append(ms)
            shape = dlib.full_object_detection(dlib.rectangle(*box), [dlib.point(int(x), int(y)) for x, y in points])
            _, ms = timed(dlib.get_face_chip, image, shape, 150, 0.25)
            times["chip (dlib get_face_chip)"].append(ms)
            _, ms = timed(embedder.embed, chip[None])
            times["embed (ours, torch)"].append(ms)
            _, ms = timed(oracle.compute_face_descriptor, chip)
            times["embed (dlib)"].append(ms)

    print(f"Latency per 640x480 frame, median of {args.repeats} passes over {len(frames)} frames "
          f"({faces_seen // args.repeats} with a face), {args.threads} threads, torch {torch.__version__}, "
          f"dlib {dlib.__version__}")
    print(f"{'stage':<28}{'median ms':>10}{'p90 ms':>10}")
    for stage in stages:
        values = times[stage]
        if values:
            p90 = float(np.percentile(values, 90))
            print(f"{stage:<28}{statistics.median(values):>10.2f}{p90:>10.2f}")
    ours = sum(statistics.median(times[s]) for s in stages if "dlib" not in s)
    theirs = sum(statistics.median(times[s]) for s in stages if "ours" not in s)
    print(f"{'total (ours)':<28}{ours:>10.2f}")
    print(f"{'total (dlib embedding)':<28}{theirs:>10.2f}")
    parameters = sum(p.numel() for p in embedder.network.parameters())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(f"network: {parameters / 1e6:.2f} M parameters ({parameters * 4 / 2**20:.1f} MiB float32); "
          f"peak resident memory of this process {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
