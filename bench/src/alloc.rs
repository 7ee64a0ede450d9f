//! A counting global allocator: the system allocator plus an atomic count of live heap
//! bytes, so that "bytes held by a client's cache" is measured the same way for every
//! client (live-bytes delta around building the cache, in the same process).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// The system allocator, counting live bytes.
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static SERVER_LIVE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    /// Set on the API server runtime's threads: their allocations are counted apart,
    /// so that server-side caches filled during a client measurement do not count as
    /// the client's.
    static SERVER_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the current thread as an API server thread (runtime `on_thread_start`).
pub fn mark_server_thread() {
    SERVER_THREAD.with(|s| s.set(true));
}

#[inline]
fn counter() -> &'static AtomicIsize {
    if SERVER_THREAD.try_with(|s| s.get()).unwrap_or(false) {
        &SERVER_LIVE
    } else {
        &LIVE
    }
}

// SAFETY: every method forwards to `System` with the same arguments and only adds
// bookkeeping on an atomic counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            counter().fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            counter().fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        counter().fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            counter().fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
}

/// Live heap bytes allocated by non-server threads (requested sizes, not allocator
/// overhead). Memory allocated on one side and freed on the other is misattributed;
/// client and server share no heap objects during the measurements (they talk over TLS
/// sockets), and the data is loaded before the baseline is taken.
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Live heap bytes counted on API server threads (see [`live_bytes`]).
pub fn server_live_bytes() -> isize {
    SERVER_LIVE.load(Ordering::Relaxed)
}

/// CPU seconds (user + system) used so far by every thread of this process except the
/// API server's runtime threads (named `apiserver`): the client side's CPU. Read from
/// /proc/self/task/*/stat (clock ticks, usually 10 ms); `None` where /proc is missing.
pub fn client_cpu_seconds() -> Option<f64> {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0u64;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = entry.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end().starts_with("apiserver") {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else { continue };
        // Fields after the ")" that ends the command name: state is field 3; utime and
        // stime are fields 14 and 15.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 12 {
            total += f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
        }
    }
    Some(total as f64 / tick)
}
