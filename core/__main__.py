"""`python -m core`: the command line (core/cli/main.py). Importing this module does nothing."""

from core.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
