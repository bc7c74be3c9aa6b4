"""App-only access tokens from Microsoft Entra ID (msal, client-credentials flow).

One :class:`AppTokens` per process holds one msal ``ConfidentialClientApplication`` and relies
on its token cache: a token is fetched from Entra only when the cached one is about to expire.
The application is created on the first request for a token, not at start-up, so that an
unreachable identity provider is an outage to retry (:class:`MailServerError`) rather than a
crash of the composition root.

The credential is a certificate (a PEM file with the private key and the certificate; msal
signs a PS256 client assertion with it) or a client secret.  Secrets and keys are read only
here and never logged or shown in ``repr``.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msal
import msal.exceptions
import requests
import requests.adapters
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.config import ConfigError, Graph
from bot.mail.ports import MailAuthError, MailServerError


@dataclass(frozen=True)
class Credential:
    """What msal is given as ``client_credential``: a certificate dict or a secret string."""

    value: dict[str, str] | str
    kind: str  # "certificate" or "secret", for messages

    def __repr__(self) -> str:
        return f"Credential({self.kind})"


def load_credential(graph: Graph) -> Credential:
    """Read the configured certificate or secret; errors name the configuration key."""
    if graph.certificate_path is not None:
        return _certificate(graph.certificate_path)
    if graph.client_secret_env is not None:
        secret = os.environ.get(graph.client_secret_env)
        if not secret:
            raise ConfigError(
                f"graph.client_secret_env: environment variable {graph.client_secret_env} is "
                "not set"
            )
        return Credential(secret, "secret")
    assert graph.client_secret_file is not None
    try:
        secret = graph.client_secret_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"graph.client_secret_file: cannot read {graph.client_secret_file}: {exc}"
        ) from None
    if not secret:
        raise ConfigError(f"graph.client_secret_file: {graph.client_secret_file} is empty")
    return Credential(secret, "secret")


def _certificate(path: Path) -> Credential:
    try:
        pem = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"graph.certificate_path: cannot read {path}: {exc}") from None
    key = _pem_blocks(pem, "PRIVATE KEY")
    cert = _pem_blocks(pem, "CERTIFICATE")
    if not key or not cert:
        raise ConfigError(
            f"graph.certificate_path: {path} must hold both the private key and the "
            "certificate in PEM form (e.g. `cat key.pem cert.pem > spocbot.pem`)"
        )
    _check_key(path, key[0])
    return Credential({"private_key": key[0], "public_certificate": cert[0]}, "certificate")


def _check_key(path: Path, key_pem: str) -> None:
    """msal signs with an unencrypted RSA key: say so plainly rather than fail deep inside."""
    try:
        key = serialization.load_pem_private_key(key_pem.encode("ascii"), password=None)
    except TypeError:
        raise ConfigError(
            f"graph.certificate_path: the private key in {path} is encrypted; spocbot needs it "
            "unencrypted (protect the file with chmod 600 instead), e.g. "
            "`openssl pkey -in key.pem -out plain-key.pem`"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"graph.certificate_path: cannot read the key in {path}: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(
            f"graph.certificate_path: the key in {path} is not an RSA key; Entra ID app "
            "certificates for msal must be RSA (openssl req -newkey rsa:2048 ...)"
        )


def _pem_blocks(pem: str, label: str) -> list[str]:
    """PEM blocks whose label ends with ``label`` (``PRIVATE KEY`` matches RSA/EC keys too)."""
    blocks, current = [], None
    for line in pem.splitlines():
        if line.startswith("-----BEGIN ") and line.rstrip("-").endswith(label):
            current = [line]
        elif current is not None:
            current.append(line)
            if line.startswith("-----END "):
                blocks.append("\n".join(current) + "\n")
                current = None
    return blocks


class _IdentityHttp(requests.Session):
    """msal's HTTP client: a session with a timeout, one retry, and the configured CA bundle.

    requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override a session's ``verify``;
    a ``[graph] ca_bundle`` the admin configured must win, so it is pinned here.  Proxies
    from the environment still apply.
    """

    def __init__(self, ca_bundle: Path | None, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout
        self._pinned = str(ca_bundle) if ca_bundle else None
        retry_once = requests.adapters.HTTPAdapter(max_retries=1)
        self.mount("https://", retry_once)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        settings: dict[str, Any] = super().merge_environment_settings(
            url, proxies, stream, verify, cert
        )
        if self._pinned is not None:
            settings["verify"] = self._pinned
        return settings


class AppTokens:
    """Access tokens for one app registration, cached by msal."""

    def __init__(self, graph: Graph, credential: Credential) -> None:
        self._graph = graph
        self._credential = credential
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()  # msal's cache is thread-safe; creating the app is not

    def __repr__(self) -> str:
        return f"AppTokens(client {self._graph.client_id}, {self._credential.kind})"

    def _application(self) -> msal.ConfidentialClientApplication:
        with self._lock:
            if self._app is None:
                graph = self._graph
                try:
                    self._app = msal.ConfidentialClientApplication(
                        graph.client_id,
                        authority=f"{graph.authority}/{graph.tenant_id}",
                        client_credential=self._credential.value,
                        http_client=_IdentityHttp(graph.ca_bundle, graph.timeout_seconds),
                        instance_discovery=None if graph.validate_authority else False,
                    )
                except requests.RequestException as exc:
                    raise MailServerError(
                        f"cannot reach the identity provider {graph.authority}: "
                        f"{type(exc).__name__}"
                    ) from exc
                except msal.exceptions.MsalServiceError as exc:
                    raise MailServerError(f"the identity provider failed: {exc}") from exc
                except ValueError as exc:  # bad authority, tenant not found, bad key...
                    raise MailAuthError(f"Entra ID refused the app configuration: {exc}") from exc
            return self._app

    def token(self, scope: str | None = None) -> str:
        """A valid access token for ``scope`` (default: Graph's); msal returns the cached one
        while it is fresh."""
        scope = scope or self._graph.graph_scope
        app = self._application()
        try:
            result: dict[str, Any] = app.acquire_token_for_client(scopes=[scope])
        except requests.RequestException as exc:
            raise MailServerError(
                f"cannot reach the identity provider for a token: {type(exc).__name__}"
            ) from exc
        except msal.exceptions.MsalServiceError as exc:  # e.g. a 5xx from the token endpoint
            raise MailServerError(f"the identity provider failed: {exc}") from exc
        except (ValueError, TypeError, msal.exceptions.MsalError) as exc:
            raise MailAuthError(f"the app credential cannot be used: {exc}") from exc
        if "access_token" in result:
            token: str = result["access_token"]
            return token
        error = result.get("error", "unknown_error")
        description = str(result.get("error_description", "")).split("\n", 1)[0]
        if error in ("temporarily_unavailable", "server_error"):
            raise MailServerError(f"Entra ID could not issue a token: {error}: {description}")
        raise MailAuthError(f"Entra ID refused a token for {scope}: {error}: {description}")

    def forget(self) -> None:
        """Drop cached tokens (after a 401: the cached token was revoked or expired early)."""
        with self._lock:
            app = self._app
        if app is not None:
            app.remove_tokens_for_client()


def token_roles(token: str) -> list[str]:
    """The application permissions (``roles`` claim) in an access token, for ``doctor``.

    Read without checking the signature: the token came straight from Entra over TLS, and
    this is a diagnosis, not an authorisation decision.
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return []
    roles = claims.get("roles", [])
    return [str(r) for r in roles] if isinstance(roles, list) else []
