"""megara_crplugin: multi-exposure cosmic-ray masks for numina and the MEGARA DRP.

M.M.Cosmic (median-minimum diagnostic diagram) combined with one single-image
detector (Aux.Cosmic: L.A.Cosmic, PyCosmic, deepCR, Cosmic-CoNN).
"""

from ._version import __version__

__all__ = ["__version__"]
