//! The desktop's light/dark preference on Linux, where winit reports none.
//!
//! egui follows the system theme by itself (`ThemePreference::System`) wherever winit
//! knows it (Windows, macOS); on Linux (X11 and Wayland) winit always says "unknown" and
//! egui falls back to dark. The desktop says it through the XDG portal
//! (`org.freedesktop.appearance` `color-scheme`), so a thread reads it there and keeps
//! egui's fallback theme equal to it; a change made in the desktop's settings follows
//! within a frame. Without a session bus or a portal nothing changes (dark).

use eframe::egui;

/// The portal's `color-scheme`: 1 = prefer dark, 2 = prefer light, 0 = no preference.
pub fn theme_of_color_scheme(scheme: u32) -> Option<egui::Theme> {
    match scheme {
        1 => Some(egui::Theme::Dark),
        2 => Some(egui::Theme::Light),
        _ => None,
    }
}

/// Starts following the desktop's preference (a thread of its own; nothing on Linux
/// without a session bus, nothing elsewhere).
pub fn follow(ctx: egui::Context) {
    #[cfg(target_os = "linux")]
    {
        let spawned = std::thread::Builder::new()
            .name("system theme".into())
            .spawn(move || {
                if let Err(e) = portal::follow(&ctx) {
                    tracing::debug!("the desktop's light/dark preference is not known: {e}");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot follow the desktop's light/dark preference: {e}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = ctx;
}

#[cfg(target_os = "linux")]
mod portal {
    use eframe::egui;
    use zbus::zvariant::{OwnedValue, Value};

    const NAMESPACE: &str = "org.freedesktop.appearance";
    const KEY: &str = "color-scheme";

    /// The `u32` inside a portal value (`Read` wraps it in one more variant than `ReadOne`).
    fn scheme(value: &Value<'_>) -> Option<u32> {
        match value {
            Value::U32(v) => Some(*v),
            Value::Value(inner) => scheme(inner),
            _ => None,
        }
    }

    fn apply(ctx: &egui::Context, value: &Value<'_>) {
        let theme = scheme(value)
            .and_then(super::theme_of_color_scheme)
            .unwrap_or(egui::Theme::Dark);
        ctx.options_mut(|o| o.fallback_theme = theme);
        ctx.request_repaint();
    }

    pub fn follow(ctx: &egui::Context) -> zbus::Result<()> {
        let connection = zbus::blocking::Connection::session()?;
        let proxy = zbus::blocking::Proxy::new(
            &connection,
            "org.freedesktop.portal.Desktop",
            "/org/freedesktop/portal/desktop",
            "org.freedesktop.portal.Settings",
        )?;
        let first: zbus::Result<OwnedValue> = proxy
            .call("ReadOne", &(NAMESPACE, KEY))
            .or_else(|_| proxy.call("Read", &(NAMESPACE, KEY)));
        let first = first?;
        apply(ctx, &first);
        for message in proxy.receive_signal("SettingChanged")? {
            if let Ok((namespace, key, value)) =
                message.body().deserialize::<(String, String, OwnedValue)>()
                && namespace == NAMESPACE
                && key == KEY
            {
                apply(ctx, &value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portals_color_scheme_gives_the_theme() {
        assert_eq!(theme_of_color_scheme(1), Some(egui::Theme::Dark));
        assert_eq!(theme_of_color_scheme(2), Some(egui::Theme::Light));
        assert_eq!(theme_of_color_scheme(0), None);
        assert_eq!(theme_of_color_scheme(7), None);
    }
}
