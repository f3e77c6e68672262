"""Reading photos: odd but valid files read correctly, bad files give one clear line naming the file.

Every odd file is made in tmp_path at test time; real photos come from the shared data folder.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from faceid_desktop import images
from faceid_desktop.images import DEFAULT_MAX_PIXELS, ImageError, read_bgr, read_rgb


def _jpeg_bytes(image: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


def _smooth_rgb(height: int = 120, width: int = 160, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(0, 256, (height, width, 3)).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 3)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _blank_bilevel_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit greyscale PNG, built row by row so a huge one costs little memory."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    chunks = [compressor.compress(row * 1000) for _ in range(height // 1000)]
    chunks += [compressor.compress(row * (height % 1000)), compressor.flush()]
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", b"".join(chunks))
        + _png_chunk(b"IEND", b"")
    )


def _expect_error(path: Path, pattern: str, **kwargs) -> str:
    with pytest.raises(ImageError, match=pattern) as caught:
        read_rgb(path, **kwargs)
    message = str(caught.value)
    assert str(path) in message
    assert "\n" not in message
    return message


# --- files that cannot be read -------------------------------------------------------------------------


def test_missing_path(tmp_path):
    _expect_error(tmp_path / "nope.jpg", "no such file")


def test_directory(tmp_path):
    folder = tmp_path / "photos.jpg"
    folder.mkdir()
    _expect_error(folder, "is a folder")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.touch()
    _expect_error(path, r"empty file \(0 bytes\)")


def test_text_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo\n" * 20)
    _expect_error(path, "not an image")


def test_garbage_after_a_jpeg_signature(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    _expect_error(path, "damaged|truncated")


@pytest.mark.parametrize("channels", [1, 3])
def test_float_tiff_is_named_as_such(tmp_path, channels):
    # scientific tools write 32-bit float samples; neither Pillow (3 channels) nor OpenCV's IMREAD_COLOR
    # (1 channel) reads them, and "damaged" alone sent the user looking for a broken copy
    image = _smooth_rgb().astype(np.float32) / 255
    path = tmp_path / "float.tiff"
    assert cv2.imwrite(str(path), image if channels == 3 else image[..., 0])
    _expect_error(path, r"32-bit float samples\); save it as an 8-bit JPEG or PNG$")


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("keep", [0.98, 0.5, 0.05])
def test_truncated_jpeg_is_refused(tmp_path, progressive, keep):
    data = _jpeg_bytes(_smooth_rgb(), progressive=progressive)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * keep)])
    _expect_error(path, "truncated")


def test_jpeg_missing_only_its_end_marker_is_refused(tmp_path):
    data = _jpeg_bytes(_smooth_rgb())
    assert data.endswith(b"\xff\xd9")
    path = tmp_path / "no_eoi.jpg"
    path.write_bytes(data[:-2])
    _expect_error(path, "truncated JPEG")


def test_end_marker_inside_exif_does_not_hide_truncation(tmp_path):
    # an EXIF thumbnail carries its own SOI/EOI pair; only the main image's EOI counts
    exif = b"Exif\x00\x00" + b"\xff\xd8thumbnail\xff\xd9" * 20
    data = _jpeg_bytes(_smooth_rgb(), exif=exif)
    path = tmp_path / "cut_with_thumbnail.jpg"
    path.write_bytes(data[: len(data) * 3 // 4])
    _expect_error(path, "truncated JPEG")
    path.write_bytes(data)
    assert read_rgb(path).shape == (120, 160, 3)


def test_bytes_after_the_end_marker_are_accepted(tmp_path):
    # phones append previews or a motion-photo video after the JPEG's end marker
    rgb = _smooth_rgb()
    path = tmp_path / "motion.jpg"
    path.write_bytes(_jpeg_bytes(rgb) + b"\x00\x00\x00\x18ftypmp42" + bytes(4000))
    assert np.abs(read_rgb(path).astype(int) - rgb).mean() < 3


def test_truncated_png_is_refused(tmp_path):
    ok, encoded = cv2.imencode(".png", _smooth_rgb())
    data = encoded.tobytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    _expect_error(path, "truncated PNG")


def test_truncated_png_prints_nothing_but_our_error(tmp_path, capfd):
    """libpng would print its own "libpng error" line on the C-level stderr before ours (issue 11)."""
    data = cv2.imencode(".png", _smooth_rgb())[1].tobytes()
    for cut in (len(data) - 1, len(data) - 12, 40):
        path = tmp_path / f"cut{cut}.png"
        path.write_bytes(data[:cut])
        _expect_error(path, "truncated PNG")
    assert capfd.readouterr().err == ""


def test_too_many_pixels_is_refused_from_the_header(tmp_path, monkeypatch):
    def decode_is_not_reached(*args):
        raise AssertionError("the pixels were decoded before the size check")

    path = tmp_path / "big.png"
    path.write_bytes(_blank_bilevel_png(8000, 6000))  # 48 MP, above the 40 MP default
    monkeypatch.setattr(images.cv2, "imdecode", decode_is_not_reached)
    _expect_error(path, r"too large \(8000x6000 = 48,000,000 pixels; the limit is 40,000,000\)")

    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.zeros((100, 100, 3), np.uint8))
    _expect_error(small, "too large", max_pixels=9_999)


def test_a_huge_image_is_refused_in_one_line_without_pillow_warnings(tmp_path):
    import warnings

    path = tmp_path / "huge.png"
    path.write_bytes(_blank_bilevel_png(10_000, 10_000))  # above Pillow's own warning level (89 MP)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        _expect_error(path, r"too large \(10000x10000 = 100,000,000 pixels; the limit is 40,000,000\)")


def test_a_20000_pixel_square_png_is_refused_quickly(tmp_path, monkeypatch):
    monkeypatch.setattr(images.cv2, "imdecode", lambda *args: pytest.fail("decoded a 400 MP image"))
    path = tmp_path / "bomb.png"
    path.write_bytes(_blank_bilevel_png(20_000, 20_000))
    assert path.stat().st_size < 2_000_000  # 1.2 GB once decoded to BGR
    start = time.perf_counter()
    _expect_error(path, "too large")
    assert time.perf_counter() - start < 0.5


def test_max_pixels_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="max_pixels"):
        read_rgb(tmp_path / "any.jpg", max_pixels=0)


# --- odd files that must read correctly ----------------------------------------------------------------


def test_greyscale_png(tmp_path):
    grey = np.arange(0, 256, dtype=np.uint8).reshape(16, 16)
    path = tmp_path / "grey.png"
    Image.fromarray(grey, "L").save(path)
    rgb = read_rgb(path)
    assert rgb.shape == (16, 16, 3) and rgb.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], grey)


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    levels = np.array([[0, 255, 256, 1000, 32768, 65280, 65535]], np.uint16)
    expected = (levels >> 8).astype(np.uint8)  # [0, 0, 1, 3, 128, 255, 255]
    grey_path, colour_path = tmp_path / "grey16.png", tmp_path / "colour16.png"
    cv2.imwrite(str(grey_path), levels)
    colour = np.stack([levels, 65535 - levels, levels // 2], axis=-1)  # B, G, R
    cv2.imwrite(str(colour_path), colour)
    assert Image.open(grey_path).mode.startswith("I")  # really a 16-bit file

    grey_rgb = read_rgb(grey_path)
    assert grey_rgb.dtype == np.uint8
    np.testing.assert_array_equal(grey_rgb[..., 0], expected)
    colour_rgb = read_rgb(colour_path)
    np.testing.assert_array_equal(colour_rgb[..., 2], expected)
    np.testing.assert_array_equal(colour_rgb[..., 1], ((65535 - levels) >> 8).astype(np.uint8))
    np.testing.assert_array_equal(colour_rgb[..., 0], ((levels // 2) >> 8).astype(np.uint8))


@pytest.mark.parametrize("mode, depth", [("RGBA", 8), ("LA", 8), ("RGBA", 16)])
def test_transparent_image_is_read_over_white(tmp_path, mode, depth):
    """What a viewer shows is what is read: the colour a transparent area stores (here a hidden face
    would do as well as orange) does not come through."""
    alpha = np.array([0, 64, 128, 255], np.float64)
    colour = np.array([200, 100, 50], np.float64)
    if mode == "LA":
        colour = colour[:1]
    path = tmp_path / f"{mode}{depth}.png"
    if depth == 8:
        pixels = np.zeros((4, 4, len(colour) + 1), np.uint8)
        pixels[..., :-1], pixels[..., -1] = colour, alpha
        Image.fromarray(pixels, mode).save(path)
    else:  # Pillow cannot write 16-bit RGBA: OpenCV can (BGRA order)
        pixels = np.zeros((4, 4, 4), np.uint16)
        pixels[..., :3], pixels[..., 3] = colour[::-1] * 257, alpha * 257
        assert cv2.imwrite(str(path), pixels)
    rgb = read_rgb(path)
    expected = np.rint(colour[None] * alpha[:, None] / 255 + 255 * (1 - alpha[:, None] / 255))
    assert rgb.shape == (4, 4, 3)
    np.testing.assert_allclose(rgb[0].astype(float), np.broadcast_to(expected, (4, 3)), atol=1)


def test_opaque_png_with_alpha_is_unchanged(tmp_path):
    pixels = np.full((4, 4, 4), 255, np.uint8)
    pixels[..., :3] = (200, 100, 50)
    path = tmp_path / "opaque.png"
    Image.fromarray(pixels, "RGBA").save(path)
    assert (read_rgb(path) == (200, 100, 50)).all()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path, orientation):
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:20, :30] = (255, 0, 0)  # red top-left quarter of a landscape frame
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"rotated_{orientation}.jpg"
    Image.fromarray(stored).save(path, "JPEG", quality=95, exif=exif)
    assert Image.open(path).getexif()[0x0112] == orientation

    upright = np.asarray(ImageOps.exif_transpose(Image.open(path)))
    rgb = read_rgb(path)
    assert rgb.shape == upright.shape == ((60, 40, 3) if orientation >= 5 else (40, 60, 3))
    assert np.abs(rgb.astype(int) - upright).mean() < 3


def test_phone_portrait_comes_out_upright(tmp_path):
    # orientation 6: the sensor's landscape frame must be turned 90 degrees clockwise
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:20, :30] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, "JPEG", quality=95, exif=exif)
    rgb = read_rgb(path)
    assert rgb.shape == (60, 40, 3)
    assert rgb[5, 35, 0] > 200 and rgb[5, 5, 0] < 50  # the red quarter moved to the top right


def test_bgr_and_rgb_orders(tmp_path):
    path = tmp_path / "red.png"
    Image.fromarray(np.full((8, 8, 3), (255, 0, 0), np.uint8)).save(path)
    assert tuple(read_rgb(path)[0, 0]) == (255, 0, 0)
    bgr = read_bgr(path)
    assert tuple(bgr[0, 0]) == (0, 0, 255)
    assert bgr.flags.c_contiguous


def test_non_ascii_file_name(tmp_path):
    path = tmp_path / "visage_été_顔.jpg"
    path.write_bytes(_jpeg_bytes(_smooth_rgb()))
    assert read_rgb(path).shape == (120, 160, 3)


def test_default_limit_is_above_real_photos():
    assert DEFAULT_MAX_PIXELS >= 24_000_000


def test_real_seed_photos(shared):
    photos = sorted((shared / "faces" / "seed" / "ME").glob("*.jpg"))
    assert photos
    for path in photos:
        with Image.open(path) as header:
            width, height = ImageOps.exif_transpose(header).size
        rgb = read_rgb(path)
        assert rgb.shape == (height, width, 3) and rgb.dtype == np.uint8
        assert 20 < rgb.mean() < 235
