"""The `regen-codec` command line: a thin layer over the codec Python API.

Every failure the user can cause ends in one line on stderr and exit code 2; conversions and
other notices are printed as `regen-codec: warning: ...`.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from dataclasses import asdict
from functools import partial
from pathlib import Path

import click
from PIL import Image, UnidentifiedImageError

from .. import __version__
from ..api import info as api_info
from ..batch import jobs as batch
from ..batch.fileops import decode_file, encode_file, errors_named, show_warning
from ..batch.jobs import CODED_SUFFIXES, IMAGE_SUFFIXES, is_regen_file
from ..encoder import effort as levels
from ..encoder.options import DEFAULT_QUALITY, EncodeOptions, Target
from ..errors import CodecError
from ..format.pack import is_jxl
from ..format.pack import pack as do_pack
from ..format.pack import unpack as do_unpack
from ..format.tables import DEFAULT_TABLES, TABLE_SETS
from ..io.fileio import atomic_write, check_output, read_bytes
from ..io.imageio import DEFAULT_MAX_PIXELS, CodecWarning
from ..registry import (
    BUILTIN_DIR,
    DEFAULT_COMREC,
    DEFAULT_MODE,
    DEFAULT_MODEL,
    find_model,
    import_model,
    list_models,
    model_role,
    user_dir,
)
from ..utils import progress
from ..utils.stopsignal import Stopped, Terminated, terminate_as_interrupt
from .train import train_group

# Imported where used, deliberately: the modules that import PyTorch (2-3 s), which --help,
# `info`, `models`, `pack` and `unpack` never need (tests/test_cli.py checks it): the thread
# setup, the device choice, estimate, bench and the demo.

EXIT_USER_ERROR = 2


class _Group(click.Group):
    """Turns CodecError (and disk errors), and usage errors (a bad option value, a missing
    argument, an unknown command) instead of Click's four-line block, into one line on stderr
    and exit code 2; a stopped training into its message and exit code 128 + the signal."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            with terminate_as_interrupt():  # a kill unwinds like Ctrl-C: no .part file is left
                rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # a bare `regen-codec`: the help
            click.echo(exc.format_message())
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            click.echo(f"regen-codec: error: {' '.join(exc.format_message().split())}{hint}",
                       err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("regen-codec: interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)  # an int here is an exit status (ctx.exit)

    def invoke(self, ctx):
        warnings.showwarning = show_warning
        # the subcommand's arguments, seen before Click hands them on: a command's --help needs
        # no PyTorch threads (and so no PyTorch)
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args][1:]
        ctx.meta["regen_codec.help"] = bool({"-h", "--help"} & set(rest))
        try:
            return super().invoke(ctx)
        except CodecError as exc:
            click.echo(f"regen-codec: error: {exc}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except Stopped as exc:  # a training stopped by Ctrl-C or SIGTERM, after saving
            click.echo(f"regen-codec: {exc}", err=True)
            ctx.exit(128 + exc.signum)
        except BrokenPipeError:  # `regen-codec models | head`: the reader has had enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error
            ctx.exit(141)  # 128 + SIGPIPE, as a shell reports it
        except OSError as exc:
            click.echo(f"regen-codec: error: {exc.strerror or exc}"
                       f"{': ' + str(exc.filename) if exc.filename else ''}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except Terminated:
            click.echo("regen-codec: terminated", err=True)
            ctx.exit(143)  # 128 + SIGTERM, as a shell reports it
        except KeyboardInterrupt:
            click.echo("regen-codec: interrupted", err=True)
            ctx.exit(130)


#: Commands that run the network here: PyTorch's threads are sized to the usable cores first.
_NETWORK_COMMANDS = {"encode", "decode", "estimate", "demo", "bench"}


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="regen-codec")
@click.pass_context
def cli(ctx):
    """regen-codec: photos stored as small standard JPEGs, restored by a neural network.

    `encode` writes an aggressively compressed JPEG that any viewer opens and that names the
    network which restores it; `decode` runs that network (GPU when present, else CPU).

    \b
    Examples:
      regen-codec encode photo.png -o photo.jpg --quality 40
      regen-codec decode photo.jpg -o restored.png
      regen-codec info photo.jpg
      regen-codec pack photo.jpg -o photo.jxl     # lossless, smaller at rest
      regen-codec models
      regen-codec demo

    The network uses as many CPU threads as this process has cores (CPU affinity and cgroup
    quota; shared out among --jobs workers; one where other work already fills the cores);
    $REGEN_CODEC_THREADS sets the number per process.
    """
    if ctx.invoked_subcommand in _NETWORK_COMMANDS and not ctx.meta.get("regen_codec.help"):
        from ..batch.threads import configure  # imports PyTorch: not for a command's --help

        configure()


def _note(message: str) -> None:
    """A line for the user on stderr (what a target search chose); a batch's workers call it."""
    click.echo(message, err=True)


def _default_out(inp: Path, suffix: str) -> Path:
    return inp.with_name(inp.stem + suffix)


def _output(value: str | None) -> tuple[Path | None, bool]:
    """-o as a Path, and whether it names a folder by a trailing slash (`-o out/`), which a
    Path would drop: a file called `out` must not be written then."""
    if value is None:
        return None, False
    return Path(value), value.endswith(("/", os.sep))


def _check_suffix(out: Path, allowed: tuple[str, ...], what: str) -> None:
    """Refuse an output named as another image format than the one written (photo.png holding
    a JPEG); names without an image extension are left alone (hash-named stores)."""
    suffix = out.suffix.lower()
    if suffix in IMAGE_SUFFIXES | CODED_SUFFIXES and suffix not in allowed:
        raise CodecError(f"{out}: this writes {what}; name the output "
                         f"{' or '.join(allowed)}")


def _file_output(value: str | None, inp: Path, allowed: tuple[str, ...], what: str) -> Path:
    """The one output file of a one-file command: -o as given (named as its format), inside the
    folder that `-o out/` names, or by default beside the input with the format's extension."""
    out, as_folder = _output(value)
    if out is None:
        return _default_out(inp, allowed[0])
    if as_folder:
        return out / (inp.stem + allowed[0])
    _check_suffix(out, allowed, what)
    return out


def _is_batch(inputs: tuple[str, ...], output: Path | None) -> bool:
    """Several inputs, a folder or a glob, or an existing folder as output: batch mode.
    A file that exists is a file even when its name has glob characters (`photo[1].png`)."""
    return (len(inputs) > 1
            or any(Path(i).is_dir() or (not Path(i).exists() and any(c in i for c in "*?["))
                   for i in inputs)
            or (output is not None and output.is_dir()))


def _note_left_out(left: list[Path], what: str, hint: str) -> None:
    """One line on stderr naming the inputs a batch leaves out (the first few), and why."""
    if left:
        names = ", ".join(str(p) for p in left[:3]) + (f" and {len(left) - 3} more"
                                                      if len(left) > 3 else "")
        click.echo(f"regen-codec: note: left out {len(left)} {what}: {names} ({hint})", err=True)


def _run_batch(inputs, output: Path | None, suffixes: set[str], out_suffix: str, work,
               jobs: int, verb: str, scheduler: str | None = None, force: bool = False,
               leave_out=None) -> None:
    """Mirror the inputs into OUTPUT with a process pool; summary, exit 1 if any file failed.
    Outputs that exist are skipped (a stopped run resumes) unless `force`. `leave_out`:
    (files -> the ones this command must not take, what they are, how to include them)."""
    if output is None:
        raise CodecError("several inputs: name an output folder with -o DIR")
    if output.exists() and not output.is_dir():
        raise CodecError(f"{output}: exists and is not a folder")
    if not output.exists() and output.suffix.lower() in IMAGE_SUFFIXES | CODED_SUFFIXES:
        raise CodecError(f"{output}: several inputs (or a folder) need an output folder, "
                         f"not a file name")
    found = batch.collect(list(inputs), suffixes, output)
    if not found:
        raise CodecError("no input files found")
    left: list[Path] = []
    if leave_out is not None:
        left, what, hint = leave_out([f for f, _ in found])
        skip = set(left)
        found = [(f, rel) for f, rel in found if f not in skip]
        _note_left_out(left, what, hint)
    output.mkdir(parents=True, exist_ok=True)
    res = batch.run(batch.plan(found, output, out_suffix), work, n_jobs=jobs, desc=verb,
                    progress=sys.stderr.isatty(), scheduler=scheduler, force=force)
    for src, msg in res.failed:
        click.echo(f"regen-codec: failed: {src}: {msg}", err=True)
    click.echo(f"{verb}: {len(res.done)} done, {len(res.skipped)} skipped (output exists), "
               f"{f'{len(left)} left out, ' if left else ''}"
               f"{len(res.failed)} failed; {res.bytes_in:,} bytes in, {res.bytes_out:,} out")
    if res.failed:
        sys.exit(1)


def _regen_files(files: list[Path]) -> tuple[list[Path], str, str]:
    """encode's batch leaves out what is a regen-codec file already, whatever its name: a second
    run over a folder would otherwise compress its own outputs again."""
    return ([f for f in files if is_regen_file(f)], "regen-codec file(s) already encoded",
            "--reencode compresses them again")


def _plain_found(files: list[Path], named: set[Path]) -> tuple[list[Path], str, str]:
    """decode's batch leaves out plain JPEGs found in folders and globs (a photo folder holds
    many); files named one by one are decoded whatever they are."""
    return ([f for f in files if f.resolve() not in named and not is_regen_file(f)],
            "plain JPEG(s) without regen-codec metadata", "--include-plain restores them too")


def _check_coded_input(src: Path) -> None:
    """decode's one input must be a JPEG or a packed JPEG XL: say what it is before any output
    is named (a PNG's default output is its own name)."""
    try:
        with open(src, "rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        raise CodecError(f"{src}: no such file") from None
    except IsADirectoryError:
        return  # a folder is a batch; not here
    if head[:2] == b"\xff\xd8" or is_jxl(head):
        return
    try:
        with Image.open(src) as im:
            kind = im.format
    except (UnidentifiedImageError, OSError):
        raise CodecError(f"{src}: not a JPEG or packed .jxl file, so not a regen-codec "
                         f"file") from None
    raise CodecError(f"{src}: is a {kind} image, not a regen-codec file (a JPEG or packed "
                     f".jxl); `regen-codec encode` compresses images")


class _EffortLevel(click.ParamType):
    """--effort: a level's number or name (codec.encoder.effort), as its number."""

    name = "level"

    def convert(self, value, param, ctx):
        try:
            return levels.level(value).number
        except CodecError as e:
            self.fail(str(e), param, ctx)


_EFFORT = click.option(
    "--effort", type=_EffortLevel(), default=None, metavar="LEVEL",
    help="How hard the encoder searches the DCT coefficients for the picture the network "
         "restores (docs/encoding.md: 'Effort'): "
         + levels.describe() + ". Each search round is one forward and backward network pass "
         "(in bfloat16 on CPUs with AVX512-BF16 or AMX, else float32; "
         "$REGEN_CODEC_SEARCH_PRECISION); the time each level takes is in docs/encoding.md. "
         f"[default: {levels.CPU_DEFAULT} on a CPU, {levels.GPU_DEFAULT} where the network "
         f"runs on a GPU; or ${levels.ENV}]")
_JOBS = click.option("-j", "--jobs", type=click.IntRange(1, None), default=1, show_default=True,
                     help="Parallel worker processes for several files.")
_SCHEDULER = click.option("--scheduler", default=None, metavar="ADDRESS",
                          help="Run on an existing Dask cluster (e.g. tcp://host:8786) instead of "
                               "locally; workers must see the same paths and use their GPU if any.")
# -f/--force, by what a command writes
_FORCE_BATCH = click.option("-f", "--force", is_flag=True,
                            help="Overwrite outputs that exist (never an input). Without it, a "
                                 "batch skips them, so a stopped run resumes.")
_FORCE_ONE = click.option("-f", "--force", is_flag=True,
                          help="Overwrite OUTPUT if it exists (never the input).")
_FORCE_HTML = click.option("-f", "--force", is_flag=True,
                           help="Overwrite the --html file if it exists.")


def _force_needs_html(force: bool, html_out: Path | None) -> None:
    """-f of estimate and bench applies to the --html page alone: say so when it does nothing."""
    if force and html_out is None:
        warnings.warn("--force does nothing without --html (it only lets the page replace a "
                      "file)", CodecWarning)


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Output JPEG file (.jpg, or .jxl with --pack jxl) [default: INPUT name with "
                   ".rc.jpg]; with several inputs, folders, globs or a trailing slash (-o out/): "
                   "the folder that mirrors their tree.")
@click.option("-q", "--quality", type=click.IntRange(1, 100), default=None,
              help="JPEG quality 1-100 (higher = larger file, better picture) [default: 40].")
@click.option("--mode", type=click.Choice(["auto", "regen", "comrec"]), default=None,
              help="regen: full-size JPEG restored by a regeneration network; comrec: a compact "
                   "half-size JPEG made by ComCNN and restored by RecCNN (cheaper at low rates); "
                   "auto: per image, the regen file, or a smaller comrec file that restores "
                   "better in both MS-SSIM and PSNR (docs/encoding.md: "
                   f"'Modes') [default: {DEFAULT_MODE}].")
@click.option("-m", "--model", "model_id", default=None,
              help="Network recorded in the file (see `regen-codec models`) [default: "
                   f"{DEFAULT_MODEL}, or {DEFAULT_COMREC} with --mode comrec; with auto it replaces "
                   "its mode's default].")
@click.option("--tables", type=click.Choice(list(TABLE_SETS)), default=None,
              help="Quantization table set that maps --quality to JPEG tables: standard = IJG "
                   "tables; regen-v1 = tuned for the regeneration decoder (docs/encoding.md); "
                   "regen-t1 = regen-v1 with trellis quantization (experimental: smaller files, "
                   f"worse PSNR with the shipped models) [default: {DEFAULT_TABLES}].")
@click.option("--subsampling", type=click.Choice(["4:2:0", "4:2:2", "4:4:4"]), default=None,
              help="Chroma subsampling of the JPEG [default: the table set's choice for the "
                   "quality; 4:2:0 with standard tables].")
@click.option("--progressive", is_flag=True, help="Always write a progressive JPEG (same pixels). "
              "Default: the smaller of a Huffman-optimized baseline JPEG and mozjpeg's "
              "progressive rewrite of it.")
@click.option("--max-pixels", type=click.IntRange(1, None), default=DEFAULT_MAX_PIXELS, show_default=True,
              help="Refuse inputs larger than this many pixels.")
@click.option("--pack", type=click.Choice(["jxl"]), default=None,
              help="Store the lossless JPEG XL form (about 10-20% smaller; `regen-codec unpack` "
                   "gives back the exact JPEG). Not every viewer opens JPEG XL.")
@click.option("--target-msssim", type=click.FloatRange(0, 1), default=None,
              help="Instead of --quality: the smallest file whose regenerated decode reaches "
                   "this MS-SSIM against the input (decoder in the loop).")
@click.option("--target-psnr", type=click.FloatRange(0, None), default=None,
              help="Likewise, for a PSNR in dB.")
@click.option("--max-bytes", type=click.IntRange(1, None), default=None,
              help="Instead of --quality: the highest quality whose file fits in N bytes (with "
                   "--pack jxl, the packed file).")
@click.option("--fit/--no-fit", default=True, show_default=True,
              help="Decode each regen file once while encoding and store how much of the "
                   "network's correction to keep, fitted to the input: never worse than a plain "
                   "decode in PSNR (docs/encoding.md: 'Restoration strength'). --no-fit skips that network "
                   "run (several times faster on a CPU); its files are always restored fully.")
@_EFFORT
@click.option("--per-image-quality", is_flag=True,
              help="Regen files: choose the JPEG quality per image, within 16 of --quality, for "
                   "the most mean restored quality per byte over a collection (docs/encoding.md: 'Quality "
                   "and table sets'; about five network runs per file instead of one). Needs the fit.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="Where the network runs while encoding (the coefficient "
                                      "search, the strength fit, auto's comparison, a --target "
                                      "search).")
@_JOBS
@_SCHEDULER
@_FORCE_BATCH
@click.option("--reencode", is_flag=True,
              help="Also compress inputs that are regen-codec files already (whatever their "
                   "name); without it a batch leaves them out with a note, and one such file "
                   "named alone is refused.")
def encode(inputs, output, quality, mode, model_id, tables, subsampling, progressive, max_pixels, pack,
           target_msssim, target_psnr, max_bytes, fit, effort, per_image_quality, device, jobs,
           scheduler, force, reencode):
    """Compress images (PNG, JPEG, TIFF, WebP, ...) into standard JPEGs for regeneration.

    INPUTS are files, folders (searched recursively) or globs; several of them need
    `-o DIR`, which mirrors their tree. A failed file does not stop a batch: it is reported
    at the end and the exit code is 1.

    EXIF orientation is applied and the ICC profile kept. Alpha is composited over white,
    16-bit reduced to 8 bits, CMYK converted to sRGB: each with a warning. Inputs that are
    regen-codec files already are left out (see --reencode).
    """
    q = quality or DEFAULT_QUALITY
    suffix = ".jxl" if pack else ".jpg"
    target = None
    if any(v is not None for v in (target_msssim, target_psnr, max_bytes)):
        if quality is not None:
            raise CodecError("--quality and a target (--target-msssim, --target-psnr, "
                             "--max-bytes) exclude each other")
        target = Target(msssim=target_msssim, psnr=target_psnr, max_bytes=max_bytes)
    mode = mode or DEFAULT_MODE
    if per_image_quality:
        why = ("it needs the strength fit (drop --no-fit)" if not fit else
               "a target chooses the quality itself" if target else
               "it applies to regen files (--mode regen or auto)" if mode == "comrec" else None)
        if why:
            raise CodecError(f"--per-image-quality: {why}")
    if mode != "auto":
        model_id = model_id or (DEFAULT_MODEL if mode == "regen" else DEFAULT_COMREC)
    options = EncodeOptions(quality=q, mode=mode, model=model_id, tables=tables or DEFAULT_TABLES,
                            subsampling=subsampling, progressive=progressive,
                            max_pixels=max_pixels, pack=pack, device=device, fit=fit,
                            allocate=per_image_quality, effort=effort)
    work = partial(encode_file, options=options, target=target, force=force, report=_note)
    output, as_folder = _output(output)
    if as_folder or _is_batch(inputs, output):
        if model_id:
            find_model(model_id)  # fail once, up front, for an unknown model
        _run_batch(inputs, output, IMAGE_SUFFIXES, suffix, work, jobs, "encode", scheduler, force,
                   leave_out=None if reencode else _regen_files)
        return
    if scheduler:
        warnings.warn("--scheduler is for batches: one file runs here", CodecWarning)
    src = Path(inputs[0])
    if not reencode and is_regen_file(src):
        raise CodecError(f"{src}: is a regen-codec file already (compressing it again loses "
                         f"quality); decode it, or use --reencode")
    if output is not None:
        _check_suffix(output, (".jxl",) if pack else (".jpg", ".jpeg"),
                      "JPEG XL (--pack jxl)" if pack else "a JPEG")
    output = output or _default_out(src, ".rc" + suffix)
    with progress.shown(sys.stderr.isatty()):  # the slow steps' bars, on a terminal only
        n = work(src, output, name_warnings=False)
    i = api_info(output)
    chosen = target or mode == "auto" or (mode == "regen" and fit and per_image_quality)
    packed = f", packed as JPEG XL ({i.bytes} bytes as JPEG)" if i.packed_bytes else ""
    w, h = (i.metadata["width"], i.metadata["height"]) if i.metadata else (i.width, i.height)
    click.echo(f"{output}: {w}x{h}, {n} bytes, {n * 8 / (w * h):.3f} "
               f"bpp, quality {i.quality or '~' + str(i.estimated_quality) if chosen else q}, "
               f"mode {i.metadata['mode']}, model {i.metadata['model_id']}{packed}")


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Output image; its extension picks the format (.png .tif .webp .jpg .bmp .ppm) "
                   "[default: INPUT name with .png]. With several inputs or a trailing slash "
                   "(-o out/): the output folder.")
@click.option("--format", "fmt", type=click.Choice(["png", "tif", "webp", "jpg", "bmp", "ppm"]),
              default="png", show_default=True, help="Output format in batch mode.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="Where the network runs; auto = CUDA when available.")
@click.option("--tile", type=click.IntRange(64, None), default=1024, show_default=True,
              help="Tile side in pixels: bounds memory on large images (the result does not "
                   "depend on it beyond rounding).")
@click.option("-m", "--model", "model_id", default=None,
              help="Use this network instead of the one the file names (the strength the encoder "
                   "fitted for that one is then not applied).")
@click.option("--no-consistency", is_flag=True,
              help="Skip the last step of regen-mode decoding, which pulls the restored picture's "
                   "DCT coefficients back towards the ones the file stores (the same quality for "
                   "fewer bytes; docs/decoding.md).")
@click.option("--ensemble", type=click.Choice(["1", "2", "4", "8"]), default="1", show_default=True,
              help="Run the network on N flipped/transposed copies and average them: a little "
                   "more quality for N times the network's time (docs/decoding.md).")
@_JOBS
@_SCHEDULER
@_FORCE_BATCH
@click.option("--include-plain", is_flag=True,
              help="In folders and globs, also restore plain JPEGs (no regen-codec metadata) "
                   "with the default model; without it only regen-codec files found there are "
                   "decoded (files named one by one always are).")
def decode(inputs, output, fmt, device, tile, model_id, no_consistency, ensemble, jobs, scheduler,
           force, include_plain):
    """Restore regen-codec JPEGs (or packed .jxl) with the network named in each file.

    A plain JPEG without regen-codec metadata named as an input is restored with the default
    model (with a warning); plain JPEGs found in folders and globs are left out unless
    --include-plain. INPUTS are files, folders (searched recursively for .jpg/.jpeg/.jxl) or
    globs; several of them need `-o DIR`, which mirrors their tree.
    """
    work = partial(decode_file, device=device, tile=tile, model=model_id, force=force,
                   consistency=not no_consistency, ensemble=int(ensemble))
    output, as_folder = _output(output)
    if as_folder or _is_batch(inputs, output):
        named = {Path(i).resolve() for i in inputs if Path(i).is_file()}
        _run_batch(inputs, output, CODED_SUFFIXES, "." + fmt, work, jobs, "decode", scheduler,
                   force, leave_out=None if include_plain else partial(_plain_found, named=named))
        return
    if scheduler:
        warnings.warn("--scheduler is for batches: one file runs here", CodecWarning)
    src = Path(inputs[0])
    _check_coded_input(src)
    output = output or _default_out(src, ".png")
    work(src, output, progress=sys.stderr.isatty(), name_warnings=False)
    with Image.open(output) as im:
        click.echo(f"{output}: {im.width}x{im.height}")


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def info(file, as_json):
    """Show a JPEG's regen-codec metadata, estimated quality, subsampling and sizes."""
    with errors_named(file):
        i = api_info(file)
    if as_json:
        click.echo(json.dumps(asdict(i), indent=2))
        return
    click.echo(f"file:            {file}")
    if i.packed_bytes:
        click.echo(f"packed:          JPEG XL, {i.packed_bytes} bytes "
                   f"({i.packed_bytes * 8 / (i.width * i.height):.3f} bpp); "
                   f"`regen-codec unpack` restores the JPEG below")
    click.echo(f"size:            {i.width}x{i.height} pixels, {i.bytes} bytes as JPEG, "
               f"{i.bits_per_pixel:.3f} bits per pixel")
    if i.quality is not None:
        click.echo(f"JPEG quality:    {i.quality} (table set {i.metadata['tables']})")
    else:
        click.echo(f"JPEG quality:    ~{i.estimated_quality} (estimated from the luma table)")
    click.echo(f"subsampling:     {i.subsampling}{', progressive' if i.progressive else ''}")
    if i.metadata is None:
        click.echo("regen-codec:     none (a plain JPEG; decode uses the default model)")
    else:
        m = i.metadata
        click.echo(f"regen-codec:     format {m['format_version']}, mode {m['mode']}, "
                   f"encoder {m['encoder_version']}")
        click.echo(f"model:           {m['model_id']} (sha256 {m['model_sha256']})")
        click.echo(f"original size:   {m['width']}x{m['height']}")
        if m.get("strength") is not None:
            click.echo(f"strength:        {m['strength']:.3f} of the network's correction "
                       f"(fitted at encode)")


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--sample", type=click.IntRange(1, None), default=50, show_default=True,
              help="Files converted to measure the saving (all when fewer).")
@click.option("--seed", default=0, show_default=True, help="Seed of the sample.")
@click.option("--target-msssim", type=click.FloatRange(0, 1), default=None,
              help="Each file must reach this MS-SSIM against the source as decoded.")
@click.option("--target-psnr", type=click.FloatRange(0, None), default=None,
              help="Each file must reach this PSNR (dB) against the source as decoded.")
@click.option("--match-jpeg-quality", type=click.IntRange(1, 100), default=None,
              help="Each file must look as good (MS-SSIM) as the source re-saved as a plain JPEG "
                   "at this quality [default target: 75].")
@click.option("-m", "--model", "model_id", default=DEFAULT_MODEL, show_default=True,
              help="Restoration network.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="Where the decoder runs during the search.")
@click.option("--effort", type=_EffortLevel(), default=None, metavar="LEVEL",
              help="Effort level of each conversion, 0-3 or a name, as `encode --effort` (0 is "
                   "much faster; the saving a little smaller) [default: encode's: "
                   f"{levels.CPU_DEFAULT} on a CPU, {levels.GPU_DEFAULT} on a GPU, or "
                   f"${levels.ENV}].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for machines) instead of a table.")
@click.option("--compare", is_flag=True,
              help="Also convert the sample with each alternative at the same target: plain JPEG, "
                   "JPEG XL lossless transcoding (JPEG sources), AVIF, WebP, JPEG XL lossy, jpegli "
                   "(each where its library is installed); their savings with 95% CIs, encode "
                   "time per megapixel, the winner per source format.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a self-contained HTML report there (implies --compare): the "
                   "savings, and crops of a few sampled files, every method side by side.")
@_FORCE_HTML
@_JOBS
@_SCHEDULER
def estimate(paths, sample, seed, target_msssim, target_psnr, match_jpeg_quality, model_id,
             device, effort, as_json, compare, html_out, force, jobs, scheduler):
    """Estimate the disk saved by converting a tree of images (JPEG, PNG, TIFF, WebP).

    Converts a seeded sample to the smallest regen-codec file meeting the target (decoder in
    the loop) and projects the saving, with a 95% bootstrap confidence interval, onto the
    whole tree and per format; also with JPEG XL packing, and the time it would take here.
    Ctrl-C stops the conversion: the estimate from the files done is printed, marked as
    partial (exit code 130). --compare adds the alternatives at the same target (AVIF, WebP,
    JPEG XL, jpegli, plain JPEG, lossless JPEG XL transcoding), --html a page to show them.
    """
    from ..batch.estimate import estimate as run_estimate  # PyTorch: see the imports above
    from ..batch.estimate import render
    from ..regen.infer import pick_device
    n_targets = sum(v is not None for v in (target_msssim, target_psnr, match_jpeg_quality))
    if n_targets > 1:
        raise CodecError("give one target: --target-msssim, --target-psnr or --match-jpeg-quality")
    target = None
    if target_msssim is not None or target_psnr is not None:
        target = Target(msssim=target_msssim, psnr=target_psnr)
    elif match_jpeg_quality is None:
        match_jpeg_quality = 75
    _force_needs_html(force, html_out)
    if html_out is not None:
        from ..io.fileio import check_output

        check_output(html_out, [], force)  # refused now, not after the conversions
    e = run_estimate(list(paths), target, match_jpeg_quality, sample=sample, seed=seed,
                     model=model_id, device=device if scheduler else pick_device(device),
                     progress=sys.stderr.isatty(), scheduler=scheduler, effort=effort, jobs=jobs,
                     compare=compare or html_out is not None, crops=3 if html_out else 0)
    click.echo(json.dumps(e.to_dict(), indent=2) if as_json else render(e))
    if html_out is not None:
        from ..bench.report_html import estimate_page, write_page

        write_page(html_out, estimate_page(e), force=force)
        click.echo(f"regen-codec: wrote {html_out}", err=True)
    if e.partial:
        click.echo(f"regen-codec: interrupted: a partial estimate, from {len(e.sample)} of the "
                   f"{e.sample_planned} sampled files", err=True)
        sys.exit(130)


@cli.command()
@click.argument("input", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Packed file [default: INPUT name with .jxl].")
@_FORCE_ONE
def pack(input, output, force):
    """Store a JPEG losslessly as JPEG XL (smaller; `unpack` returns the identical bytes).

    The round trip is verified before anything is written; a JPEG that does not come back
    bit-exact is refused.
    """
    output = _file_output(output, input, (".jxl",), "JPEG XL")
    check_output(output, [input], force)
    data = read_bytes(input)
    with errors_named(input):
        packed = do_pack(data)
    atomic_write(output, packed, force=force)
    change = 100 * (1 - len(packed) / len(data))  # a tiny JPEG can come out larger
    click.echo(f"{output}: {len(packed)} bytes ({abs(change):.1f}% "
               f"{'smaller' if change >= 0 else 'larger'} than the {len(data)}-byte JPEG)")


@cli.command()
@click.argument("input", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(), default=None,
              help="JPEG file [default: INPUT name with .jpg].")
@click.option("--max-pixels", type=click.IntRange(1, None), default=DEFAULT_MAX_PIXELS,
              show_default=True, help="Refuse a file whose header declares more pixels (read "
                                      "before libjxl allocates anything).")
@_FORCE_ONE
def unpack(input, output, max_pixels, force):
    """Turn a packed JPEG XL file back into the exact JPEG it was made from."""
    output = _file_output(output, input, (".jpg", ".jpeg"), "a JPEG")
    check_output(output, [input], force)
    with errors_named(input):
        data = do_unpack(read_bytes(input), max_pixels=max_pixels)
    atomic_write(output, data, force=force)
    click.echo(f"{output}: {len(data)} bytes")


@cli.group(invoke_without_command=True)
@click.pass_context
def models(ctx):
    """List installed models (the default), or import one (`models import FILE`).

    Models ship inside the package; user models live in $REGEN_CODEC_MODELS, else the
    user data directory (see `regen-codec models where`).
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(models_list)


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_list(as_json):
    """ID, mode, parameters, multiply-accumulates per pixel, sha256, where from, and role (the
    defaults are marked `default`; --json adds each weight file's own summary)."""
    found = list_models()
    if as_json:
        click.echo(json.dumps([{**m.__dict__, "path": str(m.path), "role": model_role(m),
                                "default": m.id in (DEFAULT_MODEL, DEFAULT_COMREC)}
                               for m in found], indent=2))
        return
    if not found:
        click.echo("no models installed")
        return
    rows = [("ID", "MODE", "PARAMS", "MACS/PX", "SHA256", "SOURCE", "ROLE")]
    rows += [(m.id, m.mode, f"{m.params:,}", f"{m.macs_per_pixel:,}", m.sha256[:16],
              "package" if m.builtin else "user", model_role(m)) for m in found]
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]) - 1)]
    right = {2, 3}  # numbers
    for r in rows:
        cells = [c.rjust(w) if k in right else c.ljust(w) for k, (c, w) in enumerate(zip(r, widths))]
        click.echo("  ".join(cells + [r[-1]]))


@models.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-f", "--force", is_flag=True, help="Replace an installed user model of the same ID.")
def models_import(file, force):
    """Install a trained model (.safetensors made by `regen-codec train`) for this user."""
    m = import_model(file, force=force)
    click.echo(f"installed {m.id} (sha256 {m.sha256[:16]}...) at {m.path}")


@models.command("where")
def models_where():
    """Print the folders searched for models."""
    click.echo(f"package: {BUILTIN_DIR}")
    click.echo(f"user:    {user_dir()}  (set REGEN_CODEC_MODELS to change)")


@cli.command()
@click.option("-q", "--quality", type=click.IntRange(1, 100), default=None,
              help="JPEG quality [default: 40].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also save original.png, encoded.jpg, plain.png and regenerated.png here.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="Where the network runs.")
def demo(quality, out_dir, device):
    """Encode and decode a built-in sample photo and compare plain and regenerated decoding."""
    from .demo import run_demo  # PyTorch: see the imports above

    run_demo(quality=quality, out_dir=out_dir, device=device)


@cli.command()
@click.argument("image_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Results folder (JSON per method, results.csv, report.md, plots, cache/).")
@click.option("--methods", default=None,
              help="Comma-separated: jpeg, jpeg-opt, webp, avif, jxl (if installed), and any "
                   "installed regen model ID [default: all available]. jpeg is always included.")
@click.option("--qualities", default="5,10,15,20,25,30,35,40,45,50,55,60,65,70,75,80,85,90,95",
              show_default=True, help="Comma-separated quality settings (1-100).")
@click.option("--anchors", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Folder of published CompressAI-format results to compare and "
              "draw in the plots (e.g. ../shared/anchors/compressai-kodak).")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu",
              show_default=True, help="Where regen networks run.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a self-contained HTML report there: rate-quality plots, the "
                   "BD-rate table, and crops at equal bytes (our file, its plain view, plain "
                   "JPEG, AVIF, JPEG XL) for the first 2 images at 2 qualities.")
@_FORCE_HTML
def bench(image_dir, out_dir, methods, qualities, anchors, device, html_out, force):
    """Rate-quality benchmark of every method on the lossless images in IMAGE_DIR.

    bpp, PSNR, MS-SSIM (and in dB), SSIM, encode/decode time and memory per image; BD-rate
    against plain JPEG. Interrupted runs resume from the per-image cache in OUT/cache.
    """
    from ..bench.measure import run  # PyTorch: see the imports above
    from ..regen.infer import pick_device

    try:
        qs = tuple(sorted({int(q) for q in qualities.split(",") if q.strip()}))
    except ValueError:
        raise click.BadParameter("qualities must be integers", param_hint="--qualities") from None
    if not qs or qs[0] < 1 or qs[-1] > 100:  # as the help says; none would crash the report
        raise click.BadParameter("give one or more qualities, each from 1 to 100",
                                 param_hint="--qualities")
    names = [m.strip() for m in methods.split(",")] if methods else None
    _force_needs_html(force, html_out)
    summary = run(image_dir, out_dir, names, qs, pick_device(device), anchors, html=html_out,
                  force=force)
    click.echo((out_dir / "report.md").read_text())
    if html_out is not None:
        click.echo(f"regen-codec: wrote {html_out}", err=True)
    return summary


cli.add_command(train_group)


def main() -> None:
    cli(prog_name="regen-codec")
