"""`python -m cctvctl` runs the command line."""

from cctvctl.cli import main

main()
