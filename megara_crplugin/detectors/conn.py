"""Cosmic-CoNN (Xu et al. 2023, ApJ 942, 73) adapter: optional extra ``conn``.

The model is built once, in the constructor, on the CPU, from the weights
shipped inside the ``cosmic-conn`` package (no network).  The image is passed
in electrons (ADU x gain), as the LCO/HST training images; the mask is
``probability > nn_threshold``.  Cosmic-CoNN does not clean, so
:attr:`CosmicConnDetector.provides_cleaned` is False and ``cleaned`` is None.

``cosmic_conn.init_model`` calls :func:`logging.basicConfig`; the adapter
restores the root logger afterwards so that importing a model never changes
the application's logging set-up.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

from ..config.detector_config import CosmicConnConfig
from .base import BaseDetector, Detection

__all__ = ["CosmicConnDetector"]

_log = logging.getLogger(__name__)

_MODELS = ("ground_imaging", "NRES", "HST_ACS_WFC")


@contextlib.contextmanager
def _root_logging_preserved() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


class CosmicConnDetector(BaseDetector):
    """Cosmic-CoNN probability model (``nn_*`` parameters).

    Parameters
    ----------
    params : mapping, optional
        ``nn_model`` ('ground_imaging', 'NRES' or 'HST_ACS_WFC'),
        ``nn_threshold`` (0 < t < 1) and ``nn_verbose``.

    Raises
    ------
    MissingOptionalDependency
        If cosmic-conn (or torch) is not installed.
    ValueError
        If a parameter is invalid.
    """

    name: ClassVar[str] = "conn"
    prefix: ClassVar[str] = "nn_"
    provides_cleaned: ClassVar[bool] = False
    extra: ClassVar[str | None] = "conn"
    package: ClassVar[str | None] = "cosmic-conn"
    defaults: ClassVar[Mapping[str, Any]] = CosmicConnConfig.defaults
    config_class: ClassVar[type[CosmicConnConfig]] = CosmicConnConfig
    config: CosmicConnConfig

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(params)
        model = self.config.nn_model
        if model not in _MODELS:
            raise ValueError(f"nn_model must be one of {', '.join(_MODELS)}, got {model!r}")
        threshold = float(self.config.nn_threshold)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"nn_threshold must be between 0 and 1 (exclusive), got {threshold!r}")
        self.threshold = threshold
        try:
            import cosmic_conn
        except ImportError as exc:
            raise self.missing_dependency() from exc
        t0 = time.perf_counter()
        with _root_logging_preserved():
            self.model = cosmic_conn.init_model(model)
        _log.log(
            self._log_level(),
            "Cosmic-CoNN %s model loaded in %.2f s",
            model,
            time.perf_counter() - t0,
        )

    def _detect(self, image: np.ndarray, *, gain: float, rnoise: float) -> Detection:
        electrons = np.multiply(image, gain, dtype=np.float32)
        t0 = time.perf_counter()
        probability = np.asarray(self.model.detect_cr(electrons))
        mask = probability > self.threshold
        _log.log(
            self._log_level(),
            "Cosmic-CoNN: %d px in %.2f s",
            int(mask.sum()),
            time.perf_counter() - t0,
        )
        return Detection(mask=mask, cleaned=None)
