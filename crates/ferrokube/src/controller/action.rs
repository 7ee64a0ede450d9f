//! `controller::action`: what a reconcile asks the controller to do next with the key
//! (controller-runtime `reconcile.Result`, kube-runtime `Action`).

use std::time::Duration;

/// The outcome of a successful reconcile, or what an error policy decides after a
/// failed one.
///
/// | action | after a success | after an error (error policy) |
/// | --- | --- | --- |
/// | [`Done`](Action::Done) | forget the key's failures; wait for the next change | forget; drop the key until the next change |
/// | [`Requeue`](Action::Requeue) | requeue with the key's backoff (rate limiter) | same: the default policy |
/// | [`RequeueAfter`](Action::RequeueAfter) | forget the failures; reconcile again after the duration | reconcile again after the duration, failures kept |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing more to do until the object (or something mapped to it) changes.
    Done,
    /// Reconcile again after the key's backoff from the queue's rate limiter (5 ms,
    /// 10 ms, 20 ms, ... with the default limiter).
    Requeue,
    /// Reconcile again after this long (for periodic checks of external state).
    RequeueAfter(Duration),
}

impl Action {
    /// [`Action::Done`].
    pub fn done() -> Self {
        Action::Done
    }

    /// [`Action::Requeue`].
    pub fn requeue() -> Self {
        Action::Requeue
    }

    /// [`Action::RequeueAfter`] `delay`.
    pub fn requeue_after(delay: Duration) -> Self {
        Action::RequeueAfter(delay)
    }
}
