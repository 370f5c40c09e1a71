from django.http import HttpRequest

from requests.selectors import unread_notification_count


def notifications(request: HttpRequest) -> dict:
    """The unread count the navigation's "Notifications" link shows."""
    if not request.user.is_authenticated:
        return {}
    return {"unread_notifications": unread_notification_count(user=request.user)}
