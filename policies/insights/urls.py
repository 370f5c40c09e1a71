from django.urls import path

from policies.insights import views

# The names stay in the "policies" namespace: policies:analysis and policies:flag_resolve.
app_name = "policies"

urlpatterns = [
    path("analysis/", views.analysis_page, name="analysis"),
    path("flags/<int:pk>/resolve/", views.flag_resolve, name="flag_resolve"),
]
