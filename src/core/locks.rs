//! Per-scope asynchronous locks: operations on one scope run one at a time
//! within an instance, operations on different scopes interleave freely.
//!
//! Single-threaded by design (wasm has one thread): state sits in a `RefCell`
//! that is only borrowed inside `poll` and `drop`, never across an await.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
pub struct ScopeLocks {
    /// Held scopes, each with the wakers of the operations queued behind it.
    held: RefCell<super::sorted_map::SortedMap<Vec<Waker>>>,
}

impl ScopeLocks {
    pub fn lock(&self, scope_key: String) -> LockFuture<'_> {
        LockFuture { locks: self, scope_key: Some(scope_key) }
    }

    pub fn held_count(&self) -> usize {
        self.held.borrow().len()
    }
}

#[derive(Debug)]
pub struct LockFuture<'a> {
    locks: &'a ScopeLocks,
    scope_key: Option<String>,
}

impl<'a> Future for LockFuture<'a> {
    type Output = ScopeGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ScopeGuard<'a>> {
        let locks = self.locks;
        let mut held = locks.held.borrow_mut();
        let key = self.scope_key.as_ref().expect("a lock future is not polled after completion");
        match held.get_mut(key) {
            Some(waiters) => {
                waiters.push(cx.waker().clone());
                Poll::Pending
            }
            None => {
                let key = self.scope_key.take().expect("checked above");
                held.insert(key.clone(), Vec::new());
                Poll::Ready(ScopeGuard { locks, scope_key: key })
            }
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
        let waiters = self.locks.held.borrow_mut().remove(&self.scope_key).unwrap_or_default();
        // Every waiter re-polls; the first to run takes the lock, the rest queue
        // again. Waking all (not one) means a dropped waiter can never strand the others.
        for waker in waiters {
            waker.wake();
        }
    }
}
