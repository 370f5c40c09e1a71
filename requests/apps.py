from django.apps import AppConfig


class RequestsConfig(AppConfig):
    name = "requests"
    verbose_name = "Exception requests"

    def ready(self) -> None:
        # The admin (first in INSTALLED_APPS) has loaded every admin module by now: every list,
        # the project's, Django auth's and django-axes', answers an unreadable filter with
        # "?e=1" instead of a 500.
        from exceptions_portal.admin_safety import make_every_changelist_safe

        make_every_changelist_safe()
