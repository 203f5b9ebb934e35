"""Tell whether this process can open GUI windows, without changing matplotlib state."""

from __future__ import annotations

import importlib.util
import os
import sys

__all__ = ["display_available"]

#: Built-in matplotlib backends that open windows on a desktop.
_GUI_BACKENDS = frozenset(
    {
        "gtk3agg",
        "gtk3cairo",
        "gtk4agg",
        "gtk4cairo",
        "macosx",
        "qtagg",
        "qtcairo",
        "qt5agg",
        "qt5cairo",
        "tkagg",
        "tkcairo",
        "wx",
        "wxagg",
        "wxcairo",
    }
)

#: Toolkits matplotlib's automatic backend selection can use on X11/Wayland.
_TOOLKIT_MODULES = ("PyQt6", "PySide6", "PyQt5", "PySide2", "gi", "tkinter", "wx")


def _configured_backend() -> str | None:
    """Return the explicitly configured backend name (lower case) or None if automatic.

    Uses the public ``matplotlib.get_backend(auto_select=False)`` (matplotlib
    >= 3.10), which does not resolve (and possibly switch) the backend as a
    side effect.
    """
    import matplotlib

    value = matplotlib.get_backend(auto_select=False)
    if value is None:
        env = os.environ.get("MPLBACKEND")
        return env.lower() if env else None
    return str(value).lower()


def _is_gui_backend(name: str) -> bool:
    if name in _GUI_BACKENDS:
        return True
    if name.startswith("module://"):
        module = name[len("module://") :]
        return any(tag in module for tag in ("qt", "tk", "gtk", "wx", "macosx"))
    return False


def _has_screen() -> bool:
    if sys.platform == "darwin" or sys.platform.startswith("win"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def display_available() -> bool:
    """Tell whether interactive figures can be shown in windows.

    Returns
    -------
    bool
        ``True`` only if (1) the configured matplotlib backend is a GUI
        backend (Qt, Tk, GTK, wx, macosx), or the backend is left to
        matplotlib's automatic choice and a GUI toolkit is installed, and
        (2) a screen is reachable: macOS, Windows, or an X11/Wayland session
        (``DISPLAY`` or ``WAYLAND_DISPLAY`` set).  Non-window backends
        (``agg``, ``pdf``, ``svg``, ``inline``, ``nbagg``, ``webagg``...)
        give ``False``.

    Notes
    -----
    The command-line shell calls this when ``interactive: True`` and falls
    back to a non-interactive run with a warning when it returns ``False``.
    Nothing is imported from pyplot and the backend is not resolved.
    """
    backend = _configured_backend()
    if backend is not None and not _is_gui_backend(backend):
        return False
    if not _has_screen():
        return False
    if backend is not None:
        return True
    if sys.platform == "darwin":
        return True
    return any(importlib.util.find_spec(name) is not None for name in _TOOLKIT_MODULES)
