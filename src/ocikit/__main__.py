import sys

from ocikit.cli import main

sys.exit(main())
