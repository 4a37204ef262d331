"""The Python API: encode/decode round trip, plain JPEGs, models, tiling."""

import io

import numpy as np
import pytest
from PIL import Image

import codec
from codec.errors import CodecError
from codec.format.container import read_meta
from codec.format.jpeg import cond_vector, decode_jpeg
from codec.regen.infer import regenerate
from codec.registry import DEFAULT_MODEL, find_model

from .conftest import jpeg_bytes


def test_encode_writes_metadata_and_a_readable_jpeg(photo):
    data = codec.encode(photo, quality=30)
    meta = read_meta(data)
    m = find_model(DEFAULT_MODEL)
    assert (meta.mode, meta.model_id) == ("regen", m.id)
    assert len(meta.model_sha256) == 16 and m.sha256.startswith(meta.model_sha256)
    assert (meta.width, meta.height) == (photo.shape[1], photo.shape[0])
    assert meta.encoder_version == codec.__version__
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG" and im.size == (photo.shape[1], photo.shape[0])


@pytest.mark.parametrize("kind", ["path", "bytes", "pil", "array"])
def test_encode_accepts_every_input_kind(kind, photo, png_file):
    src = {"path": png_file, "bytes": png_file.read_bytes(), "pil": Image.fromarray(photo),
           "array": photo}[kind]
    assert codec.encode(src, quality=50) == codec.encode(photo, quality=50)


def test_decode_restores_original_size(odd_photo):
    out = codec.decode(codec.encode(odd_photo, quality=20), device="cpu")
    assert isinstance(out, Image.Image) and out.mode == "RGB"
    assert out.size == (odd_photo.shape[1], odd_photo.shape[0])


def test_plain_jpeg_decodes_with_default_model_and_says_so(photo):
    with pytest.warns(codec.CodecWarning, match="default model"):
        out = codec.decode(jpeg_bytes(photo, 30), device="cpu")
    assert out.size == (photo.shape[1], photo.shape[0])


def test_grayscale_jpeg_from_elsewhere_decodes(photo):
    gray = jpeg_bytes(np.asarray(Image.fromarray(photo).convert("L")), 30)
    with pytest.warns(codec.CodecWarning):
        assert codec.decode(gray, device="cpu").mode == "L"  # one component in, one out


def test_load_model_and_unknown_model():
    net = codec.load_model(DEFAULT_MODEL)
    assert not net.training
    with pytest.raises(CodecError, match="not installed.*models import"):
        codec.load_model("no-such-model")


def test_cuda_request_without_gpu_is_a_clear_error(photo):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(CodecError, match="no CUDA GPU"):
        codec.decode(codec.encode(photo), device="cuda")


@pytest.mark.parametrize("device", [None, 0, "tpu"])
def test_unknown_device_is_a_clear_error(photo, device):
    """device=None failed with "'NoneType' object has no attribute 'startswith'"."""
    data = codec.encode(photo, fit=False, mode="regen")
    with pytest.raises(CodecError, match="unknown device"):
        codec.decode(data, device=device)
    with pytest.raises(CodecError, match="unknown device"):
        codec.load_model(device=device)


def test_tiled_equals_untiled_within_one(photo):
    """An image larger than one tile: tiles with context + blending match a single pass."""
    from skimage import data

    img = np.ascontiguousarray(data.astronaut()[:300, :270])
    coded, info = decode_jpeg(codec.encode(img, quality=15))
    net = codec.load_model(DEFAULT_MODEL)
    whole = regenerate(net, coded, cond_vector(info), tile=4096)
    tiled = regenerate(net, coded, cond_vector(info), tile=128)
    assert tiled.shape == whole.shape == img.shape
    assert np.abs(tiled.astype(int) - whole).max() <= 1
    assert not np.array_equal(whole, coded)  # the network did change the picture


def test_icc_profile_survives_encode_and_decode(photo):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "PNG", icc_profile=icc)
    assert codec.decode(codec.encode(buf.getvalue())).info["icc_profile"] == icc


def test_info_reports_quality_and_metadata(photo):
    i = codec.info(codec.encode(photo, quality=35, subsampling="4:4:4"))
    assert abs(i.estimated_quality - 35) <= 1 and i.subsampling == "4:4:4"
    assert i.quality == 35  # exact: the file names the table set that made its tables
    assert i.metadata["model_id"] == DEFAULT_MODEL and i.width == photo.shape[1]


def test_info_quality_is_exact_for_named_sets_only(photo):
    from tests.conftest import jpeg_bytes

    for q in (1, 7, 50, 93, 100):
        assert codec.info(codec.encode(photo, quality=q, mode="regen")).quality == q
    std = codec.info(codec.encode(photo, quality=30, mode="regen", tables="standard"))
    assert std.quality is None and abs(std.estimated_quality - 30) <= 1
    plain = codec.info(jpeg_bytes(photo, 60))
    assert plain.quality is None and plain.metadata is None and abs(plain.estimated_quality - 60) <= 1


def test_format_1_file_decodes_like_format_2(photo):
    """A file written by encoder 0.1.0 (JSON segment, full sha256) restores as it always did."""
    import json
    import struct
    from dataclasses import asdict

    from codec.format.container import APP_MARKER, SIGNATURE, strip_meta

    data = codec.encode(photo, quality=30, mode="regen")
    fields = asdict(read_meta(data))
    fields.update(format_version=1, encoder_version="0.1.0",
                  model_sha256=find_model(fields["model_id"]).sha256)
    payload = SIGNATURE + json.dumps(fields, separators=(",", ":")).encode()
    plain = strip_meta(data)
    old = plain[:2] + bytes([0xFF, APP_MARKER]) + struct.pack(">H", len(payload) + 2) + payload + plain[2:]
    assert read_meta(old).format_version == 1 and len(old) - len(data) > 150
    assert np.array_equal(np.asarray(codec.decode(old, device="cpu")),
                          np.asarray(codec.decode(data, device="cpu")))


@pytest.mark.parametrize("quality", [40.5, 40.0, True, "40", None, float("nan")])
def test_encode_refuses_a_quality_that_is_not_an_integer(photo, quality):
    """40.5 was silently coded as 40 (True as 1); "40", None and nan failed deep inside."""
    with pytest.raises(TypeError, match="quality must be an integer from 1 to 100"):
        codec.encode(photo, quality=quality, mode="regen", fit=False)


def test_encode_takes_numpy_integer_qualities(photo):
    assert codec.encode(photo, quality=np.int64(40), fit=False) == codec.encode(photo, 40, fit=False)


def test_decode_plain_takes_a_path_like_decode_and_info(photo, tmp_path):
    """decode_plain("x.jpg") raised 'string argument without an encoding', and a Path was
    read as the bytes of its own name."""
    data = codec.encode(photo, fit=False, mode="regen")
    (tmp_path / "x.jpg").write_bytes(data)
    want = codec.decode_plain(data)
    for p in (str(tmp_path / "x.jpg"), tmp_path / "x.jpg"):
        assert np.array_equal(codec.decode_plain(p), want)
    with pytest.raises(CodecError, match="no such file"):
        codec.decode_plain(tmp_path / "missing.jpg")


@pytest.mark.parametrize("fn", [codec.decode, codec.info, codec.decode_plain])
@pytest.mark.parametrize("bad", [5, None, [1, 2], np.zeros((4, 4, 3), np.uint8)])
def test_decoders_refuse_inputs_that_are_neither_bytes_nor_paths(fn, bad):
    """bytes(5), bytes([1, 2]) and an array's buffer were read as a JPEG ('not a JPEG file')."""
    with pytest.raises(TypeError, match="expected a file's path or its bytes, got"):
        fn(bad)


def test_decode_refuses_a_model_of_another_kind(photo):
    """A comrec RecCNN ran on a regen file (worse than the plain decode), a ComCNN failed
    inside torch, a regen network ran on a comrec file: each is now a one-line error."""
    regen = codec.encode(photo, quality=40, mode="regen", fit=False)
    for model in ("comrec-r7", "comrec-r7-com"):
        with pytest.raises(CodecError, match=f"model '{model}' is a .* model; this regen-mode"):
            codec.decode(regen, device="cpu", model=model)
    comrec = codec.encode(photo, quality=10, mode="comrec")
    with pytest.raises(CodecError, match="needs a comrec model"):
        codec.decode(comrec, device="cpu", model=DEFAULT_MODEL)
