"""Integration of megara_crplugin in numina and the MEGARA DRP (megaradrp).

* :mod:`.plugin`: the ``numina.plugins.1`` hook (``register``) and
  ``install()``, which add the ``crplugin`` pipeline to megaradrp's MEGARA DRP
  from the overlay files of ``megara_crplugin.drp_config``.
* :mod:`.recipes`: ``CrDetectionRecipe`` (mode MegaraCrDetection) and the
  CR-aware science recipes.
* :mod:`.parameters`: numina Parameters generated from the parameter schema.

Importing this package does not import numina or megaradrp; the submodules do.
"""
