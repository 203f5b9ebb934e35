"""numina recipes of the ``crplugin`` pipeline of the MEGARA DRP.

* :class:`CrDetectionRecipe` (mode ``MegaraCrDetection``): megaradrp's
  reduction flows (overscan, trimming, bad pixels, bias, dark, gain ->
  electrons) applied to every exposure, then
  :func:`megara_crplugin.pipeline.compute_crmasks`; result ``crmasks``
  (``crmasks.fits``: MEDIANCR, MEANCRT, CRMASK1..N, MEANCR, mask polarity
  True/1 = cosmic ray).
* CR-aware science recipes (subclasses of megaradrp's image recipes):
  ``method`` accepts mean, median, sigmaclip (megaradrp's stock path) and
  mediancr, meancrt, meancr, meancr2 (each frame fully pre-reduced, then
  :func:`megara_crplugin.combination.combine` with the ``crmasks``).

Units: the preprocessed frames and every combined image are in electrons
(megaradrp's gain correction); the recipe passes gain = 1 e-/ADU and bias = 0
to the core, and ``rnoise`` in electrons.
"""

from __future__ import annotations

import datetime
import os
import uuid as uuidlib
from pathlib import Path
from typing import Any

import megaradrp.requirements as reqs
import numpy as np
from astropy.io import fits
from megaradrp.core.recipe import MegaraBaseRecipe
from megaradrp.ntypes import CRMasks
from megaradrp.recipes.auxiliary.acquisitionlcb import AcquireLCBRecipe
from megaradrp.recipes.auxiliary.acquisitionmos import AcquireMOSRecipe
from megaradrp.recipes.calibration.lcbstdstar import LCBStandardRecipe
from megaradrp.recipes.calibration.mosstdstar import MOSStandardRecipe
from megaradrp.recipes.scientific.base import ImageRecipe
from megaradrp.recipes.scientific.lcb import LCBImageRecipe
from megaradrp.recipes.scientific.mos import MOSImageRecipe
from numina.core import Parameter, Result
from numina.frame.utils import copy_img

from ..combination import CR_METHODS
from ..config import COMBINATIONS, ConfigError, revalidate, validate_parameters
from ..exceptions import InputError, UserStop
from ..provenance import variance_definition
from ._checks import (
    calibration_history,
    mark_stock_variance,
    mode_name,
    resolve_method,
    science_requirements,
)
from ._recipe_helpers import (
    RecipeInputError,
    _check_distinct,
    _check_n_frames,
    _check_names,
    _display_available,
    _frame_label,
    _frame_uuids,
    _LogProgress,
    _preprocess,
    _with_master_bpm,
    _write_atomic,
)
from .parameters import recipe_parameters, schema_values

__all__ = [
    "CR_METHODS",
    "SCIENCE_METHODS",
    "CrAcquireLCBRecipe",
    "CrAcquireMOSRecipe",
    "CrDetectionRecipe",
    "CrImageCombination",
    "CrLCBImageRecipe",
    "CrLCBStandardRecipe",
    "CrMOSImageRecipe",
    "CrMOSStandardRecipe",
    "RecipeInputError",
]

# CR_METHODS (the combination methods that need the masks) comes from combination.
#: ``method`` values of the science recipes (sigmaclip: megaradrp's stock path).
SCIENCE_METHODS = ("mean", "median", "sigmaclip", *CR_METHODS)
#: Keys accepted in ``method_kwargs`` with a CR method.
CR_METHOD_KWARGS = ("apply_flux_factor", "use_auxmedian", "dtype")


# --------------------------------------------------------------------------- MegaraCrDetection

#: Recipe base holding one numina Parameter per schema entry (generated, not listed).
CrDetectionParameters = type(
    "CrDetectionParameters",
    (MegaraBaseRecipe,),
    {
        "__module__": __name__,
        "__doc__": "Parameters of MegaraCrDetection, generated from megara_crplugin.config.",
        **recipe_parameters(),
    },
)


class CrDetectionRecipe(CrDetectionParameters):
    """Cosmic-ray masks of N >= 3 equivalent MEGARA exposures (megara_crplugin).

    Each frame goes through megaradrp's reduction flows (overscan and
    trimming; bad pixels, bias, dark and gain: the result is in electrons),
    then :func:`megara_crplugin.pipeline.compute_crmasks` runs with gain = 1,
    bias = 0 and ``rnoise`` in electrons.  Every key of the parameter schema
    is a recipe parameter (``numina show-recipes -i MEGARA -m
    MegaraCrDetection``) except gain and bias, fixed by the recipe.

    ``interactive`` (default True) only takes effect when a display is
    available; otherwise the run is unattended and a warning is logged.

    Result ``crmasks`` (``crmasks.fits`` in the results folder): PRIMARY with
    ``UUID``, ``FLUXFi``, ``FUUIDi`` (frame UUIDs), the parameters and
    numina's NUM* keywords; MEDIANCR, MEANCRT, CRMASK1..N, MEANCR (uint8,
    1 = cosmic ray); optional AUXCLEAN and RPMEDIAN.  Diagnostic figures and
    tables go to the work folder.
    """

    master_bias = reqs.MasterBiasRequirement()
    master_dark = reqs.MasterDarkRequirement()
    master_bpm = reqs.MasterBPMRequirement()

    save_preprocessed = Parameter(
        False, "Write preprocessed_<i>.fits and preprocessed_median.fits (e-) in the work folder"
    )
    save_postprocessed = Parameter(
        False, "Write postprocessed_<method>.fits, the 7 combinations (e-), in the work folder"
    )

    selftest = Parameter(
        0,
        "Self-test: events injected into copies of the frames after the masks (0 = off); "
        "selftest.csv and selftest.png go to the results folder",
    )

    crmasks = Result(CRMasks)

    def build_recipe_input(self, ob, dal):
        """Build the input as numina does, after refusing misspelt requirement names."""
        _check_names(self, ob)
        return super().build_recipe_input(ob, dal)

    def _config(self, rinput: Any, n: int, shape: tuple[int, int] | None):
        try:
            return validate_parameters(schema_values(rinput), n_images=n, shape=shape)
        except ConfigError as exc:
            raise RecipeInputError(f"MegaraCrDetection: invalid parameters:\n{exc}") from None

    def _with_shape(self, config: Any, shape: tuple[int, int]):
        """``config`` bound to the preprocessed frames' shape (the checks needing it only)."""
        try:
            return revalidate(config, shape=shape)
        except ConfigError as exc:
            raise RecipeInputError(f"MegaraCrDetection: invalid parameters:\n{exc}") from None

    def run(self, rinput: Any):
        """Compute the masks; see the class docstring."""
        self.logger.info("start MegaraCrDetection (megara_crplugin)")
        frames = _check_n_frames(rinput, "MegaraCrDetection")
        n = len(frames)
        labels = [_frame_label(f, i) for i, f in enumerate(frames, start=1)]
        config = self._config(rinput, n, None)  # before the expensive work
        selftest_dir = self._selftest_dir(rinput)
        uuids = _frame_uuids(frames)
        _check_distinct(uuids, labels, "MegaraCrDetection")

        arrays, reduced = _preprocess(self, rinput)
        config = self._with_shape(config, arrays[0].shape)
        config = _with_master_bpm(self, rinput, config)
        if config.interactive and not _display_available():
            self.logger.warning(
                "interactive: no display is available, running without interaction "
                "(verify_cr disabled)"
            )
            config = config.replace(interactive=False, verify_cr=False)
        workdir = Path(self.runinfo.get("work_dir") or os.getcwd())
        if rinput.save_preprocessed:
            self._save_preprocessed(arrays, reduced, workdir, config.dtype)
        first = reduced[0][0].header
        reduced = None  # only the first header is used from here; `arrays` hold the pixels
        # the frames are handed over (freed once stacked) unless used after the masks
        keep_frames = bool(rinput.save_postprocessed) or selftest_dir is not None

        reviewer = None
        if config.interactive:
            from ..interactive import InteractiveReviewer

            reviewer = InteractiveReviewer(
                output_dir=workdir if self.intermediate_results else None
            )
        from ..crmasks_file import crmasks_hdulist, read_crmasks
        from ..pipeline import compute_crmasks

        self.logger.info("%d images to generate CR masks (%s)", n, ", ".join(labels))
        try:
            result = compute_crmasks(
                arrays,
                config,
                output_dir=workdir if self.intermediate_results else None,
                progress=_LogProgress(self.logger),
                reviewer=reviewer,
                frame_names=labels,
                units="electron",  # the reduction flows end with the gain applied
                release_frames=not keep_frames,
            )
        except (ConfigError, InputError) as exc:
            raise RecipeInputError(f"MegaraCrDetection: {exc}") from None
        except UserStop:
            raise RecipeInputError(
                "MegaraCrDetection: stopped by the operator, no masks written"
            ) from None

        history = ["---"]
        for label, fid in zip(labels, uuids, strict=True):
            history.append(f"Image {fid} {label}")
        history.append("---")
        for name, mask in result.masks.items():
            history.append(f"Extension {name}: {int(np.count_nonzero(mask))} masked pixels")
        history += calibration_history(rinput)
        hdul = crmasks_hdulist(
            result,
            history=history,
            frame_uuids=tuple(uuids),
        )
        hdr = hdul[0].header
        for key in ("INSTRUME", "INSCONF", "INSMODE", "VPH", "OBJECT"):
            if key in first:
                hdr[key] = first[key]
        self.set_base_headers(hdr)
        no_uuid = [lab for lab, fid in zip(labels, uuids, strict=True) if fid.startswith("sha256:")]
        if no_uuid:
            self.logger.warning(
                "frames without UUID (%s): recorded by a checksum of their pixels",
                ", ".join(no_uuid),
            )

        if rinput.save_postprocessed:
            self._save_postprocessed(arrays, read_crmasks(hdul), workdir, config, first=first)
        if selftest_dir is not None:
            from ..selftest_output import selftest_to

            base = None if config.interactive else result.masks
            selftest_to(selftest_dir, arrays, config, rinput.selftest, base, self.logger.info)
        self.logger.info("end MegaraCrDetection")
        return self.create_result(crmasks=hdul)

    def _selftest_dir(self, rinput: Any) -> Path | None:
        """Results folder of the self-test (None when off); checked before the work."""
        count = rinput.selftest
        if not count:
            return None
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise RecipeInputError(f"selftest: expected a number of events >= 0, got {count!r}")
        from ..selftest_output import check_free

        folder = Path(self.runinfo.get("results_dir") or os.getcwd())
        try:
            check_free(folder, option="selftest: results folder")
        except FileExistsError as exc:
            raise RecipeInputError(str(exc)) from None
        return folder

    def set_base_headers(self, hdr: fits.Header) -> fits.Header:
        """Numina's NUM* keywords plus ``NUMTYPE = 'CRMasks'``."""
        hdr = super().set_base_headers(hdr)
        hdr["NUMTYPE"] = ("CRMasks", "Product type")
        return hdr

    def _save_preprocessed(self, arrays, reduced, workdir: Path, dtype: str) -> None:
        if not self.intermediate_results:
            self.logger.warning(
                "save_preprocessed: intermediate results are disabled, nothing written"
            )
            return
        width = len(str(len(arrays)))
        for i, hdul in enumerate(reduced, start=1):
            _write_atomic(hdul, workdir / f"preprocessed_{i:0{width}d}.fits")
        median = np.median(np.stack(arrays), axis=0).astype(dtype)
        primary = fits.PrimaryHDU(median, header=reduced[0][0].header.copy())
        # marks it as a combined product, so 'compute' refuses it as an input
        primary.header["NCOMBINE"] = (len(arrays), "exposures combined")
        primary.header["COMBMETH"] = ("median", "combination method")
        primary.header["BUNIT"] = "electron"
        _write_atomic(fits.HDUList([primary]), workdir / "preprocessed_median.fits")
        self.logger.info("preprocessed frames written to %s", workdir)

    def _save_postprocessed(self, arrays, masks, workdir: Path, config, first=None) -> None:
        if not self.intermediate_results:
            self.logger.warning(
                "save_postprocessed: intermediate results are disabled, nothing written"
            )
            return
        from ..combination import combine
        from ..crmasks_file import combined_hdulist
        from ..provenance import combined_header

        use_aux = bool(config.use_auxmedian and masks.auxclean is not None)
        for method in COMBINATIONS:
            comb = combine(arrays, method, masks=masks, use_auxmedian=use_aux, dtype=config.dtype)
            header = combined_header(first, method=method, inputs=[], masks_uuid=masks.uuid)
            header["NCOMBINE"] = len(arrays)
            header["BUNIT"] = "electron"
            hdul = combined_hdulist(comb, masks_uuid=masks.uuid, header=header)
            _write_atomic(hdul, workdir / f"postprocessed_{method}.fits")
        self.logger.info("postprocessed combinations written to %s", workdir)


# --------------------------------------------------------------------------- science recipes


class CrImageCombination(ImageRecipe):
    """2-D combination with cosmic-ray masks for megaradrp's image recipes.

    It sits between a megaradrp recipe (LCBImageRecipe, ...) and
    :class:`megaradrp.recipes.scientific.base.ImageRecipe` in the method
    resolution order, so the ``super().base_run`` call of the megaradrp
    recipe lands here.  Plain methods (mean, median, sigmaclip) use
    megaradrp's stock path; CR methods reduce every frame with both flows,
    check the masks against the frames (number, shape, UUIDs) and combine
    them with :func:`megara_crplugin.combination.combine`.
    """

    def build_recipe_input(self, ob, dal):
        """Build the input as numina does, after refusing misspelt requirement names."""
        _check_names(self, ob)
        return super().build_recipe_input(ob, dal)

    def base_run(self, rinput: Any):
        """2-D reduction and combination, then megaradrp's 1-D reduction."""
        method = resolve_method(rinput, CR_METHODS, mode_name(self), self.logger)
        if method != rinput.method:
            rinput.method = method  # 'auto' resolved
        if rinput.method not in CR_METHODS:
            reduced2d, reduced_rss = super().base_run(rinput)
            mark_stock_variance(reduced2d[0].header, method)
            return reduced2d, reduced_rss
        img = self.combine_with_crmasks(rinput)
        self.set_base_headers(img[0].header)
        self.save_intermediate_img(img, "reduced_image.fits")
        reduced2d = copy_img(img)
        reduced_rss = self.run_reduction_1d(
            img,
            rinput.master_apertures,
            rinput.master_wlcalib,
            rinput.master_fiberflat,
            rinput.master_twilight,
            offset=rinput.extraction_offset,
        )
        self.save_intermediate_img(reduced_rss, "reduced_rss.fits")
        return reduced2d, reduced_rss

    def _cr_kwargs(self, rinput: Any) -> dict[str, Any]:
        kwargs = dict(rinput.method_kwargs or {})
        if "use_lamedian" in kwargs:
            raise RecipeInputError(
                "method_kwargs: 'use_lamedian' no longer exists, use 'use_auxmedian: true'"
            )
        unknown = sorted(set(kwargs) - set(CR_METHOD_KWARGS))
        if unknown:
            raise RecipeInputError(
                f"method_kwargs: unknown key(s) {', '.join(unknown)} for method {rinput.method!r}; "
                f"allowed: {', '.join(CR_METHOD_KWARGS)}"
            )
        for key in ("apply_flux_factor", "use_auxmedian"):
            if key in kwargs and not isinstance(kwargs[key], bool):
                raise RecipeInputError(
                    f"method_kwargs.{key}: expected true or false, got {kwargs[key]!r}"
                )
        if kwargs.get("dtype", "float32") not in ("float32", "float64"):
            raise RecipeInputError(
                f"method_kwargs.dtype: expected 'float32' or 'float64', got {kwargs['dtype']!r}"
            )
        return kwargs

    def combine_with_crmasks(self, rinput: Any) -> fits.HDUList:
        """Reduce each frame fully, then combine with the masks (CR methods).

        Returns
        -------
        astropy.io.fits.HDUList
            PRIMARY (float32, e-, header of the first frame, new UUID,
            NUM-NCOM, HISTORY with the frames' and the masks' UUIDs), the
            other extensions of the first frame (FIBERS), VARIANCE (float32)
            and MAP (int16).

        Raises
        ------
        RecipeInputError
            No ``crmasks``, fewer than 3 frames, bad ``method_kwargs``, or
            masks computed for other frames (number, shape or UUIDs).
        """
        from ..combination import combine
        from ..crmasks_file import combined_hdulist, read_crmasks
        from ..identity import match_masks

        method = rinput.method
        mode = mode_name(self)
        if rinput.crmasks is None:
            raise RecipeInputError(
                f"{mode}: method {method!r} needs the cosmic-ray masks: add 'crmasks: <file>' "
                "(the crmasks.fits of a MegaraCrDetection run of the same frames) to the "
                "requirements of the observation result, or use method 'median'"
            )
        frames = _check_n_frames(rinput, mode)
        kwargs = self._cr_kwargs(rinput)
        labels = [_frame_label(f, i) for i, f in enumerate(frames, start=1)]
        uuids = _frame_uuids(frames)
        _check_distinct(uuids, labels, mode)
        masks_name = os.path.basename(str(getattr(rinput.crmasks, "filename", "") or "crmasks"))
        with rinput.crmasks.open() as hdul_masks:
            try:
                masks = read_crmasks(hdul_masks, n_frames=len(frames))
                masks = match_masks(masks, uuids, source="<HDUList>")
            except InputError as exc:
                raise RecipeInputError(
                    f"{mode}: {masks_name} does not match the frames of the observation result "
                    f"({', '.join(labels)}): {str(exc).replace('<HDUList>', masks_name)}"
                ) from None
        self.logger.info("masks %s (uuid %s) for %d frames", masks_name, masks.uuid, len(frames))

        arrays, reduced = _preprocess(self, rinput)
        if tuple(arrays[0].shape) != tuple(masks.shape):
            raise RecipeInputError(
                f"{mode}: {masks_name} does not match the frames of the observation result: "
                f"masks of shape {tuple(masks.shape)}, preprocessed frames of shape "
                f"{tuple(arrays[0].shape)}"
            )
        apply_ff = kwargs.get("apply_flux_factor")
        if apply_ff is None:
            apply_ff = masks.apply_flux_factor_to == "original"
            self.logger.info(
                "apply_flux_factor=%s (masks computed with apply_flux_factor_to=%r)",
                apply_ff,
                masks.apply_flux_factor_to,
            )
        use_aux = bool(kwargs.get("use_auxmedian", False))
        if use_aux and masks.auxclean is None:
            raise RecipeInputError(
                f"{mode}: method_kwargs.use_auxmedian is true but {masks_name} "
                "has no AUXCLEAN extension"
            )
        self.logger.info("stacking %d images using %r with cosmic-ray masks", len(arrays), method)
        comb = combine(
            arrays,
            method,
            masks=masks,
            bias=0.0,
            use_auxmedian=use_aux,
            apply_flux_factor=apply_ff,
            dtype=kwargs.get("dtype", "float32"),
        )
        base = reduced[0][0].header.copy()
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat()
        history = [f"Combined {len(arrays)} images using '{method}'", f"Combination time {stamp}"]
        history += [f"Image {fid} {lab}" for fid, lab in zip(uuids, labels, strict=True)]
        history.append(f"apply_flux_factor={apply_ff}, use_auxmedian={use_aux}")
        history += calibration_history(rinput)
        out = combined_hdulist(comb, history=history, masks_uuid=masks.uuid, header=base)
        hdr = out[0].header
        hdr["VARDEF"] = variance_definition(method)[:68]
        hdr.add_comment(f"VARIANCE extension ({method}): {variance_definition(method)}")
        hdr["BUNIT"] = "electron"
        hdr["NUM-NCOM"] = int(base.get("NUM-NCOM", 1)) * len(arrays)
        hdr["UUID"] = str(uuidlib.uuid1())
        for k, ext in enumerate(reduced[0][1:], start=1):
            out.insert(k, ext.copy())
        return out


_SCIENCE_DOC = (
    "{base} with cosmic-ray masks (megara_crplugin).\n\n"
    "    megaradrp's {base}; ``method`` also accepts mediancr, meancrt, meancr and\n"
    "    meancr2, which need ``crmasks`` (the result of MegaraCrDetection for the same\n"
    "    frames).  ``method_kwargs`` may hold apply_flux_factor (default: what the\n"
    "    masks record as apply_flux_factor_to), use_auxmedian and dtype.\n"
)


def _cr_aware(base: type, name: str) -> type:
    """Subclass of megaradrp recipe `base` whose 2-D combination accepts CR methods."""
    namespace = {
        "__module__": __name__,
        "__qualname__": name,
        "__doc__": _SCIENCE_DOC.format(base=base.__name__),
        **science_requirements(SCIENCE_METHODS),
    }
    return type(name, (base, CrImageCombination), namespace)


CrLCBImageRecipe = _cr_aware(LCBImageRecipe, "CrLCBImageRecipe")
CrMOSImageRecipe = _cr_aware(MOSImageRecipe, "CrMOSImageRecipe")
CrLCBStandardRecipe = _cr_aware(LCBStandardRecipe, "CrLCBStandardRecipe")
CrMOSStandardRecipe = _cr_aware(MOSStandardRecipe, "CrMOSStandardRecipe")
CrAcquireLCBRecipe = _cr_aware(AcquireLCBRecipe, "CrAcquireLCBRecipe")
CrAcquireMOSRecipe = _cr_aware(AcquireMOSRecipe, "CrAcquireMOSRecipe")
