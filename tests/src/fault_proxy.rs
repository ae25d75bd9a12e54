//! A TCP fault proxy on loopback for reliability runs: forwards connections to an upstream
//! (moto, a mock Sinch) and, per connection and at random, resets it at once, stalls it, cuts it
//! after a short while (answers in flight are lost), or, during an outage window, refuses
//! everything.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// Shares of new connections (out of 100) given each fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultMix {
    /// Closed with a TCP reset before any byte is forwarded.
    pub reset: u32,
    /// Held open without forwarding for `stall`, then closed.
    pub stall: u32,
    /// Forwarded, then cut abruptly after 20 to 300 ms (a response may be lost).
    pub cut: u32,
    pub stall_for: Duration,
}

#[derive(Debug, Default)]
pub struct FaultCounts {
    pub connections: AtomicU64,
    pub resets: AtomicU64,
    pub stalls: AtomicU64,
    pub cuts: AtomicU64,
    pub refused: AtomicU64,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    mix: Arc<Mutex<FaultMix>>,
    outage: Arc<AtomicBool>,
    pub counts: Arc<FaultCounts>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let mix = Arc::new(Mutex::new(FaultMix::default()));
        let outage = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(FaultCounts::default());
        let (m, o, c) = (mix.clone(), outage.clone(), counts.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                c.connections.fetch_add(1, Ordering::Relaxed);
                let mix = *m.lock().unwrap_or_else(PoisonError::into_inner);
                let outage = o.load(Ordering::SeqCst);
                let counts = c.clone();
                tokio::spawn(handle(client, upstream, mix, outage, counts));
            }
        });
        Self {
            addr,
            mix,
            outage,
            counts,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mix(&self, mix: FaultMix) {
        *self.mix.lock().unwrap_or_else(PoisonError::into_inner) = mix;
    }

    pub fn set_outage(&self, on: bool) {
        self.outage.store(on, Ordering::SeqCst);
    }

    /// Connections the proxy broke (reset, stalled, cut or refused).
    pub fn faults(&self) -> u64 {
        let c = &self.counts;
        [&c.resets, &c.stalls, &c.cuts, &c.refused]
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum()
    }

    pub fn summary(&self) -> String {
        let c = &self.counts;
        format!(
            "connections {}, resets {}, stalls {}, cuts {}, refused during outage {}",
            c.connections.load(Ordering::Relaxed),
            c.resets.load(Ordering::Relaxed),
            c.stalls.load(Ordering::Relaxed),
            c.cuts.load(Ordering::Relaxed),
            c.refused.load(Ordering::Relaxed)
        )
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// Linger 0: close sends RST instead of FIN, as a crashed peer or middlebox would. tokio
// deprecates SO_LINGER because a non-zero linger blocks on drop; a zero one returns at once.
#[allow(deprecated)]
fn reset(stream: TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

async fn handle(client: TcpStream, upstream: SocketAddr, mix: FaultMix, outage: bool, counts: Arc<FaultCounts>) {
    if outage {
        counts.refused.fetch_add(1, Ordering::Relaxed);
        reset(client);
        return;
    }
    let roll = fastrand::u32(0..100);
    if roll < mix.reset {
        counts.resets.fetch_add(1, Ordering::Relaxed);
        reset(client);
        return;
    }
    if roll < mix.reset + mix.stall {
        counts.stalls.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(mix.stall_for).await;
        reset(client);
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        reset(client);
        return;
    };
    let (mut client, mut server) = (client, server);
    if roll < mix.reset + mix.stall + mix.cut {
        counts.cuts.fetch_add(1, Ordering::Relaxed);
        let cut_after = Duration::from_millis(fastrand::u64(20..300));
        let _ = tokio::time::timeout(cut_after, tokio::io::copy_bidirectional(&mut client, &mut server)).await;
        reset(client);
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
