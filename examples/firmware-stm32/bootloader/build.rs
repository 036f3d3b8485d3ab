//! Links with cortex-m-rt's `link.x`; `memory.x` (this directory) is where the linker looks.

fn main() {
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rustc-link-arg=-Tlink.x");
}
