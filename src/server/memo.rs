//! A bounded memo of the hook's successful answers.
//!
//! Most syncs are resyncs: Metacontroller sends the same parent, children and related objects every
//! `resyncPeriodSeconds`, and the answer is a pure function of them (DESIGN section 1). So the server keeps the
//! answers it gave, keyed by a BLAKE3 digest of everything an answer depends on, and answers an identical request
//! from the memo. The pure core stays uncached ([`crate::sync_json`]).
//!
//! The digest is BLAKE3: a collision is as out of reach as with SHA-256, and it hashes with the SIMD units every
//! x86-64 and aarch64 CPU has. SHA-256 is as fast only on CPUs with SHA extensions; without them (valgrind shows
//! it), hashing the 2018 example's 2.6 KB took as many instructions as all the rest of a memoized request.
//!
//! Guarantees:
//! - the key covers every input of an answer: the route (which pure call), the whole body byte for byte, the
//!   binary's version and the server's flags (fixed for the life of the process, hashed in so that no flag can
//!   ever be missed); a request differing anywhere gets its own answer, computed afresh;
//! - only successful answers are kept: an error is computed again on every request;
//! - the answers and their bookkeeping stay within the byte budget: least recently used answers are evicted
//!   first, and an answer larger than an eighth of the budget is never kept.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use lru::LruCache;

use crate::Summary;
use crate::metrics::Metrics;

/// The default budget (`--memo-bytes`): about 280 answers of the 2018 example (30 KB each), a few parents with
/// their churn. With it, the server's peak RSS stays under 32 MiB whatever the request mix (docs/development.md).
pub const DEFAULT_BYTES: usize = 8 * 1024 * 1024;

/// What an entry costs beyond its answer's bytes, as counted against the budget: the key twice (map and list),
/// the list node's links, the map's slot, the `Arc` and the summary's fields, rounded up.
const ENTRY_OVERHEAD: usize = 256;

/// The digest of everything an answer depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key([u8; 32]);

/// A memoized answer, with what the log line says of it.
#[derive(Debug)]
pub struct Answer {
    pub bytes: Bytes,
    pub summary: Summary,
}

impl Answer {
    /// The bytes this entry counts against the budget.
    fn cost(&self) -> usize {
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
        self.bytes.len() + text(&self.summary.namespace) + text(&self.summary.name) + ENTRY_OVERHEAD
    }
}

/// The memo of one server. Cheap to share; every method takes `&self`.
#[derive(Debug)]
pub struct Memo {
    /// The BLAKE3 key derived from the context (version and flags): every key is hashed with it.
    context: [u8; 32],
    budget: usize,
    metrics: Arc<Metrics>,
    entries: Mutex<Entries>,
}

#[derive(Debug)]
struct Entries {
    lru: LruCache<Key, Arc<Answer>>,
    bytes: usize,
}

impl Memo {
    /// An empty memo holding at most `budget` bytes (0: none, every request is computed). `context` is
    /// everything besides the route and the body that answers depend on: the server passes its version and flags.
    pub fn new(budget: usize, context: &[u8], metrics: Arc<Metrics>) -> Self {
        Self {
            context: blake3::derive_key("prometheus-replica-operator memo of answers", context),
            budget,
            metrics,
            entries: Mutex::new(Entries {
                lru: LruCache::unbounded(),
                bytes: 0,
            }),
        }
    }

    /// Whether answers are kept at all.
    pub fn enabled(&self) -> bool {
        self.budget > 0
    }

    /// The key of a request: the body and the route, hashed with the context's key. Each part is followed by its
    /// length, so no two different inputs are the same byte stream (read from the end, it parses one way). The
    /// body comes first, where it starts on a chunk boundary: hashing the example took 3.0 µs the other way
    /// round, 2.0 µs this way (`cargo bench --bench sync -- memo-key`).
    pub fn key(&self, route: &str, body: &[u8]) -> Key {
        let mut hash = blake3::Hasher::new_keyed(&self.context);
        hash.update(body);
        hash.update(&(body.len() as u64).to_le_bytes());
        hash.update(route.as_bytes());
        hash.update(&(route.len() as u64).to_le_bytes());
        Key(*hash.finalize().as_bytes())
    }

    /// The answer kept under `key`, now the most recently used; counted as a hit or a miss.
    pub fn get(&self, key: &Key) -> Option<Arc<Answer>> {
        let found = self.lock().lru.get(key).cloned();
        match found {
            Some(_) => self.metrics.memo_hits.inc(),
            None => self.metrics.memo_misses.inc(),
        };
        found
    }

    /// Keeps a successful answer under `key`, evicting the least recently used answers to stay within the
    /// budget. An answer over an eighth of the budget is not kept: it would evict too many others.
    pub fn put(&self, key: Key, answer: Arc<Answer>) {
        let cost = answer.cost();
        if cost > self.budget / 8 {
            return;
        }
        let mut entries = self.lock();
        if let Some(old) = entries.lru.put(key, answer) {
            // Two requests computed the same answer at once: it is counted once.
            entries.bytes -= old.cost();
        }
        entries.bytes += cost;
        let mut evicted = 0;
        while entries.bytes > self.budget {
            let Some((_, old)) = entries.lru.pop_lru() else {
                break;
            };
            entries.bytes -= old.cost();
            evicted += 1;
        }
        self.metrics.memo_evictions.inc_by(evicted);
        self.metrics.memo_bytes.set(entries.bytes as i64);
        self.metrics.memo_entries.set(entries.lru.len() as i64);
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Nothing panics while holding the lock, and the entries stay consistent between statements anyway.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(size: usize) -> Arc<Answer> {
        Arc::new(Answer {
            bytes: Bytes::from(vec![b'x'; size]),
            summary: Summary::default(),
        })
    }

    fn memo(budget: usize) -> Memo {
        Memo::new(budget, b"v1", Arc::new(Metrics::new()))
    }

    #[test]
    fn keys_differ_by_route_body_and_context() {
        let memo = memo(1 << 20);
        let key = memo.key("/sync", b"{}");
        assert_eq!(key, memo.key("/sync", b"{}"));
        assert_ne!(key, memo.key("/customize", b"{}"));
        assert_ne!(key, memo.key("/sync", b"{ }"));
        // Lengths: moving a byte from the body to the route is another input.
        assert_ne!(memo.key("/sync", b"{}x"), memo.key("x/sync", b"{}"));
        let other = Memo::new(1 << 20, b"v2", Arc::new(Metrics::new()));
        assert_ne!(key, other.key("/sync", b"{}"));
    }

    #[test]
    fn the_least_recently_used_answers_go_first_and_the_budget_holds() {
        let each = 1000 + ENTRY_OVERHEAD;
        let memo = memo(8 * each);
        let keys: Vec<Key> = (0..9).map(|i| memo.key("/sync", &[i])).collect();
        for key in &keys[..8] {
            memo.put(*key, answer(1000));
        }
        // The first is used again, so the second is the least recently used when the ninth arrives.
        assert!(memo.get(&keys[0]).is_some());
        memo.put(keys[8], answer(1000));
        assert!(memo.get(&keys[1]).is_none());
        for key in keys.iter().filter(|&&key| key != keys[1]) {
            assert!(memo.get(key).is_some());
        }
        let metrics = &memo.metrics;
        assert_eq!(metrics.memo_bytes.get(), 8 * each as i64);
        assert_eq!(metrics.memo_entries.get(), 8);
        assert_eq!(metrics.memo_evictions.get(), 1);
        assert_eq!((metrics.memo_hits.get(), metrics.memo_misses.get()), (9, 1));
    }

    #[test]
    fn an_answer_over_an_eighth_of_the_budget_is_not_kept() {
        let memo = memo(8 * 1024);
        let (small, large) = (memo.key("/sync", b"a"), memo.key("/sync", b"b"));
        memo.put(small, answer(1024 - ENTRY_OVERHEAD));
        memo.put(large, answer(1024 - ENTRY_OVERHEAD + 1));
        assert!(memo.get(&small).is_some());
        assert!(memo.get(&large).is_none());
        assert_eq!(memo.metrics.memo_bytes.get(), 1024);
    }

    #[test]
    fn a_zero_budget_keeps_nothing() {
        let memo = memo(0);
        assert!(!memo.enabled());
        let key = memo.key("/sync", b"{}");
        memo.put(key, answer(1));
        assert!(memo.get(&key).is_none());
        assert_eq!(memo.metrics.memo_entries.get(), 0);
    }

    #[test]
    fn the_same_answer_put_twice_is_counted_once() {
        let memo = memo(1 << 20);
        let key = memo.key("/sync", b"{}");
        memo.put(key, answer(100));
        memo.put(key, answer(100));
        assert_eq!(memo.metrics.memo_bytes.get(), (100 + ENTRY_OVERHEAD) as i64);
        assert_eq!(memo.metrics.memo_entries.get(), 1);
    }
}
