"""authlib.jose, imported once with its deprecation notice silenced.

Authlib 1.6+ marks authlib.jose as deprecated in favour of joserfc (still
supported until Authlib 2.0). Sahab pins authlib 1.9.x; the move to joserfc
is a separate change and should happen in this one place.
"""

from __future__ import annotations

import warnings

import authlib.deprecate  # noqa: F401 - installs its own "always" filter; ours must come after

with warnings.catch_warnings():
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.jose import JsonWebKey, JsonWebToken, KeySet
    from authlib.jose.errors import BadSignatureError, DecodeError, JoseError

__all__ = ["BadSignatureError", "DecodeError", "JoseError", "JsonWebKey", "JsonWebToken", "KeySet"]
