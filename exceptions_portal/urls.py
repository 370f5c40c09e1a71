from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from requests import views as request_views
from requests.api import tokens as api_tokens

urlpatterns = [
    path("", request_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", request_views.PortalLogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("requests/", include("requests.urls")),
    path("policies/", include("policies.insights.urls")),
    path("api/", include("requests.api.urls")),
    path("account/api-tokens/", api_tokens.api_tokens, name="api_tokens"),
]
