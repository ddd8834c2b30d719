"""``python -m fizz_app``: see :func:`fizz_app.launcher.main`."""

from __future__ import annotations

import sys

from .launcher import main

sys.exit(main())
