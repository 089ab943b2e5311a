"""`python -m core`: the command line (core/cli.py). Importing this module does nothing."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
