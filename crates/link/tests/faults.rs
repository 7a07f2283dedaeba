//! Each fault of the link shown to act, on real sockets: every assertion
//! here fails on a link that only forwards.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use statecraft_link::{Faults, Link, Toward};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A server that echoes what it reads.
async fn echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    addr
}

/// Writes `message` and reads its echo; how long that took.
async fn round_trip(stream: &mut TcpStream, message: &[u8]) -> Duration {
    let started = Instant::now();
    stream.write_all(message).await.unwrap();
    let mut back = vec![0; message.len()];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(back, message);
    started.elapsed()
}

async fn linked() -> (Link, TcpStream) {
    let link = Link::start(echo().await).await.unwrap();
    let stream = TcpStream::connect(link.addr()).await.unwrap();
    (link, stream)
}

#[tokio::test]
async fn without_faults_data_passes_at_once() {
    let (_link, mut stream) = linked().await;
    let took = round_trip(&mut stream, b"ping").await;
    assert!(took < Duration::from_millis(50), "{took:?}");
}

#[tokio::test]
async fn latency_delays_each_direction_and_keeps_data_in_flight() {
    let (link, mut stream) = linked().await;
    link.set(Faults::rtt(Duration::from_millis(100)));
    let took = round_trip(&mut stream, b"ping").await;
    assert!(
        (Duration::from_millis(100)..Duration::from_millis(250)).contains(&took),
        "{took:?}"
    );
    // Fifty pipelined requests take one round trip, not fifty: latency
    // delays data, it does not serialise it.
    let started = Instant::now();
    for n in 0..50u8 {
        stream.write_all(&[n]).await.unwrap();
    }
    let mut back = [0u8; 50];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(back.to_vec(), (0..50).collect::<Vec<u8>>());
    let took = started.elapsed();
    assert!(took < Duration::from_millis(400), "{took:?}");
}

#[tokio::test]
async fn jitter_varies_the_delay_within_its_bounds_and_keeps_the_order() {
    let (link, mut stream) = linked().await;
    let toward = Toward {
        latency: Duration::from_millis(40),
        jitter: Duration::from_millis(30),
        bandwidth: None,
    };
    link.set(Faults {
        upstream: toward,
        ..Faults::default()
    });
    let mut times = Vec::new();
    for n in 0..20u8 {
        times.push(round_trip(&mut stream, &[n]).await);
    }
    let (min, max) = (times.iter().min().unwrap(), times.iter().max().unwrap());
    assert!(*min >= Duration::from_millis(9), "{times:?}");
    assert!(*max < Duration::from_millis(150), "{times:?}");
    assert!(
        *max - *min > Duration::from_millis(10),
        "no jitter: {times:?}"
    );
}

#[tokio::test]
async fn bandwidth_limits_the_transfer() {
    let (link, mut stream) = linked().await;
    link.set(Faults {
        downstream: Toward {
            bandwidth: Some(64 * 1024),
            ..Toward::default()
        },
        ..Faults::default()
    });
    // 48 KiB at 64 KiB/s: about three quarters of a second.
    let took = round_trip(&mut stream, &vec![7u8; 48 * 1024]).await;
    assert!(
        (Duration::from_millis(700)..Duration::from_secs(3)).contains(&took),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_blackhole_holds_data_on_an_open_connection_until_it_ends() {
    let (link, mut stream) = linked().await;
    link.set(Faults {
        blackhole: true,
        ..Faults::default()
    });
    stream.write_all(b"held").await.unwrap();
    let mut back = [0u8; 4];
    let waited =
        tokio::time::timeout(Duration::from_millis(400), stream.read_exact(&mut back)).await;
    assert!(waited.is_err(), "data passed a blackhole");
    link.set(Faults::default());
    // The connection stayed open and what was held arrives.
    tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"held");
}

#[tokio::test]
async fn reset_cuts_open_connections_and_carries_new_ones() {
    let (link, mut stream) = linked().await;
    round_trip(&mut stream, b"before").await;
    link.reset();
    let mut buf = [0u8; 8];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
        .await
        .unwrap();
    match read {
        Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset),
        Ok(n) => panic!("read {n} bytes instead of a reset"),
    }
    let mut again = TcpStream::connect(link.addr()).await.unwrap();
    round_trip(&mut again, b"after").await;
}

#[tokio::test]
async fn slow_close_delays_the_close() {
    // A server that closes every connection at once.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    let link = Link::start(target).await.unwrap();
    link.set(Faults {
        slow_close: Duration::from_millis(300),
        ..Faults::default()
    });
    let started = Instant::now();
    let mut stream = TcpStream::connect(link.addr()).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(n, 0, "a close");
    assert!(took >= Duration::from_millis(300), "{took:?}");
}

#[tokio::test]
async fn down_refuses_and_cuts_then_up_carries_again() {
    let (link, mut stream) = linked().await;
    round_trip(&mut stream, b"up").await;
    link.set(Faults {
        down: true,
        ..Faults::default()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = TcpStream::connect(link.addr()).await;
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    let mut buf = [0u8; 2];
    let cut = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
        .await
        .unwrap();
    assert!(
        !matches!(cut, Ok(n) if n > 0),
        "the open connection was not cut"
    );
    link.set(Faults::default());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = TcpStream::connect(link.addr()).await.unwrap();
    round_trip(&mut again, b"up again").await;
}

#[tokio::test]
async fn a_millisecond_round_trip_is_a_millisecond_not_the_timers_tick() {
    let (link, mut stream) = linked().await;
    link.set(Faults::rtt(Duration::from_millis(1)));
    let mut times = Vec::new();
    for n in 0..30u8 {
        times.push(round_trip(&mut stream, &[n]).await);
    }
    times.sort();
    let median = times[times.len() / 2];
    // tokio's millisecond timer, rounding each way up, made this ~3-4 ms.
    assert!(
        (Duration::from_millis(1)..Duration::from_micros(2500)).contains(&median),
        "median {median:?} of {times:?}"
    );
}

#[tokio::test]
async fn a_link_for_one_peer_closes_connections_from_any_other() {
    let target = echo().await;
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let theirs = Link::start_for(listen, target, "10.0.0.9".parse().unwrap())
        .await
        .unwrap();
    let mut stranger = TcpStream::connect(theirs.addr()).await.unwrap();
    let _ = stranger.write_all(b"hello").await;
    let mut buf = [0; 5];
    let read = tokio::time::timeout(Duration::from_secs(2), stranger.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "a connection from elsewhere was carried: {read:?}"
    );
    let ours = Link::start_for(listen, target, "127.0.0.1".parse().unwrap())
        .await
        .unwrap();
    let mut peer = TcpStream::connect(ours.addr()).await.unwrap();
    round_trip(&mut peer, b"hello").await;
}
