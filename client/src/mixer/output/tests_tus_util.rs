//! What the tus tests share: the real @tus/server 2 with its @tus/file-store 2 under node (from
//! LOCALRECORD_TEST_NODE_MODULES, which `deploy/localrecord.sh test` installs), reading what the
//! file store holds, and a TCP proxy that cuts one connection part way.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// @tus/server on a loopback port (`path: '/files'`) storing into TUS_DIR; prints its port.
const SERVER: &str = r#"
import http from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
const load = (p) => import(pathToFileURL(join(process.env.LOCALRECORD_TEST_NODE_MODULES, p)).href);
const { Server } = await load('@tus/server/dist/index.js');
const { FileStore } = await load('@tus/file-store/dist/index.js');
const tus = new Server({
  path: '/files',
  relativeLocation: process.env.TUS_RELATIVE === '1',
  datastore: new FileStore({ directory: process.env.TUS_DIR }),
});
const srv = http.createServer((req, res) => tus.handle(req, res));
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
"#;

/// Where @tus/server and @tus/file-store are. Missing is a failure, not a skip: these tests are
/// the only proof the recorder speaks tus to a server other than ours.
fn node_modules() -> PathBuf {
    let dir = std::env::var_os("LOCALRECORD_TEST_NODE_MODULES").unwrap_or_else(|| {
        panic!(
            "LOCALRECORD_TEST_NODE_MODULES is not set: the tus upload tests run the real @tus/server \
             under node; run `deploy/localrecord.sh test` (installs it into target/tools/node) or \
             export LOCALRECORD_TEST_NODE_MODULES=<dir>/node_modules holding @tus/server@2 and \
             @tus/file-store@2"
        )
    });
    let dir = PathBuf::from(dir);
    for p in ["@tus/server", "@tus/file-store"] {
        assert!(
            dir.join(p).join("package.json").exists(),
            "no {p} in {} (LOCALRECORD_TEST_NODE_MODULES); run deploy/localrecord.sh test",
            dir.display()
        );
    }
    dir
}

/// The node process; killed on drop.
pub struct Node(std::process::Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts @tus/server storing into `files`; its creation URL `http://127.0.0.1:PORT/files`.
/// `relative`: it answers `Location: /files/ID` instead of an absolute URL.
pub fn tus_server(files: &Path, relative: bool) -> (Node, String) {
    std::fs::create_dir_all(files).unwrap();
    let mut child = std::process::Command::new("node")
        .args(["--input-type=module", "-e", SERVER])
        .env("LOCALRECORD_TEST_NODE_MODULES", node_modules())
        .env("TUS_DIR", files)
        .env("TUS_RELATIVE", if relative { "1" } else { "0" })
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node on PATH (deploy/localrecord.sh test installs it)");
    let out = child.stdout.take().unwrap();
    let node = Node(child);
    let mut line = String::new();
    std::io::BufReader::new(out).read_line(&mut line).unwrap();
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("@tus/server did not start: {line:?}"));
    (node, format!("http://127.0.0.1:{port}/files"))
}

/// What the file store holds: each upload's bytes by its `filename` metadata.
pub fn stored(files: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for f in std::fs::read_dir(files).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let info: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let id = info["id"].as_str().unwrap();
        let name = info["metadata"]["filename"].as_str().unwrap().to_owned();
        let bytes = std::fs::read(files.join(id)).unwrap();
        assert_eq!(Some(bytes.len() as u64), info["size"].as_u64(), "{name}: {info}");
        assert!(out.insert(name.clone(), bytes).is_none(), "{name} uploaded twice");
    }
    out
}

/// What the proxy did: bytes it forwarded to the server, and whether it made its one cut.
#[derive(Default)]
pub struct Cut {
    pub forwarded: AtomicU64,
    pub done: AtomicBool,
    at: u64,
}

/// A TCP proxy in front of the server at `base`; returns the same URL through it. Once the
/// bytes sent to the server would pass `cut_at`, it drops both sides of that connection, once.
pub fn cut_proxy(rt: &tokio::runtime::Runtime, base: &str, cut_at: u64) -> (Arc<Cut>, String) {
    let url = reqwest::Url::parse(base).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let cut = Arc::new(Cut {
        at: cut_at,
        ..Default::default()
    });
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let c = cut.clone();
    rt.spawn(async move {
        while let Ok((down, _)) = listener.accept().await {
            tokio::spawn(pipe(down, upstream.clone(), c.clone()));
        }
    });
    (cut, format!("http://{addr}{}", url.path()))
}

async fn pipe(down: tokio::net::TcpStream, upstream: String, cut: Arc<Cut>) {
    let Ok(up) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    let (mut dr, mut dw) = down.into_split();
    let (mut ur, mut uw) = up.into_split();
    let back = tokio::spawn(async move { tokio::io::copy(&mut ur, &mut dw).await });
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = match dr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let sent = cut.forwarded.load(Ordering::SeqCst);
        if sent + n as u64 > cut.at && !cut.done.swap(true, Ordering::SeqCst) {
            break; // both halves drop: the client sees its request fail, the server a short body
        }
        if uw.write_all(&buf[..n]).await.is_err() {
            break;
        }
        cut.forwarded.fetch_add(n as u64, Ordering::SeqCst);
    }
    back.abort();
}
