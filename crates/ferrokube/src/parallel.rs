//! `parallel`: spreading independent decodes over the machine's cores.
//!
//! Decoding JSON into typed objects is where a client spends its CPU, and a LIST of
//! thousands of objects or a burst of watch events holds many independent documents.
//! [`map_in_order`] cuts such a batch into contiguous runs of about equal bytes, runs
//! them on scoped threads (the calling thread takes the first run) and returns the
//! results in input order. [`threads_for`] decides how many threads a batch is worth:
//! none for small batches, where starting a thread costs more than it saves, and
//! [`threads_for_limit`] caps it by `rest::Config::list_decode_threads`. From async code
//! [`off_worker`] runs such a decode without holding up the runtime's other tasks.
//! Used by [`rest::list_decode`](crate::rest::list_decode) and the watch decoder.

/// Fewest bytes each thread is given: below this a batch stays on the calling thread.
pub const MIN_BYTES_PER_THREAD: usize = 128 * 1024;

/// Most threads one batch uses (the calling thread included).
pub const MAX_THREADS: usize = 8;

/// How many threads a batch of `bytes` bytes is worth on this machine (1 = decode on
/// the calling thread).
pub fn threads_for(bytes: usize) -> usize {
    let by_size = bytes / MIN_BYTES_PER_THREAD;
    if by_size < 2 {
        return 1;
    }
    cores().min(MAX_THREADS).min(by_size)
}

/// The cores this process may use, asked once: `available_parallelism` reads the
/// affinity mask and cgroup quota files on every call, and the watch decoder asks for
/// every batch of events.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Applies `f` to every item on up to `threads` threads, in contiguous runs of about
/// equal `size`, and returns the results in the order of `items`.
pub fn map_in_order<I, O, S, F>(items: &[I], size: S, threads: usize, f: F) -> Vec<O>
where
    I: Sync,
    O: Send,
    S: Fn(&I) -> usize,
    F: Fn(&I) -> O + Sync,
{
    let total: usize = items.iter().map(&size).sum();
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(&f).collect();
    }
    let runs = split_runs(items, &size, total.div_ceil(threads));
    let f = &f;
    let mut per_run: Vec<Vec<O>> = std::thread::scope(|scope| {
        let mut rest = runs.iter();
        let first = rest.next().copied().unwrap_or_default();
        let helpers: Vec<_> = rest.map(|run| scope.spawn(move || run.iter().map(f).collect::<Vec<O>>())).collect();
        let mut out = vec![first.iter().map(f).collect::<Vec<O>>()];
        for helper in helpers {
            match helper.join() {
                Ok(done) => out.push(done),
                // A panic in `f` is a bug in the caller's types: let it surface here.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    });
    let mut all = Vec::with_capacity(items.len());
    for run in per_run.iter_mut() {
        all.append(run);
    }
    all
}

/// How many threads a batch of `bytes` bytes is worth when at most `limit` may be used
/// (`0`: no limit beyond [`threads_for`]'s; `1`: the calling thread only).
pub fn threads_for_limit(bytes: usize, limit: usize) -> usize {
    match limit {
        0 => threads_for(bytes),
        limit => threads_for(bytes).min(limit),
    }
}

/// Runs `f`, a decode that spreads over `threads` threads with [`map_in_order`], from
/// async code without stalling the runtime: on a multi-threaded tokio runtime, when
/// `threads` > 1, inside `tokio::task::block_in_place`, which first hands this worker's
/// other tasks to another worker (so they keep running while the scoped threads decode);
/// otherwise (one thread, no runtime, or a current-thread runtime, where
/// `block_in_place` is not allowed) directly. Deliberately not `spawn_blocking`: that
/// needs `'static` item types, which the generic typed clients do not promise.
pub fn off_worker<T>(threads: usize, f: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if threads > 1 && multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// Cuts `items` into contiguous runs of at least `target` bytes (the last may be
/// shorter).
fn split_runs<'a, I>(items: &'a [I], size: &impl Fn(&I) -> usize, target: usize) -> Vec<&'a [I]> {
    let mut runs = Vec::new();
    let (mut from, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        bytes += size(item);
        if bytes >= target {
            runs.push(&items[from..=i]);
            from = i + 1;
            bytes = 0;
        }
    }
    if from < items.len() {
        runs.push(&items[from..]);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_input_order() {
        let items: Vec<String> = (0..1000).map(|i| "x".repeat(i % 37)).collect();
        let got = map_in_order(&items, |s| s.len(), 4, |s| s.len());
        assert_eq!(got, items.iter().map(|s| s.len()).collect::<Vec<_>>());
    }

    #[test]
    fn runs_cover_every_item_once() {
        let items: Vec<usize> = (0..10).collect();
        let runs = split_runs(&items, &|i: &usize| *i, 12);
        assert!(runs.len() > 1);
        assert_eq!(runs.concat(), items);
    }

    #[test]
    fn thread_limits() {
        assert_eq!(threads_for_limit(usize::MAX, 1), 1);
        assert_eq!(threads_for_limit(usize::MAX, 0), threads_for(usize::MAX));
        assert!(threads_for_limit(usize::MAX, 2) <= 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn off_worker_lets_the_other_tasks_run() {
        // On a worker, a task spawned just before the decode waits in that worker's own
        // slot, which other workers do not take: with the worker simply blocked, the
        // decode below would wait for it in vain (until the bound).
        let got = tokio::spawn(async {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let other = tokio::spawn(async move { tx.send(()).unwrap() });
            let got = off_worker(2, || rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok());
            other.await.unwrap();
            got
        })
        .await
        .unwrap();
        assert!(got, "the other task did not run while the decode blocked");
    }

    #[test]
    fn off_worker_runs_directly_where_it_cannot_move_tasks() {
        // A current-thread runtime (block_in_place would panic there), and no runtime.
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(rt.block_on(async { off_worker(4, || 7) }), 7);
        assert_eq!(off_worker(4, || 8), 8);
    }

    #[test]
    fn small_batches_stay_on_the_calling_thread() {
        assert_eq!(threads_for(MIN_BYTES_PER_THREAD - 1), 1);
        assert_eq!(threads_for(2 * MIN_BYTES_PER_THREAD - 1), 1);
        assert!(threads_for(usize::MAX) <= MAX_THREADS);
        assert_eq!(map_in_order::<u8, u8, _, _>(&[], |_| 1, 4, |x| *x), Vec::<u8>::new());
    }
}
