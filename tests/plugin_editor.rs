//! The editor of the bundled `mgr.clap`, opened inside an X11 window the way a DAW embeds it,
//! after a song has been analysed, and captured to `<target>/plugin-editor.png` (the README's
//! `docs/plugin.png` is one such capture).
//!
//! Needs an X server: CI runs the tests under `xvfb-run` and sets `MGR_REQUIRE_DISPLAY=1`, which
//! turns a missing display into a failure. The capture uses ImageMagick's `import`.

// Embedding the editor in a raw X11 window is `unsafe` in clack (the host vouches for it).
#![allow(unsafe_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use clack_extensions::gui::{GuiApiType, GuiConfiguration, PluginGui, Window};
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use mgr_core::audio::decode_file;
use mgr_tests::pack;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, EventMask, WindowClass};
use x11rb::COPY_DEPTH_FROM_PARENT;

#[path = "plugin_host.rs"]
mod plugin_host;
use plugin_host::*;

#[test]
fn editor_opens_and_shows_the_analysis() {
    if std::env::var_os("DISPLAY").is_none() {
        assert!(
            std::env::var_os("MGR_REQUIRE_DISPLAY").is_none(),
            "MGR_REQUIRE_DISPLAY is set but there is no DISPLAY"
        );
        println!("no DISPLAY: editor test not run (CI runs it under xvfb-run)");
        return;
    }
    let (_entry, mut instance) = load();
    set_offline(&mut instance);
    // Three genres back to back, so the history strip has something to show.
    let mut song = Vec::new();
    let mut rate = 22_050;
    for clip in [
        "data/gtzan-mini/genres/jazz/jazz.00001.flac",
        "data/gtzan-mini/genres/jazz/jazz.00002.flac",
        "data/gtzan-mini/genres/classical/classical.00003.flac",
        "data/gtzan-mini/genres/metal/metal.00004.flac",
    ] {
        let a = decode_file(&pack(clip)).unwrap();
        rate = a.sample_rate();
        song.extend_from_slice(a.samples());
    }
    let mut s = Session::start(&mut instance, f64::from(rate), 1024);
    let hop = param_id(&mut instance, 0);
    // 6 s between windows: (6 − 1) / (30 − 1) normalised.
    s.events
        .push(ParamValueEvent::new(0, hop, Pckn::match_all(), 5.0 / 29.0));
    for c in song.chunks(1024) {
        s.block(c, c);
    }
    wait_for(&mut instance, Duration::from_secs(600), |a| {
        a["song"].is_object() && a["history"].as_array().is_some_and(|h| h.len() >= 14)
    });

    // A host window to embed the editor in.
    let (conn, screen_num) = x11rb::connect(None).expect("X11 connection");
    let screen = &conn.setup().roots[screen_num];
    let win = conn.generate_id().unwrap();
    conn.create_window(
        COPY_DEPTH_FROM_PARENT,
        win,
        screen.root,
        0,
        0,
        780,
        580,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new()
            .background_pixel(screen.black_pixel)
            .event_mask(EventMask::STRUCTURE_NOTIFY),
    )
    .unwrap();
    conn.map_window(win).unwrap();
    conn.flush().unwrap();

    let h = instance.plugin_handle();
    let gui: PluginGui = h.get_extension().expect("gui extension");
    gui.create(
        &h,
        GuiConfiguration {
            api_type: GuiApiType::X11,
            is_floating: false,
        },
    )
    .expect("editor creates");
    let size = gui.get_size(&h).expect("editor size");
    assert_eq!((size.width, size.height), (780, 580));
    // SAFETY: `win` is a live X11 window of ours that outlives the editor.
    unsafe {
        gui.set_parent(&h, Window::from_x11_handle(win.into()))
            .expect("editor embeds");
    }
    gui.show(&h).expect("editor shows");
    for _ in 0..40 {
        pump(&mut instance);
        std::thread::sleep(Duration::from_millis(100));
    }

    let out = target_dir().join("plugin-editor.png");
    let status = Command::new("import")
        .args(["-window", &format!("{win}"), out.to_str().unwrap()])
        .status()
        .expect("ImageMagick `import` runs");
    assert!(status.success());
    let bytes = std::fs::metadata(&out).unwrap().len();
    println!("editor captured to {} ({bytes} bytes)", out.display());
    // A rendered editor (text, bars, colours) compresses far worse than a blank window.
    assert!(bytes > 20_000, "the capture looks empty ({bytes} bytes)");

    let h = instance.plugin_handle();
    gui.destroy(&h);
    s.stop(&mut instance);
}

fn target_dir() -> PathBuf {
    bundle("clap")
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .to_path_buf()
}
