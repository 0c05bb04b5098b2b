//! A TCP proxy in front of the emulator, to cut the network without touching the emulator
//! (which forgets its topics when restarted): `down` refuses new connections and cuts the
//! open ones, `up` lets them through again on the same port.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

/// How often the accept loop looks at its stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(10);

/// Forwards connections on its own loopback port to `127.0.0.1:target`.
pub struct Proxy {
    port: u16,
    target: u16,
    running: Option<Running>,
}

struct Running {
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    accept: thread::JoinHandle<()>,
}

impl Proxy {
    /// A proxy to `target`, up.
    pub fn new(target: u16) -> Proxy {
        let mut proxy = Proxy {
            port: super::emulator::free_port(),
            target,
            running: None,
        };
        proxy.up();
        proxy
    }

    /// "127.0.0.1:PORT" of the proxy, for `PUBSUB_EMULATOR_HOST`.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Listens again and forwards.
    pub fn up(&mut self) {
        if self.running.is_some() {
            return;
        }
        let listener = bind_again(self.port);
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (flag, conns, target) = (Arc::clone(&stop), Arc::clone(&open), self.target);
        let accept = thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => forward(client, target, &conns),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(ACCEPT_POLL),
                    Err(_) => thread::sleep(ACCEPT_POLL),
                }
            }
        });
        self.running = Some(Running { stop, open, accept });
    }

    /// Stops listening (connections are refused) and cuts every open connection.
    pub fn down(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        running.stop.store(true, Ordering::Relaxed);
        let _ = running.accept.join();
        let open =
            std::mem::take(&mut *running.open.lock().unwrap_or_else(PoisonError::into_inner));
        for stream in open {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
    }
}

/// Binds `port` again, waiting out a moment of TIME_WAIT or a slow close.
fn bind_again(port: u16) -> TcpListener {
    for _ in 0..200 {
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            return listener;
        }
        thread::sleep(ACCEPT_POLL);
    }
    panic!("proxy: port {port} stays taken");
}

/// Connects `client` to the target and copies both ways on two threads; a refused target
/// closes the client, like an unreachable server would.
fn forward(client: TcpStream, target: u16, open: &Mutex<Vec<TcpStream>>) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
        let mut open = open.lock().unwrap_or_else(PoisonError::into_inner);
        open.push(c);
        open.push(s);
    }
    thread::spawn(move || copy(client, server));
    thread::spawn(move || copy(server2, client2));
}

/// Copies until either side ends, then shuts both down.
fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
