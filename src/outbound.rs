//! Where the server may send the requests it makes for an app (result callbacks), and the HTTP
//! client that holds it to that.
//!
//! A callback URL is chosen by an app admin, so the server must not become a way into its own
//! network. The check happens where the connection is made: the client's resolver refuses a name
//! that resolves to any internal address, so the address checked is the address connected to. A
//! check before sending followed by a second lookup inside the HTTP client would let a DNS server
//! answer "public" to the first and "127.0.0.1" to the second (DNS rebinding). IP-literal hosts
//! never reach a resolver and are checked by [`vet`] before each request. Redirects are not
//! followed, proxies from the environment (`HTTP_PROXY`, ...) are ignored, since a proxy would resolve
//! the name itself, unless `callback.proxy` names one (which must then enforce its own egress
//! rules), and answers' bodies are never read.

use crate::config::CallbackSettings;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Addresses a callback must never be sent to: loopback, private, link-local, shared, reserved,
/// documentation and benchmarking ranges, and IPv6 prefixes that lead to IPv4 (mapped,
/// compatible, NAT64, 6to4, Teredo), whatever IPv4 address they embed.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || o[0] >= 240 // reserved
                || (o[0] == 100 && (64..128).contains(&o[1])) // carrier-grade NAT
                || (o[0] == 198 && (18..20).contains(&o[1])) // benchmarking
                || (o[0], o[1], o[2]) == (192, 0, 0) // IETF protocol assignments
                || (o[0], o[1], o[2]) == (192, 0, 2) // documentation
                || (o[0], o[1], o[2]) == (198, 51, 100)
                || (o[0], o[1], o[2]) == (203, 0, 113)
                || (o[0], o[1], o[2]) == (192, 88, 99) // 6to4 relay anycast
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
                || (s[0], s[1]) == (0x64, 0xff9b) // NAT64, well-known and local-use prefixes
                || s[0] == 0x2002 // 6to4
                || (s[0], s[1]) == (0x2001, 0) // Teredo
                || (s[0], s[1]) == (0x2001, 0xdb8) // documentation
                || (s[0], s[1], s[2], s[3]) == (0x100, 0, 0, 0) // discard
                || s[..6] == [0; 6] // IPv4-compatible (::a.b.c.d)
        }
    }
}

/// Why a destination was refused; found in a failed request's error chain by [`error_class`].
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, an internal address; callbacks go to public addresses only")]
pub struct Refused {
    pub host: String,
    pub ip: IpAddr,
}

/// Why a callback URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum VetError {
    #[error("{0}")]
    Invalid(String),
    #[error("CallbackUrl host {0} does not resolve")]
    Unresolvable(String),
    #[error("CallbackUrl host {0}")]
    Internal(Refused),
}

impl VetError {
    /// The delivery log's words for it.
    pub fn class(&self) -> &'static str {
        match self {
            VetError::Invalid(_) => "refused: not a callback URL",
            VetError::Unresolvable(_) => "refused: does not resolve",
            VetError::Internal(_) => "refused: internal address",
        }
    }
}

/// Refuses `host` whole if any of its addresses is internal (a name with one internal address
/// could be made to connect there).
fn refuse_internal(host: &str, addrs: &[SocketAddr], allow_private: bool) -> Result<(), Refused> {
    match addrs.iter().find(|a| !allow_private && is_internal(a.ip())) {
        Some(a) => Err(Refused {
            host: host.to_owned(),
            ip: a.ip(),
        }),
        None => Ok(()),
    }
}

/// Resolves `host` and checks its addresses with [`refuse_internal`].
pub async fn resolve(host: &str, port: u16, allow_private: bool) -> Result<Vec<SocketAddr>, VetError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|_| VetError::Unresolvable(host.to_owned()))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(VetError::Unresolvable(host.to_owned()));
    }
    refuse_internal(host, &addrs, allow_private).map_err(VetError::Internal)?;
    Ok(addrs)
}

/// The HTTP client's resolver: every connection's addresses pass [`is_internal`].
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            refuse_internal(&host, &addrs, allow_private)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The client for callbacks: bounded time, no redirects, the guarded resolver, no proxy unless
/// configured.
pub fn client(settings: &CallbackSettings) -> reqwest::Result<reqwest::Client> {
    let timeout = Duration::from_secs(settings.timeout_secs.max(1));
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("localrecord/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(GuardedResolver {
            allow_private: settings.allow_private,
        }));
    b = match &settings.proxy {
        Some(p) => b.proxy(reqwest::Proxy::all(p)?),
        None => b.no_proxy(),
    };
    b.build()
}

/// Parses a callback URL: http(s), a host, at most 2048 characters.
pub fn parse(raw: &str) -> Result<reqwest::Url, String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 2048 {
        return Err("CallbackUrl must be a URL of at most 2048 characters".into());
    }
    let url = reqwest::Url::parse(raw).map_err(|e| format!("CallbackUrl is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("CallbackUrl must be http:// or https://".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("CallbackUrl must not carry credentials; callbacks are signed instead".into());
    }
    match url.host_str() {
        Some(h) if !h.is_empty() => Ok(url),
        _ => Err("CallbackUrl has no host".into()),
    }
}

/// Parses `raw` and checks where it leads now: at registration (to refuse early) and before each
/// delivery (IP literals, which the resolver never sees).
pub async fn vet(raw: &str, allow_private: bool) -> Result<reqwest::Url, VetError> {
    let url = parse(raw).map_err(VetError::Invalid)?;
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    resolve(host, port, allow_private).await?;
    Ok(url)
}

/// What the delivery log says of a failed request: a class, never the transport's own words,
/// which would tell an admin what answers at an address (a port scanner) and may echo secrets.
pub fn error_class(e: &reqwest::Error) -> &'static str {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if s.downcast_ref::<Refused>().is_some() {
            return "refused: internal address";
        }
        src = s.source();
    }
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "192.0.0.8",
            "240.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",  // NAT64 of 169.254.169.254
            "64:ff9b::808:808",    // NAT64 of a public address: still the local gateway's
            "64:ff9b:1::1",        // NAT64 local-use
            "2002:7f00:1::1",      // 6to4 of 127.0.0.1
            "2001:0:4136:e378::1", // Teredo
            "2001:db8::1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:2800:220:1:248:1893:25c8:1946",
            "2a00:1450::1",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_with_credentials_or_other_schemes_are_refused() {
        assert!(parse("https://user:pw@example.com/cb").is_err());
        assert!(parse("file:///etc/passwd").is_err());
        assert!(parse("gopher://example.com").is_err());
        assert!(parse("https://example.com/cb").is_ok());
    }

    /// The client itself refuses a name that resolves to an internal address at connect time, so
    /// a name that passed an earlier check and now points inside (DNS rebinding) reaches nothing.
    #[tokio::test]
    async fn the_client_refuses_internal_addresses_when_it_connects() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let settings = CallbackSettings {
            allow_private: false,
            retry_schedule_secs: vec![0],
            timeout_secs: 5,
            proxy: None,
        };
        let c = client(&settings).unwrap();
        let err = c
            .post(format!("http://localhost:{port}/cb"))
            .send()
            .await
            .expect_err("localhost is internal");
        assert_eq!(error_class(&err), "refused: internal address", "{err:?}");
        let accepted = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
        assert!(accepted.is_err(), "the client connected to an internal address");

        // Proxies from the environment are ignored: the request neither went through one nor
        // connected anywhere.
        let open = client(&CallbackSettings {
            allow_private: true,
            ..settings
        })
        .unwrap();
        let served = tokio::spawn(async move { listener.accept().await.map(|_| ()) });
        let _ = open.post(format!("http://localhost:{port}/cb")).send().await;
        assert!(served.await.unwrap().is_ok(), "allow_private lets the client connect");
    }
}
