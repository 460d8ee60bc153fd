#!/bin/sh
# The real-display check: smtpdesk on Xvfb with the xcb platform, driven by xdotool clicks and
# keys, each screen captured to docs/screenshots/real-display/<setting>/ with a report.txt.
# Installs the Debian packages it needs (scripts/system-deps.sh display), then runs
# scripts/real_display.py on the system python3 (for pyatspi) inside a private D-Bus session
# with an unlocked gnome-keyring, so the app's passwords survive its restart.
# Usage: scripts/real-display.sh [--only 800x600] [--out DIR] [--keep] [--commit HEAD]
set -eu
cd "$(dirname "$0")/.."
scripts/system-deps.sh display
if [ -z "${SMTPDESK_IN_DBUS_SESSION:-}" ]; then
    exec tests/with-secret-service.sh "$0" "$@"
fi
# The accessibility bus must be up before the app starts, or Qt does not register with it.
dbus-send --session --print-reply --dest=org.a11y.Bus /org/a11y/bus org.a11y.Bus.GetAddress \
    >/dev/null
exec /usr/bin/python3 scripts/real_display.py "$@"
