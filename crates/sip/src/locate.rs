//! Finding the server of a SIP domain (RFC 3263): NAPTR → SRV → A/AAAA. The choices are pure
//! functions over records (tested without a resolver); the lookups are a thin layer over
//! hickory-resolver.

use std::io;
use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{Resolver, TokioResolver};
use rand::Rng;

use crate::flow::Transport;

/// Where to send, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    pub transport: Transport,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaptrRecord {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub services: String,
    pub replacement: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// The SRV name for `transport` at `domain` (RFC 3263 §4.1).
pub fn srv_name(transport: Transport, domain: &str) -> String {
    let prefix = match transport {
        Transport::Udp => "_sip._udp",
        Transport::Tcp => "_sip._tcp",
        Transport::Tls => "_sips._tcp",
    };
    format!("{prefix}.{}", domain.trim_end_matches('.'))
}

/// NAPTR records as (transport, SRV name), best first: only terminal "s" records for services
/// we speak, and only `wanted` when the caller insists on a transport.
pub fn order_naptr(records: &[NaptrRecord], wanted: Option<Transport>) -> Vec<(Transport, String)> {
    let mut usable: Vec<(&NaptrRecord, Transport)> = records
        .iter()
        .filter(|r| r.flags.eq_ignore_ascii_case("s"))
        .filter_map(|r| {
            let transport = match r.services.to_ascii_uppercase().as_str() {
                "SIP+D2U" => Transport::Udp,
                "SIP+D2T" => Transport::Tcp,
                "SIPS+D2T" => Transport::Tls,
                _ => return None,
            };
            (wanted.is_none() || wanted == Some(transport)).then_some((r, transport))
        })
        .collect();
    usable.sort_by_key(|(r, _)| (r.order, r.preference));
    usable
        .into_iter()
        .map(|(r, t)| (t, r.replacement.trim_end_matches('.').to_string()))
        .collect()
}

/// SRV records as (host, port), best first: lowest priority first, and within a priority a
/// weighted random order (RFC 2782). A target of "." means "not here".
pub fn order_srv(records: &[SrvRecord], rng: &mut impl Rng) -> Vec<(String, u16)> {
    let mut left: Vec<&SrvRecord> = records
        .iter()
        .filter(|r| !r.target.trim_end_matches('.').is_empty())
        .collect();
    left.sort_by_key(|r| r.priority);
    let mut out = Vec::new();
    while let Some(first) = left.first() {
        let priority = first.priority;
        let mut group: Vec<&SrvRecord> = left
            .iter()
            .copied()
            .filter(|r| r.priority == priority)
            .collect();
        left.retain(|r| r.priority != priority);
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            let pick = if total == 0 {
                0
            } else {
                let mut n = rng.gen_range(0..=total);
                group
                    .iter()
                    .position(|r| {
                        let w = u32::from(r.weight);
                        if n <= w {
                            true
                        } else {
                            n -= w;
                            false
                        }
                    })
                    .unwrap_or(0)
            };
            let r = group.remove(pick);
            out.push((r.target.trim_end_matches('.').to_string(), r.port));
        }
    }
    out
}

/// A resolver: the system's, or (tests, special networks) one DNS server.
pub fn resolver(server: Option<SocketAddr>) -> io::Result<TokioResolver> {
    match server {
        Some(addr) => {
            let mut config = ResolverConfig::new();
            config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
            let mut opts = ResolverOpts::default();
            opts.attempts = 2;
            Ok(
                Resolver::builder_with_config(config, TokioConnectionProvider::default())
                    .with_options(opts)
                    .build(),
            )
        }
        None => Resolver::builder_tokio()
            .map(|b| b.build())
            .map_err(|e| io::Error::other(e.to_string())),
    }
}

/// The servers for `host` (RFC 3263 §4), best first. `port` and `transport` are what the
/// account says; each one given skips a step of the lookup.
pub async fn locate(
    resolver: &TokioResolver,
    host: &str,
    port: Option<u16>,
    transport: Option<Transport>,
) -> io::Result<Vec<Target>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        let transport = transport.unwrap_or_default();
        let port = port.unwrap_or(transport.default_port());
        return Ok(vec![Target {
            addr: SocketAddr::new(ip, port),
            transport,
        }]);
    }
    if let Some(port) = port {
        let transport = transport.unwrap_or_default();
        return addresses(resolver, host, port, transport).await;
    }
    // Which transports, in which order: NAPTR when none was asked for, else just that one.
    let mut services = Vec::new();
    if transport.is_none() {
        if let Ok(lookup) = resolver.lookup(fqdn(host), RecordType::NAPTR).await {
            let records: Vec<NaptrRecord> = lookup
                .iter()
                .filter_map(|r| match r {
                    RData::NAPTR(n) => Some(NaptrRecord {
                        order: n.order(),
                        preference: n.preference(),
                        flags: String::from_utf8_lossy(n.flags()).into_owned(),
                        services: String::from_utf8_lossy(n.services()).into_owned(),
                        replacement: n.replacement().to_utf8(),
                    }),
                    _ => None,
                })
                .collect();
            services = order_naptr(&records, None);
        }
    }
    if services.is_empty() {
        let candidates = match transport {
            Some(t) => vec![t],
            None => vec![Transport::Udp, Transport::Tcp, Transport::Tls],
        };
        services = candidates
            .into_iter()
            .map(|t| (t, srv_name(t, host)))
            .collect();
    }
    let mut targets = Vec::new();
    for (t, name) in services {
        let Ok(lookup) = resolver.srv_lookup(fqdn(&name)).await else {
            continue;
        };
        let records: Vec<SrvRecord> = lookup
            .iter()
            .map(|s| SrvRecord {
                priority: s.priority(),
                weight: s.weight(),
                port: s.port(),
                target: s.target().to_utf8(),
            })
            .collect();
        // Ordered before any await: the thread's RNG must not be held across one.
        let ordered = order_srv(&records, &mut rand::thread_rng());
        for (target, port) in ordered {
            if let Ok(found) = addresses(resolver, &target, port, t).await {
                targets.extend(found);
            }
        }
        if !targets.is_empty() && transport.is_none() {
            // The best transport that resolves wins; the others are not fallbacks for it.
            break;
        }
    }
    if targets.is_empty() {
        let t = transport.unwrap_or_default();
        targets = addresses(resolver, host, t.default_port(), t).await?;
    }
    Ok(targets)
}

async fn addresses(
    resolver: &TokioResolver,
    host: &str,
    port: u16,
    transport: Transport,
) -> io::Result<Vec<Target>> {
    let ips: Vec<IpAddr> = match resolver.lookup_ip(fqdn(host)).await {
        Ok(found) => found.iter().collect(),
        // /etc/hosts and other NSS sources the resolver may not read.
        Err(_) => tokio::net::lookup_host((host, port))
            .await?
            .map(|a| a.ip())
            .collect(),
    };
    if ips.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} has no address"),
        ));
    }
    Ok(ips
        .into_iter()
        .map(|ip| Target {
            addr: SocketAddr::new(ip, port),
            transport,
        })
        .collect())
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn naptr(order: u16, pref: u16, flags: &str, services: &str, to: &str) -> NaptrRecord {
        NaptrRecord {
            order,
            preference: pref,
            flags: flags.into(),
            services: services.into(),
            replacement: to.into(),
        }
    }

    #[test]
    fn naptr_order_then_preference_and_only_what_we_speak() {
        let records = [
            naptr(50, 50, "s", "SIP+D2U", "_sip._udp.example.com."),
            naptr(90, 50, "s", "SIP+D2T", "_sip._tcp.example.com."),
            naptr(50, 10, "s", "SIPS+D2T", "_sips._tcp.example.com."),
            naptr(10, 10, "s", "SIP+D2S", "_sip._sctp.example.com."),
            naptr(10, 10, "u", "E2U+sip", "!^.*$!sip:info@example.com!"),
        ];
        assert_eq!(
            order_naptr(&records, None),
            vec![
                (Transport::Tls, "_sips._tcp.example.com".to_string()),
                (Transport::Udp, "_sip._udp.example.com".to_string()),
                (Transport::Tcp, "_sip._tcp.example.com".to_string()),
            ]
        );
        assert_eq!(
            order_naptr(&records, Some(Transport::Tcp)),
            vec![(Transport::Tcp, "_sip._tcp.example.com".to_string())]
        );
    }

    #[test]
    fn srv_priority_first_then_weight() {
        let srv = |priority, weight, port, target: &str| SrvRecord {
            priority,
            weight,
            port,
            target: target.into(),
        };
        let records = [
            srv(20, 0, 5060, "backup.example.com."),
            srv(10, 60, 5060, "a.example.com."),
            srv(10, 40, 5070, "b.example.com."),
            srv(5, 0, 5060, "."),
        ];
        let mut firsts = std::collections::HashMap::new();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..2000 {
            let order = order_srv(&records, &mut rng);
            assert_eq!(order.len(), 3, "the '.' target is dropped");
            assert_eq!(order[2], ("backup.example.com".to_string(), 5060));
            *firsts.entry(order[0].0.clone()).or_insert(0) += 1;
        }
        // Weighted 60/40 within priority 10.
        let a = firsts["a.example.com"] as f64 / 2000.0;
        assert!((0.55..0.65).contains(&a), "{a}");
    }

    #[test]
    fn srv_names_per_transport() {
        assert_eq!(
            srv_name(Transport::Udp, "example.com"),
            "_sip._udp.example.com"
        );
        assert_eq!(
            srv_name(Transport::Tcp, "example.com."),
            "_sip._tcp.example.com"
        );
        assert_eq!(
            srv_name(Transport::Tls, "example.com"),
            "_sips._tcp.example.com"
        );
    }
}
