//! A TCP link between two parts of a deployment — client → gateway, gateway →
//! instance, instance → Redis, PostgreSQL or NATS — with the faults people
//! know from Toxiproxy, set at run time: latency with jitter in each
//! direction, bandwidth, blackhole (data stops, the connection stays open: a
//! partition without RST), reset (connections cut), slow close, and down
//! (refused). A part is pointed at [`Link::addr`] instead of its peer.
//!
//! Written here rather than taken from `noxious` (the Rust port of
//! Toxiproxy): see `docs/ARCHITECTURE.md` for why.

mod alarm;
pub mod netns;
mod pump;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What a link does to one direction of its traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Toward {
    /// Added to every piece of data.
    pub latency: Duration,
    /// Up to this much more or less, at random (order is kept).
    pub jitter: Duration,
    /// Bytes per second at most; `None`: as fast as the sockets go.
    pub bandwidth: Option<u64>,
}

/// What a link does to the traffic it carries (the default: nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// From the client toward the target.
    pub upstream: Toward,
    /// From the target back to the client.
    pub downstream: Toward,
    /// Data stops both ways and connections stay open, as in a partition
    /// that sends no RST; what was held is delivered when it ends, as TCP
    /// would deliver it by retransmission.
    pub blackhole: bool,
    /// A side's close reaches the other side this much later.
    pub slow_close: Duration,
    /// Nothing listens (a connection is refused) and open connections are
    /// cut.
    pub down: bool,
}

impl Faults {
    /// A round-trip time of `rtt`, half each way.
    #[must_use]
    pub fn rtt(rtt: Duration) -> Self {
        let half = Toward {
            latency: rtt / 2,
            ..Toward::default()
        };
        Self {
            upstream: half,
            downstream: half,
            ..Self::default()
        }
    }
}

/// A running link; it stops when dropped.
#[derive(Debug)]
pub struct Link {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    /// The only address a connection may come from (`None`: any).
    only_from: Option<std::net::IpAddr>,
    /// Precise wake-ups for the delays of every connection.
    alarm: alarm::Alarm,
    faults: watch::Sender<Faults>,
    /// Cancelled to cut every connection open now (a new one is installed).
    cut: Mutex<CancellationToken>,
    stop: CancellationToken,
}

impl Shared {
    fn current_cut(&self) -> CancellationToken {
        self.cut
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Cuts every open connection with a reset.
    fn cut_all(&self) {
        let mut cut = self.cut.lock().unwrap_or_else(PoisonError::into_inner);
        cut.cancel();
        *cut = CancellationToken::new();
    }
}

impl Link {
    /// A link to `target`, listening on a free loopback port.
    ///
    /// # Errors
    /// The listener could not be bound.
    pub async fn start(target: SocketAddr) -> io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), target).await
    }

    /// A link to `target` listening on `listen`.
    ///
    /// # Errors
    /// The listener could not be bound.
    pub async fn start_on(listen: SocketAddr, target: SocketAddr) -> io::Result<Self> {
        Self::on(TcpListener::bind(listen).await?, target)
    }

    /// A link to `target` on a listener already bound.
    ///
    /// # Errors
    /// The listener's address cannot be read.
    pub fn on(listener: TcpListener, target: SocketAddr) -> io::Result<Self> {
        Self::serving(listener, target, None)
    }

    /// A link to `target` listening on `listen` that carries connections
    /// from `peer` alone and closes any other at once: a link on an address
    /// other machines may reach (a veth's host side) must not hand them
    /// what listens on loopback.
    ///
    /// # Errors
    /// The listener could not be bound.
    pub async fn start_for(
        listen: SocketAddr,
        target: SocketAddr,
        peer: std::net::IpAddr,
    ) -> io::Result<Self> {
        Self::serving(TcpListener::bind(listen).await?, target, Some(peer))
    }

    fn serving(
        listener: TcpListener,
        target: SocketAddr,
        only_from: Option<std::net::IpAddr>,
    ) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            only_from,
            alarm: alarm::Alarm::new(),
            faults: watch::Sender::new(Faults::default()),
            cut: Mutex::new(CancellationToken::new()),
            stop: CancellationToken::new(),
        });
        tokio::spawn(accept(listener, addr, Arc::clone(&shared)));
        Ok(Self { addr, shared })
    }

    /// Where the part that should go through the link connects.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The faults in effect.
    #[must_use]
    pub fn faults(&self) -> Faults {
        *self.shared.faults.borrow()
    }

    /// Sets the faults, for open connections and new ones alike.
    pub fn set(&self, faults: Faults) {
        self.shared.faults.send_replace(faults);
    }

    /// Cuts every open connection with a reset (new ones are carried).
    pub fn reset(&self) {
        self.shared.cut_all();
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.shared.stop.cancel();
        self.shared.cut_all();
    }
}

/// Accepts connections while the link is up; while it is down nothing
/// listens, so a connection is refused.
async fn accept(listener: TcpListener, addr: SocketAddr, shared: Arc<Shared>) {
    let mut faults = shared.faults.subscribe();
    let mut listener = Some(listener);
    loop {
        if faults.borrow_and_update().down {
            listener = None;
            shared.cut_all();
        } else if listener.is_none() {
            match TcpListener::bind(addr).await {
                Ok(bound) => listener = Some(bound),
                Err(err) => {
                    tracing::warn!(%addr, %err, "link cannot listen again; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        }
        let accepted = async {
            match &listener {
                Some(listener) => listener.accept().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.stop.cancelled() => return,
            changed = faults.changed() => if changed.is_err() { return },
            accepted = accepted => match accepted {
                Ok((_, from)) if shared.only_from.is_some_and(|only| only != from.ip()) => {
                    tracing::warn!(%addr, %from, "link: a connection from elsewhere refused");
                }
                Ok((client, _)) => {
                    let (target, cut) = (shared.target, shared.current_cut());
                    let alarm = shared.alarm.clone();
                    tokio::spawn(carry(client, target, shared.faults.subscribe(), cut, alarm));
                }
                Err(err) => {
                    tracing::debug!(%err, "link accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

/// Carries one connection both ways until both sides have closed or the
/// connection is cut.
async fn carry(
    client: TcpStream,
    target: SocketAddr,
    faults: watch::Receiver<Faults>,
    cut: CancellationToken,
    alarm: alarm::Alarm,
) {
    let server = tokio::select! {
        connected = TcpStream::connect(target) => connected,
        () = cut.cancelled() => return pump::reset(&client),
    };
    let server = match server {
        Ok(server) => server,
        // The target refuses: so does the link, as a reset.
        Err(_) => return pump::reset(&client),
    };
    for stream in [&client, &server] {
        let _ = stream.set_nodelay(true);
    }
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump::Pump {
        from: client_read,
        to: server_write,
        faults: faults.clone(),
        pick: |f: &Faults| f.upstream,
        cut: cut.clone(),
        alarm: alarm.clone(),
    };
    let down = pump::Pump {
        from: server_read,
        to: client_write,
        faults,
        pick: |f: &Faults| f.downstream,
        cut,
        alarm,
    };
    tokio::join!(up.run(), down.run());
}
