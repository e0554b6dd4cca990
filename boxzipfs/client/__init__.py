"""The Box API client: API calls over an injected ``httpx.Client``, the content GET over libcurl."""

from boxzipfs.client.auth import Auth, ClientCredentialsAuth, RefreshTokenAuth, StaticTokenAuth
from boxzipfs.client.box import BoxClient
from boxzipfs.client.curl import CurlContent
from boxzipfs.client.retry import RetryPolicy

__all__ = [
    "Auth",
    "BoxClient",
    "ClientCredentialsAuth",
    "CurlContent",
    "RefreshTokenAuth",
    "RetryPolicy",
    "StaticTokenAuth",
]
