"""``python -m openkms``."""

from openkms.cli.main import main

main()
