"""``python -m harness.target``: run the embedded reference target."""

import sys

from harness.target.cli import main

if __name__ == "__main__":
    sys.exit(main())
