//! Distinguished names (RFC 4514), read into a comparable form.
//!
//! The same entry can be written many ways: `uid=alice`, `UID = alice`,
//! `uid=\61lice`, `0.9.2342.19200300.100.1.1=alice`. Scopes, the
//! self-reset rule and the name rules compare DNs, so a DN is parsed (escapes
//! undone, attribute types in normal form, well-known OIDs named) before it
//! is compared. A DN pwgate cannot put in that form (AD's `<SID=...>` and
//! `<GUID=...>` forms, `#`-hex values, broken escapes) is reported as such,
//! so callers can refuse rather than guess.

/// One RDN: its attribute type and value pairs (`cn=A+uid=b` has two).
pub type Rdn = Vec<(String, String)>;

/// Long names and aliases of attribute types that appear in DNs, and the
/// short name directories compare them as.
const ALIASES: &[(&str, &str)] = &[
    ("commonname", "cn"),
    ("countryname", "c"),
    ("localityname", "l"),
    ("stateorprovincename", "st"),
    ("organizationname", "o"),
    ("organizationalunitname", "ou"),
    ("domaincomponent", "dc"),
    ("userid", "uid"),
    ("surname", "sn"),
    ("streetaddress", "street"),
    ("rfc822mailbox", "mail"),
    ("gn", "givenname"),
];

/// Attribute types pwgate knows how the directory compares in DNs.
const KNOWN_TYPES: &[&str] = &[
    "cn",
    "c",
    "l",
    "st",
    "o",
    "ou",
    "dc",
    "uid",
    "sn",
    "givenname",
    "street",
    "mail",
    "serialnumber",
    "samaccountname",
    "userprincipalname",
];

/// Well-known attribute OIDs and their names.
const OID_NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "cn"),
    ("2.5.4.6", "c"),
    ("2.5.4.7", "l"),
    ("2.5.4.8", "st"),
    ("2.5.4.10", "o"),
    ("2.5.4.11", "ou"),
    ("0.9.2342.19200300.100.1.1", "uid"),
    ("0.9.2342.19200300.100.1.25", "dc"),
    ("0.9.2342.19200300.100.1.3", "mail"),
    ("2.5.4.4", "sn"),
    ("2.5.4.42", "givenname"),
    ("2.5.4.9", "street"),
    ("2.5.4.5", "serialnumber"),
];

/// An attribute type in normal form: lower case, no `OID.` prefix, OID arcs
/// without leading zeros, well-known OIDs replaced by their names.
pub fn attribute_type(text: &str) -> String {
    let mut name = text.trim().to_ascii_lowercase();
    if name.starts_with("oid.") {
        name.drain(..4);
    }
    let numeric = !name.is_empty() && name.chars().all(|c| c.is_ascii_digit() || c == '.');
    if !numeric {
        return match ALIASES.iter().find(|(alias, _)| *alias == name) {
            Some((_, short)) => (*short).to_owned(),
            None => name,
        };
    }
    let oid = name
        .split('.')
        .map(|arc| match arc.trim_start_matches('0') {
            "" => "0",
            trimmed => trimmed,
        })
        .collect::<Vec<_>>()
        .join(".");
    OID_NAMES
        .iter()
        .find(|(o, _)| *o == oid)
        .map_or(oid, |(_, n)| (*n).to_owned())
}

fn hex(c: char) -> Option<u8> {
    c.to_digit(16).map(|d| d as u8)
}

/// Parses a DN into its RDNs, first (most specific) first. `None` when the
/// DN cannot be put in normal form. The empty DN is an empty list.
pub fn parse(dn: &str) -> Option<Vec<Rdn>> {
    let dn = dn.trim();
    if dn.starts_with('<') {
        return None; // AD extended DN: <SID=...>, <GUID=...>
    }
    let mut rdns: Vec<Rdn> = Vec::new();
    if dn.is_empty() {
        return Some(rdns);
    }
    let mut rdn: Rdn = Vec::new();
    let mut attr = String::new();
    let mut value: Vec<u8> = Vec::new();
    let mut in_value = false;
    let mut value_started = false;
    let mut chars = dn.chars().peekable();
    let finish_pair = |attr: &mut String, value: &mut Vec<u8>, rdn: &mut Rdn| -> Option<()> {
        let text = String::from_utf8(std::mem::take(value)).ok()?;
        let t = attribute_type(attr);
        attr.clear();
        if t.is_empty() {
            return None;
        }
        // Most values have no space to trim: kept as read.
        let text = if text.trim().len() == text.len() {
            text
        } else {
            text.trim().to_owned()
        };
        rdn.push((t, text));
        Some(())
    };
    while let Some(c) = chars.next() {
        if !in_value {
            match c {
                '=' => {
                    in_value = true;
                    value_started = false;
                }
                ',' | ';' | '+' | '\\' | '"' => return None,
                _ => attr.push(c),
            }
            continue;
        }
        match c {
            '#' if !value_started && value.is_empty() => return None, // BER-encoded value
            '\\' => {
                let next = chars.next()?;
                match (hex(next), chars.peek().copied().and_then(hex)) {
                    (Some(hi), Some(lo)) => {
                        chars.next();
                        value.push(hi << 4 | lo);
                    }
                    _ => {
                        let mut buf = [0u8; 4];
                        value.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
                    }
                }
                value_started = true;
            }
            '+' => {
                finish_pair(&mut attr, &mut value, &mut rdn)?;
                in_value = false;
            }
            ',' | ';' => {
                finish_pair(&mut attr, &mut value, &mut rdn)?;
                rdns.push(std::mem::take(&mut rdn));
                in_value = false;
            }
            '"' => return None,
            ' ' if !value_started => {}
            _ => {
                let mut buf = [0u8; 4];
                value.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                value_started = true;
            }
        }
    }
    if !in_value {
        return None;
    }
    finish_pair(&mut attr, &mut value, &mut rdn)?;
    rdns.push(rdn);
    Some(rdns)
}

/// A value prepared for comparison, in the spirit of RFC 4518: NFKC, case
/// folded, combining marks dropped, every kind of space made one U+0020,
/// runs of spaces collapsed, no space at either end. Comparing this way may
/// call two different values equal (`é` and `e`), never the other way round
/// for spellings the directory itself treats as equal.
pub fn prepare_value(value: &str) -> String {
    if value.is_ascii() {
        return prepare_ascii(value);
    }
    prepare_unicode(value)
}

/// [`prepare_value`] through the Unicode normalizer, for any value.
fn prepare_unicode(value: &str) -> String {
    use unicode_normalization::char::is_combining_mark;
    use unicode_normalization::UnicodeNormalization;
    let folded: String = value
        .nfkc()
        .flat_map(char::to_lowercase)
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    folded
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// [`prepare_value`] of an ASCII value, in one pass: NFKC and NFKD leave
/// ASCII as it is and it has no combining marks, so what remains is lower
/// case and spaces (`char::is_whitespace`: tab, line feed, vertical tab,
/// form feed, carriage return, space) collapsed and trimmed. The test
/// `ascii_values_are_prepared_as_by_the_unicode_path` holds the two
/// together.
fn prepare_ascii(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut space = false;
    for c in value.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
        } else {
            if std::mem::take(&mut space) {
                out.push(' ');
            }
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// A DN in a form for comparison: types normalized, values prepared
/// ([`prepare_value`]), the pairs of each RDN sorted. `None` when it cannot
/// be parsed.
pub fn normalize(dn: &str) -> Option<String> {
    if dn.len() > NORMALIZED_MAX_LEN {
        return normalize_afresh(dn);
    }
    let kept = NORMALIZED.try_with(|kept| {
        kept.try_borrow()
            .ok()?
            .iter()
            .find(|(written, _)| written == dn)
            .map(|(_, normal)| normal.clone())
    });
    if let Ok(Some(normal)) = kept {
        return normal;
    }
    let normal = normalize_afresh(dn);
    let _ = NORMALIZED.try_with(|kept| {
        if let Ok(mut kept) = kept.try_borrow_mut() {
            if kept.len() == NORMALIZED_KEPT {
                kept.pop_back();
            }
            kept.push_front((dn.to_owned(), normal.clone()));
        }
    });
    normal
}

/// How many DNs each thread keeps with their normal form. One password
/// decision normalizes the same target and actor DNs several times (the
/// scope, the self-change check, the account's names, the key of recent
/// changes), and normalizing (parsing, then NFKC of every value) cost a
/// fifth of a whole RFC 3062 change through the proxy, policy included.
const NORMALIZED_KEPT: usize = 8;
/// DNs longer than this are normalized each time rather than kept.
const NORMALIZED_MAX_LEN: usize = 512;

thread_local! {
    static NORMALIZED: std::cell::RefCell<std::collections::VecDeque<(String, Option<String>)>> =
        const { std::cell::RefCell::new(std::collections::VecDeque::new()) };
}

fn normalize_afresh(dn: &str) -> Option<String> {
    let rdns = parse(dn)?;
    let mut out = String::with_capacity(dn.len());
    for (i, rdn) in rdns.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let [(t, v)] = rdn.as_slice() {
            out.push_str(t);
            out.push('=');
            out.push_str(&prepare_value(v));
            continue;
        }
        let mut pairs: Vec<String> = rdn
            .iter()
            .map(|(t, v)| format!("{t}={}", prepare_value(v)))
            .collect();
        pairs.sort();
        out.push_str(&pairs.join("+"));
    }
    Some(out)
}

/// Whether every attribute type in the DN is one pwgate knows the
/// directory's comparison of (see [`KNOWN_TYPES`]). With scopes configured,
/// a target DN with other types could be a spelling pwgate would place in
/// the wrong scope, so it is refused.
pub fn uses_known_types(dn: &str) -> bool {
    parse(dn).is_some_and(|rdns| {
        rdns.iter()
            .flatten()
            .all(|(t, _)| KNOWN_TYPES.contains(&t.as_str()))
    })
}

/// The values of the first RDN (`uid=alice,...` gives `alice`).
pub fn first_rdn_values(dn: &str) -> Vec<String> {
    parse(dn)
        .map(|rdns| first_values(&rdns))
        .unwrap_or_default()
}

/// [`first_rdn_values`] and [`organisation_names`] of one DN, parsed once;
/// `None` when it cannot be parsed.
pub fn names_of(dn: &str) -> Option<(Vec<String>, Vec<String>)> {
    parse(dn).map(|rdns| (first_values(&rdns), organisation_names_in(rdns)))
}

fn first_values(rdns: &[Rdn]) -> Vec<String> {
    rdns.first()
        .map(|rdn| {
            rdn.iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(_, v)| v.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The DN of a DNS domain's naming context, as Active Directory names it:
/// `corp.contoso.com` gives `dc=corp,dc=contoso,dc=com`. One trailing dot
/// is allowed. The error says what is wrong with the name.
pub fn domain_dn(domain: &str) -> Result<String, String> {
    let name = domain.strip_suffix('.').unwrap_or(domain);
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > 253 {
        return Err("the name is longer than 253 characters".into());
    }
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return Err("an empty label (two dots in a row, or a leading dot)".into());
        }
        if label.len() > 63 {
            return Err(format!("label `{label}` is longer than 63 characters"));
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!(
                "label `{}` has characters other than letters, digits and hyphens \
                 (write an international name in its xn-- form)",
                label.escape_default()
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label `{label}` starts or ends with a hyphen"));
        }
    }
    if labels
        .last()
        .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("it ends in a number: an address, not a domain".into());
    }
    Ok(labels
        .iter()
        .map(|l| format!("dc={}", l.to_ascii_lowercase()))
        .collect::<Vec<_>>()
        .join(","))
}

/// The domain part of a DN: its trailing run of `dc=` RDNs, written as a
/// DN (`uid=a,ou=people,dc=example,dc=com` gives `dc=example,dc=com`).
/// Empty when the DN ends in something else or cannot be parsed.
pub fn domain_suffix(dn: &str) -> String {
    let Some(rdns) = parse(dn) else {
        return String::new();
    };
    let dcs: Vec<String> = rdns
        .iter()
        .rev()
        .take_while(|rdn| rdn.len() == 1 && rdn[0].0 == "dc")
        .map(|rdn| format!("dc={}", ldap3::dn_escape(rdn[0].1.as_str())))
        .collect();
    dcs.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// DNS labels that say nothing about the organisation.
const GENERIC_DOMAIN_LABELS: &[&str] = &[
    "ad", "corp", "domain", "ds", "internal", "intra", "intranet", "lan", "local", "prod",
];

/// The organisation names a DN carries: its `o=` values and its `dc=`
/// labels except the top-level one and generic ones (`dc=example,dc=com`
/// gives `example`), 4 characters or more.
pub fn organisation_names(dn: &str) -> Vec<String> {
    parse(dn).map(organisation_names_in).unwrap_or_default()
}

fn organisation_names_in(rdns: Vec<Rdn>) -> Vec<String> {
    let pairs: Vec<(String, String)> = rdns.into_iter().flatten().collect();
    let dcs: Vec<&String> = pairs
        .iter()
        .filter(|(t, _)| t == "dc")
        .map(|(_, v)| v)
        .collect();
    let mut names: Vec<String> = pairs
        .iter()
        .filter(|(t, _)| t == "o")
        .map(|(_, v)| v.clone())
        .collect();
    if dcs.len() > 1 {
        names.extend(
            dcs[..dcs.len() - 1]
                .iter()
                .filter(|l| !GENERIC_DOMAIN_LABELS.contains(&l.to_ascii_lowercase().as_str()))
                .map(|l| (*l).clone()),
        );
    }
    names.retain(|n| n.chars().count() >= 4);
    names.dedup();
    names
}

/// A DN in a comparable form (see [`normalize`]); a DN that
/// cannot be parsed is compared as written, in lower case.
pub fn normalize_dn(dn: &str) -> String {
    crate::dn::normalize(dn).unwrap_or_else(|| dn.trim().to_lowercase())
}

/// Whether the normalized `dn` is `suffix` or an entry under it (both
/// normalized with [`normalize_dn`]).
pub fn dn_is_under(dn: &str, suffix: &str) -> bool {
    dn == suffix
        || (dn.ends_with(suffix) && dn.as_bytes().get(dn.len() - suffix.len() - 1) == Some(&b','))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_normal_forms_are_those_computed_afresh() {
        let long = format!("cn={},dc=example,dc=com", "x".repeat(NORMALIZED_MAX_LEN));
        let dns: Vec<String> = (0..3 * NORMALIZED_KEPT)
            .map(|i| format!("CN=User {i} ,OU=Staff,DC=Example,DC=com"))
            .chain(["not a dn".to_owned(), String::new(), long])
            .collect();
        for _ in 0..3 {
            for dn in dns.iter().chain(dns.iter().rev()) {
                assert_eq!(normalize(dn), normalize_afresh(dn), "{dn}");
            }
        }
        let kept = NORMALIZED.with(|k| k.borrow().len());
        assert!(kept <= NORMALIZED_KEPT);
    }

    #[test]
    fn ascii_values_are_prepared_as_by_the_unicode_path() {
        let ascii: Vec<char> = (0u8..128).map(char::from).collect();
        // Every one- and two-character value.
        for a in &ascii {
            for b in std::iter::once(None).chain(ascii.iter().map(Some)) {
                let v: String = std::iter::once(*a).chain(b.copied()).collect();
                assert_eq!(prepare_ascii(&v), prepare_unicode(&v), "{v:?}");
            }
        }
        // Longer values from a fixed sequence, spaces of every kind mixed in.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 24) as usize;
            let v: String = (0..len)
                .map(|i| {
                    let r = (x >> (i % 8 * 8)) as usize + i * 31;
                    if r % 3 == 0 {
                        ['\t', '\n', '\x0b', '\x0c', '\r', ' ', '\x1c'][r % 7]
                    } else {
                        ascii[r % 128]
                    }
                })
                .collect();
            assert_eq!(prepare_ascii(&v), prepare_unicode(&v), "{v:?}");
            assert_eq!(prepare_value(&v), prepare_unicode(&v), "{v:?}");
        }
    }

    #[test]
    fn spellings_of_one_dn_normalize_alike() {
        let canonical = normalize("uid=alice,ou=people,dc=example,dc=com").unwrap();
        for dn in [
            "UID=Alice, OU=People, DC=Example, DC=COM",
            "uid=\\61lice,ou=people,dc=example,dc=com",
            "0.9.2342.19200300.100.1.1=alice,2.5.4.11=people,dc=example,dc=com",
            "OID.0.9.2342.19200300.100.1.01=alice,ou=people,dc=example,dc=com",
            "uid = alice , ou=people,dc=example,dc=com",
        ] {
            assert_eq!(normalize(dn).as_deref(), Some(canonical.as_str()), "{dn}");
        }
        assert_eq!(
            normalize("cn=B+uid=a,dc=x"),
            normalize("uid=a+cn=b,dc=x"),
            "multi-valued RDNs in any order"
        );
    }

    #[test]
    fn spellings_the_directory_treats_alike_normalize_alike() {
        let canonical = normalize("uid=root1,ou=Domain Admins,dc=example,dc=com").unwrap();
        for dn in [
            "uid=root1,organizationalUnitName=Domain Admins,dc=example,dc=com",
            "userid=root1,ou=Domain Admins,domainComponent=example,dc=com",
            "uid=root1,ou=Domain  Admins,dc=example,dc=com",
            "uid=root1,ou=Domain\\C2\\A0Admins,dc=example,dc=com",
            "uid=root1,ou=Domain\u{a0}Admins,dc=example,dc=com",
            "uid=root1,ou=\u{ff24}\u{ff4f}\u{ff4d}\u{ff41}\u{ff49}\u{ff4e} Admins,dc=example,dc=com",
            "uid=root1,ou=Domain Admin\u{17f},dc=example,dc=com",
            "uid=root1,ou=Domain Adm\u{130}ns,dc=example,dc=com",
        ] {
            assert_eq!(normalize(dn).as_deref(), Some(canonical.as_str()), "{dn}");
        }
        assert!(uses_known_types("uid=a,ou=b,dc=c"));
        assert!(!uses_known_types("employeeNumber=7,ou=b,dc=c"));
    }

    #[test]
    fn forms_that_cannot_be_normalized_are_reported() {
        for dn in [
            "<SID=S-1-5-21-1>",
            "<GUID=abc>;dc=x",
            "uid=#04024869,dc=x",
            "uid=\\",
            "uid",
            "=x",
        ] {
            assert_eq!(normalize(dn), None, "{dn}");
        }
        assert_eq!(normalize("").as_deref(), Some(""));
    }

    #[test]
    fn domains_become_dc_dns() {
        assert_eq!(
            domain_dn("corp.Contoso.com").as_deref(),
            Ok("dc=corp,dc=contoso,dc=com")
        );
        assert_eq!(
            domain_dn("contoso.com.").as_deref(),
            Ok("dc=contoso,dc=com")
        );
        assert_eq!(
            domain_dn("xn--bcher-kva.example").as_deref(),
            Ok("dc=xn--bcher-kva,dc=example")
        );
        assert_eq!(domain_dn("CONTOSO").as_deref(), Ok("dc=contoso"));
        for bad in [
            "",
            ".",
            "corp..contoso.com",
            ".contoso.com",
            "-corp.contoso.com",
            "corp-.contoso.com",
            "corp contoso.com",
            "corp_x.contoso.com",
            "dc=contoso,dc=com",
            "bücher.example",
            "10.0.0.1",
            &"a".repeat(64),
            &["abcdefgh"; 30].join("."),
        ] {
            assert!(domain_dn(bad).is_err(), "{bad:?}");
        }
        assert!(domain_dn("corp x").unwrap_err().contains("`corp x`"));
    }

    #[test]
    fn the_domain_suffix_of_a_dn() {
        assert_eq!(
            domain_suffix("uid=a,ou=people,DC=Example,dc=com"),
            "dc=Example,dc=com"
        );
        assert_eq!(domain_suffix("CN=x,DC=corp,OU=odd,DC=com"), "dc=com");
        assert_eq!(domain_suffix("cn=bob,o=Fabrikam,c=US"), "");
        assert_eq!(domain_suffix("<SID=S-1-5>"), "");
        assert_eq!(
            normalize(&domain_suffix("cn=x,dc=a\\,b,dc=c")),
            normalize("dc=a\\,b,dc=c")
        );
    }

    #[test]
    fn rdn_values_and_organisation_names() {
        assert_eq!(first_rdn_values("uid=\\61lice,ou=people,dc=x"), ["alice"]);
        assert_eq!(
            first_rdn_values("CN=Smith\\, Alice,CN=Users,DC=x"),
            ["Smith, Alice"]
        );
        assert_eq!(
            first_rdn_values("cn=Alice Smith+uid=asmith,dc=x"),
            ["Alice Smith", "asmith"]
        );
        assert!(first_rdn_values("").is_empty());
        assert_eq!(
            organisation_names("uid=alice,ou=people,dc=example,dc=com"),
            ["example"]
        );
        assert_eq!(
            organisation_names("CN=Alice,CN=Users,DC=corp,DC=Contoso,DC=local"),
            ["Contoso"]
        );
        assert_eq!(
            organisation_names("cn=bob,o=Fabrikam Inc,c=US"),
            ["Fabrikam Inc"]
        );
        assert!(
            organisation_names("cn=x,dc=abc,dc=com").is_empty(),
            "3 characters"
        );
    }
}
