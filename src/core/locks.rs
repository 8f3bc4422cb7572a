//! Per-scope asynchronous locks: operations on one scope run one at a time
//! within an instance, in the order they asked; operations on different
//! scopes interleave freely.
//!
//! First come, first served: a release hands the lock straight to the oldest
//! waiter, which takes it on its next poll, so a call that arrives in between
//! (the binding polls every new call at once) queues behind it instead of
//! overtaking it.
//!
//! Single-threaded by design (wasm has one thread): state sits in a `RefCell`
//! that is only borrowed inside `poll` and `drop`, never across an await, and
//! wakers are woken after the borrow ends.

use crate::prelude::*;
use core::cell::{Cell, RefCell};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::sorted_map::SortedMap;

#[derive(Debug, Default)]
pub struct ScopeLocks {
    /// Held scopes, each with the operations queued behind it.
    held: RefCell<SortedMap<Held>>,
    /// Ids for waiters, unique within this instance.
    next_waiter: Cell<u64>,
}

/// One held scope. The entry exists exactly while someone holds the lock or
/// it has been handed to a waiter that has not polled yet.
#[derive(Debug, Default)]
struct Held {
    /// The waiter a release handed the lock to, until it polls and takes it.
    handed_to: Option<u64>,
    /// Waiting operations, oldest first, each with the waker of its latest poll.
    queue: Vec<(u64, Waker)>,
}

impl ScopeLocks {
    pub fn lock(&self, scope_key: String) -> LockFuture<'_> {
        LockFuture { locks: self, scope_key: Some(scope_key), waiter: None }
    }

    pub fn held_count(&self) -> usize {
        self.held.borrow().len()
    }

    /// Passes the scope on to its oldest waiter, or frees it; returns the
    /// waker to wake once the borrow is over.
    fn pass_on(held: &mut SortedMap<Held>, scope_key: &str) -> Option<Waker> {
        let entry = held.get_mut(scope_key).unwrap_or_else(|| unreachable!("a held scope has an entry"));
        // A plain Vec: queues are a handful of calls long, and VecDeque's code
        // costs the .wasm more than `remove(0)` costs in time.
        match (!entry.queue.is_empty()).then(|| entry.queue.remove(0)) {
            Some((waiter, waker)) => {
                entry.handed_to = Some(waiter);
                Some(waker)
            }
            None => {
                held.remove(scope_key);
                None
            }
        }
    }
}

#[derive(Debug)]
pub struct LockFuture<'a> {
    locks: &'a ScopeLocks,
    /// `None` once the lock is taken.
    scope_key: Option<String>,
    /// This future's place in the queue, once it had to wait.
    waiter: Option<u64>,
}

impl<'a> Future for LockFuture<'a> {
    type Output = ScopeGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ScopeGuard<'a>> {
        let locks = self.locks;
        let mut held = locks.held.borrow_mut();
        let key =
            self.scope_key.as_ref().unwrap_or_else(|| unreachable!("a lock future is not polled after completion"));
        let Some(entry) = held.get_mut(key) else {
            assert!(self.waiter.is_none(), "a waiter's scope stays held until the waiter takes it");
            let key = self.scope_key.take().unwrap_or_else(|| unreachable!("checked above"));
            held.insert(key.clone(), Held::default());
            return Poll::Ready(ScopeGuard { locks, scope_key: key });
        };
        match self.waiter {
            Some(waiter) if entry.handed_to == Some(waiter) => {
                entry.handed_to = None;
                drop(held);
                self.waiter = None;
                let key = self.scope_key.take().unwrap_or_else(|| unreachable!("checked above"));
                Poll::Ready(ScopeGuard { locks, scope_key: key })
            }
            Some(waiter) => {
                let slot = entry
                    .queue
                    .iter_mut()
                    .find(|(id, _)| *id == waiter)
                    .unwrap_or_else(|| unreachable!("a waiter is queued"));
                slot.1.clone_from(cx.waker());
                Poll::Pending
            }
            None => {
                let waiter = locks.next_waiter.get();
                locks.next_waiter.set(waiter + 1);
                entry.queue.push((waiter, cx.waker().clone()));
                drop(held);
                self.waiter = Some(waiter);
                Poll::Pending
            }
        }
    }
}

/// A waiter dropped before it took the lock leaves the queue; if the lock had
/// already been handed to it, it passes it on.
impl Drop for LockFuture<'_> {
    fn drop(&mut self) {
        let (Some(waiter), Some(key)) = (self.waiter, self.scope_key.as_deref()) else { return };
        let wake = {
            let mut held = self.locks.held.borrow_mut();
            let entry = held.get_mut(key).unwrap_or_else(|| unreachable!("a waiter's scope is held"));
            if entry.handed_to == Some(waiter) {
                entry.handed_to = None;
                ScopeLocks::pass_on(&mut held, key)
            } else {
                entry.queue.retain(|(id, _)| *id != waiter);
                None
            }
        };
        if let Some(waker) = wake {
            waker.wake();
        }
    }
}

/// Releases the scope on drop, including when the operation fails midway.
#[derive(Debug)]
pub struct ScopeGuard<'a> {
    locks: &'a ScopeLocks,
    scope_key: String,
}

impl Drop for ScopeGuard<'_> {
    fn drop(&mut self) {
        let wake = ScopeLocks::pass_on(&mut self.locks.held.borrow_mut(), &self.scope_key);
        if let Some(waker) = wake {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    /// Records which waiters were woken, by name.
    struct Named(&'static str, Arc<Mutex<Vec<&'static str>>>);
    impl Wake for Named {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    type Log = Arc<Mutex<Vec<&'static str>>>;

    /// Three lock futures on scope "s", in arrival order, and a wake log.
    fn three(locks: &ScopeLocks) -> ([LockFuture<'_>; 3], Log) {
        ([locks.lock("s".into()), locks.lock("s".into()), locks.lock("s".into())], Log::default())
    }

    fn poll<'a>(future: &mut LockFuture<'a>, name: &'static str, log: &Log) -> Option<ScopeGuard<'a>> {
        let waker = Waker::from(Arc::new(Named(name, Arc::clone(log))));
        match Pin::new(future).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(guard) => Some(guard),
            Poll::Pending => None,
        }
    }

    #[test]
    fn a_release_hands_the_lock_to_the_oldest_waiter_even_if_someone_arrives_first() {
        let locks = ScopeLocks::default();
        let ([mut a, mut b, mut c], log) = three(&locks);
        let guard_a = poll(&mut a, "a", &log).expect("free: a takes it");
        assert!(poll(&mut b, "b", &log).is_none(), "b waits");
        drop(guard_a);
        assert_eq!(*log.lock().unwrap(), ["b"], "the release wakes b");
        assert!(poll(&mut c, "c", &log).is_none(), "c arrives before b polls: it queues behind b");
        let guard_b = poll(&mut b, "b", &log).expect("b takes the lock handed to it");
        assert!(poll(&mut c, "c", &log).is_none());
        drop(guard_b);
        assert!(poll(&mut c, "c", &log).is_some());
        assert_eq!(*log.lock().unwrap(), ["b", "c"]);
        assert_eq!(locks.held_count(), 0, "c's guard was dropped at the end of the statement");
        let mut other = locks.lock("other".into());
        assert!(poll(&mut other, "o", &log).is_some(), "other scopes are independent");
    }

    #[test]
    fn a_waiter_dropped_after_the_handover_passes_the_lock_on() {
        let locks = ScopeLocks::default();
        let ([mut a, mut b, mut c], log) = three(&locks);
        let guard_a = poll(&mut a, "a", &log).unwrap();
        assert!(poll(&mut b, "b", &log).is_none());
        assert!(poll(&mut c, "c", &log).is_none());
        drop(guard_a);
        drop(b);
        assert_eq!(*log.lock().unwrap(), ["b", "c"], "b had the lock handed to it and passed it to c");
        assert!(poll(&mut c, "c", &log).is_some());
        let mut d = locks.lock("s".into());
        let guard_d = poll(&mut d, "d", &log);
        assert!(guard_d.is_some(), "c's guard is gone, so d takes the free scope");
        drop(guard_d);
        assert_eq!(locks.held_count(), 0);
    }

    #[test]
    fn a_waiter_dropped_in_the_queue_leaves_it() {
        let locks = ScopeLocks::default();
        let ([mut a, mut b, mut c], log) = three(&locks);
        let guard_a = poll(&mut a, "a", &log).unwrap();
        assert!(poll(&mut b, "b", &log).is_none());
        assert!(poll(&mut c, "c", &log).is_none());
        drop(c);
        drop(guard_a);
        let guard_b = poll(&mut b, "b", &log).unwrap();
        drop(guard_b);
        assert_eq!(*log.lock().unwrap(), ["b"]);
        assert_eq!(locks.held_count(), 0);
    }
}
