//! The fan-out's UDP sockets: one per host address, every viewer of the
//! server multiplexed on it (ICE-lite: the viewers' checks come to us). A
//! thread per socket reads datagrams into the engine; the engine sends
//! without blocking.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{ErrorKind, IoSlice};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::Range;
use std::os::fd::AsRawFd;
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
/// One GSO send: at most this many datagrams (the kernel's oldest limit,
/// UDP_MAX_SEGMENTS) and bytes (a UDP payload's limit, with room for headers).
const GSO_MAX_SEGMENTS: usize = 64;
const GSO_MAX_BYTES: usize = 60_000;

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
    /// Segmentation offload in use; off for good once the kernel refuses it
    /// (a route through IPsec, a device without checksum offload).
    gso: Cell<bool>,
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
            gso: Cell::new(true),
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
    /// the rest of a batch (as a full link would). A frame's packets to one
    /// viewer leave as one GSO send (the kernel's UDP path then runs once per
    /// frame, not once per packet: it was the largest part of the engine's
    /// profile); single datagrams in one `sendmmsg`.
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
                self.send_from(socket, &outbox[start..end]);
            }
            start = end;
        }
        outbox.clear();
    }

    fn send_from(&self, socket: &UdpSocket, batch: &[Transmit]) {
        // In the order queued: DTLS flights and the packets of a frame.
        let mut singles: Vec<&Transmit> = Vec::with_capacity(batch.len());
        for run in gso_runs(batch) {
            let datagrams = &batch[run];
            if datagrams.len() > 1 && self.gso.get() {
                self.send_batch(socket, &singles);
                singles.clear();
                if self.send_segmented(socket, datagrams) {
                    continue;
                }
            }
            singles.extend(datagrams);
        }
        self.send_batch(socket, &singles);
    }

    /// One GSO send of datagrams of one size (the last may be shorter) to
    /// one address. False when they should go out one by one instead.
    fn send_segmented(&self, socket: &UdpSocket, datagrams: &[Transmit]) -> bool {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, SockaddrStorage};
        let segment = datagrams[0].contents.len() as u16;
        let iov: Vec<IoSlice<'_>> = datagrams
            .iter()
            .map(|t| IoSlice::new(&t.contents))
            .collect();
        let to = SockaddrStorage::from(datagrams[0].destination);
        let cmsg = [ControlMessage::UdpGsoSegments(&segment)];
        match sendmsg(
            socket.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::MSG_DONTWAIT,
            Some(&to),
        ) {
            Ok(_) => true,
            Err(nix::errno::Errno::EAGAIN) => {
                self.counters
                    .datagrams_dropped
                    .fetch_add(datagrams.len() as u64, Ordering::Relaxed);
                true
            }
            Err(
                e @ (nix::errno::Errno::EIO
                | nix::errno::Errno::EINVAL
                | nix::errno::Errno::ENOPROTOOPT),
            ) => {
                tracing::info!(
                    "UDP segmentation offload refused ({e}); sending datagram by datagram"
                );
                self.gso.set(false);
                false
            }
            Err(e) => {
                tracing::debug!(to = %datagrams[0].destination, "WebRTC send: {e}");
                true
            }
        }
    }

    fn send_batch(&self, socket: &UdpSocket, batch: &[&Transmit]) {
        if batch.is_empty() {
            return;
        }
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

/// Splits queued datagrams into runs that can leave as one GSO send: the
/// same destination, every datagram the size of the first but the last,
/// which may be shorter (how the kernel cuts a send back into datagrams).
fn gso_runs(batch: &[Transmit]) -> Vec<Range<usize>> {
    let sizes: Vec<(SocketAddr, usize)> = batch
        .iter()
        .map(|t| (t.destination, t.contents.len()))
        .collect();
    runs_of(&sizes)
}

fn runs_of(datagrams: &[(SocketAddr, usize)]) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < datagrams.len() {
        let (to, segment) = datagrams[start];
        let mut end = start + 1;
        let mut bytes = segment;
        while end < datagrams.len() && end - start < GSO_MAX_SEGMENTS && segment > 0 {
            let (next_to, size) = datagrams[end];
            if next_to != to || size > segment || bytes + size > GSO_MAX_BYTES {
                break;
            }
            bytes += size;
            end += 1;
            if size < segment {
                break;
            }
        }
        runs.push(start..end);
        start = end;
    }
    runs
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

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_frame_to_one_viewer_is_one_run_ending_at_its_short_packet() {
        let a = addr(1);
        let b = addr(2);
        let queued = [
            (a, 1200),
            (a, 1200),
            (a, 700),
            (a, 1200),
            (b, 1200),
            (b, 1200),
            (b, 90),
        ];
        assert_eq!(runs_of(&queued), vec![0..3, 3..4, 4..7]);
    }

    #[test]
    fn a_longer_packet_starts_a_new_run() {
        let a = addr(1);
        let queued = [(a, 100), (a, 1200), (a, 1200)];
        assert_eq!(runs_of(&queued), vec![0..1, 1..3]);
    }

    #[test]
    fn runs_stop_at_the_kernels_limits() {
        let a = addr(1);
        let many = vec![(a, 100); GSO_MAX_SEGMENTS + 1];
        assert_eq!(
            runs_of(&many),
            vec![0..GSO_MAX_SEGMENTS, GSO_MAX_SEGMENTS..GSO_MAX_SEGMENTS + 1]
        );
        let big = vec![(a, 1400); 50];
        let runs = runs_of(&big);
        assert!(runs.iter().all(|r| r.len() * 1400 <= GSO_MAX_BYTES));
        assert_eq!(runs.iter().map(|r| r.len()).sum::<usize>(), 50);
    }
}
