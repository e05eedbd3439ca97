"""`python -m camstream` runs the same CLI as the `camstream` command."""

from __future__ import annotations

from camstream.cli import main

if __name__ == "__main__":
    main()
