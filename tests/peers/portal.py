#!/usr/bin/python3
"""An XDG desktop portal for the desktop tests and screenshots: what a desktop's
xdg-desktop-portal answers, on the session bus of DBUS_SESSION_BUS_ADDRESS.

    portal.py [--color-scheme N] [--choose PATH]

- org.freedesktop.portal.Settings: `color-scheme` is N (1 = prefer dark, 2 = prefer light,
  0 = no preference; default 0), read with ReadOne or Read.
- org.freedesktop.portal.FileChooser (only with --choose): OpenFile and SaveFile answer
  PATH at once, as if the user had chosen it, through the Request object's Response signal.
  Each call is printed as a line of JSON (the method, title and options' keys).

It prints {"ready": ...} once it owns org.freedesktop.portal.Desktop, and ends when stdin
closes.
"""
import argparse
import json
import os
import sys
import urllib.parse

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

NAME = "org.freedesktop.portal.Desktop"
PATH = "/org/freedesktop/portal/desktop"
SETTINGS = "org.freedesktop.portal.Settings"
CHOOSER = "org.freedesktop.portal.FileChooser"
REQUEST = "org.freedesktop.portal.Request"


def say(value):
    print(json.dumps(value), flush=True)


class Request(dbus.service.Object):
    @dbus.service.signal(REQUEST, signature="ua{sv}")
    def Response(self, response, results):
        pass


class Portal(dbus.service.Object):
    def __init__(self, bus, scheme, choose):
        super().__init__(bus, PATH)
        self.bus = bus
        self.scheme = scheme
        self.choose = choose
        self.requests = []

    # ---------------------------------------------------------------- Settings
    def value(self, namespace, key):
        if namespace == "org.freedesktop.appearance" and key == "color-scheme":
            return dbus.UInt32(self.scheme)
        raise dbus.exceptions.DBusException(
            "org.freedesktop.portal.Error.NotFound", f"no {namespace} {key}")

    @dbus.service.method(SETTINGS, in_signature="ss", out_signature="v")
    def ReadOne(self, namespace, key):
        return self.value(namespace, key)

    @dbus.service.method(SETTINGS, in_signature="ss", out_signature="v")
    def Read(self, namespace, key):
        # The older call; real portals wrap the value in one more variant, which the
        # window unwraps either way.
        return self.value(namespace, key)

    @dbus.service.signal(SETTINGS, signature="ssv")
    def SettingChanged(self, namespace, key, value):
        pass

    # ------------------------------------------------------------- FileChooser
    def answer(self, sender, method, title, options):
        if self.choose is None:
            raise dbus.exceptions.DBusException(
                "org.freedesktop.DBus.Error.UnknownMethod", "no file chooser")
        say({"call": method, "title": str(title), "options": sorted(str(k) for k in options)})
        token = str(options.get("handle_token", "t%d" % len(self.requests)))
        who = sender[1:].replace(".", "_")
        path = f"{PATH}/request/{who}/{token}"
        request = Request(self.bus, path)
        self.requests.append(request)
        uri = "file://" + urllib.parse.quote(self.choose)
        results = dbus.Dictionary({"uris": dbus.Array([uri], signature="s")}, signature="sv")
        # After the method's reply, as a portal answers once the user has chosen.
        GLib.timeout_add(50, lambda: request.Response(dbus.UInt32(0), results) and False)
        return dbus.ObjectPath(path)

    @dbus.service.method(CHOOSER, in_signature="ssa{sv}", out_signature="o", sender_keyword="sender")
    def OpenFile(self, parent, title, options, sender=None):
        return self.answer(sender, "OpenFile", title, options)

    @dbus.service.method(CHOOSER, in_signature="ssa{sv}", out_signature="o", sender_keyword="sender")
    def SaveFile(self, parent, title, options, sender=None):
        return self.answer(sender, "SaveFile", title, options)

    # -------------------------------------------------------------- Properties
    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="ss", out_signature="v")
    def Get(self, interface, prop):
        if prop == "version" and (interface == SETTINGS or (interface == CHOOSER and self.choose)):
            return dbus.UInt32(3 if interface == CHOOSER else 1)
        raise dbus.exceptions.DBusException(
            "org.freedesktop.DBus.Error.UnknownProperty", f"no {interface}.{prop}")

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        try:
            return {"version": self.Get(interface, "version")}
        except dbus.exceptions.DBusException:
            return dbus.Dictionary({}, signature="sv")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--color-scheme", type=int, default=0)
    parser.add_argument("--choose")
    args = parser.parse_args()
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    Portal(bus, args.color_scheme, args.choose)
    name = dbus.service.BusName(NAME, bus, do_not_queue=True)
    loop = GLib.MainLoop()

    def on_stdin(fd, _condition):
        if not os.read(fd, 4096):
            loop.quit()
            return False
        return True

    GLib.io_add_watch(sys.stdin.fileno(), GLib.IO_IN | GLib.IO_HUP, on_stdin)
    say({"ready": str(name.get_name())})
    loop.run()


if __name__ == "__main__":
    main()
