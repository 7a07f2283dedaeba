//! One direction of a connection: read, hold each piece of data until its
//! delivery time (latency, jitter), while a blackhole lasts, and as long as
//! the bandwidth asks, then write it; pass the close on, late if asked.
//! Reading and writing are two tasks joined by a bounded queue, so latency
//! delays data without limiting how much is in flight (as a long link does),
//! and a held queue stops the reading (as a full TCP window does).

use std::time::Duration;

use rand::Rng as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::alarm::Alarm;
use crate::{Faults, Toward};

/// Bytes read at once.
const CHUNK: usize = 16 * 1024;
/// Pieces of data in flight in one direction before reading waits.
const IN_FLIGHT: usize = 256;

/// Closes `stream` with a reset rather than a FIN.
pub(crate) fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

/// One direction of a connection.
pub(crate) struct Pump<P> {
    pub(crate) from: OwnedReadHalf,
    pub(crate) to: OwnedWriteHalf,
    pub(crate) faults: watch::Receiver<Faults>,
    /// This direction's part of the faults.
    pub(crate) pick: P,
    /// Cancelled: the connection is cut with a reset.
    pub(crate) cut: CancellationToken,
    /// Wakes the writer when a piece is due.
    pub(crate) alarm: Alarm,
}

/// What the reader hands the writer.
enum Piece {
    Data(Instant, Vec<u8>),
    Closed(Instant),
}

impl<P: Fn(&Faults) -> Toward + Copy> Pump<P> {
    /// Carries this direction until its side closes or the link cuts it.
    pub(crate) async fn run(self) {
        let Self {
            mut from,
            mut to,
            faults,
            pick,
            cut,
            alarm,
        } = self;
        let (queue, mut pieces) = mpsc::channel(IN_FLIGHT);
        let reading = faults.clone();
        let read = async move {
            let mut last = Instant::now();
            let mut buf = vec![0; CHUNK];
            loop {
                let n = from.read(&mut buf).await.unwrap_or(0);
                let toward = pick(&reading.borrow());
                // Never before the piece ahead of it: the order is kept.
                last = deliver_at(&toward).max(last);
                let piece = if n == 0 {
                    Piece::Closed(last)
                } else {
                    Piece::Data(last, buf[..n].to_vec())
                };
                if queue.send(piece).await.is_err() || n == 0 {
                    return;
                }
            }
        };
        let write = async {
            let mut faults = faults;
            let mut free_at = Instant::now();
            while let Some(piece) = pieces.recv().await {
                // A blackhole holds everything until it ends.
                if faults.borrow().blackhole && faults.wait_for(|f| !f.blackhole).await.is_err() {
                    return;
                }
                match piece {
                    Piece::Data(at, data) => {
                        alarm.until(at).await;
                        let rate = pick(&faults.borrow()).bandwidth;
                        if let Some(rate) = rate {
                            // The piece is through once its bytes have
                            // passed at the rate, after those before it.
                            let secs = data.len() as f64 / rate.max(1) as f64;
                            free_at = free_at.max(Instant::now()) + Duration::from_secs_f64(secs);
                            alarm.until(free_at).await;
                        }
                        if to.write_all(&data).await.is_err() {
                            return;
                        }
                    }
                    Piece::Closed(at) => {
                        alarm.until(at).await;
                        let slow = faults.borrow().slow_close;
                        tokio::time::sleep(slow).await;
                        let _ = to.shutdown().await;
                        return;
                    }
                }
            }
        };
        let was_cut = tokio::select! {
            ((), ()) = async { tokio::join!(read, write) } => false,
            () = cut.cancelled() => true,
        };
        if was_cut {
            // Dropped as it is, a write half would send a FIN first.
            reset(to.as_ref());
            to.forget();
        }
    }
}

/// When a piece read now is due: the latency, give or take the jitter.
fn deliver_at(toward: &Toward) -> Instant {
    let jitter = toward.jitter.as_secs_f64();
    let offset = if jitter > 0.0 {
        rand::rng().random_range(-jitter..=jitter)
    } else {
        0.0
    };
    let delay = (toward.latency.as_secs_f64() + offset).max(0.0);
    Instant::now() + Duration::from_secs_f64(delay)
}
