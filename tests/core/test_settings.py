"""Settings: defaults that work, a secret key made once and kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from servicebay.core.settings import SettingsError, load_settings


def test_default_database_is_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite:///{tmp_path}/servicebay.db"


def test_secret_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = load_settings(data_dir=tmp_path).resolved_secret_key()
    second = load_settings(data_dir=tmp_path).resolved_secret_key()
    assert first == second and len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_configured_secret_key_wins(tmp_path: Path) -> None:
    assert load_settings(data_dir=tmp_path, secret_key="k" * 32).resolved_secret_key() == "k" * 32
    assert not (tmp_path / "secret_key").exists()


def test_plain_postgres_url_uses_psycopg3() -> None:
    settings = load_settings(database_url="postgresql://u@h/db")
    assert settings.effective_database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("database_url", "mysql://x", "SERVICEBAY_DATABASE_URL"),
        ("log_level", "loud", "SERVICEBAY_LOG_LEVEL"),
        (
            "fulfilment_allowed_networks",
            ["not-a-network"],
            "SERVICEBAY_FULFILMENT_ALLOWED_NETWORKS",
        ),
        ("reporting_timezone", "Mars/Olympus", "SERVICEBAY_REPORTING_TIMEZONE: .*no time zone"),
    ],
)
def test_invalid_setting_names_itself(name: str, value: object, needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        load_settings(**{name: value})


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"oidc_issuer": "https://sso.example.com"}, "SERVICEBAY_OIDC_CLIENT_ID: .*client id"),
        ({"oidc_issuer": "sso.example.com", "oidc_client_id": "c"}, "SERVICEBAY_OIDC_ISSUER"),
        ({"oidc_scopes": "email profile"}, "SERVICEBAY_OIDC_SCOPES: .*openid"),
        ({"oidc_team_map": {"ops": "platform:boss"}}, "SERVICEBAY_OIDC_TEAM_MAP"),
        ({"local_sign_in": "false"}, "SERVICEBAY_LOCAL_SIGN_IN: .*nobody can sign in"),
    ],
)
def test_company_sign_in_settings_that_cannot_work_stop_start_up(
    values: dict[str, object], needle: str
) -> None:
    with pytest.raises(SettingsError, match=needle):
        load_settings(**values)


def test_local_sign_in_reads_as_a_switch_or_admins_only() -> None:
    company = {"oidc_issuer": "https://sso.example.com/", "oidc_client_id": "servicebay"}
    assert load_settings(**company, local_sign_in="false").local_sign_in == "off"
    assert load_settings(**company, local_sign_in="admins").local_sign_in == "admins"
    assert load_settings(local_sign_in="true").local_sign_in == "on"
    # Kept exactly: some providers' issuers end in a slash, and tokens must match it.
    assert load_settings(**company).oidc_issuer == "https://sso.example.com/"
