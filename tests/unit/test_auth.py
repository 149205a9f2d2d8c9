"""Bearer tokens: issued for a role, verified with the clinic's key, expiring."""

from datetime import timedelta
from pathlib import Path

import jwt
import pytest

from carepath.chassis.auth import Role, issue_token, signing_secret, verify_token
from carepath.chassis.settings import ServiceSettings

SETTINGS = ServiceSettings(service_name="test", jwt_secret="unit-test-secret-0123456789-abcdefghij")


def test_a_token_carries_the_user_and_role() -> None:
    principal = verify_token(SETTINGS, issue_token(SETTINGS, Role.NURSE, "nurse-12"))
    assert (principal.user_id, principal.role) == ("nurse-12", Role.NURSE)


def test_an_expired_token_is_refused() -> None:
    token = issue_token(SETTINGS, Role.NURSE, "nurse-12", ttl=timedelta(seconds=-1))
    with pytest.raises(jwt.ExpiredSignatureError):
        verify_token(SETTINGS, token)


def test_a_token_signed_with_another_key_is_refused() -> None:
    other = ServiceSettings(
        service_name="test", jwt_secret="some-other-secret-0123456789-abcdefghij"
    )
    with pytest.raises(jwt.InvalidSignatureError):
        verify_token(SETTINGS, issue_token(other, Role.CLINICIAN, "x"))


def test_a_token_with_an_unknown_role_is_refused() -> None:
    forged = jwt.encode(
        {"sub": "x", "role": "superuser", "exp": 4102444800, "iss": "carepath", "aud": "carepath"},
        SETTINGS.jwt_secret,
        algorithm="HS256",
    )
    with pytest.raises(ValueError, match="superuser"):
        verify_token(SETTINGS, forged)


def test_without_a_configured_key_a_dev_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = ServiceSettings(service_name="test", var_dir=tmp_path)
    first = signing_secret(settings)
    assert len(first) >= 32
    assert signing_secret(settings) == first
    assert (tmp_path / "dev-jwt-secret").stat().st_mode & 0o077 == 0
