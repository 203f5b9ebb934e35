"""Synthetic raw MEGARA frames and helpers to run the ``numina`` command in tests.

The frames follow the narrow test instrument profile shipped in
``drp_config/profiles`` (detector component 43cd65bb-..., instrument
5228ef31-...): raw arrays of shape (4212, 356) whose trimmed part is
(4112, 256).  Every row is kept because megaradrp's overscan fit uses
hard-coded row knots (1200 and 3100); only the number of columns is reduced.

Units: the signal and the cosmic rays are defined in electrons on the trimmed
grid; :func:`raw_frame` converts them to ADU with the gains of the profile
(1.73 e-/ADU for rows 0-2055 of the trimmed image, 1.6 e-/ADU for the rest)
and adds a constant bias level, which megaradrp's overscan correction removes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid as uuidlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import yaml
from astropy.io import fits

#: Instrument configuration (profile) of the narrow test detector.
PROFILE_UUID = "5228ef31-479b-4cc1-8ff8-5f78eca1b831"
#: Detector component of that profile.
DETECTOR_UUID = "43cd65bb-af05-4110-a2ca-a9aef49ce9b0"
RAW_SHAPE = (4212, 356)
TRIM_SHAPE = (4112, 256)
GAIN1 = 1.73  # e-/ADU, trimmed rows 0..2055 (raw rows 0..2055)
GAIN2 = 1.6  # e-/ADU, trimmed rows 2056..4111 (raw rows 2156..4211)
HALF = 2056
BIAS_ADU = (1000.0, 1020.0)
RNOISE_E = 3.4
DATE_OBS = "2024-03-01T01:02:03.5"

REPO = Path(__file__).resolve().parents[1]
PROFILE_DIR = REPO / "drp_config" / "profiles"


def plugin_installed() -> bool:
    """True if the ``numina.plugins.1`` entry point of megara_crplugin is registered."""
    return any(ep.name == "megara_crplugin" for ep in entry_points(group="numina.plugins.1"))


def signal_electrons(rng: np.random.Generator) -> np.ndarray:
    """Noise-free signal (e-) on the trimmed grid: background plus fibre-like stripes."""
    ny, nx = TRIM_SHAPE
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    signal = 60.0 + 10.0 * np.sin(xx / 37.0) * np.cos(yy / 290.0) + 5.0 * yy / ny
    for yc in np.linspace(150, ny - 150, 14):
        peak = rng.uniform(200.0, 1500.0)
        signal += peak * np.exp(-0.5 * ((yy - yc) / 1.8) ** 2) * (0.7 + 0.3 * np.cos(xx / 51.0))
    return signal


@dataclass
class SyntheticSet:
    """Electron images (trimmed grid) of N equivalent exposures and their cosmic rays.

    Attributes
    ----------
    signal : ndarray
        Noise-free signal (e-).
    images : list of ndarray
        Each exposure in electrons: Poisson(signal) + read noise + cosmic rays.
    crmasks : list of ndarray of bool
        True where exposure i received a cosmic ray.
    double_hits : list of tuple
        ``(y, x)`` array indices of pixels hit in exactly two exposures.
    """

    signal: np.ndarray
    images: list = field(default_factory=list)
    crmasks: list = field(default_factory=list)
    double_hits: list = field(default_factory=list)


def synthetic_set(
    n_frames: int = 3, *, seed: int = 20240607, n_single: int = 150, n_double: int = 12
) -> SyntheticSet:
    """Build N exposures (e-) with single hits per frame and injected double hits."""
    rng = np.random.default_rng(seed)
    signal = signal_electrons(rng)
    ny, nx = TRIM_SHAPE
    out = SyntheticSet(signal=signal)
    for _ in range(n_frames):
        img = rng.poisson(signal).astype(np.float64) + rng.normal(0.0, RNOISE_E, TRIM_SHAPE)
        mask = np.zeros(TRIM_SHAPE, dtype=bool)
        ys = rng.integers(20, ny - 20, n_single)
        xs = rng.integers(5, nx - 5, n_single)
        amps = np.exp(rng.uniform(np.log(100.0), np.log(8000.0), n_single))
        img[ys, xs] += amps
        mask[ys, xs] = True
        out.images.append(img)
        out.crmasks.append(mask)
    # isolated double hits, well separated from each other and from the borders
    ys = np.linspace(200, ny - 200, n_double).astype(int)
    xs = rng.integers(20, nx - 20, n_double)
    for k, (y, x) in enumerate(zip(ys, xs, strict=True)):
        pair = [(0, 1), (1, 2), (0, 2)][k % 3] if n_frames >= 3 else (0, 1)
        base = np.exp(rng.uniform(np.log(400.0), np.log(4000.0)))
        for i in pair:
            out.images[i][y, x] += base * rng.uniform(0.7, 1.3)
            out.crmasks[i][y, x] = True
        out.double_hits.append((int(y), int(x)))
    return out


def raw_frame(
    image_e: np.ndarray,
    *,
    rng: np.random.Generator,
    frame_uuid: str | None,
    insmode: str = "LCB",
    vph: str = "LR-R",
    with_fibers: bool = True,
    insconf: str = PROFILE_UUID,
) -> fits.HDUList:
    """Convert a trimmed electron image into a raw MEGARA HDUList (ADU, float32).

    Parameters
    ----------
    image_e : ndarray, shape (4112, nx)
        Image in electrons; nx = 256 for the narrow test profile, 4096 for
        megaradrp's own detector.  The raw frame is (4212, nx + 100): 50
        prescan / overscan columns on each side, 100 middle rows.
    rng : numpy.random.Generator
        Source of the read noise of the pre/overscan regions.
    frame_uuid : str or None
        Value of the UUID keyword; None leaves the keyword out.
    insconf : str, optional
        INSCONF keyword: the instrument profile whose detector matches ``nx``.
    """
    if image_e.ndim != 2 or image_e.shape[0] != TRIM_SHAPE[0]:
        raise ValueError(f"image_e must have shape ({TRIM_SHAPE[0]}, nx), got {image_e.shape}")
    nx = image_e.shape[1]
    raw = np.empty((RAW_SHAPE[0], nx + 100), dtype=np.float32)
    ron1, ron2 = RNOISE_E / GAIN1, RNOISE_E / GAIN2
    raw[: HALF + 50] = BIAS_ADU[0] + rng.normal(0.0, ron1, (HALF + 50, nx + 100))
    raw[HALF + 50 :] = BIAS_ADU[1] + rng.normal(0.0, ron2, (RAW_SHAPE[0] - HALF - 50, nx + 100))
    raw[0:HALF, 50 : 50 + nx] = BIAS_ADU[0] + image_e[:HALF] / GAIN1
    raw[HALF + 100 :, 50 : 50 + nx] = BIAS_ADU[1] + image_e[HALF:] / GAIN2
    hdu = fits.PrimaryHDU(raw)
    hdr = hdu.header
    hdr["INSTRUME"] = "MEGARA"
    hdr["INSCONF"] = insconf
    hdr["DATE-OBS"] = DATE_OBS
    hdr["EXPTIME"] = 600.0
    hdr["OBJECT"] = "SYNTHETIC"
    hdr["OBSMODE"] = "MegaraLcbImage"
    hdr["IMAGETYP"] = "OBJECT"
    hdr["INSMODE"] = insmode
    hdr["VPH"] = vph
    if frame_uuid is not None:
        hdr["UUID"] = frame_uuid
    hdul = fits.HDUList([hdu])
    if with_fibers:
        from megaradrp.datamodel import create_default_fiber_header

        hdul.append(fits.ImageHDU(header=create_default_fiber_header(insmode), name="FIBERS"))
    return hdul


def master_bias(shape=TRIM_SHAPE, insconf: str = PROFILE_UUID) -> fits.HDUList:
    """Master bias on the trimmed grid (ADU, all zeros: the overscan removes the level)."""
    hdu = fits.PrimaryHDU(np.zeros(shape, dtype=np.float32))
    hdu.header["INSTRUME"] = "MEGARA"
    hdu.header["UUID"] = str(uuidlib.UUID(int=1))
    hdu.header["INSCONF"] = insconf
    hdu.header["DATE-OBS"] = DATE_OBS
    hdu.header["NUMTYPE"] = "MasterBias"
    return fits.HDUList([hdu])


def write_raw_set(
    datadir: Path,
    sset: SyntheticSet,
    *,
    seed: int = 1,
    prefix: str = "raw",
    uuids=True,
    insconf: str = PROFILE_UUID,
) -> tuple[list[str], list[str | None]]:
    """Write the exposures of `sset` (any object with ``images`` in e-) as raw frames.

    Returns the file names (in `datadir`) and the UUIDs of the frames.
    """
    rng = np.random.default_rng(seed)
    datadir.mkdir(parents=True, exist_ok=True)
    names, ids = [], []
    for i, img in enumerate(sset.images, start=1):
        fid = str(uuidlib.UUID(bytes=rng.bytes(16), version=4)) if uuids else None
        name = f"{prefix}_{i}.fits"
        raw_frame(img, rng=rng, frame_uuid=fid, insconf=insconf).writeto(
            datadir / name, overwrite=True
        )
        names.append(name)
        ids.append(fid)
    return names, ids


def write_yaml(path: Path, *documents: dict) -> Path:
    """Write one or more YAML documents."""
    path.write_text(yaml.safe_dump_all(list(documents), sort_keys=False))
    return path


def run_numina(
    args: list[str], *, cwd: Path, timeout: float = 300.0
) -> subprocess.CompletedProcess:
    """Run the ``numina`` command (entry point of numina.user.cli) in a subprocess."""
    code = "import sys; from numina.user.cli import main; sys.exit(main())"
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write_lcb_calibrations(datadir: Path, *, vph: str = "LR-R") -> dict[str, str]:
    """Write faked LCB calibrations for the narrow detector; return OB requirement entries.

    Built with megaradrp's products and testing helpers: a trace map with
    623 straight traces 6.5 px apart, a linear wavelength solution for every
    fibre and a flat (all ones) fibre flat of the calibrated RSS shape.
    """
    import json

    import numina.types.qc
    from megaradrp.datamodel import create_default_fiber_header
    from megaradrp.instrument import WLCALIB_PARAMS
    from megaradrp.products import tracemap as tm
    from megaradrp.products import wavecalibration as wcal
    from megaradrp.testing.create_wavecalib import create_solution
    from megaradrp.testing.create_wavecalib import orig as wl_orig
    from numina.util.jsonencoder import ExtEncoder

    datadir.mkdir(parents=True, exist_ok=True)
    tags = {"insmode": "LCB", "vph": vph}
    nx = TRIM_SHAPE[1]

    traces = tm.TraceMap(instrument="MEGARA")
    traces.tags = tags
    traces.uuid = str(uuidlib.UUID(int=2))
    traces.total_fibers = 623
    traces.expected_range = [0, nx - 1]
    traces.ref_column = nx // 2
    traces.contents = [
        tm.GeometricTrace(fibid, 1, 0, nx - 1, fitparms=[25.0 + 6.5 * fibid, 0.0])
        for fibid in range(1, 624)
    ]
    (datadir / "master_traces.json").write_text(json.dumps(traces.__getstate__(), cls=ExtEncoder))

    pars = WLCALIB_PARAMS["LCB"][vph]
    wlc = wcal.WavelengthCalibration(instrument="MEGARA")
    wlc.tags = tags
    wlc.uuid = str(uuidlib.UUID(int=3))
    wlc.total_fibers = 623
    sol = dict(wl_orig)
    # pixel -> wavelength covering the whole band with the 256 columns
    sol["coeff"] = [pars["crval"], pars["cdelt"] * pars["npix"] / nx]
    for fibid in range(1, 624):
        wlc.contents.append(wcal.FiberSolutionArcCalibration(fibid, create_solution(sol)))
    wlc.quality_control = numina.types.qc.QC.GOOD
    (datadir / "master_wlcalib.json").write_text(json.dumps(wlc.__getstate__(), cls=ExtEncoder))

    flat = fits.PrimaryHDU(np.ones((623, pars["npix"]), dtype=np.float32))
    flat.header["INSTRUME"] = "MEGARA"
    flat.header["UUID"] = str(uuidlib.UUID(int=4))
    flat.header["INSMODE"] = "LCB"
    flat.header["VPH"] = vph
    flat.header["NUMTYPE"] = "MasterFiberFlat"
    fibers = fits.ImageHDU(header=create_default_fiber_header("LCB"), name="FIBERS")
    fits.HDUList([flat, fibers]).writeto(datadir / "master_fiberflat.fits", overwrite=True)
    return {
        "master_apertures": "master_traces.json",
        "master_wlcalib": "master_wlcalib.json",
        "master_fiberflat": "master_fiberflat.fits",
    }


def observation_result(datadir: Path, names: list[str], mode: str):
    """In-process numina ObservationResult of raw frames with the narrow test profile."""
    from numina.core import DataFrame, ObservationResult
    from numina.instrument import assembly as asb

    store = asb.load_paths_store(["megaradrp.instrument.configs"], [PROFILE_DIR])
    ins = asb.assembly_instrument(store, PROFILE_UUID, DATE_OBS, by_key="uuid")
    ins.configure_with_header(fits.getheader(datadir / names[0]))
    ob = ObservationResult()
    ob.instrument = "MEGARA"
    ob.mode = mode
    ob.configuration = ins
    ob.frames = [DataFrame(filename=str(datadir / n)) for n in names]
    return ob


def load_requirement(recipe_cls, name: str, path: Path):
    """Load a calibration file as numina does for requirement `name` of `recipe_cls`."""
    import numina.store

    return numina.store.load(recipe_cls.requirements()[name].type, str(path))


def truth_crmasks_file(
    path: Path,
    sset: SyntheticSet,
    frame_uuids,
    *,
    apply_flux_factor_to: str = "simulated",
    flux_factors=(1.0, 1.0, 1.0),
) -> Path:
    """Write a crmasks.fits (file contract of megara_crplugin) from the injected hits.

    MEDIANCR = pixels hit in two or more exposures, MEANCRT = any hit,
    CRMASKi = hits of exposure i, MEANCR = empty (uint8, 1 = cosmic ray).
    """
    prim = fits.PrimaryHDU()
    hdr = prim.header
    hdr["UUID"] = str(uuidlib.UUID(int=99))
    for i, ff in enumerate(flux_factors, start=1):
        hdr[f"FLUXF{i}"] = float(ff)
    hdr["FFAPPLY"] = apply_flux_factor_to
    hdr["CRCOINC"] = 2
    for i, fid in enumerate(frame_uuids, start=1):
        if fid:
            hdr[f"FUUID{i}"] = fid
    hits = np.array(sset.crmasks)
    exts = {"MEDIANCR": hits.sum(axis=0) >= 2, "MEANCRT": hits.any(axis=0)}
    exts.update({f"CRMASK{i}": m for i, m in enumerate(hits, start=1)})
    exts["MEANCR"] = np.zeros(TRIM_SHAPE, dtype=bool)
    hdul = fits.HDUList([prim])
    for name, mask in exts.items():
        hdu = fits.ImageHDU(mask.astype(np.uint8), name=name)
        hdu.header["NPMASKED"] = int(mask.sum())
        hdul.append(hdu)
    hdul.writeto(path, overwrite=True)
    return path
