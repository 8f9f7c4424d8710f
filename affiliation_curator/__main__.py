"""Entry point for ``python -m affiliation_curator``."""

import sys

from affiliation_curator.cli import main

if __name__ == "__main__":
    sys.exit(main())
