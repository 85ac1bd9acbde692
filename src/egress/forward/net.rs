//! The fan-out's UDP sockets: one per host address, every viewer of the
//! server multiplexed on it (ICE-lite: the viewers' checks come to us). A
//! thread per socket reads datagrams into the engine; the engine sends
//! without blocking.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{ErrorKind, IoSlice};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::net::addr::SocketAddrArg;
use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags};
use str0m::net::Transmit;

use super::engine::{Command, Datagram, EngineCounters};

/// Large enough for any datagram a WebRTC peer sends.
const RECV_BUFFER: usize = 2048;
/// How often a reader looks at the stop flag.
const READ_TIMEOUT: Duration = Duration::from_millis(250);
/// Socket buffers: a keyframe to a hundred viewers leaves in one burst.
const SEND_BUFFER_BYTES: usize = 4 << 20;
/// Datagrams queued before they go out in one `sendmmsg`.
const BATCH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("binding the WebRTC UDP socket on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "no address to offer WebRTC viewers (no usable network interface; set --webrtc-address)"
    )]
    NoAddress,
}

/// The host addresses to offer: the configured ones, else every IPv4
/// interface address but link-local ones (loopback only when there is
/// nothing else, as on a machine without a network).
pub fn host_addresses(configured: &[IpAddr]) -> Result<Vec<IpAddr>, NetError> {
    if !configured.is_empty() {
        return Ok(configured.to_vec());
    }
    let all: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|ifs| ifs.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default();
    let v4 = |ip: &IpAddr| matches!(ip, IpAddr::V4(v) if !v.is_link_local() && !v.is_unspecified());
    let outside: Vec<IpAddr> = all
        .iter()
        .copied()
        .filter(|ip| v4(ip) && !ip.is_loopback())
        .collect();
    let chosen = if outside.is_empty() {
        all.into_iter().filter(|ip| v4(ip)).collect()
    } else {
        outside
    };
    if chosen.is_empty() {
        return Err(NetError::NoAddress);
    }
    Ok(chosen)
}

pub struct Sockets {
    by_local: HashMap<SocketAddr, UdpSocket>,
    /// Datagrams waiting for [`Sockets::flush`] (the engine's thread only).
    outbox: RefCell<Vec<Transmit>>,
    stop: Arc<AtomicBool>,
    counters: Arc<EngineCounters>,
}

impl Sockets {
    /// Binds `port` (0: any) on each address, the same port on all where
    /// possible, and starts a reader per socket.
    pub fn bind(
        addresses: &[IpAddr],
        port: u16,
        engine: SyncSender<Command>,
        counters: Arc<EngineCounters>,
    ) -> Result<Sockets, NetError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut by_local = HashMap::new();
        let mut port = port;
        for ip in addresses {
            let addr = SocketAddr::new(*ip, port);
            let socket = UdpSocket::bind(addr).map_err(|source| NetError::Bind { addr, source })?;
            let local = socket
                .local_addr()
                .map_err(|source| NetError::Bind { addr, source })?;
            port = local.port();
            let _ = rustix::net::sockopt::set_socket_send_buffer_size(&socket, SEND_BUFFER_BYTES);
            let reader = socket
                .try_clone()
                .map_err(|source| NetError::Bind { addr, source })?;
            spawn_reader(reader, local, engine.clone(), stop.clone());
            by_local.insert(local, socket);
        }
        Ok(Sockets {
            by_local,
            outbox: RefCell::new(Vec::with_capacity(BATCH)),
            stop,
            counters,
        })
    }

    pub fn locals(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.by_local.keys().copied()
    }

    /// Queues a datagram; every [`BATCH`] of them, and at [`Sockets::flush`],
    /// they go out a `sendmmsg` per socket (the profile showed a `sendto`
    /// per datagram as a third of the engine's time).
    pub fn send(&self, datagram: Transmit) {
        let full = {
            let mut outbox = self.outbox.borrow_mut();
            outbox.push(datagram);
            outbox.len() >= BATCH
        };
        if full {
            self.flush();
        }
    }

    /// Sends what is queued, without blocking: a full socket buffer drops
    /// the rest of a batch (as a full link would).
    pub fn flush(&self) {
        let mut outbox = self.outbox.borrow_mut();
        let mut start = 0;
        while start < outbox.len() {
            let from = outbox[start].source;
            let end = outbox[start..]
                .iter()
                .position(|t| t.source != from)
                .map_or(outbox.len(), |n| start + n);
            if let Some(socket) = self.by_local.get(&from) {
                self.send_batch(socket, &outbox[start..end]);
            }
            start = end;
        }
        outbox.clear();
    }

    fn send_batch(&self, socket: &UdpSocket, batch: &[Transmit]) {
        let addrs: Vec<_> = batch.iter().map(|t| t.destination.as_any()).collect();
        let iovs: Vec<[IoSlice<'_>; 1]> =
            batch.iter().map(|t| [IoSlice::new(&t.contents)]).collect();
        let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = batch
            .iter()
            .map(|_| SendAncillaryBuffer::default())
            .collect();
        let mut messages: Vec<MMsgHdr<'_>> = addrs
            .iter()
            .zip(&iovs)
            .zip(controls.iter_mut())
            .map(|((addr, iov), control)| MMsgHdr::new_with_addr(addr, iov, control))
            .collect();
        let mut sent = 0;
        while sent < messages.len() {
            // DONTWAIT per call: the reader's clone of this socket blocks.
            match rustix::net::sendmmsg(socket, &mut messages[sent..], SendFlags::DONTWAIT) {
                Ok(0) => break,
                Ok(n) => sent += n,
                Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                    self.counters
                        .datagrams_dropped
                        .fetch_add((messages.len() - sent) as u64, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    // One bad destination (unreachable): skip it, send on.
                    tracing::debug!(to = %batch[sent].destination, "WebRTC send: {e}");
                    sent += 1;
                }
            }
        }
    }
}

impl Drop for Sockets {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn spawn_reader(
    socket: UdpSocket,
    local: SocketAddr,
    engine: SyncSender<Command>,
    stop: Arc<AtomicBool>,
) {
    let _ = socket.set_read_timeout(Some(READ_TIMEOUT));
    let spawned = std::thread::Builder::new()
        .name(format!("webrtc-rx-{}", local.port()))
        .spawn(move || {
            let mut buf = vec![0u8; RECV_BUFFER];
            while !stop.load(Ordering::Relaxed) {
                match socket.recv_from(&mut buf) {
                    Ok((n, source)) => {
                        let datagram = Datagram {
                            local,
                            source,
                            data: buf[..n].to_vec(),
                            at: Instant::now(),
                        };
                        // Blocking when the engine is behind: the kernel's
                        // receive buffer holds the rest, as it would anyway.
                        if engine.send(Command::Packet(datagram)).is_err() {
                            return;
                        }
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) => {
                        // ICMP unreachable from a viewer that left, and the like.
                        tracing::trace!(%local, "WebRTC receive: {e}");
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("starting the WebRTC socket reader: {e}");
    }
}
