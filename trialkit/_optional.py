"""Optional extras: import a package that only an extra installs, or say which extra to install.

The core install (``pip install trialkit``) is the analysis library. Features built on Jupyter or
Excel need an extra, and reaching one without it raises :class:`~trialkit.errors.MissingDependencyError`
naming the ``pip install`` command instead of a bare ``ImportError``:

========== ============================================================ ===========================
extra      packages                                                     needed by
========== ============================================================ ===========================
notebooks  jupyterlab, ipywidgets, anywidget                            the ``*_explorer`` widgets
reports    papermill, nbclient, nbconvert, nbformat, jupyter-client,    ``render_site_reports``,
           ipykernel, tqdm                                              ``trialkit reports``
excel      openpyxl                                                     reading and writing .xlsx
all        every extra above
========== ============================================================ ===========================
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import MissingDependencyError

__all__ = ["EXTRAS", "require", "require_extra"]

#: extra -> the importable modules it provides (what trialkit imports from it)
EXTRAS: dict[str, tuple[str, ...]] = {
    "notebooks": ("ipywidgets", "IPython", "anywidget"),
    "reports": ("papermill", "nbclient", "nbconvert", "nbformat", "jupyter_client", "jupyter_core", "ipykernel",
                "tqdm"),
    "excel": ("openpyxl",),
}
_EXTRA_OF = {module: extra for extra, modules in EXTRAS.items() for module in modules}


def _message(feature: str, missing: list[str], extra: str) -> str:
    names = ", ".join(f"`{m}`" for m in missing)
    return (f"{feature} needs {names}, which the core install of trialkit leaves out: "
            f"install the `{extra}` extra with `pip install 'trialkit[{extra}]'` (or `trialkit[all]`).")


def require(module: str, *, feature: str) -> ModuleType:
    """Import ``module`` (from an optional extra) or raise MissingDependencyError naming the extra.

    Examples
    --------
    >>> from trialkit._optional import require
    >>> require("openpyxl", feature="writing .xlsx").__name__
    'openpyxl'
    """
    top = module.split(".")[0]
    extra = _EXTRA_OF[top]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(_message(feature, [top], extra)) from exc


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module blocked in sys.modules, or a broken install
        return False


def require_extra(extra: str, *, feature: str) -> None:
    """Check that every package of ``extra`` is installed (without importing them); raise if not.

    Examples
    --------
    >>> from trialkit._optional import require_extra
    >>> require_extra("reports", feature="render_site_reports")
    """
    missing = [m for m in EXTRAS[extra] if not _installed(m)]
    if missing:
        raise MissingDependencyError(_message(feature, missing, extra))
