//! Garbage on the wire: raw `std::net::TcpStream`s to a real node's 127.0.0.1 TCP listener
//! send random bytes, truncated multistream-select and Noise frames, and half-open connections
//! that are then dropped. The node must stay up and keep serving honest peers through it.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use swarm_progress::{Multiaddr, SignedEntry};

use crate::kademlia::{node_config, start_node};
use crate::support::{eventually, PATIENCE};

const KEY: &str = "garbage_progress";

/// The socket address of a `/ip4/<ip>/tcp/<port>` multiaddr.
fn socket_addr(addr: &Multiaddr) -> SocketAddr {
    let text = addr.to_string();
    let parts: Vec<&str> = text.split('/').collect();
    match parts.as_slice() {
        ["", "ip4", ip, "tcp", port, ..] => format!("{ip}:{port}").parse().unwrap(),
        _ => panic!("not a TCP address: {text}"),
    }
}

/// A small deterministic PRNG (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }
}

/// A multistream-select message: uvarint length (< 128 here), the text, a newline.
fn ms(text: &str) -> Vec<u8> {
    let mut out = vec![(text.len() + 1) as u8];
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
    out
}

/// Connects and writes `bytes` (errors ignored: the node may hang up first); returns the stream.
fn send(to: SocketAddr, bytes: &[u8]) -> Option<TcpStream> {
    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(5)).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    let _ = s.write_all(bytes);
    let _ = s.flush();
    Some(s)
}

#[actix_rt::test]
async fn garbage_and_truncated_frames_on_the_tcp_port_do_not_stop_the_node() {
    let (seed, seed_addr) = start_node(node_config(vec![])).await;
    let (a, _) = start_node(node_config(vec![seed_addr.clone()])).await;
    let target = socket_addr(&seed_addr);

    let attacks = tokio::task::spawn_blocking(move || {
        let mut rng = Rng(0x5eed_cafe_f00d_0001);
        let mut kept = Vec::new();
        let mut sent = 0usize;
        // 1. Random garbage, 16 connections of 1 B .. 64 KiB.
        for i in 0..16 {
            let n = 1usize << i.min(16);
            sent += n;
            drop(send(target, &rng.bytes(n)));
        }
        // 2. A correct multistream header, then garbage protocol names and junk.
        for _ in 0..8 {
            let mut b = ms("/multistream/1.0.0");
            b.extend(ms("/no/such/protocol"));
            b.extend(rng.bytes(512));
            sent += b.len();
            drop(send(target, &b));
        }
        // 3. Negotiate Noise, then a truncated handshake frame (length 0xffff, 20 bytes), and a
        //    frame of random bytes of the announced length (not a valid handshake).
        for i in 0..8 {
            let mut b = ms("/multistream/1.0.0");
            b.extend(ms("/noise"));
            if i % 2 == 0 {
                b.extend_from_slice(&[0xff, 0xff]);
                b.extend(rng.bytes(20));
            } else {
                b.extend_from_slice(&[0x00, 0x40]);
                b.extend(rng.bytes(64));
            }
            sent += b.len();
            drop(send(target, &b));
        }
        // 4. Half-open: 32 connections that send a multistream header and then nothing, held
        //    while the honest traffic below runs, dropped at the end.
        for _ in 0..32 {
            if let Some(s) = send(target, &ms("/multistream/1.0.0")) {
                kept.push(s);
            }
        }
        (sent, kept)
    })
    .await
    .unwrap();
    let (garbage_bytes, half_open) = attacks;
    assert!(
        !half_open.is_empty(),
        "no half-open connection was accepted"
    );

    // The node is alive: its event loop answers, and honest peers are served through it.
    assert!(seed.node.is_running());
    assert!(seed.node.info().await.is_ok());
    let (b, _) = start_node(node_config(vec![seed_addr.clone()])).await;
    assert!(
        eventually(PATIENCE, || futures::executor::block_on(b.node.info())
            .is_ok_and(|i| i.connected_peers >= 1))
        .await,
        "a new peer could not join through the node"
    );
    let progress = swarm_progress::LocalProgress {
        peer_id: a.identity.peer_id(),
        epoch: 1,
        samples_accumulated: 42,
        samples_per_second: 1.0,
        time: swarm_progress::Clock::now(&swarm_progress::SystemClock),
        client_mode: false,
    };
    let entry = SignedEntry::sign(&a.identity, KEY, Some(&progress), progress.time + 60.0).unwrap();
    assert_eq!(
        a.node
            .store(KEY.into(), a.identity.public_key(), entry.clone())
            .await,
        Ok(true)
    );
    assert!(
        eventually(PATIENCE, || futures::executor::block_on(
            b.node.get(KEY.into(), true)
        )
        .ok()
        .flatten()
        .and_then(|r| r.get(&a.identity.public_key()).cloned())
            == Some(entry.clone()))
        .await,
        "b never read a's entry"
    );
    let held = half_open.len();
    drop(half_open);
    // Still alive after the half-open connections drop.
    assert!(seed.node.is_running());
    assert!(seed.node.info().await.is_ok());
    eprintln!(
        "garbage: 32 raw connections with {garbage_bytes} bytes of garbage and truncated \
         frames, {held} half-open held and dropped; node alive, honest put/get served"
    );
    for n in [&seed, &a, &b] {
        n.node.stop();
    }
}
