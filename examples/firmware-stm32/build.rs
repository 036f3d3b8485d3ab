//! Puts `link/memory.x` (`link/memory-update.x` with feature `update`) where the linker finds it
//! as `memory.x` (kept out of the package's root, where the linker would look first), and links
//! with cortex-m-rt's `link.x` and defmt's `defmt.x`, so the crate builds with no `.cargo/config.toml`. Also picks a default defmt log
//! level (`debug`: protocol trace lines included) unless `DEFMT_LOG` is set.

use std::{env, fs, path::PathBuf};

/// The defmt log level when `DEFMT_LOG` is not set (defmt's own default is `error` only).
const DEFAULT_DEFMT_LOG: &str = "debug";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // Update mode runs under embassy-boot's bootloader: linked into its ACTIVE partition.
    let memory: &[u8] = if env::var_os("CARGO_FEATURE_UPDATE").is_some() {
        include_bytes!("link/memory-update.x")
    } else {
        include_bytes!("link/memory.x")
    };
    fs::write(out.join("memory.x"), memory).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=link/memory.x");
    println!("cargo:rerun-if-changed=link/memory-update.x");
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=-Tdefmt.x");

    // defmt's macros read DEFMT_LOG while this crate compiles; `rustc-env` sets it for that
    // compilation only, so a `DEFMT_LOG=...` on the command line still wins.
    println!("cargo:rerun-if-env-changed=DEFMT_LOG");
    if env::var_os("DEFMT_LOG").is_none() {
        println!("cargo:rustc-env=DEFMT_LOG={DEFAULT_DEFMT_LOG}");
    }
}
