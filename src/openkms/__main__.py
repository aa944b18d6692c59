"""``python -m openkms``."""

from openkms.cli._entry import openkms

openkms()
