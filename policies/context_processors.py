from django.http import HttpRequest

from exceptions_portal import roles
from requests.selectors import unread_notification_count


def navigation(request: HttpRequest) -> dict:
    """What the navigation shows: only what the user's role may use."""
    user = request.user
    if not user.is_authenticated:
        return {}
    nav = {
        "can_file": roles.can_file(user),
        "can_decide": roles.can_decide(user),
        "can_view_requests": roles.can_view_requests(user),
        "can_view_analysis": roles.can_view_analysis(user),
        "can_use_admin": roles.can_use_admin(user),
    }
    nav["unread_notifications"] = unread_notification_count(user=user)
    return {"nav": nav}
