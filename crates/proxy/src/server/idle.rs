//! Idle keep-alive connections, held by one watcher per listener instead of a task each.
//!
//! Ten thousand clients that keep a connection open between calls are the common shape of
//! an API gateway's load, and what each costs while it waits is what they cost together. A
//! parked connection is an entry in a slab (the socket, the connection's facts, its slot of
//! `--max-connections`, its keep-alive deadline) and a small waker registered with the
//! socket's readiness: when the client speaks, the waker queues the entry and wakes the
//! watcher, which starts a task for it. Keep-alive deadlines and shutdown are checked by the
//! once-a-second sweep, so no timer is armed per connection.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::{ClientStream, Listener, Live};
use crate::handler::Conn;

/// The idle connections of one kind of stream (plain or TLS).
pub(crate) struct IdleSet<S> {
    held: Mutex<Slab<S>>,
    /// Entries whose socket became readable (or closed), by index and generation.
    ready: Mutex<Vec<(u32, u32)>>,
    /// Wakes the watcher when `ready` gains an entry.
    wake: Notify,
}

/// Entries in segments of [`SEGMENT`]: growing adds a segment instead of doubling (and
/// copying) one large array, so a slab of n entries costs about n entries.
struct Slab<S> {
    segments: Vec<Box<[Slot<S>; SEGMENT]>>,
    free: Vec<u32>,
}

const SEGMENT: usize = 256;

impl<S> Slab<S> {
    fn slot(&mut self, index: u32) -> Option<&mut Slot<S>> {
        let index = index as usize;
        self.segments
            .get_mut(index / SEGMENT)
            .map(|segment| &mut segment[index % SEGMENT])
    }

    /// A free slot's index, adding a segment when none is left.
    fn vacant(&mut self) -> Option<u32> {
        if let Some(index) = self.free.pop() {
            return Some(index);
        }
        let first = u32::try_from(self.segments.len() * SEGMENT).ok()?;
        self.segments
            .push(Box::new(std::array::from_fn(|_| Slot::Free(0))));
        // Handed out lowest first.
        self.free.extend((first + 1..first + SEGMENT as u32).rev());
        Some(first)
    }

    fn is_empty(&self) -> bool {
        self.free.len() == self.segments.len() * SEGMENT
    }
}

enum Slot<S> {
    /// Free; the next entry here has this generation.
    Free(u32),
    Held(Entry<S>),
}

struct Entry<S> {
    stream: S,
    conn: Arc<Conn>,
    live: Live,
    /// The keep-alive deadline, in whole seconds of the listener's clock.
    until: u32,
    generation: u32,
}

/// The waker an idle socket's readiness calls: it names its entry.
struct SlotWaker<S> {
    set: Weak<IdleSet<S>>,
    index: u32,
    generation: u32,
}

impl<S: ClientStream> Wake for SlotWaker<S> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(set) = self.set.upgrade() {
            set.ready.lock().push((self.index, self.generation));
            set.wake.notify_one();
        }
    }
}

impl<S: ClientStream> IdleSet<S> {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            held: Mutex::new(Slab {
                segments: Vec::new(),
                free: Vec::new(),
            }),
            ready: Mutex::new(Vec::new()),
            wake: Notify::new(),
        })
    }

    /// Holds an idle connection until its client speaks (then it resumes on a new task), its
    /// keep-alive deadline passes or the gateway stops (then it closes).
    pub(super) fn park(self: &Arc<Self>, stream: S, conn: Arc<Conn>, live: Live) {
        // Rounded up: a connection is never closed before its keep-alive timeout (at most
        // two sweeps after it).
        let until = live
            .0
            .seconds(Instant::now() + live.0.limits.keep_alive)
            .saturating_add(1);
        let mut held = self.held.lock();
        // More idle connections than a u32 counts: this one closes.
        let Some(index) = held.vacant() else { return };
        let Some(slot) = held.slot(index) else { return };
        let Slot::Free(generation) = *slot else {
            unreachable!("a free index names a free slot")
        };
        let waker = Waker::from(Arc::new(SlotWaker {
            set: Arc::downgrade(self),
            index,
            generation,
        }));
        // Registers the waker with the socket's readiness; the client may have spoken
        // already.
        let spoke = stream
            .poll_read_ready(&mut Context::from_waker(&waker))
            .is_ready();
        if spoke {
            held.free.push(index);
            drop(held);
            tokio::spawn(super::h1::resumed(stream, conn, live));
            return;
        }
        *slot = Slot::Held(Entry {
            stream,
            conn,
            live,
            until,
            generation,
        });
    }

    /// Takes the entry at `index` if it is still the one of `generation`.
    fn take(&self, index: u32, generation: u32) -> Option<Entry<S>> {
        let mut held = self.held.lock();
        let slot = held.slot(index)?;
        match slot {
            Slot::Held(entry) if entry.generation == generation => {}
            _ => return None,
        }
        let Slot::Held(entry) = std::mem::replace(slot, Slot::Free(generation.wrapping_add(1)))
        else {
            return None;
        };
        held.free.push(index);
        Some(entry)
    }

    /// Closes connections past their keep-alive deadline, or all of them when the gateway
    /// stops.
    fn sweep(&self, listener: &Listener) {
        let stopping = listener.stopping.load(Ordering::SeqCst);
        let now = listener.seconds(Instant::now());
        let mut closed = Vec::new();
        {
            let mut held = self.held.lock();
            let Slab { segments, free } = &mut *held;
            for (index, slot) in segments.iter_mut().flat_map(|s| s.iter_mut()).enumerate() {
                let expired = match slot {
                    Slot::Held(entry) => stopping || entry.until <= now,
                    Slot::Free(_) => false,
                };
                if !expired {
                    continue;
                }
                let Slot::Held(entry) = std::mem::replace(slot, Slot::Free(0)) else {
                    continue;
                };
                *slot = Slot::Free(entry.generation.wrapping_add(1));
                free.push(u32::try_from(index).unwrap_or(u32::MAX));
                closed.push(entry);
            }
            if held.is_empty() {
                // Nothing held: give the slab's memory back after a burst.
                held.segments = Vec::new();
                held.free = Vec::new();
            }
        }
        if !stopping {
            listener
                .shared
                .metrics
                .idle_closes
                .fetch_add(closed.len() as u64, Ordering::Relaxed);
        }
        // Dropped outside the lock: closing sockets and freeing slots of the connection cap.
        drop(closed);
    }
}

/// Watches one idle set until the listener stops: resumes connections whose client spoke,
/// and sweeps once a second.
pub(super) async fn watch<S: ClientStream>(set: Arc<IdleSet<S>>, listener: Arc<Listener>) {
    let mut batch: Vec<(u32, u32)> = Vec::new();
    loop {
        let woken = set.wake.notified();
        let sweep = listener.sweep.notified();
        tokio::pin!(woken, sweep);
        let swept = std::future::poll_fn(|cx| {
            if sweep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(true);
            }
            woken.as_mut().poll(cx).map(|()| false)
        })
        .await;
        // A shutdown is seen at the next wake-up of either kind, so a sweep signal that
        // came while the watcher was busy costs at most a second.
        if swept || listener.stopping.load(Ordering::SeqCst) {
            set.sweep(&listener);
            if listener.stopping.load(Ordering::SeqCst) {
                return;
            }
        }
        std::mem::swap(&mut batch, &mut set.ready.lock());
        for (index, generation) in batch.drain(..) {
            if let Some(entry) = set.take(index, generation) {
                tokio::spawn(super::h1::resumed(entry.stream, entry.conn, entry.live));
            }
        }
    }
}
