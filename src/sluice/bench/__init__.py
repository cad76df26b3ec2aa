"""Measurements: the scenarios behind ``sluice demo`` and the benchmarks.

Every scenario measures a baseline and the sluice variant in the same run, so what it reports
is a ratio on this machine, not a number from somewhere else.
"""
