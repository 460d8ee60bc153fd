#!/bin/sh
# Make sure the Debian/Ubuntu packages smtpdesk needs are there: install them with apt-get
# when we are root or have sudo, otherwise stop with the exact command to run.
# Usage: scripts/system-deps.sh run|test|package|display
set -eu

RUN_PKGS="python3-venv libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 \
libglib2.0-0 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 \
libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-xkb1 fonts-dejavu-core"
TEST_PKGS="dbus-daemon dbus-bin gnome-keyring dovecot-imapd dovecot-pop3d postfix"
PACKAGE_PKGS="binutils desktop-file-utils appstream"
# scripts/real-display.sh: an X server, the mouse and keys, screen captures, the accessibility
# tree (to know where to click) on the system python3.
DISPLAY_PKGS="xvfb xdotool imagemagick x11-utils at-spi2-core python3-pyatspi"

case "${1:-run}" in
    run) wanted="$RUN_PKGS" ;;
    test) wanted="$RUN_PKGS $TEST_PKGS" ;;
    package) wanted="$RUN_PKGS $PACKAGE_PKGS" ;;
    display) wanted="$RUN_PKGS $TEST_PKGS $DISPLAY_PKGS" ;;
    *) echo "usage: $0 run|test|package|display" >&2; exit 2 ;;
esac

command -v dpkg-query >/dev/null 2>&1 || exit 0  # not Debian/Ubuntu: nothing we can check

missing=""
for pkg in $wanted; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0

echo "smtpdesk needs these system packages:$missing"
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo"
else
    echo "Install them with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
