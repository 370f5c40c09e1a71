from django.urls import path

from requests import views

app_name = "requests"

urlpatterns = [
    path("new/", views.request_new, name="new"),
    path("new/preview/", views.request_preview, name="preview"),
    path("mine/", views.my_requests, name="mine"),
    path("queue/", views.queue, name="queue"),
    path("queue/claim/", views.queue_claim, name="queue_claim"),
    path("all/", views.all_requests, name="all"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("out-of-office/", views.delegation, name="delegation"),
    path("preferences/", views.preferences, name="preferences"),
    path("email/<str:token>/", views.email_decide, name="email_decide"),
    path("<int:pk>/", views.request_detail, name="detail"),
    path("<int:pk>/message/", views.request_message, name="message"),
    path("<int:pk>/decide/", views.request_decide, name="decide"),
    path("<int:pk>/claim/", views.request_claim, name="claim"),
    path("<int:pk>/ask/", views.request_ask, name="ask"),
    path("<int:pk>/answer/", views.request_answer, name="answer"),
]
