#!/bin/sh
# End-to-end check of the built Linux bundle (run by .ci/run after `make package`).
# Fails, never skips, when something is missing: the bundle, the tarball or a tool.
#   - the frozen executable prints its version and passes --self-check in a fresh data
#     folder, which it must create and migrate to the newest schema revision;
#   - a campaign at an unlimited rate sends from the executable's own worker processes
#     (tests/e2e/bundle_workers.py: packaging/entry.py's --smtpdesk-campaign-worker);
#   - nothing the spec drops is left in or needed by the bundle (packaging/check-bundle.py);
#   - resources/ validates (desktop-file-validate, appstreamcli);
#   - install-linux.sh installs the real bundle into a throwaway HOME, the installed entry
#     validates and starts the copied executable, and --uninstall leaves HOME as it was.
set -eu
cd "$(dirname "$0")/../.."
BIN=${BIN:-.venv/bin}
EXE=dist/smtpdesk/smtpdesk
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ -x "$EXE" ] || fail "no bundle at $EXE: run 'make package' first"
version=$($BIN/python -c 'import smtpdesk; print(smtpdesk.__version__)')
head=$($BIN/python -c 'from smtpdesk.core.store.migrate import head; print(head())')

step "$EXE --version"
out=$("$EXE" --version)
echo "$out"
[ "$out" = "smtpdesk $version" ] || fail "expected 'smtpdesk $version'"

step "$EXE --self-check (fresh data folder, private Secret Service)"
tests/with-secret-service.sh "$EXE" --self-check --data-dir "$work/data" >"$work/check.txt" 2>&1 \
    || { cat "$work/check.txt"; fail "--self-check exited non-zero"; }
cat "$work/check.txt"
for name in qt database keyring tls; do
    grep -Eq "^ok +$name " "$work/check.txt" || fail "check '$name' did not pass"
done
grep -q "(revision $head)" "$work/check.txt" || fail "database not migrated to revision $head"
[ -f "$work/data/smtpdesk.db" ] || fail "no database created in the fresh data folder"

step "an unlimited-rate campaign sends from the bundle's worker processes"
$BIN/python tests/e2e/bundle_workers.py "$EXE"

step "bundle contents"
$BIN/python packaging/check-bundle.py dist/smtpdesk
tarball="dist/smtpdesk-$version-linux-$(uname -m).tar.gz"
tar -tzf "$tarball" | grep -qx 'smtpdesk/smtpdesk' || fail "$tarball lacks smtpdesk/smtpdesk"
tar -tzf "$tarball" | grep -qx 'smtpdesk/install-linux.sh' || fail "$tarball lacks install-linux.sh"

step "desktop entry and AppStream metadata"
desktop-file-validate resources/smtpdesk.desktop
# The id is the plain desktop-file name (QGuiApplication.setDesktopFileName("smtpdesk"));
# the project has no domain for a reverse-DNS id yet, so that one warning is downgraded.
appstreamcli validate --no-net --override=cid-desktopapp-is-not-rdns=info \
    resources/smtpdesk.metainfo.xml

step "install-linux.sh into a throwaway HOME, then --uninstall"
home="$work/home"
mkdir "$home"
before=$(cd "$home" && find . | sort)
HOME="$home" XDG_DATA_HOME='' dist/smtpdesk/install-linux.sh
entry="$home/.local/share/applications/smtpdesk.desktop"
desktop-file-validate "$entry"
exec_path=$(sed -n 's/^TryExec=//p' "$entry")
[ "$exec_path" = "$home/.local/opt/smtpdesk/smtpdesk" ] || fail "TryExec is $exec_path"
[ "$("$exec_path" --version)" = "smtpdesk $version" ] || fail "installed copy does not run"
HOME="$home" XDG_DATA_HOME='' "$home/.local/opt/smtpdesk/install-linux.sh" --uninstall
after=$(cd "$home" && find . | sort)
[ "$before" = "$after" ] || fail "uninstall left: $after"
echo "bundle checks passed"
