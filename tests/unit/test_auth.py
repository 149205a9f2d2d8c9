"""Bearer tokens: issued for a role, verified with the clinic's key, expiring."""

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from carepath.chassis.auth import (
    Role,
    ensure_dev_secret,
    issue_token,
    signing_secret,
    verify_token,
)
from carepath.chassis.evidence import load_signer
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
    with pytest.raises(ValueError, match="superuser"):
        verify_token(SETTINGS, forged_claims(role="superuser"))


def test_without_a_configured_key_a_dev_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = ServiceSettings(service_name="test", var_dir=tmp_path)
    first = signing_secret(settings)
    assert len(first) >= 32
    assert signing_secret(settings) == first
    assert (tmp_path / "dev-jwt-secret").stat().st_mode & 0o077 == 0


def test_ensure_dev_secret_makes_the_key_before_any_token_and_not_with_a_configured_key(
    tmp_path: Path,
) -> None:
    ensure_dev_secret(ServiceSettings(service_name="test", var_dir=tmp_path / "var"))
    assert (tmp_path / "var" / "dev-jwt-secret").stat().st_mode & 0o777 == 0o600
    ensure_dev_secret(SETTINGS.model_copy(update={"var_dir": tmp_path / "other"}))
    assert not (tmp_path / "other").exists()


def test_threads_racing_to_create_the_dev_key_all_end_with_the_same_one(tmp_path: Path) -> None:
    settings = ServiceSettings(service_name="test", var_dir=tmp_path)
    racers = 16
    start = threading.Barrier(racers)

    def race() -> str:
        start.wait()
        ensure_dev_secret(settings)
        return signing_secret(settings)

    with ThreadPoolExecutor(racers) as pool:
        secrets = set(pool.map(lambda _: race(), range(racers)))
    assert len(secrets) == 1
    assert secrets == {(tmp_path / "dev-jwt-secret").read_text()}
    assert (tmp_path / "dev-jwt-secret").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["dev-jwt-secret"]  # no temp file left


# Each process says it is ready, blocks until told to go (a line on stdin), makes (or reads) the
# key and prints it.
RACER = """
import sys
from pathlib import Path
from carepath.chassis.auth import ensure_dev_secret, signing_secret
from carepath.chassis.settings import ServiceSettings
var = Path(sys.argv[1])
settings = ServiceSettings(service_name="racer", var_dir=var)
print("ready", flush=True)
sys.stdin.readline()
ensure_dev_secret(settings)
print(signing_secret(settings))
"""


def test_processes_starting_at_once_all_use_one_dev_key(tmp_path: Path) -> None:
    var = tmp_path / "var"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(var)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    for racer in racers:
        assert racer.stdout is not None and racer.stdout.readline() == "ready\n"
    for racer in racers:  # go, all at once
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    used = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert all(racer.returncode == 0 for racer in racers)
    assert used == {(var / "dev-jwt-secret").read_text()}
    assert (var / "dev-jwt-secret").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in var.iterdir()] == ["dev-jwt-secret"]


def test_a_dev_signing_key_is_private_from_the_start_and_kept(tmp_path: Path) -> None:
    first = load_signer("intake", tmp_path)
    assert (tmp_path / "intake.key").stat().st_mode & 0o777 == 0o600
    assert load_signer("intake", tmp_path).public_key() == first.public_key()
    assert (tmp_path / "intake.pub").read_text() == first.public_key() + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["intake.key", "intake.pub"]


def forged_claims(**claims: object) -> str:
    """A token with `claims` over sound defaults, signed with the clinic's key."""
    now = datetime.now(UTC)
    defaults: dict[str, object] = {
        "sub": "nurse-12",
        "role": "nurse",
        "iss": SETTINGS.jwt_issuer,
        "aud": SETTINGS.jwt_audience,
        "iat": now,
        "exp": now + timedelta(hours=1),
    }
    return jwt.encode({**defaults, **claims}, signing_secret(SETTINGS), algorithm="HS256")


@pytest.mark.parametrize("subject", ["", "   "])
def test_a_token_without_a_subject_is_refused(subject: str) -> None:
    with pytest.raises(jwt.InvalidTokenError, match="subject"):
        verify_token(SETTINGS, forged_claims(sub=subject))


def test_a_token_living_to_the_year_3000_is_refused() -> None:
    with pytest.raises(jwt.InvalidTokenError, match="longer than"):
        verify_token(SETTINGS, forged_claims(exp=datetime(3000, 1, 1, tzinfo=UTC)))


def test_a_token_without_an_issue_time_is_refused() -> None:
    token = jwt.encode(
        {"sub": "n", "role": "nurse", "iss": "carepath", "aud": "carepath", "exp": 4102444800},
        signing_secret(SETTINGS),
        algorithm="HS256",
    )
    with pytest.raises(jwt.MissingRequiredClaimError):
        verify_token(SETTINGS, token)


def test_a_token_issued_in_the_future_is_refused_beyond_a_minute_of_clock_skew() -> None:
    now = datetime.now(UTC)
    verify_token(SETTINGS, forged_claims(iat=now + timedelta(seconds=30)))  # skew: accepted
    with pytest.raises(jwt.ImmatureSignatureError):
        verify_token(
            SETTINGS, forged_claims(iat=now + timedelta(hours=1), exp=now + timedelta(hours=2))
        )
