//! Change-triggered re-diagnoses, batched with a bounded delay.
//!
//! The first change opens a window (`--debounce-ms`); everything that changes within
//! it is collected, and when it closes the batch is handed on at once, each changed
//! object once. A steady stream of changes (Pods flipping, Events counting up)
//! therefore delays a re-diagnosis by at most one window — a trailing debounce (such
//! as kube-runtime's) would wait for a quiet moment that a busy cluster never has.
//! A batch holds at most [`MAX_CHANGES`] objects; beyond that, or when changes were
//! lost because the receiver fell behind, the batch says that everything may have
//! changed.

use std::collections::HashSet;
use std::hash::Hash;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};

/// How many distinct changed objects one batch holds.
pub const MAX_CHANGES: usize = 65536;

/// What changed within one window.
#[derive(Debug)]
pub enum Batch<T> {
    /// These objects changed, each listed once.
    Changed(HashSet<T>),
    /// More objects changed than a batch holds, or changes were lost: anything may
    /// have changed.
    Everything,
}

/// Batches a broadcast stream of changes into windows of bounded delay.
pub struct Debouncer<T> {
    /// The stream of changed objects.
    changes: broadcast::Receiver<T>,
    /// How long a batch stays open after its first change.
    window: Duration,
    /// How many distinct objects a batch holds.
    capacity: usize,
}

impl<T: Clone + Eq + Hash> Debouncer<T> {
    /// A debouncer of `window` that holds up to [`MAX_CHANGES`] objects per batch.
    pub fn new(changes: broadcast::Receiver<T>, window: Duration) -> Self {
        Debouncer::with_capacity(changes, window, MAX_CHANGES)
    }

    /// A debouncer of `window` that holds up to `capacity` objects per batch.
    pub fn with_capacity(
        changes: broadcast::Receiver<T>,
        window: Duration,
        capacity: usize,
    ) -> Self {
        Debouncer {
            changes,
            window,
            capacity,
        }
    }

    /// Waits for the next change, then collects changes until the window it opened
    /// closes. `None` once the stream is closed (a batch still open is dropped).
    pub async fn next_batch(&mut self) -> Option<Batch<T>> {
        let mut changed: HashSet<T> = HashSet::new();
        let mut everything = false;
        match self.changes.recv().await {
            Ok(object) => {
                changed.insert(object);
            }
            Err(RecvError::Lagged(_)) => everything = true,
            Err(RecvError::Closed) => return None,
        }
        let closes = tokio::time::Instant::now() + self.window;
        loop {
            tokio::select! {
                received = self.changes.recv() => match received {
                    Ok(object) => {
                        if changed.len() < self.capacity {
                            changed.insert(object);
                        } else {
                            everything = true;
                        }
                    }
                    Err(RecvError::Lagged(_)) => everything = true,
                    Err(RecvError::Closed) => return None,
                },
                () = tokio::time::sleep_until(closes) => break,
            }
        }
        Some(if everything {
            Batch::Everything
        } else {
            Batch::Changed(changed)
        })
    }
}
