"""The API's URLs: /api/v1/… , the OpenAPI schema and its docs (Swagger UI, vendored by drf-spectacular-sidecar).

The portal's LoginRequiredMiddleware would send an anonymous API call to the login page; API views
answer for themselves instead (401 problem+json), so they are marked ``login_not_required``.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from requests.api import schema, views

app_name = "api"
assert schema.ApiTokenScheme  # registers the token scheme with drf-spectacular


def _open(view):
    return login_not_required(view)


v1 = [
    path("policies/", _open(views.PolicyList.as_view()), name="policies"),
    path("policies/<int:pk>/", _open(views.PolicyDetail.as_view()), name="policy"),
    path("requests/", _open(views.RequestListCreate.as_view()), name="requests"),
    path("requests/preview/", _open(views.RoutingPreview.as_view()), name="preview"),
    path("requests/<int:pk>/", _open(views.RequestDetail.as_view()), name="request"),
    path("requests/<int:pk>/claim/", _open(views.RequestClaim.as_view()), name="claim"),
    path("requests/<int:pk>/release/", _open(views.RequestRelease.as_view()), name="release"),
    path("requests/<int:pk>/decide/", _open(views.RequestDecide.as_view()), name="decide"),
    path("requests/<int:pk>/ask/", _open(views.RequestAsk.as_view()), name="ask"),
    path("requests/<int:pk>/answer/", _open(views.RequestAnswer.as_view()), name="answer"),
    path("requests/<int:pk>/withdraw/", _open(views.RequestWithdraw.as_view()), name="withdraw"),
    path("queue/", _open(views.Queue.as_view()), name="queue"),
    path("notifications/", _open(views.Notifications.as_view()), name="notifications"),
    path("notifications/read/", _open(views.NotificationsRead.as_view()), name="notifications_read"),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", _open(SpectacularAPIView.as_view()), name="schema"),
    # The split view serves its script from a URL and the template its style from a file: no inline code
    # (CSP). No Redoc: its page loads fonts from a CDN.
    path(
        "docs/",
        _open(SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html")),
        name="docs",
    ),
    re_path(r"^.*$", _open(views.NotFound.as_view()), name="not_found"),
]
