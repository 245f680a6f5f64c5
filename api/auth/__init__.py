"""Bearer-token authentication: turns an OIDC access token into a Principal."""

from api.auth.verifier import TokenVerifier

__all__ = ["TokenVerifier"]
