"""Consistency with the file: pull the restored picture's DCT coefficients back into the
quantization intervals of the coefficients the JPEG stores.

The source's coefficients lie in those intervals, so projecting onto them (a convex set) can only
bring the network's output closer to the source in each component's DCT domain. Each interval is
narrowed around the stored value by `interval_fraction` of its quantization step: where steps are
fine, the small network's own guess is worth less than the stored value (held-out crops,
bench/tune_consistency.py). One torch implementation serves decoding (in strips of MCU rows, so
memory stays bounded) and training (differentiable, `train regen --consistency`).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..format.transforms import DCT, RGB2YCC, YCC2RGB
from ..io.chatter import captured_stderr, library_message
from ..io.imageio import CodecWarning

# interval kept = min(1, A * step**B) of the quantization step; fitted on held-out crops, not Kodak
# (0.4, 0.2 until 0.3.0; 0.2, 0.4 was best for regen-fast-proj and for regen-coarse2:
# bench/results/consistency-grid2.json, consistency-coarse2.json)
FRACTION_A, FRACTION_B = 0.2, 0.4
STRIP_MCUS = 16  # MCU rows converted at a time when decoding


def interval_fraction(step: np.ndarray | torch.Tensor):
    """The share of each quantization interval (step `step`) that the projection keeps."""
    return (FRACTION_A * step ** FRACTION_B).clip(max=1.0)


@dataclass
class Coefficients:
    """The quantized DCT coefficients of a 3-component YCbCr JPEG, as libjpeg reads them."""

    blocks: list[np.ndarray]  # per component: (block rows, block cols, 8, 8) int16, natural order
    qtables: list[np.ndarray]  # per component: 8x8 quantization table
    factors: list[tuple[int, int]]  # per component: (vertical, horizontal) downsampling factor
    size: tuple[int, int]  # width, height of the picture


def read_coefficients(data: bytes) -> Coefficients | None:
    """The file's coefficients (via jpeglib), or None where projection does not apply
    (grayscale, CMYK or RGB-coded JPEGs, or a file libjpeg cannot read: a warning says why,
    in place of what libjpeg prints on stderr and of the temporary file's name)."""
    import jpeglib  # loads libjpeg builds at import: only when coefficients are read

    path, said = None, []
    try:  # jpeglib reads files only; a full or missing temp dir skips the step, like a bad file
        fd, path = tempfile.mkstemp(suffix=".jpg")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        with captured_stderr() as said:
            try:
                return coefficients_of(jpeglib.read_dct(path))
            except Exception as e:  # noqa: BLE001 - jpeglib raises several types
                failure: Exception = e
    except OSError as e:
        failure = e
    finally:
        if path is not None:
            os.unlink(path)
    if any("arithmetic" in line for line in said):
        why = "the file uses arithmetic coding, which the bundled libjpeg does not read"
    else:
        why = "; ".join([*said[:2], library_message(failure).replace(path or "\0", "the file")])
    # the picture itself decoded; only the refinement is skipped
    warnings.warn(f"DCT consistency skipped: libjpeg could not read the coefficients ({why})",
                  CodecWarning, stacklevel=2)
    return None


def coefficients_of(j) -> Coefficients | None:
    """The Coefficients of a jpeglib DCTJPEG (read_coefficients, codec.encoder.coefsearch), or None for
    a file that is not 3-component YCbCr."""
    if j.num_components != 3 or str(j.jpeg_color_space) != "JCS_YCbCr":
        return None
    sf = np.asarray(j.samp_factor)  # rows (v, h)
    vmax, hmax = int(sf[:, 0].max()), int(sf[:, 1].max())
    return Coefficients([np.asarray(j.Y), np.asarray(j.Cb), np.asarray(j.Cr)],
                        [np.asarray(j.qt[n], np.float32) for n in j.quant_tbl_no],
                        [(vmax // int(v), hmax // int(h)) for v, h in sf], (int(j.width), int(j.height)))


def _correction(plane: torch.Tensor, blk: torch.Tensor, q: torch.Tensor, fy: int, fx: int,
                fraction: torch.Tensor) -> torch.Tensor:
    """The full-resolution change that moves the (N,H,W, 0-255) planes' coefficients into the
    intervals stored[i] * q +- fraction * q / 2 of the blocks `blk` (N, by, bx, 8, 8); `q` and
    `fraction` are (N, 8, 8)."""
    n, by, bx = blk.shape[:3]
    ph, pw = by * 8 * fy, bx * 8 * fx
    h, w = plane.shape[1:]
    if ph > h or pw > w:  # libjpeg codes whole blocks, extending the picture by its edge
        plane = F.pad(plane[:, None], (0, max(0, pw - w), 0, max(0, ph - h)), mode="replicate")[:, 0]
    plane = plane[:, :ph, :pw]
    # the encoder averaged fy x fx pixels (chroma subsampling) before its DCT
    small = F.avg_pool2d(plane[:, None], (fy, fx))[:, 0] if fy * fx > 1 else plane
    blocks = small.reshape(n, by, 8, bx, 8).transpose(2, 3) - 128
    dct = DCT.to(plane.device)
    coef = dct @ blocks @ dct.T
    q, fraction = q[:, None, None], fraction[:, None, None]
    stored, half = blk * q, 0.5 * fraction * q
    delta = torch.minimum(torch.maximum(coef, stored - half), stored + half) - coef
    d = (dct.T @ delta @ dct).transpose(2, 3).reshape(n, ph // fy, pw // fx)
    if fy * fx > 1:  # replicating the change is the smallest full-resolution change with that mean
        d = d.repeat_interleave(fy, 1).repeat_interleave(fx, 2)
    return d[:, :h, :w]


def _project(rgb: torch.Tensor, blocks: list[np.ndarray], qtables: list[np.ndarray],
             factors: list[tuple[int, int]], row0: int = 0) -> torch.Tensor:
    """Project N pictures (N,3,H,W, 0-1) that share block layout and subsampling; per component,
    `blocks` is (N, by, bx, 8, 8) and `qtables` (N, 8, 8)."""
    h, dev = rgb.shape[2], rgb.device
    bts, qts = [], []
    for blk, q, (fy, _) in zip(blocks, qtables, factors):
        b0 = row0 // (8 * fy)
        b1 = min(blk.shape[1], -(-(row0 + h) // (8 * fy)))
        bts.append(torch.from_numpy(blk[:, b0:max(b0, b1)].astype(np.float32)).to(dev))
        qts.append(torch.from_numpy(np.asarray(q, np.float32)).to(dev))
    return project_blocks(rgb, bts, qts, factors)


def project_blocks(rgb: torch.Tensor, blocks: list[torch.Tensor], qtables: list[torch.Tensor],
                   factors: list[tuple[int, int]]) -> torch.Tensor:
    """_project() with the stored coefficients as float tensors, starting at the pictures' first
    row: differentiable in `rgb` and in `blocks` (codec.encoder.coefsearch moves the coefficients)."""
    dev = rgb.device
    shift = torch.tensor([0.0, 128.0, 128.0], device=dev)[:, None, None]
    ycc = torch.einsum("ij,njhw->nihw", RGB2YCC.to(dev), rgb * 255) + shift
    planes = []
    for c, (bt, qt, (fy, fx)) in enumerate(zip(blocks, qtables, factors)):
        plane = ycc[:, c]
        if bt.shape[1] > 0:
            plane = plane + _correction(plane, bt, qt, fy, fx, interval_fraction(qt))
        planes.append(plane)
    return torch.einsum("ij,njhw->nihw", YCC2RGB.to(dev), torch.stack(planes, 1) - shift) / 255


def project_tensor(rgb: torch.Tensor, coefs: Coefficients, row0: int = 0) -> torch.Tensor:
    """Project `rgb` (3xHxW float, 0-1; rows row0.. of the picture, row0 on an MCU row) onto the
    file's narrowed quantization intervals. Differentiable."""
    return _project(rgb[None], [b[None] for b in coefs.blocks], [q[None] for q in coefs.qtables],
                    coefs.factors, row0)[0]


def project_batch(rgb: torch.Tensor, coefs: list[Coefficients | None]) -> torch.Tensor:
    """project_tensor() over a batch (N,3,H,W) of whole pictures, one call per group of equal
    layout (training's crops: one group per subsampling); pictures whose coefs are None pass
    unchanged. Differentiable: `train regen --consistency` runs it after the network."""
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(coefs):
        if c is not None:
            key = (tuple(c.factors), tuple(b.shape for b in c.blocks))
            groups.setdefault(key, []).append(i)
    rows = list(rgb.unbind(0))
    for idx in groups.values():
        cs = [coefs[i] for i in idx]
        out = _project(rgb[idx], [np.stack([c.blocks[k] for c in cs]) for k in range(3)],
                       [np.stack([c.qtables[k] for c in cs]) for k in range(3)], cs[0].factors)
        for i, o in zip(idx, out.unbind(0)):
            rows[i] = o
    return torch.stack(rows)


def project(rgb: np.ndarray, coefs: Coefficients) -> np.ndarray:
    """project_tensor() on an HxWx3 uint8 picture, in strips of MCU rows; returns HxWx3 uint8."""
    h = rgb.shape[0]
    step = 8 * max(fy for fy, _ in coefs.factors) * STRIP_MCUS
    out = np.empty_like(rgb)
    with torch.inference_mode():
        for r0 in range(0, h, step):
            x = torch.from_numpy(np.require(rgb[r0:r0 + step], requirements=["C", "W"])).permute(2, 0, 1).float() / 255
            y = project_tensor(x, coefs, r0)
            out[r0:r0 + step] = y.mul(255).round_().clamp_(0, 255).byte().permute(1, 2, 0).numpy()
    return out


def make_consistent(rgb: np.ndarray, data: bytes) -> np.ndarray:
    """project() with the coefficients of JPEG `data`; `rgb` unchanged where it does not apply."""
    coefs = read_coefficients(data)
    if coefs is None or coefs.size != (rgb.shape[1], rgb.shape[0]):
        return rgb
    return project(rgb, coefs)
