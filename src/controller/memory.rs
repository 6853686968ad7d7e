//! The allocator's share of the controller's memory.
//!
//! glibc's malloc gives each thread that allocates its own arena (up to 8 per core)
//! and keeps what is freed there for reuse. A controller decodes watch events on
//! every runtime worker and drops the previous copy of each object it replaces, so
//! freed memory piles up in arenas the next allocation does not come back to: the
//! process's RSS then tracks the high-water mark of each arena, not what the cache
//! holds. Two arenas and a periodic `malloc_trim` keep RSS near the live heap.
//! Other allocators (musl's) keep no such arenas: there this module does nothing.

use std::time::Duration;

/// How often freed memory is handed back to the kernel.
pub(crate) const TRIM_PERIOD: Duration = Duration::from_secs(30);

/// Limits glibc's malloc to two arenas. Call before any thread starts.
pub(crate) fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of the allocator; called before the
    // runtime's threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns free memory at the top of the heap and in free chunks to the kernel.
pub(crate) fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the allocator's own locks; it is safe to call at
    // any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Trims every [`TRIM_PERIOD`] until the task is dropped.
pub(crate) async fn trim_periodically() {
    let mut tick = tokio::time::interval(TRIM_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let _ = tokio::task::spawn_blocking(trim).await;
    }
}
