"""The two ways OAuth fails for the user: the grant is gone, or the provider could not help."""

from __future__ import annotations

from smtpdesk.core.errors import KnownError

SIGN_IN_HINT = (
    "Sign in again: 'smtpdesk servers login {name}', or Sign in… in the server's "
    "Authentication settings."
)


class SignInRequiredError(KnownError):
    """No refresh token, or the provider refused it (``invalid_grant``): revoked or expired."""

    def __init__(self, message: str, server_label: str = "NAME") -> None:
        super().__init__(message, SIGN_IN_HINT.format(name=server_label))


class OAuthError(KnownError):
    """The provider refused a request or could not be reached; ``temporary``: a retry may help."""

    def __init__(self, message: str, hint: str = "", *, temporary: bool = False) -> None:
        super().__init__(message, hint)
        self.temporary = temporary
