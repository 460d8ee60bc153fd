#!/bin/sh
# Install the smtpdesk bundle for the current user, or remove it again.
#
#   install-linux.sh [BUNDLE_DIR]     copy BUNDLE_DIR (default: the bundle this script ships
#                                     in, else dist/smtpdesk) to ~/.local/opt/smtpdesk, and
#                                     the desktop entry, icons and AppStream file into
#                                     ~/.local/share (or $XDG_DATA_HOME)
#   install-linux.sh --uninstall      remove exactly what the install wrote
#
# Every file and folder the install creates outside the bundle is listed in
# ~/.local/opt/smtpdesk/install-manifest.txt; --uninstall removes those files and the bundle,
# then the folders the install created if they are empty. Nothing else is touched.
set -eu

OPT_DIR="$HOME/.local/opt/smtpdesk"
DATA_DIR="${XDG_DATA_HOME:-$HOME/.local/share}"
MANIFEST="$OPT_DIR/install-manifest.txt"
SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)

die() { echo "error: $1" >&2; [ -z "${2:-}" ] || echo "hint: $2" >&2; exit 1; }

default_bundle() {
    if [ -x "$SCRIPT_DIR/smtpdesk" ]; then echo "$SCRIPT_DIR"; else echo "$SCRIPT_DIR/../dist/smtpdesk"; fi
}

# mkdir -p that records each folder it creates, outermost first.
make_dirs() {
    missing=""
    d="$1"
    while [ ! -d "$d" ]; do missing="$d
$missing"; d=$(dirname -- "$d"); done
    printf '%s' "$missing" | while IFS= read -r dir; do
        [ -n "$dir" ] || continue
        mkdir -- "$dir" && echo "dir $dir" >>"$RECORD"
    done
}

put_file() {  # SOURCE TARGET
    make_dirs "$(dirname -- "$2")"
    cp -- "$1" "$2"
    echo "file $2" >>"$RECORD"
}

uninstall() {
    [ -f "$MANIFEST" ] || die "smtpdesk is not installed in $OPT_DIR (no install-manifest.txt)."
    listed=$(cat -- "$MANIFEST")
    printf '%s\n' "$listed" | grep '^file ' | cut -c6- | while IFS= read -r f; do
        rm -f -- "$f"
    done
    rm -rf -- "$OPT_DIR"
    # Innermost folders first; a folder that now holds someone else's files stays.
    printf '%s\n' "$listed" | grep '^dir ' | cut -c5- | sort -r | while IFS= read -r d; do
        rmdir -- "$d" 2>/dev/null || true
    done
    echo "removed smtpdesk from $OPT_DIR and $DATA_DIR"
}

install_bundle() {
    bundle=$(CDPATH='' cd -- "$1" 2>/dev/null && pwd) || die "no bundle at $1" \
        "Build it with 'make package', or pass the unpacked smtpdesk folder."
    res="$bundle/_internal/resources"
    [ -x "$bundle/smtpdesk" ] && [ -d "$res" ] || die "$bundle is not an smtpdesk bundle" \
        "It should hold the smtpdesk executable and _internal/resources."
    [ "$bundle" != "$OPT_DIR" ] || die "$bundle is already the installed copy."
    [ ! -f "$MANIFEST" ] || uninstall >/dev/null

    RECORD=$(mktemp)
    trap 'rm -f -- "$RECORD"' EXIT
    make_dirs "$HOME/.local/opt"
    rm -rf -- "$OPT_DIR.partial"
    cp -R -- "$bundle" "$OPT_DIR.partial"
    mv -- "$OPT_DIR.partial" "$OPT_DIR"

    exe="$OPT_DIR/smtpdesk"
    make_dirs "$DATA_DIR/applications"
    # The entry in resources/ says Exec=smtpdesk; point it at this copy (quoted: $HOME may
    # contain spaces).
    sed -e "s|^Exec=.*|Exec=\"$exe\"|" -e "s|^TryExec=.*|TryExec=$exe|" \
        "$res/smtpdesk.desktop" >"$DATA_DIR/applications/smtpdesk.desktop"
    echo "file $DATA_DIR/applications/smtpdesk.desktop" >>"$RECORD"
    for png in "$res"/icons/hicolor/*/apps/smtpdesk.png; do
        size=$(basename -- "$(dirname -- "$(dirname -- "$png")")")
        put_file "$png" "$DATA_DIR/icons/hicolor/$size/apps/smtpdesk.png"
    done
    put_file "$res/icons/smtpdesk.svg" "$DATA_DIR/icons/hicolor/scalable/apps/smtpdesk.svg"
    put_file "$res/smtpdesk.metainfo.xml" "$DATA_DIR/metainfo/smtpdesk.metainfo.xml"
    # No update-desktop-database or gtk-update-icon-cache: they write cache files that
    # --uninstall would then have to guess about, and desktops watch these folders anyway.
    cp -- "$RECORD" "$MANIFEST"
    echo "installed smtpdesk in $OPT_DIR; it is in your applications menu as smtpdesk"
}

case "${1:-}" in
    --uninstall) uninstall ;;
    -h|--help) sed -n '2,12p' "$0" | cut -c3- ;;
    -*) die "unknown option $1" "Run $0 --help." ;;
    *) install_bundle "${1:-$(default_bundle)}" ;;
esac
