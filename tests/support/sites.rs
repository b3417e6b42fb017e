//! Stand-ins for the sites real cafeterias run on, all on 127.0.0.1: a small HTTP server
//! with a handler per request (cookies, 403s, login pages, redirects), a forward/CONNECT
//! proxy, `openssl s_server` behind a connection-counting TCP relay, and certificates made
//! at run time with the `openssl` CLI (a private root, an intermediate, leaves; nothing
//! committed).
//!
//! I/O: loopback listeners on detached threads; `openssl` child processes killed on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `CONNECT`…
    pub method: String,
    /// The request target as sent (`/menu`, or `http://host/menu` through a proxy).
    pub target: String,
    /// The head (request line and headers), lowercased.
    pub head: String,
}

impl Request {
    /// The value of a header (name lowercase), if sent.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_string())
        })
    }
}

/// An answer: status, extra headers, body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn html(body: impl Into<String>) -> Answer {
        Answer {
            status: 200,
            headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
            body: body.into(),
        }
    }

    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn with(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = dyn Fn(&Request) -> Answer + Send + Sync;

/// An HTTP/1.1 server on 127.0.0.1 (one connection per request; `CONNECT` is tunnelled to
/// `tunnel_to` when set, as a proxy does).
pub struct Site {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Site {
    pub fn start(handler: impl Fn(&Request) -> Answer + Send + Sync + 'static) -> Site {
        Site::start_proxy(None, handler)
    }

    /// A server that also tunnels `CONNECT` to `tunnel_to`.
    pub fn start_proxy(
        tunnel_to: Option<SocketAddr>,
        handler: impl Fn(&Request) -> Answer + Send + Sync + 'static,
    ) -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = seen.clone();
        let handler: Arc<Handler> = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, handler) = (shared.clone(), handler.clone());
                std::thread::spawn(move || serve(stream, &seen, &*handler, tunnel_to));
            }
        });
        Site { addr, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn serve(
    stream: TcpStream,
    seen: &Mutex<Vec<Request>>,
    handler: &Handler,
    tunnel_to: Option<SocketAddr>,
) {
    let mut reader = BufReader::new(&stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push_str(&line),
        }
    }
    let mut words = head.split_whitespace();
    let request = Request {
        method: words.next().unwrap_or_default().to_string(),
        target: words.next().unwrap_or_default().to_string(),
        head: head.to_lowercase(),
    };
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(request.clone());
    if request.method == "CONNECT" {
        if let Some(to) = tunnel_to {
            let mut client = stream;
            let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
            if let Ok(server) = TcpStream::connect(to) {
                splice(client, server);
            }
        }
        return;
    }
    let answer = handler(&request);
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        answer.body.len()
    );
    for (name, value) in &answer.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&answer.body);
    let mut stream = stream;
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
}

/// Copy both ways until either side closes.
fn splice(a: TcpStream, b: TcpStream) {
    let (mut a_read, mut b_write) = (a.try_clone().expect("clone"), b.try_clone().expect("clone"));
    let forward = std::thread::spawn(move || {
        let _ = std::io::copy(&mut a_read, &mut b_write);
        let _ = b_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut b_read, mut a_write) = (b, a);
    let _ = std::io::copy(&mut b_read, &mut a_write);
    let _ = a_write.shutdown(std::net::Shutdown::Write);
    let _ = forward.join();
}

/// A TCP relay on 127.0.0.1 in front of `backend` that counts the connections it accepts.
pub struct Relay {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Relay {
    pub fn start(backend: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    if let Ok(server) = TcpStream::connect(backend) {
                        splice(stream, server);
                    }
                });
            }
        });
        Relay { addr, accepted }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Run `openssl` with `args` in `dir`, panicking with its output if it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command (scripts/test.sh installs it)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Certificates made in a temp dir: file names are relative to [`Pki::dir`].
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).expect("pki dir");
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A self-signed RSA certificate for 127.0.0.1, `localhost` and `menu.invalid`, made
    /// the common way (`openssl req -x509`, which marks it `CA:TRUE`): `{name}.pem`,
    /// `{name}.key`.
    pub fn self_signed(&self, name: &str) {
        self.self_signed_for(name, "IP:127.0.0.1,DNS:localhost,DNS:menu.invalid");
    }

    /// A self-signed certificate for the names in `san` (`DNS:other.test`).
    pub fn self_signed_for(&self, name: &str, san: &str) {
        let san = format!("subjectAltName={san}");
        openssl(
            &self.dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=menu.test self-signed",
                "-addext",
                &san,
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }

    /// A private root (`root.pem`), an intermediate (`int.pem`, `int.der`) and a leaf for
    /// 127.0.0.1 (`leaf.pem`, `leaf.key`) whose AIA `caIssuers` URL is `aia_url`.
    pub fn chain(&self, aia_url: &str) {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut root = vec![
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=Cafeteria Test Root",
        ];
        root.extend(ec);
        root.extend([
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
        ]);
        openssl(&self.dir, &root);
        let write = |name: &str, text: &str| {
            std::fs::write(self.dir.join(name), text).expect("write an extension file");
        };
        write(
            "int.ext",
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        );
        write(
            "leaf.ext",
            &format!(
                "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nauthorityKeyIdentifier=keyid\nauthorityInfoAccess=caIssuers;URI:{aia_url}\n"
            ),
        );
        for (name, subject, issuer) in [
            ("int", "/CN=Cafeteria Test Intermediate", "root"),
            ("leaf", "/CN=127.0.0.1", "int"),
        ] {
            let mut csr = vec!["req", "-new", "-subj", subject];
            csr.extend(ec);
            let (key, csr_file, pem, ext) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.pem"),
                format!("{name}.ext"),
            );
            csr.extend(["-keyout", &key, "-out", &csr_file]);
            openssl(&self.dir, &csr);
            let (ca, ca_key) = (format!("{issuer}.pem"), format!("{issuer}.key"));
            openssl(
                &self.dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr_file,
                    "-CA",
                    &ca,
                    "-CAkey",
                    &ca_key,
                    "-set_serial",
                    if name == "int" { "1001" } else { "1002" },
                    "-days",
                    "2",
                    "-extfile",
                    &ext,
                    "-out",
                    &pem,
                ],
            );
        }
        openssl(
            &self.dir,
            &[
                "x509", "-in", "int.pem", "-outform", "DER", "-out", "int.der",
            ],
        );
    }
}

/// `openssl s_server -WWW` serving the files of `root` over TLS on 127.0.0.1, with extra
/// arguments (`-cert`, `-cipher`…); killed on drop.
pub struct TlsServer {
    pub addr: SocketAddr,
    child: Child,
}

impl TlsServer {
    pub fn start(root: &Path, args: &[&str]) -> TlsServer {
        let mut child = Command::new("openssl")
            .args(["s_server", "-accept", "127.0.0.1:0", "-WWW"])
            .args(args)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server (scripts/test.sh installs openssl)");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout);
        let mut addr = None;
        let mut line = String::new();
        while addr.is_none() {
            line.clear();
            if lines.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            addr = line
                .trim()
                .strip_prefix("ACCEPT ")
                .and_then(|a| a.parse::<SocketAddr>().ok());
        }
        let addr = addr.expect("openssl s_server printed the address it listens on");
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = lines.read_to_end(&mut sink);
        });
        TlsServer { addr, child }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
