"""SMTP connections, per-server pools, messengers, the server test and diagnosis."""
