"""`python -m camstream.web`: the web server process camstream run starts."""

from __future__ import annotations

import sys

from camstream.web.server import main

if __name__ == "__main__":
    sys.exit(main())
