"""CSV exports cannot smuggle a formula into a spreadsheet, whatever the reader's list separator:
every text cell is quoted, and every formula start (at the start of a cell, or after a separator
inside it) is made literal with an apostrophe."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from policies.insights.exports import csv_chunks, neutralise_cell
from requests.services import exception_request_file
from tests.conftest import facts

TRIGGERS = ("=", "+", "-", "@")


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('Acme;=1+2;=HYPERLINK("http://evil.example")', "Acme;'=1+2;'=HYPERLINK(\"http://evil.example\")"),
        ("Acme,=1+2", "Acme,'=1+2"),
        ("Acme\t=1+2", "Acme\t'=1+2"),
        ("Acme; @SUM(A1)", "Acme; '@SUM(A1)"),
        ("Acme|+1", "Acme|'+1"),
        ("line\n=1", "line\n'=1"),
        ("=1+1", "'=1+1"),
        ("-5", "'-5"),
        ("\t=1", "'\t'=1"),
        ("Smith-Jones, a@b.example", "Smith-Jones, a@b.example"),
        ("Plain text; nothing else", "Plain text; nothing else"),
    ],
)
def test_neutralise_cell(cell, safe):
    assert neutralise_cell(cell) == safe


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_no_cell_starts_a_formula_whatever_separator_the_reader_uses(separator):
    hostile = f'Acme{separator}=1+2{separator}=HYPERLINK("http://evil.example"){separator}@cmd{separator} -3'
    text = "".join(csv_chunks([["customer", "amount"], [hostile, 3], ["=1+1", -2]]))
    # Every text cell is quoted, numbers are not.
    assert text.splitlines()[0] == '"customer","amount"'
    assert text.splitlines()[2] == '"\'=1+1",-2'
    for reader_separator in (",", ";", "\t"):
        # A reader honouring the quotes (Excel with any list separator) ...
        for row in csv.reader(io.StringIO(text), delimiter=reader_separator):
            for cell in row:
                assert cell == "-2" or not cell.lstrip(" ").startswith(TRIGGERS), (reader_separator, cell)
        # ... and one that splits on the separator and ignores the quotes.
        for line in text.splitlines():
            for piece in re.split(re.escape(reader_separator), line):
                bare = piece.strip(' "')
                if bare and bare != "-2":
                    assert not bare.startswith(TRIGGERS), (reader_separator, piece)
    # Round trip: the reader gets the text back, made literal.
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][0] == neutralise_cell(hostile)


@pytest.mark.django_db
def test_the_customers_export_quotes_and_neutralises_a_hostile_name(client, rep, admin_user, policy):
    hostile = "Acme;=1+2;=HYPERLINK(1)"
    for amount in (Decimal("10"), Decimal("20")):  # the customers table lists repeat customers
        exception_request_file(rep=rep, facts=facts(policy, customer_ref="C-9", customer_name=hostile, amount=amount))
    client.force_login(admin_user)
    response = client.get(reverse("policies:analysis"), {"export": "customers"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    assert "\"Acme;'=1+2;'=HYPERLINK(1)\"" in text, text
    assert ";=" not in text
