"""What the Linux bundle leaves out; shared by smtpdesk.spec and check-bundle.py.

Qt plugins a desktop app never loads (framebuffer, VNC, evdev input), and the GTK stack that
only the gtk3 platform theme plugin pulls in. Bundling the build machine's GTK breaks on other
distributions; without that plugin Qt uses the xdg-desktop-portal theme (native file dialogs
on GNOME and KDE) or its own style.
"""

from __future__ import annotations

DROPPED_QT_PLUGINS = (
    "platformthemes/libqgtk3",
    "egldeviceintegrations/",
    "plugins/generic/",
    "platforms/libqeglfs",
    "platforms/libqlinuxfb",
    "platforms/libqvnc",
    "platforms/libqvkkhrdisplay",
    "platforms/libqminimalegl",
)
DROPPED_LIBS = (
    "libgtk-3.", "libgdk-3.", "libatk-1.0.", "libatk-bridge-2.0.", "libatspi.", "libcairo.",
    "libcairo-gobject.", "libpango-1.0.", "libpangocairo-1.0.", "libpangoft2-1.0.",
    "libgdk_pixbuf-2.0.", "libepoxy.", "libXcomposite.", "libXdamage.", "libthai.",
    "libdatrie.", "libpixman-1.", "libfribidi.", "libgraphite2.", "libharfbuzz.",
    "libQt6EglFSDeviceIntegration.", "libQt6EglFsKmsSupport.",
)  # fmt: skip


def is_dropped(dest: str) -> bool:
    """Whether the bundle entry at ``dest`` (a path inside the bundle) is left out."""
    dest = dest.replace("\\", "/")
    name = dest.rsplit("/", 1)[-1]
    return any(p in dest for p in DROPPED_QT_PLUGINS) or name.startswith(DROPPED_LIBS)
