//! The pool's rules, exercised with real TCP connections to a listener on 127.0.0.1.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A pooled raw TCP connection; `open` turns false when the test says the peer closed it.
struct Tcp {
    _stream: TcpStream,
    open: Arc<std::sync::atomic::AtomicBool>,
}

impl Connection for Tcp {
    fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }
}

/// A listener that counts accepted connections and keeps them open.
async fn server() -> (OriginKey, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (OriginKey::new(false, "127.0.0.1", port), accepted)
}

/// The listener's count once it has caught up (accepting runs in another task), waiting at most 2 s.
async fn accepted_now(count: &AtomicUsize, expected: usize) -> usize {
    for _ in 0..200 {
        if count.load(Ordering::SeqCst) >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    count.load(Ordering::SeqCst)
}

async fn dial(key: &OriginKey) -> Tcp {
    Tcp {
        _stream: TcpStream::connect((&*key.host, key.port)).await.unwrap(),
        open: Arc::new(true.into()),
    }
}

/// Checks out a connection, connecting or waiting as told.
async fn lease(pool: &Pool<Tcp>, key: &OriginKey) -> Lease<Tcp> {
    let slot = match pool.checkout(key, 0, Want::Any).unwrap() {
        Checkout::Reuse(lease) => return lease,
        Checkout::Connect(slot) => slot,
        Checkout::Queued(waiting) => match waiting.wait().await.unwrap() {
            Grant::Reuse(lease) => return lease,
            Grant::Connect(slot) => slot,
        },
    };
    let conn = dial(slot.key()).await;
    slot.fill(conn)
}

/// Checks out where the caps must make the request wait; `why` says which rule.
fn must_wait(pool: &Pool<Tcp>, key: &OriginKey, why: &str) -> Waiting<Tcp> {
    match pool.checkout(key, 0, Want::Any).unwrap() {
        Checkout::Queued(waiting) => waiting,
        _ => panic!("{why}"),
    }
}

/// A pool of one slot per origin whose slot is held: the next checkout waits.
async fn one_slot_held(config: PoolConfig) -> (OriginKey, Pool<Tcp>, Lease<Tcp>, Waiting<Tcp>) {
    let (key, _) = server().await;
    let pool = pool(PoolConfig {
        max_sockets: 1,
        ..config
    });
    let held = lease(&pool, &key).await;
    let waiting = must_wait(&pool, &key, "the second request waits for the only slot");
    (key, pool, held, waiting)
}

fn pool(config: PoolConfig) -> Pool<Tcp> {
    Pool::new(config, Handle::current())
}

fn stats<C: Connection>(pool: &Pool<C>, key: &OriginKey) -> OriginStats {
    pool.status()
        .origins
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, s)| s)
        .unwrap_or_default()
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    let (key, accepted) = server().await;
    let pool = pool(PoolConfig::default());
    for i in 0..100 {
        let lease = lease(&pool, &key).await;
        assert_eq!(lease.reused(), i > 0);
        lease.release(None);
    }
    assert_eq!(accepted_now(&accepted, 1).await, 1);
    let counters = pool.status().counters;
    assert_eq!(
        (counters.created, counters.reused, counters.requests),
        (1, 99, 100)
    );
}

#[tokio::test]
async fn max_sockets_queues_in_fifo_order() {
    let (key, accepted) = server().await;
    let pool = pool(PoolConfig {
        max_sockets: 2,
        ..PoolConfig::default()
    });
    let a = lease(&pool, &key).await;
    let b = lease(&pool, &key).await;
    let first = must_wait(&pool, &key, "a third request must wait");
    let second = must_wait(&pool, &key, "a fourth request must wait");
    assert_eq!(stats(&pool, &key).queued, 2);
    let a_id = a.id();
    a.release(None);
    match first.wait().await.unwrap() {
        Grant::Reuse(lease) => {
            assert_eq!(
                lease.id(),
                a_id,
                "the oldest waiter gets the freed connection"
            );
            drop(lease); // closes it: the next waiter gets room to connect
        }
        Grant::Connect(_) => panic!("a released connection is handed over"),
    }
    assert!(matches!(second.wait().await.unwrap(), Grant::Connect(_)));
    drop(b);
    assert!(accepted_now(&accepted, 2).await <= 2);
}

#[tokio::test]
async fn failed_connect_wakes_the_next_waiter() {
    let (key, _) = server().await;
    let pool = pool(PoolConfig {
        max_sockets: 1,
        ..PoolConfig::default()
    });
    let slot = match pool.checkout(&key, 0, Want::Any).unwrap() {
        Checkout::Connect(slot) => slot,
        _ => panic!("first checkout connects"),
    };
    let waiting = must_wait(&pool, &key, "second waits");
    slot.fail();
    assert!(matches!(waiting.wait().await.unwrap(), Grant::Connect(_)));
    // Two sockets created (agentkeepalive counts at creation): the failed one an error and a close, the
    // second closed as its slot was given up.
    let counters = pool.status().counters;
    assert_eq!(
        [counters.created, counters.errors, counters.closed],
        [2, 1, 2]
    );
}

#[tokio::test]
async fn abandoned_waiter_leaves_the_queue() {
    let (key, pool, held, waiting) = one_slot_held(PoolConfig::default()).await;
    drop(waiting);
    assert_eq!(stats(&pool, &key).queued, 0);
    held.release(None);
    assert_eq!(stats(&pool, &key).free, 1);
}

#[tokio::test]
async fn max_total_sockets_closes_an_idle_connection_of_another_origin() {
    let (a, _) = server().await;
    let (b, accepted_b) = server().await;
    let pool = pool(PoolConfig {
        max_total_sockets: 1,
        ..PoolConfig::default()
    });
    lease(&pool, &a).await.release(None);
    assert_eq!(stats(&pool, &a).free, 1);
    let on_b = lease(&pool, &b).await;
    assert_eq!(
        stats(&pool, &a).connected,
        0,
        "the idle connection to a made room"
    );
    assert_eq!(accepted_now(&accepted_b, 1).await, 1);
    // While b holds the only slot, a waits; releasing b hands the room to a.
    let waiting = must_wait(&pool, &a, "a must wait under the total cap");
    on_b.release(None);
    assert!(matches!(waiting.wait().await.unwrap(), Grant::Connect(_)));
    assert_eq!(stats(&pool, &b).connected, 0);
}

#[tokio::test]
async fn max_free_sockets_closes_the_surplus() {
    let (key, _) = server().await;
    let pool = pool(PoolConfig {
        max_free_sockets: 2,
        ..PoolConfig::default()
    });
    let mut leases = Vec::new();
    for _ in 0..5 {
        leases.push(lease(&pool, &key).await);
    }
    for l in leases {
        l.release(None);
    }
    assert_eq!(stats(&pool, &key).free, 2);
    assert_eq!(pool.status().counters.closed, 3);
}

#[tokio::test]
async fn scheduling_picks_lifo_or_fifo() {
    for (scheduling, expect_last) in [(Scheduling::Lifo, true), (Scheduling::Fifo, false)] {
        let (key, _) = server().await;
        let pool = pool(PoolConfig {
            scheduling,
            ..PoolConfig::default()
        });
        let first = lease(&pool, &key).await;
        let second = lease(&pool, &key).await;
        let (first_id, second_id) = (first.id(), second.id());
        first.release(None);
        second.release(None);
        let next = lease(&pool, &key).await;
        assert_eq!(next.id(), if expect_last { second_id } else { first_id });
    }
}

#[test]
fn keep_alive_max_timeout_caps_what_a_hint_leaves() {
    let config = PoolConfig {
        free_socket_timeout: Duration::from_secs(30),
        keep_alive_max_timeout: Some(Duration::from_millis(500)),
        ..PoolConfig::default()
    };
    let hinted = |secs| IdleFor::hinted(Some(Duration::from_secs(secs)));
    // undici's keep-alive max timeout test: a 30 s hint kept no more than 500 ms.
    assert_eq!(config.idle_deadline(hinted(30)), Duration::from_millis(500));
    // Without a hint the agent's own deadline holds, as undici's keepAliveTimeout does.
    assert_eq!(
        config.idle_deadline(IdleFor::default()),
        Duration::from_secs(30)
    );
    // A hint the buffer leaves nothing of is still not pooled.
    assert_eq!(config.hinted(hinted(1)), Some(Duration::ZERO));
}

#[tokio::test]
async fn idle_deadline_and_server_hint() {
    let (key, _) = server().await;
    let pool = pool(PoolConfig {
        free_socket_timeout: Duration::from_millis(150),
        keep_alive_timeout_buffer: Duration::from_millis(20),
        ..PoolConfig::default()
    });
    lease(&pool, &key).await.release(None);
    // The server's 50 ms, less the buffer: kept 30 ms.
    lease(&pool, &key)
        .await
        .release(Some(Duration::from_millis(50)));
    assert_eq!(stats(&pool, &key).free, 1);
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(stats(&pool, &key).free, 0, "the shorter server hint wins");
    lease(&pool, &key).await.release(None);
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(stats(&pool, &key).free, 1);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(stats(&pool, &key).free, 0);
    assert!(pool.status().counters.timeouts >= 2);
    // A hint the buffer leaves nothing of, and a zero one (`max=0`), are not pooled at all.
    lease(&pool, &key)
        .await
        .release(Some(Duration::from_millis(20)));
    assert_eq!(stats(&pool, &key).free, 0);
    lease(&pool, &key).await.release(Some(Duration::ZERO));
    assert_eq!(stats(&pool, &key).free, 0);
}

#[tokio::test]
async fn a_waiter_takes_a_connection_whose_hint_the_buffer_swallows_but_not_one_the_server_closes()
{
    // Node's agent hands a freed socket to a queued request before it weighs the server's hint: the
    // hint only decides whether an unwanted connection is pooled. `timeout=0` says the server is done.
    let (key, pool, held, waiting) = one_slot_held(PoolConfig::default()).await;
    let id = held.id();
    held.release(Some(Duration::from_millis(500)));
    match waiting.wait().await.unwrap() {
        Grant::Reuse(lease) => {
            assert_eq!(lease.id(), id);
            let next = must_wait(&pool, &key, "the only slot is taken again");
            lease.release(Some(Duration::ZERO));
            assert!(
                matches!(next.wait().await.unwrap(), Grant::Connect(_)),
                "a connection the server closes is not handed over"
            );
        }
        Grant::Connect(_) => panic!("the freed connection is handed to the waiter"),
    }
}

#[tokio::test]
async fn closed_idle_connections_are_skipped_and_forgotten() {
    let (key, accepted) = server().await;
    let pool = pool(PoolConfig::default());
    let l = lease(&pool, &key).await;
    let open = l.conn.as_ref().unwrap().open.clone();
    let id = l.id();
    l.release(None);
    open.store(false, Ordering::SeqCst);
    let next = lease(&pool, &key).await;
    assert!(
        !next.reused(),
        "a closed idle connection is never handed out"
    );
    assert_eq!(accepted_now(&accepted, 2).await, 2);
    let next_id = next.id();
    next.release(None);
    pool.forget(&key, next_id, true);
    pool.forget(&key, id, true);
    assert_eq!(stats(&pool, &key).connected, 0);
    assert_eq!(pool.status().counters.errors, 1);
}

#[tokio::test]
async fn keep_alive_false_keeps_nothing() {
    let (key, _) = server().await;
    let pool = pool(PoolConfig {
        keep_alive: false,
        ..PoolConfig::default()
    });
    lease(&pool, &key).await.release(None);
    assert_eq!(stats(&pool, &key).connected, 0);
}

#[tokio::test]
/// As Node's `Agent.destroy()`: what waits fails, what is leased closes when it comes back, and the pool
/// serves the checkouts that come after.
async fn destroy_fails_waiters_closes_leased_connections_and_serves_later_checkouts() {
    let (key, pool, held, waiting) = one_slot_held(PoolConfig::default()).await;
    let stopped = pool.destroyed();
    pool.destroy();
    stopped.await;
    assert_eq!(
        waiting.wait().await.err().unwrap().code(),
        "ERR_AGENT_DESTROYED"
    );
    held.release(None);
    assert_eq!(stats(&pool, &key).connected, 0);
    let after = lease(&pool, &key).await;
    assert!(!after.reused());
    after.release(None);
    assert!(matches!(
        pool.checkout(&key, 0, Want::Any).unwrap(),
        Checkout::Reuse(_)
    ));
}

/// As Node's Agent reads `maxSockets` at each request, assigning it later takes effect: a raised cap
/// serves the queue at once, a lowered one keeps new connections out (and closes none).
#[tokio::test]
async fn caps_change_while_the_pool_runs() {
    let (key, pool, held, waiting) = one_slot_held(PoolConfig::default()).await;
    pool.reconfigure(|config| config.max_sockets = 2);
    let Grant::Connect(slot) = waiting.wait().await.unwrap() else {
        panic!("the raised cap gives the waiter room for a new connection")
    };
    let second = slot.fill(dial(&key).await);
    assert_eq!(stats(&pool, &key).connected, 2);
    pool.reconfigure(|config| {
        config.max_sockets = 1;
        config.max_free_sockets = 0;
    });
    assert_eq!(stats(&pool, &key).connected, 2, "lowering closes nothing");
    let third = must_wait(&pool, &key, "two open, one allowed: the next request waits");
    second.release(None);
    let Grant::Reuse(reused) = third.wait().await.unwrap() else {
        panic!("the waiter takes the released connection")
    };
    reused.release(None);
    held.release(None);
    assert_eq!(
        stats(&pool, &key).free,
        0,
        "maxFreeSockets 0 now: released connections close"
    );
}

#[tokio::test]
async fn queue_timeout_and_queue_limit() {
    let (key, pool, _held, waiting) = one_slot_held(PoolConfig {
        queue_timeout: Some(Duration::from_millis(20)),
        max_queue_size: Some(1),
        ..PoolConfig::default()
    })
    .await;
    assert_eq!(
        pool.checkout(&key, 0, Want::Any).err().unwrap().code(),
        "ERR_POOL_QUEUE_FULL"
    );
    assert_eq!(
        waiting.wait().await.err().unwrap().code(),
        "ERR_POOL_TIMEOUT"
    );
    assert_eq!(stats(&pool, &key).queued, 0);
}

/// A connection whose socket closes only when the test fires its signal.
struct Closing(Closed);

impl Connection for Closing {
    fn is_open(&self) -> bool {
        true
    }

    fn closed(&self) -> Closed {
        self.0.clone()
    }
}

/// A pool of one slot per origin for [`Closing`] connections, and an origin (never dialled).
fn one_slot_of_closing() -> (OriginKey, Pool<Closing>) {
    let pool = Pool::new(
        PoolConfig {
            max_sockets: 1,
            ..PoolConfig::default()
        },
        Handle::current(),
    );
    (OriginKey::new(false, "127.0.0.1", 1), pool)
}

/// Whether `slot` may dial now, without waiting.
fn ready_now<C: Connection>(slot: &Slot<C>) -> bool {
    let ready = std::pin::pin!(slot.ready());
    ready
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        .is_ready()
}

#[tokio::test]
async fn a_slot_given_up_before_the_connection_it_replaces_closed_leaves_the_room_closing() {
    let (key, pool) = one_slot_of_closing();
    let closed = Closed::default();
    let Checkout::Connect(slot) = pool.checkout(&key, 0, Want::Any).unwrap() else {
        panic!("the first request connects");
    };
    let lease = slot.fill(Closing(closed.clone()));
    let Checkout::Queued(waiting) = pool.checkout(&key, 0, Want::Any).unwrap() else {
        panic!("the second request waits for the only slot");
    };
    // The connection closes: its slot goes to the waiter, which may dial once the socket is closed.
    drop(lease);
    let Grant::Connect(taken) = waiting.wait().await.unwrap() else {
        panic!("the waiter is given room to connect");
    };
    assert!(!ready_now(&taken));
    // The waiter gives up before the socket closed: the room is still that socket's.
    drop(taken);
    let Checkout::Connect(next) = pool.checkout(&key, 0, Want::Any).unwrap() else {
        panic!("the next request takes over the closing slot");
    };
    assert!(
        !ready_now(&next),
        "the room was freed before the connection closed"
    );
    closed.fire();
    assert!(ready_now(&next));
}

/// The keep-alive race's replays: a first one waiting at the cap takes a connection as it is released
/// (it has just answered); a second one only a new connection, for which the released one closes.
#[tokio::test]
async fn a_second_replay_waits_for_a_new_connection_not_a_released_one() {
    let (key, pool) = one_slot_of_closing();
    let Checkout::Connect(slot) = pool.checkout(&key, 0, Want::Any).unwrap() else {
        panic!("the first request connects");
    };
    let closed = Closed::default();
    let lease = slot.fill(Closing(closed.clone()));
    let Checkout::Queued(first) = pool.checkout(&key, 0, Want::NotIdle).unwrap() else {
        panic!("a first replay waits at the cap");
    };
    lease.release(None);
    let Grant::Reuse(lease) = first.wait().await.unwrap() else {
        panic!("a first replay takes the connection just released");
    };
    let Checkout::Queued(second) = pool.checkout(&key, 0, Want::New).unwrap() else {
        panic!("a second replay waits at the cap");
    };
    lease.release(None);
    let Grant::Connect(slot) = second.wait().await.unwrap() else {
        panic!("a second replay is not given a reused connection");
    };
    assert!(
        !ready_now(&slot),
        "the released connection must close first"
    );
    assert_eq!(stats(&pool, &key).free, 0);
    closed.fire();
    assert!(ready_now(&slot));
}

/// What a queued callback was told: "reuse", "connect" or the error's code.
fn told(answers: &Arc<std::sync::Mutex<Vec<String>>>) -> Callback<Tcp> {
    let answers = answers.clone();
    Box::new(move |answer: Result<Grant<Tcp>>| {
        let what = match answer {
            Ok(Grant::Reuse(lease)) => {
                lease.release(None);
                "reuse".to_string()
            }
            Ok(Grant::Connect(_)) => "connect".to_string(),
            Err(e) => e.code().to_string(),
        };
        answers.lock().unwrap().push(what);
    })
}

#[tokio::test]
async fn checkout_or_queue_makes_the_callback_only_to_wait() {
    let (key, pool, held, waiting) = one_slot_held(PoolConfig::default()).await;
    drop(waiting);
    let answers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let queue = || pool.checkout_or_queue(&key, 0, Want::Any, || told(&answers));
    // The only slot is held: both wait, in order; the first one leaves the queue.
    let Ok(Turn::Queued(first)) = queue() else {
        panic!("the slot is held")
    };
    assert!(matches!(queue(), Ok(Turn::Queued(_))));
    assert_eq!(stats(&pool, &key).queued, 2);
    assert!(pool.cancel(&key, first));
    assert_eq!(stats(&pool, &key).queued, 1);
    // Released: the waiter left is given the connection before `release` returns.
    held.release(None);
    assert_eq!(*answers.lock().unwrap(), ["reuse"]);
    // Idle now: granted at once, and no callback is made.
    let made = std::cell::Cell::new(false);
    let turn = pool.checkout_or_queue(&key, 0, Want::Any, || {
        made.set(true);
        told(&answers)
    });
    assert!(matches!(turn, Ok(Turn::Now(Grant::Reuse(_)))));
    assert!(!made.get());
}

#[tokio::test]
async fn queue_timeout_fails_every_kind_of_waiter_from_the_reaper() {
    let (key, pool, held, waiting) = one_slot_held(PoolConfig {
        queue_timeout: Some(Duration::from_millis(30)),
        ..PoolConfig::default()
    })
    .await;
    let (tx, rx) = oneshot::channel();
    let turn = pool.checkout_or_queue(&key, 0, Want::Any, || {
        Box::new(move |answer: Result<Grant<Tcp>>| {
            let _ = tx.send(answer.err().map(|e| e.code().to_string()));
        })
    });
    assert!(matches!(turn, Ok(Turn::Queued(_))));
    assert_eq!(
        waiting.wait().await.err().unwrap().code(),
        "ERR_POOL_TIMEOUT"
    );
    assert_eq!(rx.await.unwrap().as_deref(), Some("ERR_POOL_TIMEOUT"));
    assert_eq!(stats(&pool, &key).queued, 0);
    // The held connection still serves the next request.
    held.release(None);
    assert!(lease(&pool, &key).await.reused());
}

/// A connection that counts how often the pool parked it.
struct Parking(Arc<AtomicUsize>);

impl Connection for Parking {
    fn is_open(&self) -> bool {
        true
    }

    fn parks(&self) -> bool {
        true
    }

    fn park(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Real time: the pool's clock is `std::time::Instant`, which tokio's paused clock does not move.
#[tokio::test]
async fn the_reaper_parks_a_connection_once_it_has_been_idle_for_park_after() {
    let key = OriginKey::new(false, "127.0.0.1", 9);
    let pool: Pool<Parking> = Pool::new(
        PoolConfig {
            free_socket_timeout: Duration::from_secs(60),
            ..PoolConfig::default()
        },
        Handle::current(),
    );
    let parked = Arc::new(AtomicUsize::new(0));
    let Checkout::Connect(slot) = pool.checkout(&key, 0, Want::Any).unwrap() else {
        panic!("an empty pool connects")
    };
    slot.fill(Parking(parked.clone())).release(None);
    // Reused before PARK_AFTER: its idle time starts again when it comes back.
    tokio::time::sleep(PARK_AFTER / 2).await;
    let Checkout::Reuse(lease) = pool.checkout(&key, 0, Want::Any).unwrap() else {
        panic!("the idle connection is reused")
    };
    lease.release(None);
    let released = std::time::Instant::now();
    tokio::time::sleep(PARK_AFTER * 3 / 5).await;
    if released.elapsed() < PARK_AFTER {
        assert_eq!(
            parked.load(Ordering::SeqCst),
            0,
            "idle for less than PARK_AFTER"
        );
    }
    for _ in 0..300 {
        if parked.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(parked.load(Ordering::SeqCst), 1);
    assert!(released.elapsed() >= PARK_AFTER);
    // Parked once, and still pooled: the next request reuses it.
    tokio::time::sleep(PARK_AFTER / 5).await;
    assert_eq!(parked.load(Ordering::SeqCst), 1);
    assert!(matches!(
        pool.checkout(&key, 0, Want::Any).unwrap(),
        Checkout::Reuse(_)
    ));
}

/// Ids counted out one by one, or by a stride, hash apart: in the low bits (hashbrown's bucket) and in
/// the top 7 (its tag). An identity hash gives every small id the same tag; a bare product gives keys with
/// a stride of 4 a quarter of the buckets (1,024 random hashes fill about 650).
#[test]
fn id_map_spreads_counted_ids() {
    use std::hash::BuildHasher;
    let build = std::hash::BuildHasherDefault::<IdHasher>::default();
    for stride in [1u64, 4, 64] {
        let buckets: std::collections::HashSet<u64> = (1..=1024u64)
            .map(|i| build.hash_one(i * stride) & 1023)
            .collect();
        assert!(
            buckets.len() >= 500,
            "stride {stride}: {} of 1024 buckets",
            buckets.len()
        );
    }
    let hashes: Vec<u64> = (1..=1024u64).map(|id| build.hash_one(id)).collect();
    let distinct: std::collections::HashSet<u64> = hashes.iter().copied().collect();
    assert_eq!(distinct.len(), hashes.len());
    let tops: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
    assert!(
        tops.len() >= 120,
        "top 7 bits take {} of 128 values",
        tops.len()
    );
    let mut map = IdMap::default();
    for id in 1..=1024u64 {
        map.insert(id, id * 2);
    }
    assert!((1..=1024u64).all(|id| map.get(&id) == Some(&(id * 2))));
    assert_eq!(map.remove(&512), Some(1024));
    assert_eq!(map.len(), 1023);
}
