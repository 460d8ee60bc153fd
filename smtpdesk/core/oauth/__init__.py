"""OAuth 2.0 sign-in for SMTP (XOAUTH2): Google, Microsoft and custom providers.

``signin`` runs the browser flow and keeps the grant; ``tokens`` hands out access
tokens from memory and refreshes them; ``client`` talks to the token endpoint
(oauthlib + urllib); ``providers`` knows the endpoints and scopes.
"""

from smtpdesk.core.oauth.errors import OAuthError, SignInRequiredError
from smtpdesk.core.oauth.providers import Endpoints, endpoints_for
from smtpdesk.core.oauth.signin import Grant, grant_of, sign_in, sign_out
from smtpdesk.core.oauth.tokens import TOKENS, AccessToken, TokenBroker

__all__ = [
    "TOKENS",
    "AccessToken",
    "Endpoints",
    "Grant",
    "OAuthError",
    "SignInRequiredError",
    "TokenBroker",
    "endpoints_for",
    "grant_of",
    "sign_in",
    "sign_out",
]
