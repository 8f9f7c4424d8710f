"""Affiliation Curator core: match affiliation strings to ROR institutions, without any UI."""

__version__ = "0.1.0"
