from django.http import HttpRequest

from exceptions_portal import roles


def navigation(request: HttpRequest) -> dict:
    """What the navigation shows: only what the user's role may use."""
    user = request.user
    if not user.is_authenticated:
        return {}
    return {
        "nav": {
            "can_file": roles.can_file(user),
            "can_decide": roles.can_decide(user),
            "can_view_requests": roles.can_view_requests(user),
            "can_view_analysis": roles.can_view_analysis(user),
            "can_use_admin": roles.can_use_admin(user),
        }
    }
