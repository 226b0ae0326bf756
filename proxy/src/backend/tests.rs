use super::*;
use crate::balance::KeySource;
use std::net::IpAddr;
use xlb_model::proxy::{Balance, HashSpec, Mode, ProxyTimeouts, ServerCheck};

struct Client(IpAddr);

impl KeySource for Client {
    fn src(&self) -> IpAddr {
        self.0
    }
}

fn client() -> Client {
    Client("192.0.2.1".parse().unwrap())
}

fn server(name: &str, maxconn: u32, check: bool) -> ServerDef {
    ServerDef {
        name: name.into(),
        addr: format!("127.0.0.1:{}", 1000 + name.len()).parse().unwrap(),
        id: 0,
        weight: 1,
        backup: false,
        maxconn,
        disabled: false,
        cookie: None,
        check: check.then_some(ServerCheck {
            inter: Duration::from_secs(2),
            fastinter: Duration::from_secs(2),
            downinter: Duration::from_secs(2),
            rise: 2,
            fall: 3,
            addr: None,
            port: None,
        }),
    }
}

fn backend(servers: Vec<ServerDef>) -> Arc<Backend> {
    let servers = servers
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            s.id = i as u32 + 1;
            s
        })
        .collect();
    Arc::new(Backend::new(
        BackendDef {
            name: "b".into(),
            mode: Mode::Tcp,
            balance: Balance::RoundRobin,
            hash: HashSpec::default(),
            servers,
            cookie: None,
            httpchk: None,
            allbackups: false,
            redispatch: false,
            retries: 3,
            forwardfor: false,
            timeouts: ProxyTimeouts::default(),
        },
        None,
    ))
}

#[tokio::test]
async fn a_full_server_queues_and_the_freed_slot_goes_to_the_oldest() {
    let b = backend(vec![server("a", 1, false)]);
    let first = b.acquire(&client(), None, None, None).await.unwrap();
    let b2 = b.clone();
    let second = tokio::spawn(async move {
        b2.acquire(&client(), None, None, None)
            .await
            .map(|s| s.server)
    });
    let b3 = b.clone();
    tokio::task::yield_now().await;
    let third = tokio::spawn(async move {
        b3.acquire(&client(), None, None, Some(Duration::from_millis(50)))
            .await
            .map(|s| s.server)
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (per, be) = b.loads();
    assert_eq!(per[0].0, 1, "one served");
    assert_eq!(per[0].1 + be, 2, "two waiting: {per:?} {be}");
    assert_eq!(
        third.await.unwrap(),
        Err(Refused::QueueTimeout),
        "timeout queue"
    );
    assert_eq!(
        b.queue_timeouts.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    drop(first);
    assert_eq!(second.await.unwrap(), Ok(0), "the slot went to the waiter");
    let (per, be) = b.loads();
    assert_eq!((per[0], be), ((0, 0), 0), "all released: {per:?}");
}

#[tokio::test]
async fn no_usable_server_is_refused_at_once_and_a_server_coming_up_serves_the_queue() {
    let b = backend(vec![server("a", 1, true), server("bb", 1, true)]);
    // HAProxy: a checked server starts one failure from down.
    assert!(b.check_result(0, false, "L4CON".into()).is_some());
    assert!(b.check_result(1, false, "L4CON".into()).is_some());
    assert!(matches!(
        b.acquire(&client(), None, None, None).await,
        Err(Refused::NoServer)
    ));
    // One comes back after `rise` good checks; its free slot is used.
    assert!(b.check_result(0, true, "L4OK".into()).is_none());
    assert!(b.check_result(0, true, "L4OK".into()).is_some());
    let s = b.acquire(&client(), None, None, None).await.unwrap();
    assert_eq!(s.server, 0);
    // Now full: the next waits in the backend queue, and gets the second
    // server when that one comes up.
    let b2 = b.clone();
    let waiting = tokio::spawn(async move {
        b2.acquire(&client(), None, None, None)
            .await
            .map(|s| s.server)
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(b.loads().1, 1, "in the backend queue");
    b.check_result(1, true, "L4OK".into());
    b.check_result(1, true, "L4OK".into());
    assert_eq!(waiting.await.unwrap(), Ok(1));
}

#[tokio::test]
async fn maintenance_and_drain_take_a_server_out_and_enable_brings_it_back() {
    let b = backend(vec![server("a", 0, false), server("bb", 0, false)]);
    b.set_admin(0, |a| a.maint = true);
    for _ in 0..4 {
        assert_eq!(
            b.acquire(&client(), None, None, None).await.unwrap().server,
            1
        );
    }
    b.set_admin(0, |a| a.maint = false);
    b.set_admin(1, |a| a.weight = 0);
    for _ in 0..4 {
        assert_eq!(
            b.acquire(&client(), None, None, None).await.unwrap().server,
            0
        );
    }
    assert_eq!(b.states()[1].words(), "DRAIN");
    assert_eq!(b.states()[0].words(), "no check");
    // A persistence cookie's server is taken while usable, even drained
    // (HAProxy sends cookie holders to a drained server).
    assert_eq!(
        b.acquire(&client(), None, Some(1), None)
            .await
            .unwrap()
            .server,
        1
    );
    b.set_admin(1, |a| a.maint = true);
    assert_eq!(
        b.acquire(&client(), None, Some(1), None)
            .await
            .unwrap()
            .server,
        0
    );
}

#[test]
fn a_reload_keeps_a_servers_state() {
    let b = backend(vec![server("a", 0, true), server("bb", 0, true)]);
    b.check_result(0, false, "L4CON".into());
    b.set_admin(1, |a| a.weight = 7);
    let mut def = b.def.clone();
    def.retries = 1;
    let b2 = Backend::new(def, Some(&b));
    let st = b2.states();
    assert!(!st[0].usable(), "still down after the reload");
    assert_eq!(st[1].admin.weight, 7);
    assert!(Arc::ptr_eq(&b.server_counters[0], &b2.server_counters[0]));
}
