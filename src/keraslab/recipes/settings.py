"""Moved to :mod:`keraslab.options` (kept so that older imports work)."""

from keraslab.options import Settings, option  # noqa: F401
