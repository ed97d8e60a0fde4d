"""``python -m fastconv``: the ``fastconv`` command (see :mod:`fastconv._cli`)."""

import sys

from fastconv._cli import main

if __name__ == "__main__":
    sys.exit(main())
