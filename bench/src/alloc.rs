//! A counting global allocator: the system allocator (or mimalloc) plus per-thread
//! counts of live heap bytes, so that "bytes held by a client's cache" is measured the
//! same way for every client (live-bytes delta around building the cache, in the same
//! process).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

/// Set before any thread starts (`--allocator mimalloc`): mimalloc instead of the
/// system allocator, for every client alike.
static USE_MIMALLOC: AtomicBool = AtomicBool::new(false);

/// Chooses mimalloc for the rest of the run. Call first thing in `main`.
pub fn use_mimalloc() {
    USE_MIMALLOC.store(true, Ordering::Relaxed);
}

/// The allocator behind [`Counting`].
struct Backend;

impl Backend {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if USE_MIMALLOC.load(Ordering::Relaxed) {
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        } else {
            unsafe { System.alloc(layout) }
        }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if USE_MIMALLOC.load(Ordering::Relaxed) {
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        } else {
            unsafe { System.alloc_zeroed(layout) }
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if USE_MIMALLOC.load(Ordering::Relaxed) {
            unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
        } else {
            unsafe { System.dealloc(ptr, layout) }
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if USE_MIMALLOC.load(Ordering::Relaxed) {
            unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
        } else {
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}

/// The backend allocator, counting live bytes.
pub struct Counting;

/// One counter per thread (threads beyond `SLOTS` share), each on its own cache line:
/// a single shared counter would make every allocation of two decoding threads contend
/// for one cache line and slow parallel code down for the bench's sake alone.
const SLOTS: usize = 256;

#[repr(align(128))]
struct Slot(AtomicIsize);

static CLIENT_SLOTS: [Slot; SLOTS] = [const { Slot(AtomicIsize::new(0)) }; SLOTS];
static SERVER_SLOTS: [Slot; SLOTS] = [const { Slot(AtomicIsize::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the API server runtime's threads: their allocations are counted apart,
    /// so that server-side caches filled during a client measurement do not count as
    /// the client's.
    static SERVER_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// This thread's slot index (`usize::MAX` until the first allocation).
    static SLOT: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// Marks the current thread as an API server thread (runtime `on_thread_start`).
pub fn mark_server_thread() {
    SERVER_THREAD.with(|s| s.set(true));
}

#[inline]
fn counter() -> &'static AtomicIsize {
    let slot = SLOT
        .try_with(|s| {
            if s.get() == usize::MAX {
                s.set(NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS);
            }
            s.get()
        })
        .unwrap_or(0);
    if SERVER_THREAD.try_with(|s| s.get()).unwrap_or(false) {
        &SERVER_SLOTS[slot].0
    } else {
        &CLIENT_SLOTS[slot].0
    }
}

// SAFETY: every method forwards to the backend allocator (`System` or mimalloc) with the
// same arguments and only adds bookkeeping on atomic counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { Backend.alloc(layout) };
        if !p.is_null() {
            counter().fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { Backend.alloc_zeroed(layout) };
        if !p.is_null() {
            counter().fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { Backend.dealloc(ptr, layout) };
        counter().fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { Backend.realloc(ptr, layout, new_size) };
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
    CLIENT_SLOTS.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
}

/// Live heap bytes counted on API server threads (see [`live_bytes`]).
pub fn server_live_bytes() -> isize {
    SERVER_SLOTS.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
}

/// CPU seconds used so far by this process minus the API server's runtime threads
/// (named `apiserver`): the client side's CPU, including threads that have already
/// exited (a parallel decode's helpers). Both in nanoseconds of scheduled run time: the
/// process total from `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)` (every thread, exited
/// ones too), the server threads' from /proc/self/task/*/schedstat (their first field).
/// Earlier runs read clock ticks (/proc/self/stat, 10 ms), too coarse for a quick LIST
/// of 500 pods (one tick was ~7 us per object). `None` where either is missing.
pub fn client_cpu_seconds() -> Option<f64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
    if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } != 0 {
        return None;
    }
    let process = ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9;
    let mut server_ns = 0u64;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = entry.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end().starts_with("apiserver") {
            let sched = std::fs::read_to_string(dir.join("schedstat")).ok()?;
            server_ns += sched.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(process - server_ns as f64 * 1e-9)
}
