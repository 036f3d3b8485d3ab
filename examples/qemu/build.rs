//! Gives each binary its board's memory map and links with cortex-m-rt's `link.x`, so the crate
//! builds with no `.cargo/config.toml`.
//!
//! `link.x` includes `memory.x` from the linker's search path; each binary gets its own
//! directory holding its board's `memory.x`, so one `cargo build` per target needs no feature
//! flags.

use std::{env, fs, path::PathBuf};

/// (binary, memory map)
const BOARDS: [(&str, &str); 2] = [
    ("rudp-fw-lm3s6965evb", include_str!("memory-lm3s6965evb.x")),
    ("rudp-fw-mps2-an386", include_str!("memory-mps2-an386.x")),
];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (bin, memory) in BOARDS {
        let dir = out.join(bin);
        fs::create_dir_all(&dir).expect("create a directory in OUT_DIR");
        fs::write(dir.join("memory.x"), memory).expect("write memory.x");
        println!("cargo:rustc-link-arg-bin={bin}=-L{}", dir.display());
        println!("cargo:rustc-link-arg-bin={bin}=-Tlink.x");
    }
    println!("cargo:rerun-if-changed=memory-lm3s6965evb.x");
    println!("cargo:rerun-if-changed=memory-mps2-an386.x");
}
