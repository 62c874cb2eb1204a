"""`python -m accelctl` runs the CLI."""

from accelctl.cli.main import run

run()
