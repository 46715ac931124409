"""``python -m snnconv``: see :mod:`snnconv.cli`."""

import sys

from snnconv.cli import main

sys.exit(main())
