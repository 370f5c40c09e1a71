"""One INSERT per POST: the cheapest filing Django can answer."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

TABLE = "bench_bare_filing"
CREATE_TABLE = f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, customer_ref text, body text)"


def _file(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (customer_ref, body) VALUES (%s, %s)",
            [request.POST.get("customer_ref", ""), request.POST.get("situation", "")],
        )
    # A redirect, as the portal answers a filing.
    return HttpResponseRedirect("/done/")


@csrf_exempt
@require_POST
def file_anonymous(request: HttpRequest) -> HttpResponse:
    return _file(request)


@login_required
@require_POST
def file_logged_in(request: HttpRequest) -> HttpResponse:
    return _file(request)
