"""The Box API client: HTTP, retries and auth over an injected ``httpx.Client``."""

from boxzipfs.client.auth import Auth, ClientCredentialsAuth, RefreshTokenAuth, StaticTokenAuth
from boxzipfs.client.box import BoxClient, ContentStream
from boxzipfs.client.retry import RetryPolicy

__all__ = [
    "Auth",
    "BoxClient",
    "ClientCredentialsAuth",
    "ContentStream",
    "RefreshTokenAuth",
    "RetryPolicy",
    "StaticTokenAuth",
]
