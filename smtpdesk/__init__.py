"""smtpdesk: send email campaigns through your own SMTP servers, from the desktop."""

__version__ = "0.1.0"
APP_NAME = "smtpdesk"
