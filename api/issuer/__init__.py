"""The built-in OIDC issuer (embedded default identity provider), mounted at /issuer."""

from api.issuer.app import create_issuer

__all__ = ["create_issuer"]
