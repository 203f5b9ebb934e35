"""Interactive review of the cosmic-ray masks (``interactive: True``).

One public entry: :class:`InteractiveReviewer`, which the core calls through
the :class:`megara_crplugin.hooks.Reviewer` protocol, plus
:func:`display_available` for the command-line fallback.  Importing this
package changes no global matplotlib state and does not import pyplot.
"""

from ._display import display_available
from ._keys import HISTOGRAM_HELP, MEDIANCR_HELP, RESIMULATE_KEY
from ._reviewer import InteractiveReviewer

__all__ = [
    "HISTOGRAM_HELP",
    "MEDIANCR_HELP",
    "RESIMULATE_KEY",
    "InteractiveReviewer",
    "display_available",
]
