//! Ports for the tests. Every test binds port 0 and uses what it got: tests of all areas
//! run at once in one process, so a fixed port would collide. A port that must refuse is
//! held bound (never listening) for as long as it is needed, so no other test takes it.
#![allow(dead_code)] // each area uses a part

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};

/// A TCP port free on `ip` right now (for a peer that binds it itself).
pub fn free_port(ip: IpAddr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An address on `ip` whose port is free for both UDP and TCP (a DNS server needs both).
pub fn free_addr(ip: IpAddr) -> SocketAddr {
    for _ in 0..50 {
        let udp = UdpSocket::bind(SocketAddr::new(ip, 0)).unwrap();
        let addr = udp.local_addr().unwrap();
        if TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
    panic!("no port free for UDP and TCP on {ip}");
}

/// Whether `addr` is free for both UDP and TCP.
pub fn port_free(addr: SocketAddr) -> bool {
    UdpSocket::bind(addr).is_ok() && TcpListener::bind(addr).is_ok()
}

/// A TCP port free on every one of `ips` (for servers of one set: the URL names one port).
pub fn common_port(ips: &[IpAddr]) -> u16 {
    common_listeners(ips).0
}

/// Listeners on one port of every address of `ips`, bound and kept. Prefer it to
/// [`common_port`]: between that check and a later bind another test can take the port
/// (a CI run's `AddrInUse` in `crash_kill9`).
pub fn common_listeners(ips: &[IpAddr]) -> (u16, Vec<TcpListener>) {
    'search: for _ in 0..50 {
        let first = TcpListener::bind(SocketAddr::new(ips[0], 0)).unwrap();
        let port = first.local_addr().unwrap().port();
        let mut all = vec![first];
        for ip in &ips[1..] {
            match TcpListener::bind(SocketAddr::new(*ip, port)) {
                Ok(listener) => all.push(listener),
                Err(_) => continue 'search,
            }
        }
        return (port, all);
    }
    panic!("no port free on all of {ips:?}");
}

/// A TCP port on `ip` that refuses connections for as long as the socket is held: bound
/// (so no other test takes it) but never listening.
pub fn refusing_port(ip: IpAddr) -> (socket2::Socket, u16) {
    let domain = match ip {
        IpAddr::V4(_) => socket2::Domain::IPV4,
        IpAddr::V6(_) => socket2::Domain::IPV6,
    };
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(ip, 0).into()).unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    (socket, port)
}

/// A UDP socket on `ip` that never reads: datagrams sent to its port get no answer (and
/// no ICMP "port unreachable"), for as long as it is held.
pub fn silent_udp(ip: IpAddr) -> (UdpSocket, u16) {
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

/// A UDP port on `ip` where nothing listens right now (the socket is closed again), so a
/// datagram sent there gets an ICMP "port unreachable". Unlike a TCP port it cannot be held
/// closed; another test's port 0 could take it, but the kernel picks those at random from
/// ~28,000, and a test using this one only needs its queries to fail.
pub fn closed_udp_port(ip: IpAddr) -> u16 {
    UdpSocket::bind(SocketAddr::new(ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
