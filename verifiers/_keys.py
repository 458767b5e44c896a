"""Loading the private key a caller signs with, for the public-key schemes (SendGrid, Gong, Pub/Sub)."""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from verifiers._core import NotSignable


def _load(secret: str, what: str) -> PrivateKeyTypes:
    try:
        return load_pem_private_key(secret.strip().encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise NotSignable(what) from None


def rsa_private_key(secret: str, what: str) -> rsa.RSAPrivateKey:
    """The PEM RSA private key in ``secret``; NotSignable(``what``) otherwise."""
    key = _load(secret, what)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise NotSignable(what)
    return key


def p256_private_key(secret: str, what: str) -> ec.EllipticCurvePrivateKey:
    """The PEM P-256 private key in ``secret``; NotSignable(``what``) otherwise."""
    key = _load(secret, what)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise NotSignable(what)
    return key
