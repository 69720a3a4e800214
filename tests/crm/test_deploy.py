"""Production settings pass the deployment checklist and refuse unsafe starts."""

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "SECRET_KEY": "a-long-random-production-secret-" + "k" * 40,
    "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "DATABASE_URL": "postgres://crm@db.internal:5432/crm",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "ALLOWED_HOSTS": "crm.example.org",
    "PUBLIC_BASE_URL": "https://crm.example.org",
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "a-twilio-auth-token",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {
        key: value
        for key, value in os.environ.items()
        if key not in PRODUCTION_ENV and key != "DJANGO_SETTINGS_MODULE"
    }
    return subprocess.run(  # noqa: S603 - fixed arguments, our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_check_reports_no_warnings_with_production_settings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        "--settings=crm.settings.production",
        env=PRODUCTION_ENV,
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_an_encryption_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "FIELD_ENCRYPTION_KEY"}

    result = run_manage("check", "--settings=crm.settings.production", env=env)

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY must be set in production" in result.stderr


def test_production_refuses_sqlite():
    env = {**PRODUCTION_ENV, "DATABASE_URL": "sqlite:////tmp/crm.sqlite3"}

    result = run_manage("check", "--settings=crm.settings.production", env=env)

    assert result.returncode != 0
    assert "production needs PostgreSQL" in result.stderr


def test_production_refuses_twilio_texting_without_the_auth_token():
    # Without it no webhook signature can be checked, so none could be trusted.
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "TWILIO_AUTH_TOKEN"}

    result = run_manage("check", "--settings=crm.settings.production", env=env)

    assert result.returncode != 0
    assert "TWILIO_AUTH_TOKEN must be set to send texts by Twilio" in result.stderr
