#!/usr/bin/python3
"""A tray host for the tray tests: what a desktop's panel does with a StatusNotifierItem.

It owns org.kde.StatusNotifierWatcher on the session bus (the name tray icons look for),
records the items that register, and on commands read from stdin acts as a panel would:

    props            -> {"title", "status", "tooltip", "menu", "icon": {"width", "height", "grey"}}
    menu             -> ["Open", "Pause all polling", ...]  (the labels of the item's menu)
    click LABEL      -> clicks that menu entry (com.canonical.dbusmenu Event "clicked")
    activate         -> a left click on the icon (org.kde.StatusNotifierItem.Activate)

Every answer is one line of JSON; "registered" lines announce items. Errors come back as
{"error": "..."} so that the test can retry while the item is still starting.
"""
import json
import os
import sys

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

WATCHER = "org.kde.StatusNotifierWatcher"
ITEM = "org.kde.StatusNotifierItem"
MENU = "com.canonical.dbusmenu"


def say(value):
    print(json.dumps(value), flush=True)


class Watcher(dbus.service.Object):
    def __init__(self, bus):
        super().__init__(bus, "/StatusNotifierWatcher")
        self.bus = bus
        self.items = []

    @dbus.service.method(WATCHER, in_signature="s", sender_keyword="sender")
    def RegisterStatusNotifierItem(self, service, sender=None):
        # An item names itself by bus name (path implied) or by object path (sender's name).
        if service.startswith("/"):
            name, path = sender, service
        else:
            name, path = service, "/StatusNotifierItem"
        self.items.append((name, path))
        self.StatusNotifierItemRegistered(name + path)
        say({"registered": name + path})

    @dbus.service.method(WATCHER, in_signature="s")
    def RegisterStatusNotifierHost(self, service):
        pass

    @dbus.service.signal(WATCHER, signature="s")
    def StatusNotifierItemRegistered(self, item):
        pass

    @dbus.service.signal(WATCHER, signature="s")
    def StatusNotifierItemUnregistered(self, item):
        pass

    @dbus.service.signal(WATCHER, signature="")
    def StatusNotifierHostRegistered(self):
        pass

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="ss", out_signature="v")
    def Get(self, interface, prop):
        return self.GetAll(interface)[prop]

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        return {
            "RegisteredStatusNotifierItems": dbus.Array(
                [name + path for name, path in self.items], signature="s"
            ),
            "IsStatusNotifierHostRegistered": True,
            "ProtocolVersion": dbus.Int32(0),
        }

    def item(self):
        if not self.items:
            raise RuntimeError("no item registered yet")
        name, path = self.items[-1]
        return name, self.bus.get_object(name, path)

    def props(self):
        name, item = self.item()
        props = item.GetAll(ITEM, dbus_interface=dbus.PROPERTIES_IFACE)
        pixmaps = props.get("IconPixmap", [])
        icon = None
        if pixmaps:
            width, height, data = pixmaps[0]
            argb = bytes(data)
            # ARGB32 in network order: a pixel is grey when R == G == B.
            grey = all(argb[i + 1] == argb[i + 2] == argb[i + 3] for i in range(0, len(argb), 4))
            icon = {"width": int(width), "height": int(height), "grey": grey}
        tooltip = props.get("ToolTip")
        return {
            "title": str(props.get("Title", "")),
            "status": str(props.get("Status", "")),
            "tooltip": str(tooltip[2]) + "|" + str(tooltip[3]) if tooltip else "",
            "menu": str(props.get("Menu", "")),
            "icon": icon,
        }

    def menu_entries(self):
        name, item = self.item()
        path = item.Get(ITEM, "Menu", dbus_interface=dbus.PROPERTIES_IFACE)
        menu = self.bus.get_object(name, path)
        _revision, layout = menu.GetLayout(0, -1, dbus.Array([], signature="s"), dbus_interface=MENU)
        entries = []

        def walk(node):
            entry_id, properties, children = node
            label = properties.get("label")
            if label is not None and properties.get("visible", True):
                entries.append((int(entry_id), str(label).replace("_", "")))
            for child in children:
                walk(child)

        walk(layout)
        return menu, entries

    def command(self, line):
        words = line.strip().split(" ", 1)
        if words[0] == "props":
            return self.props()
        if words[0] == "menu":
            return [label for _, label in self.menu_entries()[1]]
        if words[0] == "click":
            menu, entries = self.menu_entries()
            for entry_id, label in entries:
                if label == words[1]:
                    menu.Event(entry_id, "clicked", dbus.Int32(0, variant_level=1), dbus.UInt32(0),
                               dbus_interface=MENU)
                    return {"clicked": label}
            raise RuntimeError(f"no menu entry {words[1]!r}")
        if words[0] == "activate":
            self.item()[1].Activate(0, 0, dbus_interface=ITEM)
            return {"activated": True}
        raise RuntimeError(f"unknown command {line!r}")


def main():
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    watcher = Watcher(bus)
    # Claimed after the object exists, so that no item registers into nothing.
    name = dbus.service.BusName(WATCHER, bus, do_not_queue=True)
    loop = GLib.MainLoop()

    pending = b""

    # Raw reads: a buffered readline would keep a second command out of GLib's sight.
    def on_stdin(fd, _condition):
        nonlocal pending
        chunk = os.read(fd, 4096)
        if not chunk:
            loop.quit()
            return False
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            try:
                say(watcher.command(line.decode()))
            except Exception as error:  # every failure is an answer, never a dead host
                say({"error": str(error)})
        return True

    GLib.io_add_watch(sys.stdin.fileno(), GLib.IO_IN | GLib.IO_HUP, on_stdin)
    say({"ready": WATCHER, "bus_name": str(name.get_name())})
    loop.run()


if __name__ == "__main__":
    main()
