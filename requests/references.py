"""Customer references: one customer however the rep types the reference.

A reference is compared in a normalised form, its *key*: Unicode compatibility forms folded
(full-width ``ＤＥＭＯ`` is ``DEMO``, a decomposed accent is the composed one), case-folded, every
kind of space and invisible character removed (no-break, ideographic, zero-width, byte-order
mark), every kind of dash read as ``-``, and trailing punctuation dropped (``.``, ``/``, ``。``,
``…``, ``”``). So ``DEMO-1001``, ``demo-1001 ``, ``DEMO-1001.`` and ``DEMO-1001/`` are one
customer, and ``DEMO 1001`` is ``DEMO1001`` (inner spaces go, inner punctuation stays). The
reference as first typed is kept for display. Pure functions of plain strings, so that they are
tested with tables.
"""

from __future__ import annotations

import re
import string
import unicodedata

# The ``ref_key`` column's length (requests.models.Customer): case folding can lengthen a reference
# ("ß" is "ss"), so a key is checked against it before it is stored.
REF_KEY_MAX_LENGTH = 64


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _dropped(char: str) -> bool:
    """Spaces of every kind, and what cannot be seen: format (zero-width, BOM) and control characters."""
    return char.isspace() or unicodedata.category(char) in ("Cf", "Cc")


def _trailing(char: str) -> bool:
    """Punctuation a rep types at the end of a reference by accident (a full stop, a slash, a quote)."""
    return char in string.punctuation or unicodedata.category(char).startswith("P")


def customer_ref_key(reference: str) -> str:
    """The normalised key of a customer reference; empty when nothing is left of it."""
    kept = ("-" if unicodedata.category(char) == "Pd" else char for char in _normal(reference) if not _dropped(char))
    key = _normal("".join(kept).casefold())
    end = len(key)
    while end and _trailing(key[end - 1]):
        end -= 1
    return key[:end]


def customer_name_key(name: str) -> str:
    """A customer's name as compared: case, spacing and Unicode forms do not make another person."""
    return _normal(" ".join(_normal(name).split()).casefold())


def names_differ(recorded: str, typed: str) -> bool:
    """Whether a name typed for a known reference names someone else. An empty name means "the known one"."""
    return bool(typed.strip()) and customer_name_key(recorded) != customer_name_key(typed)


_KEY_SHAPE = re.compile(r"^\w[\w./-]*$")


def customer_ref_problem(reference: str, *, typed: bool = True) -> str | None:
    """Why a reference cannot name a customer; None when it can. Judged on its key, so that what the key
    drops (case, spaces, trailing punctuation) never refuses a reference. Every reference needs a key
    that fits its column; one typed in the form also starts with a letter or digit and holds only
    letters, digits, dots, dashes, underscores and slashes (``typed=False``: references from elsewhere,
    such as imports, keep their own shape)."""
    key = customer_ref_key(reference)
    if not key:
        return "Give the customer's reference (letters or digits)."
    if len(key) > REF_KEY_MAX_LENGTH:
        return f"The customer's reference is too long once normalised (at most {REF_KEY_MAX_LENGTH} characters)."
    if typed and not _KEY_SHAPE.match(key):
        return "Use letters, digits, spaces, dots, dashes or slashes."
    return None
