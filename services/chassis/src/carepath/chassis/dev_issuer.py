"""The local identity provider for `make up`, `make demo` and the tests: an ES256 key pair (or
several, after a rotation) in a directory, the JWKS of their public halves, and an optional HTTP
face (`carepath-token serve`) with an OpenID Connect discovery document, the JWKS and a
client-credentials token endpoint. Services verify its tokens exactly as they verify a real
provider's: through the JWKS (`PyJWKClient`), by key id.

Directory layout: `keys/key-NNNN.pem` (private, mode 0600; the highest number signs),
`jwks.json` (public keys, all of them: a rotated-out key keeps verifying the tokens it signed),
`client-secret` (mode 0600; what services present to the token endpoint).
"""

import base64
import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import (
    SECP256R1,
    EllipticCurvePrivateKey,
    generate_private_key,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from carepath.chassis.files import create_private_file, replace_file

ALGORITHM = "ES256"
DEV_ISSUER = "carepath-dev-issuer"
"""The `iss` of the dev issuer's tokens (a real provider's is its URL)."""


class DevIssuer:
    """A local token issuer kept in `directory`."""

    def __init__(self, directory: Path, issuer: str = DEV_ISSUER) -> None:
        self.directory = directory
        self.issuer = issuer
        self._client_secret: str | None = None

    @property
    def jwks_path(self) -> Path:
        return self.directory / "jwks.json"

    @property
    def jwks_url(self) -> str:
        """The JWKS as a `file://` URL, for services on the same machine as the directory."""
        return self.jwks_path.resolve().as_uri()

    def _key_files(self) -> list[Path]:
        return sorted((self.directory / "keys").glob("key-*.pem"))

    def ensure(self) -> "DevIssuer":
        """Make the first key pair and the client secret once (safe when several processes start
        at once: the first writer wins), and publish the JWKS."""
        if not self._key_files():
            create_private_file(self.directory / "keys" / "key-0001.pem", _new_key())
        create_private_file(self.directory / "client-secret", secrets.token_urlsafe(32).encode())
        self._publish()
        return self

    def rotate(self) -> str:
        """A new signing key; the old ones stay in the JWKS. Returns the new key id."""
        number = len(self._key_files()) + 1
        while not create_private_file(
            self.directory / "keys" / f"key-{number:04d}.pem", _new_key()
        ):
            number += 1
        self._publish()
        return self._kid(self._load(self._key_files()[-1]))

    def client_secret(self) -> str:
        """The secret services present to the token endpoint."""
        return self._client_secret or (self.directory / "client-secret").read_text().strip()

    def accept_client_secret(self, secret: str) -> None:
        """Accept `secret` instead of the one in the directory (a configured one, for
        containers whose services cannot read the issuer's files)."""
        self._client_secret = secret

    def jwks(self) -> dict[str, Any]:
        """The public keys, as a JSON Web Key Set."""
        document: dict[str, Any] = json.loads(self.jwks_path.read_text())
        return document

    def issue(
        self,
        role: str,
        subject: str,
        audience: str | list[str],
        *,
        ttl: timedelta = timedelta(hours=12),
        now: datetime | None = None,
    ) -> str:
        """A token for `subject` acting as `role`, for `audience`, signed by the newest key."""
        files = self._key_files()
        if not files:
            self.ensure()
            files = self._key_files()
        key = self._load(files[-1])
        issued = now or datetime.now(UTC)
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "role": role,
            "iat": issued,
            "exp": issued + ttl,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": self._kid(key)})

    def _publish(self) -> None:
        keys = []
        for path in self._key_files():
            key = self._load(path)
            public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
            keys.append({**public, "kid": self._kid(key), "use": "sig", "alg": ALGORITHM})
        replace_file(self.jwks_path, json.dumps({"keys": keys}, indent=1).encode())

    @staticmethod
    def _load(path: Path) -> EllipticCurvePrivateKey:
        key = load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, EllipticCurvePrivateKey):
            raise ValueError(f"{path} is not an EC private key")
        return key

    @staticmethod
    def _kid(key: EllipticCurvePrivateKey) -> str:
        """RFC 7638-like thumbprint: the same key always has the same id."""
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        members = json.dumps(
            {name: public[name] for name in ("crv", "kty", "x", "y")}, separators=(",", ":")
        )
        digest = hashlib.sha256(members.encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:16]


def _new_key() -> bytes:
    return generate_private_key(SECP256R1()).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
