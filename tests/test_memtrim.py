"""Free memory handed back between phases (megara_crplugin._memtrim)."""

from __future__ import annotations

import gc
import weakref

import numpy as np

from megara_crplugin._memtrim import release_free_memory


class _Holder:
    pass


def test_collect_frees_an_array_held_only_by_a_reference_cycle():
    holder = _Holder()
    holder.self = holder  # a cycle: reference counting alone never frees it
    holder.data = np.ones(1000)
    alive = weakref.ref(holder.data)
    gc.disable()  # as if the collector had not visited the cycle yet
    try:
        del holder
        assert alive() is not None
        release_free_memory()  # the C heap only: the cycle stays
        assert alive() is not None
        assert isinstance(release_free_memory(collect=True), bool)
        assert alive() is None
    finally:
        gc.enable()


def test_one_arena_is_set_where_glibc_is():
    import platform

    import pytest

    from megara_crplugin._memtrim import share_one_arena

    if platform.system() != "Linux" or "glibc" not in " ".join(platform.libc_ver()):
        pytest.skip("mallopt(M_ARENA_MAX) is a glibc setting")
    assert share_one_arena() is True
    assert share_one_arena() is True  # made once, then remembered
