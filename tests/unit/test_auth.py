"""Bearer tokens: issued by an identity provider for a role and an audience, verified through the
provider's JWKS (asymmetric keys), expiring; the local dev issuer takes the same path."""

import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from carepath.chassis.auth import Role, issue_token, verify_token
from carepath.chassis.dev_issuer import DEV_ISSUER, DevIssuer
from carepath.chassis.settings import ServiceSettings


@pytest.fixture
def issuer(tmp_path: Path) -> DevIssuer:
    return DevIssuer(tmp_path / "issuer").ensure()


@pytest.fixture
def settings(issuer: DevIssuer) -> ServiceSettings:
    """Intake's settings, trusting `issuer` (its JWKS as a file; cooldown 0: rotations at once)."""
    return ServiceSettings(
        service_name="intake", dev_issuer_dir=issuer.directory, oidc_jwks_cooldown_seconds=0
    )


def test_a_token_carries_the_user_and_role(settings: ServiceSettings) -> None:
    principal = verify_token(settings, issue_token(settings, Role.NURSE, "nurse-12"))
    assert (principal.user_id, principal.role) == ("nurse-12", Role.NURSE)


def test_an_expired_token_is_refused(settings: ServiceSettings) -> None:
    token = issue_token(settings, Role.NURSE, "nurse-12", ttl=timedelta(seconds=-90))
    with pytest.raises(jwt.ExpiredSignatureError):
        verify_token(settings, token)


def test_a_token_of_another_issuer_is_refused(settings: ServiceSettings, tmp_path: Path) -> None:
    stranger = DevIssuer(tmp_path / "stranger").ensure()  # same name, its own keys
    with pytest.raises(jwt.InvalidTokenError, match="signing key"):
        verify_token(settings, stranger.issue("clinician", "x", "carepath-intake"))


def test_a_token_forged_under_the_providers_key_id_is_refused(
    settings: ServiceSettings, issuer: DevIssuer
) -> None:
    kid = issuer.jwks()["keys"][0]["kid"]
    forged = jwt.encode(
        claims(), generate_private_key(SECP256R1()), algorithm="ES256", headers={"kid": kid}
    )
    with pytest.raises(jwt.InvalidSignatureError):
        verify_token(settings, forged)


def test_a_symmetric_or_unsigned_token_is_refused(
    settings: ServiceSettings, issuer: DevIssuer
) -> None:
    kid = issuer.jwks()["keys"][0]["kid"]
    public_jwk = str(issuer.jwks()["keys"][0])  # HS256 "signed" with public material
    hs256 = jwt.encode(claims(), public_jwk, algorithm="HS256", headers={"kid": kid})
    unsigned = jwt.encode(claims(), None, algorithm="none", headers={"kid": kid})
    for token in (hs256, unsigned):
        with pytest.raises(jwt.InvalidTokenError):
            verify_token(settings, token)


def test_a_token_for_another_service_is_refused(settings: ServiceSettings) -> None:
    token = issue_token(settings, Role.CLINICIAN, "c", audience="carepath-session")
    with pytest.raises(jwt.InvalidAudienceError):
        verify_token(settings, token)
    session = settings.model_copy(update={"service_name": "session"})
    assert verify_token(session, token).role is Role.CLINICIAN


@pytest.mark.parametrize("role", ["superuser", ["nurse", "clinician"], [], None])
def test_a_token_must_carry_exactly_one_carepath_role(
    settings: ServiceSettings, issuer: DevIssuer, role: object
) -> None:
    with pytest.raises(jwt.InvalidTokenError, match="exactly one CarePath role"):
        verify_token(settings, signed(issuer, role=role))


def test_a_role_may_come_in_a_list_among_other_roles(
    settings: ServiceSettings, issuer: DevIssuer
) -> None:
    token = signed(issuer, role=["offline_access", "therapist", "uma_authorization"])
    assert verify_token(settings, token).role is Role.THERAPIST


def test_the_role_claim_is_configurable(settings: ServiceSettings, issuer: DevIssuer) -> None:
    keycloak = settings.model_copy(update={"oidc_role_claim": "roles"})
    assert verify_token(keycloak, signed(issuer, role=None, roles=["auditor"])).role is Role.AUDITOR


def test_after_a_rotation_old_and_new_tokens_verify(
    settings: ServiceSettings, issuer: DevIssuer
) -> None:
    old = issue_token(settings, Role.NURSE, "n")
    assert verify_token(settings, old).user_id == "n"  # the JWKS is now cached
    new_kid = issuer.rotate()
    new = issue_token(settings, Role.NURSE, "m")
    assert jwt.get_unverified_header(new)["kid"] == new_kid
    assert verify_token(settings, new).user_id == "m"
    assert verify_token(settings, old).user_id == "n"
    assert len(issuer.jwks()["keys"]) == 2


class _JwksServer(BaseHTTPRequestHandler):
    document = b"{}"
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def served_jwks(issuer: DevIssuer) -> Iterator[tuple[str, type[_JwksServer]]]:
    handler = type("Handler", (_JwksServer,), {"document": issuer.jwks_path.read_bytes()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json", handler
    server.shutdown()


def test_over_http_the_jwks_is_fetched_once_and_made_up_key_ids_cannot_hammer_the_provider(
    issuer: DevIssuer, served_jwks: tuple[str, type[_JwksServer]]
) -> None:
    url, handler = served_jwks
    settings = ServiceSettings(service_name="intake", oidc_jwks_url=url)
    for user in ("a", "b", "c"):
        token = issuer.issue("nurse", user, "carepath-intake")
        assert verify_token(settings, token).user_id == user
    assert handler.hits == 1
    stranger = DevIssuer(issuer.directory.parent / "stranger").ensure()
    for _ in range(5):
        with pytest.raises(jwt.InvalidTokenError):
            verify_token(settings, stranger.issue("nurse", "x", "carepath-intake"))
    assert handler.hits == 1  # within the cooldown: no refetch per made-up key id


def test_an_unreachable_provider_is_not_a_bad_token(issuer: DevIssuer) -> None:
    from carepath.chassis.auth import IdentityProviderUnavailable

    settings = ServiceSettings(service_name="intake", oidc_jwks_url="http://127.0.0.1:9/jwks.json")
    with pytest.raises(IdentityProviderUnavailable):
        verify_token(settings, issuer.issue("nurse", "n", "carepath-intake"))


def test_the_dev_issuer_keys_are_private_from_the_start(issuer: DevIssuer) -> None:
    for private in (*issuer.directory.glob("keys/*.pem"), issuer.directory / "client-secret"):
        assert private.stat().st_mode & 0o777 == 0o600
    assert "d" not in issuer.jwks()["keys"][0]  # only the public half is published


def test_threads_racing_to_make_the_dev_issuer_all_end_with_one_key(tmp_path: Path) -> None:
    racers = 16
    start = threading.Barrier(racers)

    def race() -> str:
        start.wait()
        return DevIssuer(tmp_path / "issuer").ensure().jwks()["keys"][0]["kid"]

    with ThreadPoolExecutor(racers) as pool:
        kids = set(pool.map(lambda _: race(), range(racers)))
    assert len(kids) == 1
    assert [p.name for p in (tmp_path / "issuer" / "keys").iterdir()] == ["key-0001.pem"]


# Each process says it is ready, blocks until told to go (a line on stdin), makes (or reads) the
# dev issuer and prints its key id.
RACER = """
import sys
from pathlib import Path
from carepath.chassis.dev_issuer import DevIssuer
print("ready", flush=True)
sys.stdin.readline()
print(DevIssuer(Path(sys.argv[1])).ensure().jwks()["keys"][0]["kid"])
"""


def test_processes_starting_at_once_all_use_one_dev_issuer_key(tmp_path: Path) -> None:
    folder = tmp_path / "issuer"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(folder)],
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
    assert used == {DevIssuer(folder).jwks()["keys"][0]["kid"]}


def claims(**changes: object) -> dict[str, object]:
    """Sound claims for intake, with `changes`."""
    now = datetime.now(UTC)
    defaults: dict[str, object] = {
        "sub": "nurse-12",
        "role": "nurse",
        "iss": DEV_ISSUER,
        "aud": "carepath-intake",
        "iat": now,
        "exp": now + timedelta(hours=1),
    }
    return {name: value for name, value in {**defaults, **changes}.items() if value is not None}


def signed(issuer: DevIssuer, **changes: object) -> str:
    """A token with `claims(**changes)` (None leaves a claim out), signed by `issuer`."""
    key = issuer._load(sorted(issuer.directory.glob("keys/*.pem"))[-1])
    kid = issuer.jwks()["keys"][-1]["kid"]
    return jwt.encode(claims(**changes), key, algorithm="ES256", headers={"kid": kid})


@pytest.mark.parametrize("subject", ["", "   "])
def test_a_token_without_a_subject_is_refused(
    settings: ServiceSettings, issuer: DevIssuer, subject: str
) -> None:
    with pytest.raises(jwt.InvalidTokenError, match="subject"):
        verify_token(settings, signed(issuer, sub=subject))


def test_a_token_living_to_the_year_3000_is_refused(
    settings: ServiceSettings, issuer: DevIssuer
) -> None:
    with pytest.raises(jwt.InvalidTokenError, match="longer than"):
        verify_token(settings, signed(issuer, exp=datetime(3000, 1, 1, tzinfo=UTC)))


def test_a_token_without_an_issue_time_is_refused(
    settings: ServiceSettings, issuer: DevIssuer
) -> None:
    with pytest.raises(jwt.MissingRequiredClaimError):
        verify_token(settings, signed(issuer, iat=None))


def test_a_token_issued_in_the_future_is_refused_beyond_a_minute_of_clock_skew(
    settings: ServiceSettings, issuer: DevIssuer
) -> None:
    now = datetime.now(UTC)
    verify_token(settings, signed(issuer, iat=now + timedelta(seconds=30)))  # skew: accepted
    with pytest.raises(jwt.ImmatureSignatureError):
        verify_token(
            settings, signed(issuer, iat=now + timedelta(hours=1), exp=now + timedelta(hours=2))
        )


@pytest.mark.parametrize("iat", [10**20, "yesterday", -(10**20)])
def test_an_issue_time_that_is_no_time_is_refused_not_a_crash(
    settings: ServiceSettings, issuer: DevIssuer, iat: object
) -> None:
    with pytest.raises(jwt.InvalidTokenError):
        verify_token(settings, signed(issuer, iat=iat))


def test_a_token_without_a_key_id_is_refused(settings: ServiceSettings, issuer: DevIssuer) -> None:
    key = issuer._load(sorted(issuer.directory.glob("keys/*.pem"))[-1])
    token = jwt.encode(claims(), key, algorithm="ES256")  # no kid: which key would check it?
    with pytest.raises(jwt.InvalidTokenError, match="key id"):
        verify_token(settings, token)
