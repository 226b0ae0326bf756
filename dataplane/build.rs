//! Compiles the XDP steering program with Debian's clang (stable Rust has no BPF target).
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "bpf/steer.c";
    println!("cargo:rerun-if-changed={src}");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("steer.o");
    // asm/types.h lives under the multiarch include directory on Debian.
    let multiarch = Command::new("gcc")
        .arg("-dumpmachine")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "x86_64-linux-gnu".into());
    let status = Command::new("clang")
        .args(["-O2", "-g", "-Wall", "-Werror", "-target", "bpf"])
        .arg(format!("-I/usr/include/{multiarch}"))
        .args(["-c", src, "-o"])
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("clang failed to build {src} ({s}); see the errors above"),
        Err(e) => panic!(
            "cannot run clang to build the XDP program {src}: {e}. \
             Install it with: apt-get install -y clang libbpf-dev (scripts/install-deps.sh does this)"
        ),
    }
}
