from django.urls import path

from requests import views

app_name = "requests"

urlpatterns = [
    path("new/", views.request_new, name="new"),
    path("new/preview/", views.request_preview, name="preview"),
    path("new/customer/", views.customer_hint, name="customer_hint"),
    path("mine/", views.my_requests, name="mine"),
    path("queue/", views.queue, name="queue"),
    path("queue/claim/", views.queue_claim, name="queue_claim"),
    path("all/", views.all_requests, name="all"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("out-of-office/", views.delegation, name="delegation"),
    path("preferences/", views.preferences, name="preferences"),
    path("email/<str:token>/", views.email_decide, name="email_decide"),
    path("customers/<int:pk>/", views.customer_detail, name="customer"),
    path("<int:pk>/", views.request_detail, name="detail"),
    path("<int:pk>/message/", views.request_message, name="message"),
    path("<int:pk>/decide/", views.request_decide, name="decide"),
    path("<int:pk>/claim/", views.request_claim, name="claim"),
    path("<int:pk>/ask/", views.request_ask, name="ask"),
    path("<int:pk>/answer/", views.request_answer, name="answer"),
    path("<int:pk>/withdraw/", views.request_withdraw, name="withdraw"),
    path("<int:pk>/attachments/", views.attachment_add, name="attach"),
    path("<int:pk>/attachments/<int:attachment_pk>/", views.attachment_download, name="attachment"),
    path(
        "<int:pk>/attachments/<int:attachment_pk>/thumbnail/",
        views.attachment_download,
        {"thumbnail": True},
        name="attachment_thumbnail",
    ),
    path("<int:pk>/attachments/<int:attachment_pk>/remove/", views.attachment_remove, name="attachment_remove"),
]
