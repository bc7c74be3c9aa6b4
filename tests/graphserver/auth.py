"""Entra ID v2 for one tenant and one app registration: discovery, tokens, token checks.

Client assertions are verified for real, as Entra does: the x5t#S256 (PS256, msal's
default when given the certificate) or x5t (RS256, when given a SHA-1 thumbprint) header
must name a registered certificate, the signature must verify with its public key, and
aud/iss/sub/exp must be right.

Access tokens are JWTs signed HS256 with a secret of this server.  Real Graph tokens are
RS256 from Entra's keys, but Microsoft says clients must treat Graph tokens as opaque,
so the signature algorithm is invisible to a correct client.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .wire import GraphError, Request, Response, json_response

GRAPH_RESOURCE = "https://graph.microsoft.com"
OUTLOOK_RESOURCE = "https://outlook.office365.com"
# Roles Entra puts in an Exchange Online (IMAP/SMTP) token for an app granted them.
OUTLOOK_ROLES = ("IMAP.AccessAsApp", "SMTP.SendAsApp")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ASSERTION_ALGORITHMS = ("PS256", "RS256")


@dataclass(frozen=True)
class TokenClaims:
    """What a verified Graph access token grants."""

    roles: tuple[str, ...]
    app_id: str
    tenant_id: str


class EntraError(Exception):
    """An OAuth error from the token endpoint, in Entra's shape."""

    def __init__(self, status: int, error: str, aadsts: int, description: str) -> None:
        super().__init__(f"{error}: AADSTS{aadsts}: {description}")
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.description = description


def entra_error_response(error: EntraError, authority: str) -> Response:
    """Entra's error body: error, error_description (with AADSTS code), error_codes, ..."""
    now = datetime.now(UTC)
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    description = (
        f"AADSTS{error.aadsts}: {error.description} Trace ID: {trace_id} "
        f"Correlation ID: {correlation_id} Timestamp: {now:%Y-%m-%d %H:%M:%SZ}"
    )
    payload = {
        "error": error.error,
        "error_description": description,
        "error_codes": [error.aadsts],
        "timestamp": f"{now:%Y-%m-%d %H:%M:%SZ}",
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{authority}/error?code={error.aadsts}",
    }
    return json_response(error.status, payload, {"Cache-Control": "no-store, no-cache"})


class EntraTenant:
    """The token service of one tenant with one app registration."""

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        *,
        roles: Callable[[], list[str]],
        token_lifetime: Callable[[], int],
        outlook_roles: Callable[[], list[str]] = lambda: list(OUTLOOK_ROLES),
        outlook_signing_key: bytes | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._roles = roles
        self._outlook_roles = outlook_roles
        self._token_lifetime = token_lifetime
        self._signing_key = secrets.token_bytes(32)
        # Outlook (IMAP/SMTP) tokens are checked by the test Dovecot, which shares this key.
        self._outlook_key = outlook_signing_key or self._signing_key
        self._certificates: dict[tuple[str, bytes], x509.Certificate] = {}
        self._secrets: set[str] = set()

    # --- registration ----------------------------------------------------------------------

    def register_certificate(self, cert_pem: bytes) -> None:
        certificate = x509.load_pem_x509_certificate(cert_pem)
        # Entra matches either thumbprint, depending on which header the assertion has.
        self._certificates[("x5t#S256", certificate.fingerprint(hashes.SHA256()))] = certificate
        self._certificates[("x5t", certificate.fingerprint(hashes.SHA1()))] = certificate

    def register_secret(self, secret: str) -> None:
        self._secrets.add(secret)

    # --- endpoints --------------------------------------------------------------------------

    def knows_tenant(self, tenant: str) -> bool:
        return tenant.lower() == self.tenant_id.lower()

    def openid_configuration(self, authority: str) -> dict[str, Any]:
        """The v2.0 OIDC discovery document (what msal reads: the endpoints)."""
        base = f"{authority}/{self.tenant_id}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{authority}/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "roles"],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }

    def token(self, request: Request, authority: str) -> Response:
        """POST /{tenant}/oauth2/v2.0/token for the client credentials grant."""
        token_endpoint = f"{authority}/{self.tenant_id}/oauth2/v2.0/token"
        try:
            form = self._form(request)
            resource = self._check_request(form)
            self._authenticate(form, token_endpoint)
        except EntraError as error:
            return entra_error_response(error, authority)
        lifetime = self._token_lifetime()
        payload = {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self._issue(resource, lifetime),
        }
        return json_response(200, payload, {"Cache-Control": "no-store, no-cache"})

    def verify_graph_token(self, authorization: str | None) -> TokenClaims:
        """The claims of a Bearer token for Graph, or Graph's 401 (messages as Graph's)."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated("Access token is empty.")
        try:
            claims = jwt.decode(
                token.strip(),
                self._signing_key,
                algorithms=["HS256"],
                audience=GRAPH_RESOURCE,
                issuer=self._issuer,
                options={"require": ["exp", "aud", "iss", "tid"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthenticated("Lifetime validation failed, the token is expired.") from None
        except jwt.InvalidAudienceError:
            raise _unauthenticated("Invalid audience.") from None
        except jwt.InvalidTokenError:
            raise _unauthenticated("IDX14100: JWT is not well formed.") from None
        return TokenClaims(
            roles=tuple(claims.get("roles") or ()),
            app_id=str(claims.get("appid", "")),
            tenant_id=str(claims["tid"]),
        )

    # --- helpers ----------------------------------------------------------------------------

    @property
    def _issuer(self) -> str:
        return f"https://sts.windows.net/{self.tenant_id}/"

    @staticmethod
    def _form(request: Request) -> dict[str, str]:
        try:
            return dict(parse_qsl(request.body.decode("ascii"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise EntraError(
                400, "invalid_request", 900144, "The request body is not a form."
            ) from None

    def _check_request(self, form: dict[str, str]) -> str:
        """Validate grant, client and scope; return the resource the token is for."""
        if form.get("grant_type") != "client_credentials":
            raise EntraError(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        if form.get("client_id") != self.client_id:
            raise EntraError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the "
                f"directory '{self.tenant_id}'.",
            )
        return self._resource(form.get("scope", ""))

    @staticmethod
    def _resource(scope: str) -> str:
        # msal may add openid/profile/offline_access; they do not name a resource.
        scopes = [s for s in scope.split() if s not in ("openid", "profile", "offline_access")]
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise EntraError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        resource = scopes[0].removesuffix("/.default").rstrip("/")
        if resource not in (GRAPH_RESOURCE, OUTLOOK_RESOURCE):
            raise EntraError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant.",
            )
        return resource

    def _authenticate(self, form: dict[str, str], token_endpoint: str) -> None:
        if form.get("client_assertion"):
            if form.get("client_assertion_type") != JWT_BEARER:
                raise EntraError(400, "invalid_request", 90002, "Invalid client_assertion_type.")
            self._verify_assertion(form["client_assertion"], token_endpoint)
        elif "client_secret" in form:
            if not any(
                secrets.compare_digest(form["client_secret"], known) for known in self._secrets
            ):
                raise EntraError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the "
                    f"request is the client secret value, not the client secret ID, for a "
                    f"secret added to app '{self.client_id}'.",
                )
        else:
            raise EntraError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' "
                "or 'client_secret'.",
            )

    def _verify_assertion(self, assertion: str, token_endpoint: str) -> None:
        certificate, algorithm = self._assertion_certificate(assertion)
        try:
            claims = jwt.decode(
                assertion,
                certificate.public_key(),  # type: ignore[arg-type]
                algorithms=[algorithm],
                audience=token_endpoint,
                options={"require": ["exp", "aud", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise EntraError(
                401,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            ) from None
        except jwt.InvalidSignatureError:
            raise EntraError(
                401, "invalid_client", 700027, "Client assertion failed signature validation."
            ) from None
        except jwt.InvalidAudienceError:
            raise EntraError(
                401,
                "invalid_client",
                700027,
                f"Client assertion audience claim does not match the expected {token_endpoint}.",
            ) from None
        except jwt.InvalidTokenError as exc:
            raise EntraError(
                401, "invalid_client", 50027, f"JWT token is invalid or malformed: {exc}."
            ) from None
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            raise EntraError(
                401,
                "invalid_client",
                700027,
                "Client assertion contains an invalid issuer or subject: both must be the "
                "client id.",
            )

    def _assertion_certificate(self, assertion: str) -> tuple[x509.Certificate, str]:
        """The registered certificate the assertion's thumbprint header names."""
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.InvalidTokenError:
            raise EntraError(
                401, "invalid_client", 50027, "JWT token is invalid or malformed."
            ) from None
        algorithm = str(header.get("alg", ""))
        if algorithm not in _ASSERTION_ALGORITHMS:
            raise EntraError(
                401,
                "invalid_client",
                5002738,
                f"Invalid JWT token. '{algorithm}' is not supported.",
            )
        for name in ("x5t#S256", "x5t"):
            if name in header:
                thumbprint = _b64url_decode(str(header[name]))
                certificate = self._certificates.get((name, thumbprint))
                if certificate is None:
                    raise EntraError(
                        401,
                        "invalid_client",
                        700027,
                        "Client assertion failed signature validation. [Reason - The key was "
                        "not found., Thumbprint of key used by client: "
                        f"'{thumbprint.hex().upper()}']",
                    )
                return certificate, algorithm
        raise EntraError(
            401, "invalid_client", 700027, "Client assertion has no x5t or x5t#S256 header."
        )

    def _issue(self, resource: str, lifetime: int) -> str:
        now = int(time.time())
        outlook = resource == OUTLOOK_RESOURCE
        roles = self._outlook_roles() if outlook else list(self._roles())
        claims = {
            "aud": resource,
            "iss": self._issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "appid": self.client_id,
            "appidacr": "2",
            "idtyp": "app",
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.client_id)),
            "roles": roles,
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, self.client_id)),
            "tid": self.tenant_id,
            "ver": "1.0",
            "jti": secrets.token_urlsafe(12),
        }
        return jwt.encode(
            claims, self._outlook_key if outlook else self._signing_key, algorithm="HS256"
        )


def _unauthenticated(message: str) -> GraphError:
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        message,
        headers={"WWW-Authenticate": 'Bearer realm="", authorization_uri="", client_id=""'},
    )


def _b64url_decode(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return b""


def sha1_thumbprint(cert_pem: bytes) -> str:
    """The hex SHA-1 thumbprint the Azure portal shows for a certificate."""
    certificate = x509.load_pem_x509_certificate(cert_pem)
    return certificate.fingerprint(hashes.SHA1()).hex().upper()
