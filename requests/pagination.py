"""Pages of a list too long to count."""

from __future__ import annotations

from collections.abc import Callable

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

MAX_ROWS = 10**12


class CappedPaginator(Paginator):
    """A paginator that counts at most ``look_ahead`` rows past the start of the page asked for.

    Counting a queue costs as much as reading all of it, however few rows the page shows: with 100,000
    open requests the count was most of the queue page's time. An approver needs to know that more than
    a thousand wait, not how many more. Every page up to ``num_pages`` exists, and Next keeps working,
    because the count starts again from each page asked for; ``count_is_capped`` says when there may be more.
    """

    def __init__(
        self,
        object_list: QuerySet,
        per_page: int,
        *,
        look_ahead: int = 1000,
        in_order: Callable[[int], QuerySet] | None = None,
    ) -> None:
        self.in_order = in_order
        super().__init__(object_list, per_page)
        self.look_ahead = look_ahead
        # Given, object_list is only counted, and the page is read from in_order(count): the same rows,
        # in their order, planned for a list of that size (the count is exact below the cap).
        self.counted = object_list
        self._first_row = 0

    def get_page(self, number) -> Page:
        try:
            asked = max(int(number), 1)
        except (TypeError, ValueError):
            asked = 1  # get_page() shows the first page for these too
        # A typed page number past any real queue must not overflow the database's LIMIT (64-bit on
        # both engines); such a page shows the real last page anyway.
        asked = min(asked, MAX_ROWS // self.per_page)
        self._first_row = (asked - 1) * self.per_page
        for computed in ("count", "num_pages"):
            self.__dict__.pop(computed, None)
        return super().get_page(number)

    def _check_object_list_is_ordered(self) -> None:
        if self.in_order is None:  # a list only counted needs no order
            super()._check_object_list_is_ordered()

    def page(self, number) -> Page:
        if self.in_order is not None:
            self.object_list = self.in_order(self.count)
        return super().page(number)

    def rows_to_count(self) -> QuerySet:
        """The rows the count reads: up to one past the look-ahead, so that "more" is told from "exactly".

        Unordered, because any rows give the same count: PostgreSQL then counts a short queue with one hash
        join instead of walking every open request by deadline.
        """
        return self.counted.order_by()[: self._first_row + self.look_ahead + 1]

    @cached_property
    def count(self) -> int:
        return self.rows_to_count().count()

    @property
    def count_is_capped(self) -> bool:
        return self.count > self._first_row + self.look_ahead
