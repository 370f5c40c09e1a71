from django.urls import path

from policies import views

app_name = "policies"

urlpatterns = [
    path("analysis/", views.analysis_page, name="analysis"),
    path("flags/<int:pk>/resolve/", views.flag_resolve, name="flag_resolve"),
]
