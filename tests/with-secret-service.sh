#!/bin/sh
# Run a command inside a private D-Bus session with an unlocked gnome-keyring (Secret Service),
# whose keyring files live in a throwaway HOME, so tests never touch the user's own keyring.
# Usage: tests/with-secret-service.sh COMMAND [ARGS...]
set -eu
if [ -z "${SMTPDESK_IN_DBUS_SESSION:-}" ]; then
    SMTPDESK_IN_DBUS_SESSION=1 exec dbus-run-session -- "$0" "$@"
fi
keyring_home=$(mktemp -d)
trap 'rm -rf "$keyring_home"' EXIT
# --unlock reads the new login keyring's password from stdin; the daemon prints its env.
eval "$(printf 'test-password' | HOME="$keyring_home" XDG_DATA_HOME="$keyring_home/.local/share" \
    gnome-keyring-daemon --unlock --components=secrets --daemonize)"
export GNOME_KEYRING_CONTROL SMTPDESK_SECRET_SERVICE=1
"$@"
