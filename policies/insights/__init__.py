"""Insights: learning from the exceptions filed under the rulebook.

The analysis page and its CSV exports, the charts, the review flags' checks and the weekly digest, with their
views, urls and Celery tasks. They read both the rulebook (``policies``) and the requests; nothing but the
project's urls, settings and Celery beat depends on them. Their tables stay where they are (``ReviewFlag`` and
``DigestLog`` in ``policies.models``).
"""
