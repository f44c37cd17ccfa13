"""``python -m ocikit``: the command line, exactly as the ``ocikit`` entry point."""

import sys

from ocikit.cli import main

sys.exit(main())
