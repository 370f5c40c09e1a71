"""The smallest Django project that files a row: the yardstick for the portal's filing POST (bench/filing.py).

It shares the bench database (and so the users and sessions) with the portal: one view does one INSERT,
anonymously or behind login and CSRF, with the middleware a Django project needs for that and nothing else.
"""

import os

import environ

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "bench.bare.urls"
DATABASES = {
    "default": {**environ.Env.db_url_config(os.environ["DATABASE_URL"]), "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}
}
USE_TZ = True
