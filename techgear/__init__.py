"""Operator tooling: the ``techgear`` command, local services and ``make run``."""
