"""Every path the project reads or writes, in one place.

``SNNCONV_DATA`` and ``SNNCONV_STORE`` override the data folder and the artifact store; by default
both live in the checkout (``data/`` and ``.snnconv-store/``), or in the working directory when the
package is installed elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent

#: Seconds between progress-bar refreshes: executed notebooks keep every refresh as output.
PROGRESS_INTERVAL = 10.0


def project_root() -> Path:
    """The checkout that holds the package, else the current working directory."""
    candidate = PACKAGE.parent
    return candidate if (candidate / "pyproject.toml").exists() else Path.cwd()


def data_root() -> Path:
    return Path(os.environ.get("SNNCONV_DATA", project_root() / "data"))


def store_root() -> Path:
    return Path(os.environ.get("SNNCONV_STORE", project_root() / ".snnconv-store"))
