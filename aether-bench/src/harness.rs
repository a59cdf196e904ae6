//! Runtimes, client drivers, RSS, stdout silencing.

pub use crate::client::{new_rt, run_n, warm_then_run};

/// Resident set size of this process (VmRSS), bytes.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Gives freed heap pages back to the OS, so RSS reflects memory in use.
pub fn trim_heap() {
    // SAFETY: malloc_trim only releases free memory held by glibc's allocator.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs `f` with file descriptor 1 pointed at /dev/null (cqrs-es's `MemStore` prints a
/// line on every load and every commit), then restores stdout.
pub fn with_stdout_silenced<T>(f: impl FnOnce() -> T) -> T {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: plain POSIX fd calls on fds we own; every one is checked.
    let saved = unsafe { libc::dup(1) };
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    use std::os::fd::AsRawFd;
    if saved >= 0 {
        unsafe { libc::dup2(null.as_raw_fd(), 1) };
    }
    let out = f();
    let _ = std::io::stdout().flush();
    if saved >= 0 {
        unsafe {
            libc::dup2(saved, 1);
            libc::close(saved);
        }
    }
    out
}
