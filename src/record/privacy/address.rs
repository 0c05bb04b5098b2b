//! Client addresses: reading one (IPv4, IPv6, IPv4-mapped IPv6, with or without a port),
//! zeroing its host part, and the canonical text its pseudonym is made of; and the entries
//! of a forwarded-for list (`X-Forwarded-For: client, proxy1, proxy2`).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The prefix lengths `truncate` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefixes {
    /// Bits of an IPv4 address kept (0 to 32); an IPv4-mapped IPv6 address too.
    pub v4: u8,
    /// Bits of an IPv6 address kept (0 to 128).
    pub v6: u8,
}

/// `text` as an address: `192.0.2.1`, `2001:db8::1`, and the same with a port as proxies
/// write them (`192.0.2.1:8080`, `[2001:db8::1]:443`, `[2001:db8::1]`). `None` for
/// anything else (a host name, `unknown`, garbage).
pub(super) fn parse(text: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(text).ok()?;
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Some(addr);
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let (host, port) = text.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `addr` with all but its first `prefixes` bits zeroed; an IPv4-mapped IPv6 address keeps
/// its form and the IPv4 prefix.
pub(super) fn truncate(addr: IpAddr, prefixes: Prefixes) -> IpAddr {
    let keep32 = |v4: Ipv4Addr| Ipv4Addr::from(u32::from(v4) & mask32(prefixes.v4));
    match addr {
        IpAddr::V4(v4) => IpAddr::V4(keep32(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V6(keep32(v4).to_ipv6_mapped()),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(prefixes.v6))),
        },
    }
}

fn mask32(bits: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(bits.min(32)))
        .unwrap_or(0)
}

fn mask128(bits: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(bits.min(128)))
        .unwrap_or(0)
}

/// Appends the text of `addr` that is hashed: its canonical form (RFC 5952 for IPv6), an
/// IPv4-mapped IPv6 address as its IPv4 (so a dual-stack listener's `::ffff:192.0.2.1` and
/// `192.0.2.1` are one client).
pub(super) fn canonical(addr: IpAddr, out: &mut Vec<u8>) {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    write_addr(addr, out);
}

/// Appends `addr` as text (`Display`'s, with IPv4 written without the formatter: most
/// addresses are IPv4).
pub(super) fn write_addr(addr: IpAddr, out: &mut Vec<u8>) {
    match addr {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
        }
        // Writing to a Vec cannot fail.
        IpAddr::V6(_) => {
            let _ = write!(out, "{addr}");
        }
    }
}

/// The entries of a forwarded-for list: split at commas, blanks around them taken off,
/// empty ones skipped. Of an RFC 7239 `Forwarded` element (`for=192.0.2.60;proto=http`),
/// the entry is its `for` value, without the quotes an IPv6 address takes (which httpd
/// logs as `\"`).
pub(super) fn entries(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&b| b == b',')
        .map(|e| forwarded_for(e.trim_ascii()))
        .filter(|e| !e.is_empty())
}

/// The `for` value of a `Forwarded` element, unquoted; `entry` itself when it has none.
fn forwarded_for(entry: &[u8]) -> &[u8] {
    let pairs = entry.split(|&b| b == b';').map(<[u8]>::trim_ascii);
    let found = pairs.into_iter().find_map(|pair| {
        let (name, value) = pair.split_at_checked(4)?;
        name.eq_ignore_ascii_case(b"for=").then_some(value)
    });
    let Some(value) = found else {
        return entry;
    };
    unquoted(value).unwrap_or(value).trim_ascii()
}

/// `value` without the quotes around it, raw (`"`) or as httpd escapes them (`\"`).
fn unquoted(value: &[u8]) -> Option<&[u8]> {
    let quote: &[u8] = if value.starts_with(b"\\\"") {
        b"\\\""
    } else {
        b"\""
    };
    value.strip_prefix(quote)?.strip_suffix(quote)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(addr: IpAddr) -> String {
        addr.to_string()
    }

    fn cut(s: &str, v4: u8, v6: u8) -> String {
        let addr = parse(s.as_bytes()).expect("an address");
        text(truncate(addr, Prefixes { v4, v6 }))
    }

    #[test]
    fn addresses_with_and_without_ports() {
        assert_eq!(parse(b"192.0.2.1").map(text).as_deref(), Some("192.0.2.1"));
        assert_eq!(
            parse(b"192.0.2.1:8080").map(text).as_deref(),
            Some("192.0.2.1")
        );
        assert_eq!(
            parse(b"2001:db8::1").map(text).as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            parse(b"[2001:db8::1]:443").map(text).as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            parse(b"[2001:db8::1]").map(text).as_deref(),
            Some("2001:db8::1")
        );
        for not_one in [
            &b"host.example.com"[..],
            b"unknown",
            b"-",
            b"",
            b"_hidden",
            b"192.0.2",
            b"192.0.2.1:",
            b"192.0.2.1:99999999",
            b"[2001:db8::1]x",
            b"[192.0.2.1]:80",
            b"1.2.3.4 5.6.7.8",
            b"\xff\xfe",
        ] {
            assert_eq!(
                parse(not_one),
                None,
                "{:?}",
                String::from_utf8_lossy(not_one)
            );
        }
    }

    #[test]
    fn truncation_keeps_the_prefix() {
        assert_eq!(cut("192.0.2.201", 24, 48), "192.0.2.0");
        assert_eq!(cut("192.0.2.201", 16, 48), "192.0.0.0");
        assert_eq!(cut("192.0.2.201", 32, 48), "192.0.2.201");
        assert_eq!(cut("192.0.2.201", 0, 48), "0.0.0.0");
        assert_eq!(cut("192.0.2.201", 20, 48), "192.0.0.0");
        assert_eq!(cut("2001:db8:aaaa:bbbb:cccc::1", 24, 48), "2001:db8:aaaa::");
        assert_eq!(
            cut("2001:db8:aaaa:bbbb:cccc::1", 24, 64),
            "2001:db8:aaaa:bbbb::"
        );
        assert_eq!(cut("2001:db8:aaaa:bbbb:cccc::1", 24, 0), "::");
        assert_eq!(
            cut("2001:db8:aaaa:bbbb:cccc::1", 24, 128),
            "2001:db8:aaaa:bbbb:cccc::1"
        );
        assert_eq!(cut("::ffff:192.0.2.201", 24, 48), "::ffff:192.0.2.0");
        assert_eq!(cut("[2001:db8:1:2::9]:443", 24, 48), "2001:db8:1::");
    }

    #[test]
    fn canonical_text_unifies_spellings() {
        let canon = |s: &str| {
            let mut out = Vec::new();
            canonical(parse(s.as_bytes()).expect("an address"), &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(canon("2001:DB8:0:0::1"), "2001:db8::1");
        assert_eq!(canon("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(canon("192.0.2.1:80"), "192.0.2.1");
    }

    #[test]
    fn forwarded_elements_give_their_for_address() {
        let header = br#"for=192.0.2.60;proto=http;by=203.0.113.43, For=\"[2001:db8:cafe::17]:4711\", proto=https;for="198.51.100.7:80", for=unknown,for="#;
        let got: Vec<&[u8]> = entries(header).collect();
        assert_eq!(
            got,
            [
                &b"192.0.2.60"[..],
                b"[2001:db8:cafe::17]:4711",
                b"198.51.100.7:80",
                b"unknown"
            ]
        );
        assert_eq!(
            parse(got[1]).map(text).as_deref(),
            Some("2001:db8:cafe::17")
        );
        let plain: Vec<&[u8]> = entries(b"proto=https;by=10.0.0.1").collect();
        assert_eq!(
            plain,
            [&b"proto=https;by=10.0.0.1"[..]],
            "no for: the element as it is"
        );
    }

    #[test]
    fn list_entries() {
        let got: Vec<&[u8]> = entries(b" 192.0.2.1 ,, 10.0.0.1,unknown ,\t").collect();
        assert_eq!(got, [&b"192.0.2.1"[..], b"10.0.0.1", b"unknown"]);
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        let mut out = Vec::new();
        for v4 in [
            0u32,
            1,
            9,
            10,
            99,
            100,
            255,
            0x0a00_0001,
            0xc000_0201,
            0x6464_6464,
            u32::MAX,
        ] {
            for addr in [
                IpAddr::V4(Ipv4Addr::from(v4)),
                IpAddr::V6(Ipv6Addr::from(u128::from(v4))),
            ] {
                out.clear();
                write_addr(addr, &mut out);
                assert_eq!(out, addr.to_string().as_bytes());
            }
        }
    }
}
