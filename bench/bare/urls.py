from django.urls import path

from bench.bare import views

urlpatterns = [
    path("anonymous/", views.file_anonymous),
    path("login/", views.file_logged_in),
]
