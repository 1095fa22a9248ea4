"""The settings as they ship: production passes Django's deployment checklist, servers default to
production settings, and the published development key is refused unless DEBUG is on."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Placeholders: nothing here connects, and set URLs keep the settings from starting embedded servers.
SERVERS = {"DATABASE_URL": "postgres://settings-test@127.0.0.1:1/unused", "REDIS_URL": "redis://127.0.0.1:1/0"}


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") and k not in SERVERS}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**clean, **SERVERS, **env}, capture_output=True, text=True
    )


def test_check_deploy_is_clean_with_the_production_defaults():
    result = run(
        "manage.py", "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_SETTINGS_MODULE="config.settings.production", DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_wsgi_defaults_to_the_production_settings():
    code = "import config.wsgi; from django.conf import settings; print(settings.SETTINGS_MODULE, settings.DEBUG)"
    result = run("-c", code, DJANGO_SECRET_KEY=secrets.token_urlsafe(50))
    assert result.stdout.split() == ["config.settings.production", "False"], result.stderr


def test_the_development_key_is_refused_unless_debug_is_on():
    load = "from django.conf import settings; print(settings.SECRET_KEY)"
    refused = [
        run("-c", load, DJANGO_SETTINGS_MODULE="config.settings.production"),
        run("-c", load, DJANGO_SETTINGS_MODULE="config.settings.local", DJANGO_DEBUG="false"),
        run(
            "-c", load, DJANGO_SETTINGS_MODULE="config.settings.production",
            DJANGO_SECRET_KEY="insecure-local-development-key-change-me",
        ),
    ]  # fmt: skip
    for result in refused:
        assert result.returncode != 0 and "Set DJANGO_SECRET_KEY" in result.stderr
    debug = run("-c", load, DJANGO_SETTINGS_MODULE="config.settings.local")
    assert debug.returncode == 0 and debug.stdout.strip() == "insecure-local-development-key-change-me"
