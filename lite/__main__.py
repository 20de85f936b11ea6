"""`python -m lite ...`"""

import sys

from lite.cli import main

if __name__ == "__main__":
    sys.exit(main())
