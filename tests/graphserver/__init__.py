"""A local HTTPS stand-in for Microsoft Graph v1.0 mail and Entra ID, for spocbot's tests.

It answers with Graph's documented request and response shapes, so the real msal and
httpx client code runs unchanged against it:

    with GraphTestServer(tenant_id="tenant-1", client_id="app-1") as server:
        server.register_secret("s3cret")
        server.add_mailbox("info@homes.example")
        ...  # point msal at f"{server.authority}/tenant-1", httpx at server.base_url

Modules: `server` (the public facade), `transport` (HTTPS), `pipeline` (faults, auth,
throttling, counters), `auth` (Entra ID), `graph` (routing), `messages`/`sending`/
`settings` (handlers), `batch` ($batch), `delta` (delta query), `store` (the tenant),
`render` (Graph JSON), `mime` (reading and building MIME), `uploads`, `faults`,
`counters`, `context` and `wire` (shared request/response values).
"""

from .counters import RecordedRequest
from .server import GraphTestServer
from .store import FakeMessage

__all__ = ["FakeMessage", "GraphTestServer", "RecordedRequest"]
