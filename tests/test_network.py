"""The torch FaceResNet, the reader of dlib's model file, and the weights cache (no face data needed)."""

import os
import stat

import numpy as np
import pytest
import torch

from faceid_desktop.dlib_format import DlibFormatError
from faceid_desktop.dlib_resnet import read_dlib_resnet
from faceid_desktop.model_files import RECOGNITION_MODEL, model_path
from faceid_desktop.network import FaceResNet, add_zero_padded, chips_to_tensor
from faceid_desktop.weights import load_pretrained


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return model_path(RECOGNITION_MODEL).read_bytes()


def test_reader_fills_every_parameter(model_bytes):
    state = read_dlib_resnet(model_bytes)
    network = FaceResNet()
    assert state.keys() == network.state_dict().keys()
    network.load_state_dict(state)  # strict: names and shapes agree
    assert state["fc.weight"].shape == (128, 256)
    assert state["conv1.weight"].shape == (32, 3, 7, 7)
    assert all(torch.isfinite(t).all() for t in state.values())


def test_spatial_sizes_follow_dlib():
    network = FaceResNet().eval()
    sizes = []
    hooks = [u.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:]))) for u in network.units]
    with torch.no_grad():
        out = network(torch.zeros(2, 3, 150, 150))
    for h in hooks:
        h.remove()
    assert out.shape == (2, 128)
    assert sizes[0] == (32, 35, 35)
    assert {s[1] for s in sizes} == {35, 17, 8, 4, 2}
    assert sizes[-1] == (256, 2, 2)


def test_add_zero_padded_anchors_at_zero():
    a = torch.ones(1, 256, 3, 3)
    b = torch.full((1, 128, 4, 4), 2.0)
    out = add_zero_padded(a, b)
    assert out.shape == (1, 256, 4, 4)
    assert out[0, 0, 0, 0] == 3.0  # both present
    assert out[0, 0, 3, 3] == 2.0  # only b has row/column 3
    assert out[0, 200, 0, 0] == 1.0  # only a has channel 200
    assert out[0, 200, 3, 3] == 0.0  # neither


def test_chips_to_tensor_validates():
    x = chips_to_tensor(np.full((150, 150, 3), 128, np.uint8))
    assert x.shape == (1, 3, 150, 150) and x.dtype == torch.float32
    assert x[0, 0, 0, 0].item() == pytest.approx((128 - 122.782) / 256, abs=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        chips_to_tensor(np.zeros((1, 150, 150, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        chips_to_tensor(np.zeros((1, 100, 100, 3), np.uint8))


def test_truncated_file_names_offset(model_bytes):
    with pytest.raises(DlibFormatError, match=r"truncated.*byte offset \d+"):
        read_dlib_resnet(model_bytes[: len(model_bytes) // 2], "half.dat")


def test_foreign_architecture_is_refused(model_bytes):
    swapped = model_bytes.replace(b"max_pool_2", b"avg_pool_2", 1)
    with pytest.raises(DlibFormatError, match="expected 'max_pool_2', found 'avg_pool_2'"):
        read_dlib_resnet(swapped)
    with pytest.raises(DlibFormatError, match="unexpected bytes after the last layer"):
        read_dlib_resnet(model_bytes + b"\x01\x00")
    with pytest.raises(DlibFormatError, match="metric loss"):
        read_dlib_resnet(model_bytes.replace(b"loss_metric_2", b"loss_mmod_22", 1))


def test_other_files_are_refused(tmp_path):
    landmarks = model_path("shape_predictor_5_face_landmarks.dat").read_bytes()
    with pytest.raises(DlibFormatError):
        read_dlib_resnet(landmarks)
    with pytest.raises(DlibFormatError):
        read_dlib_resnet(b"")


def test_weights_are_cached_and_a_damaged_cache_is_replaced(tmp_path):
    network, model_id = load_pretrained(tmp_path)
    cached = list(tmp_path.glob("face_resnet_*.safetensors"))
    assert len(cached) == 1 and model_id[:16] in cached[0].name
    assert not network.training
    reference = network.state_dict()["fc.weight"].clone()

    cached[0].write_bytes(b"garbage")
    again, same_id = load_pretrained(tmp_path)
    assert same_id == model_id
    torch.testing.assert_close(again.state_dict()["fc.weight"], reference, rtol=0, atol=0)
    assert cached[0].stat().st_size > 1000  # rewritten
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_a_cache_others_could_write_or_from_other_weights_is_not_trusted(tmp_path):
    from safetensors.torch import save_file

    network, model_id = load_pretrained(tmp_path)
    reference = network.state_dict()["fc.weight"].clone()
    [cached] = tmp_path.glob("face_resnet_*.safetensors")
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    # A network with every weight zeroed (it would map every face to one point: anyone unlocks).
    zeroed = {k: torch.zeros_like(v) for k, v in network.state_dict().items()}
    for metadata, mode in (({"source_sha256": model_id}, 0o666), ({"source_sha256": "0" * 64}, 0o600)):
        save_file(zeroed, cached, metadata=metadata)
        os.chmod(cached, mode)
        again, _ = load_pretrained(tmp_path)
        torch.testing.assert_close(again.state_dict()["fc.weight"], reference, rtol=0, atol=0)
