//! `parallel`: spreading independent decodes over the machine's cores.
//!
//! Decoding JSON into typed objects is where a client spends its CPU, and a LIST of
//! thousands of objects or a burst of watch events holds many independent documents.
//! [`map_in_order`] cuts such a batch into contiguous runs of about equal bytes, runs
//! them on scoped threads (the calling thread takes the first run) and returns the
//! results in input order. [`threads_for`] decides how many threads a batch is worth:
//! none for small batches, where starting a thread costs more than it saves.
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
    fn small_batches_stay_on_the_calling_thread() {
        assert_eq!(threads_for(MIN_BYTES_PER_THREAD - 1), 1);
        assert_eq!(threads_for(2 * MIN_BYTES_PER_THREAD - 1), 1);
        assert!(threads_for(usize::MAX) <= MAX_THREADS);
        assert_eq!(map_in_order::<u8, u8, _, _>(&[], |_| 1, 4, |x| *x), Vec::<u8>::new());
    }
}
