//! Tests against the kernel in a throwaway network namespace (root only).

use std::io;
use std::process::Command;
use std::thread;

/// Run `f` on a thread of its own moved into a new, empty network
/// namespace (needs root). Namespaces are per thread: the test
/// process's other threads and the host's namespace are untouched, and
/// the namespace with all it holds vanishes when the thread ends.
/// Commands spawned from that thread run in it.
pub fn in_new_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    thread::spawn(move || {
        // SAFETY: unshare(2) with only CLONE_NEWNET takes no pointers and
        // moves just this thread into a new network namespace.
        let r = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            r,
            0,
            "unshare(CLONE_NEWNET) (these tests need root): {}",
            io::Error::last_os_error()
        );
        f()
    })
    .join()
    .unwrap()
}

/// ip(8) with `args` (split at spaces); the test fails if it does.
pub fn ip(args: &str) {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("run ip(8)");
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
