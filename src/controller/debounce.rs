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
pub(crate) const MAX_CHANGES: usize = 65536;

/// What changed within one window.
#[derive(Debug)]
pub(crate) enum Batch<T> {
    /// These objects changed, each listed once.
    Changed(HashSet<T>),
    /// More objects changed than a batch holds, or changes were lost: anything may
    /// have changed.
    Everything,
}

/// Batches a broadcast stream of changes into windows of bounded delay.
pub(crate) struct Debouncer<T> {
    /// The stream of changed objects.
    changes: broadcast::Receiver<T>,
    /// How long a batch stays open after its first change.
    window: Duration,
    /// How many distinct objects a batch holds.
    capacity: usize,
}

impl<T: Clone + Eq + Hash> Debouncer<T> {
    /// A debouncer of `window` that holds up to [`MAX_CHANGES`] objects per batch.
    pub(crate) fn new(changes: broadcast::Receiver<T>, window: Duration) -> Self {
        Debouncer::with_capacity(changes, window, MAX_CHANGES)
    }

    /// A debouncer of `window` that holds up to `capacity` objects per batch.
    pub(crate) fn with_capacity(
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
    pub(crate) async fn next_batch(&mut self) -> Option<Batch<T>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    const WINDOW: Duration = Duration::from_millis(500);

    fn changed(batch: Option<Batch<u32>>) -> HashSet<u32> {
        match batch {
            Some(Batch::Changed(objects)) => objects,
            other => panic!("expected a batch of changes, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_collects_one_window_and_lists_each_object_once() {
        let (sender, receiver) = broadcast::channel(16);
        let mut debouncer = Debouncer::new(receiver, WINDOW);
        for object in [1, 2, 1, 3, 2] {
            sender.send(object).unwrap();
        }
        let opened = Instant::now();
        assert_eq!(
            changed(debouncer.next_batch().await),
            HashSet::from([1, 2, 3])
        );
        assert_eq!(opened.elapsed(), WINDOW, "the window closes on time");
    }

    #[tokio::test(start_paused = true)]
    async fn no_change_no_batch() {
        let (_sender, receiver) = broadcast::channel::<u32>(16);
        let mut debouncer = Debouncer::new(receiver, WINDOW);
        assert!(
            tokio::time::timeout(WINDOW * 20, debouncer.next_batch())
                .await
                .is_err(),
            "a window opens only on a change"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_stream_delays_a_batch_by_one_window_at_most() {
        // a change every 70 ms, for ever: a trailing debounce would never fire
        let (sender, receiver) = broadcast::channel(16);
        let mut debouncer = Debouncer::new(receiver, WINDOW);
        let stream = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(70));
            for object in 0u32.. {
                tick.tick().await;
                if sender.send(object).is_err() {
                    return;
                }
            }
        });
        let opened = Instant::now();
        let first = tokio::time::timeout(WINDOW * 4, debouncer.next_batch())
            .await
            .expect("a batch closes while changes keep coming");
        // changes at 0, 70, ... 490 ms
        assert_eq!(changed(first), (0..=7).collect());
        assert_eq!(opened.elapsed(), WINDOW);
        // the next window opens with the change at 560 ms and closes at 1060 ms
        assert_eq!(changed(debouncer.next_batch().await), (8..=15).collect());
        assert_eq!(opened.elapsed(), Duration::from_millis(1060));
        stream.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_is_bounded() {
        let (sender, receiver) = broadcast::channel(16);
        let mut debouncer = Debouncer::with_capacity(receiver, WINDOW, 3);
        for object in [1, 2, 3] {
            sender.send(object).unwrap();
        }
        assert_eq!(changed(debouncer.next_batch().await).len(), 3);
        for object in [1, 2, 3, 4] {
            sender.send(object).unwrap();
        }
        assert!(matches!(
            debouncer.next_batch().await,
            Some(Batch::Everything)
        ));
        // the next batch starts empty again
        sender.send(5).unwrap();
        assert_eq!(changed(debouncer.next_batch().await), HashSet::from([5]));
    }

    #[tokio::test(start_paused = true)]
    async fn lost_changes_make_everything_changed() {
        // the receiver fell behind a channel of 2: changes were dropped
        let (sender, receiver) = broadcast::channel(2);
        let mut debouncer = Debouncer::new(receiver, WINDOW);
        for object in 0..5u32 {
            sender.send(object).unwrap();
        }
        assert!(matches!(
            debouncer.next_batch().await,
            Some(Batch::Everything)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_stream_ends_the_batches() {
        let (sender, receiver) = broadcast::channel(16);
        let mut debouncer = Debouncer::new(receiver, WINDOW);
        sender.send(1u32).unwrap();
        drop(sender);
        assert!(debouncer.next_batch().await.is_none());
        assert!(debouncer.next_batch().await.is_none());
    }
}
