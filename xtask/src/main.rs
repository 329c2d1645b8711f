//! `cargo xtask bundle mgr-plugin [--release]`: builds the plugin and lays out the CLAP and VST3
//! bundles under `target/bundled/` (names from `bundler.toml`).

fn main() -> nice_plug_xtask::Result<()> {
    nice_plug_xtask::main()
}
