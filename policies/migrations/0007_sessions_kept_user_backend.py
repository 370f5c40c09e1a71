"""Sessions signed in through Django's ModelBackend now name policies.permissions.KeptUserBackend, which replaced
it in AUTHENTICATION_BACKENDS: nobody is signed out by the change. (A session records the path of the backend
that signed it in, and Django signs out a session whose backend is no longer listed.)"""

from django.conf import settings
from django.db import migrations

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
KEPT_USER_BACKEND = "policies.permissions.KeptUserBackend"
BACKEND_KEY = "_auth_user_backend"  # django.contrib.auth.BACKEND_SESSION_KEY


def _move(apps, old: str, new: str) -> None:
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    Session = apps.get_model("sessions", "Session")
    moved = []
    for session in Session.objects.iterator(chunk_size=2000):
        data = store.decode(session.session_data)  # {} when it does not verify: left as it is
        if data.get(BACKEND_KEY) == old:
            data[BACKEND_KEY] = new
            session.session_data = store.encode(data)
            moved.append(session)
        if len(moved) >= 2000:
            Session.objects.bulk_update(moved, ["session_data"])
            moved = []
    Session.objects.bulk_update(moved, ["session_data"])


def forwards(apps, schema_editor) -> None:
    _move(apps, MODEL_BACKEND, KEPT_USER_BACKEND)


def backwards(apps, schema_editor) -> None:
    _move(apps, KEPT_USER_BACKEND, MODEL_BACKEND)


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0006_perf_rules_version"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
