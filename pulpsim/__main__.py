"""``python -m pulpsim`` is the ``pulpsim`` command."""

import sys

from .cli import main

sys.exit(main())
