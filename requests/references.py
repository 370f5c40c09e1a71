"""Customer references: one customer however the rep types the reference.

A reference is compared in a normalised form, its *key*: trimmed, case-folded, inner
spaces removed and trailing punctuation dropped, so that ``DEMO-1001``, ``demo-1001 ``,
``DEMO 1001.`` and ``DEMO-1001/`` are one customer. The reference as first typed is kept
for display. Pure functions of plain strings, so that they are tested with tables.
"""

from __future__ import annotations

import re
import string

_SPACES = re.compile(r"\s+")
# Punctuation a rep types at the end of a reference by accident (a sentence's full stop, a path's slash).
_TRAILING = string.punctuation


def customer_ref_key(reference: str) -> str:
    """The normalised key of a customer reference; empty when nothing is left of it."""
    key = _SPACES.sub("", reference).casefold()
    return key.rstrip(_TRAILING)


def customer_name_key(name: str) -> str:
    """A customer's name as compared: case and spacing do not make another person."""
    return " ".join(name.split()).casefold()


def names_differ(recorded: str, typed: str) -> bool:
    """Whether a name typed for a known reference names someone else. An empty name means "the known one"."""
    return bool(typed.strip()) and customer_name_key(recorded) != customer_name_key(typed)
