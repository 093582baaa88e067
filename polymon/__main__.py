"""`python -m polymon` is the same as the `polymon` console script."""

from polymon.cli import main

main()
