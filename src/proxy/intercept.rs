//! Recognising password operations in client requests.
//!
//! Only a few request types can set a password: Modify and Add touching
//! `unicodePwd` or `userPassword`, and the RFC 3062 Password Modify extended
//! operation. They arrive here already read strictly
//! ([`crate::proxy::request`]), and are turned into a
//! [`PasswordOperation`]. Everything else is reported as
//! [`Inspection::NotPassword`] and forwarded (in its canonical encoding). A
//! password operation pwgate cannot check (a password attribute it cannot
//! verify, an increment of one, a password in an RDN, a value that is not
//! a password) is [`Inspection::Undecodable`]: it must be refused, never
//! forwarded.

use crate::policy::ChangeKind;
use crate::proxy::frame::op;
use crate::proxy::request::{
    Attribute, ExtendedValue, Malformed, Operation, PasswordModify, Request, OID_PASSWORD_MODIFY,
};
use crate::secret::Password;

/// OID of the StartTLS extended operation (RFC 4511 section 4.14).
pub const OID_START_TLS: &str = "1.3.6.1.4.1.1466.20037";
/// OID of the Password Policy request control (draft-behera-ldap-password-policy).
pub const OID_PPOLICY: &str = "1.3.6.1.4.1.42.2.27.8.5.1";

pub use crate::policy::PasswordAttribute;

/// Whose password the operation sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An explicit DN (Modify, Add, or Password Modify with `dn:`/bare DN).
    Dn(String),
    /// Password Modify without userIdentity: the bound identity.
    BoundIdentity,
    /// Password Modify with an authzId such as `u:alice`.
    AuthzId(String),
}

pub use crate::decision::NewPassword;

/// A decoded password operation.
#[derive(Debug)]
pub struct PasswordOperation {
    pub msgid: i32,
    /// The protocolOp tag of the response to send if it is refused.
    pub response_op: u8,
    pub kind: ChangeKind,
    pub attribute: PasswordAttribute,
    pub target: Target,
    pub new_passwords: Vec<NewPassword>,
    pub old_password: Option<Password>,
    /// Names of the account found in the request itself (an Add's uid,
    /// sAMAccountName, cn..., or a `u:` authzId).
    pub request_names: Vec<String>,
    /// The request carried the Password Policy request control.
    pub ppolicy_requested: bool,
}

/// A request pwgate refuses because it cannot check it, with what is known
/// of it for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable {
    pub msgid: i32,
    /// The protocolOp tag of the request.
    pub request_op: u8,
    pub response_op: u8,
    /// Why, in words; never quotes a value.
    pub reason: String,
    /// The DN the request named, when it was read.
    pub target: Option<String>,
    /// The password attribute (or operation) it named, if any.
    pub attribute: Option<String>,
    /// Whether the request could not be read at all (protocolError), as
    /// opposed to read but not checkable (unwillingToPerform).
    pub malformed: bool,
}

/// What a Modify, Add, ModifyDN or Password Modify request turned out to be.
#[derive(Debug)]
pub enum Inspection {
    NotPassword,
    Password(Box<PasswordOperation>),
    Undecodable(Undecodable),
}

/// The response tag that answers a request tag.
pub fn response_op(request_op: u8) -> u8 {
    match request_op {
        op::BIND_REQUEST => op::BIND_RESPONSE,
        op::MODIFY_REQUEST => op::MODIFY_RESPONSE,
        op::ADD_REQUEST => op::ADD_RESPONSE,
        op::MODDN_REQUEST => op::MODDN_RESPONSE,
        _ => op::EXTENDED_RESPONSE,
    }
}

/// The refusal of a request that failed the strict reading.
pub fn malformed(msgid: i32, request_op: u8, m: Malformed) -> Undecodable {
    let attribute = m
        .attributes
        .iter()
        .find(|a| password_attribute(a).is_some() || unverifiable_password_attribute(a))
        .cloned();
    Undecodable {
        msgid,
        request_op,
        response_op: response_op(request_op),
        reason: m.reason,
        target: m.dn,
        attribute,
        malformed: true,
    }
}

/// An attribute description in comparable form: options (`;binary`)
/// removed, then the type normalized as in DNs (lower case, no `OID.`
/// prefix, OID arcs without leading zeros, aliases such as `userid`
/// resolved).
fn attribute_type(description: &str) -> String {
    crate::dn::attribute_type(description.split(';').next().unwrap_or(description))
}

/// Attribute names whose values are passwords pwgate checks.
fn password_attribute(description: &str) -> Option<PasswordAttribute> {
    match attribute_type(description).as_str() {
        "unicodepwd" | "1.2.840.113556.1.4.90" => Some(PasswordAttribute::UnicodePwd),
        "userpassword" | "2.5.4.35" => Some(PasswordAttribute::UserPassword),
        _ => None,
    }
}

/// Attributes that also set a password but whose values pwgate cannot
/// check: writing them is refused rather than let through unseen.
fn unverifiable_password_attribute(description: &str) -> bool {
    matches!(
        attribute_type(description).as_str(),
        "cleartextpassword"
            | "authpassword"
            | "1.3.6.1.4.1.4203.1.3.4"
            | "sambantpassword"
            | "1.3.6.1.4.1.7165.2.1.25"
            | "sambalmpassword"
            | "1.3.6.1.4.1.7165.2.1.24"
            | "supplementalcredentials"
            | "1.2.840.113556.1.4.125"
            | "dbcspwd"
            | "1.2.840.113556.1.4.55"
            | "ntpwdhistory"
            | "1.2.840.113556.1.4.94"
            | "lmpwdhistory"
            | "1.2.840.113556.1.4.160"
            | "unixuserpassword"
            | "olcrootpw"
    )
}

/// Whether a DN's first RDN (the one an Add or ModifyDN turns into
/// attribute values) names a password attribute: `uid=x+userPassword=y`
/// would set a password without any Modify of it. An RDN pwgate cannot
/// parse (quoted values, `#` values) counts as one, since it could hide one.
fn rdn_sets_password(rdn_or_dn: &str) -> bool {
    match crate::dn::parse(rdn_or_dn) {
        None => true,
        Some(rdns) => rdns.first().is_some_and(|rdn| {
            rdn.iter()
                .any(|(t, _)| password_attribute(t).is_some() || unverifiable_password_attribute(t))
        }),
    }
}

/// Inspects a ModifyDN request: a new RDN that names a password attribute
/// is refused (pwgate cannot check a password set that way).
pub fn inspect_modify_dn(req: &Request<'_>) -> Inspection {
    let Operation::ModifyDn { dn, new_rdn, .. } = &req.operation else {
        return Inspection::NotPassword;
    };
    if rdn_sets_password(new_rdn) {
        return Inspection::Undecodable(Undecodable {
            msgid: req.msgid,
            request_op: op::MODDN_REQUEST,
            response_op: op::MODDN_RESPONSE,
            reason: "a password attribute in an RDN cannot be checked".into(),
            target: Some((*dn).to_owned()),
            attribute: Some("rdn".into()),
            malformed: false,
        });
    }
    Inspection::NotPassword
}

fn wants_ppolicy(req: &Request<'_>) -> bool {
    req.controls.iter().flatten().any(|c| c.oid == OID_PPOLICY)
}

/// The modification types of RFC 4511 and RFC 4525.
const MOD_ADD: i64 = 0;
const MOD_DELETE: i64 = 1;
const MOD_REPLACE: i64 = 2;

/// Inspects a Modify or Add request.
pub fn inspect_modify_or_add(req: &Request<'_>) -> Inspection {
    let (dn, request_op, kind, changes): (
        &str,
        u8,
        Option<ChangeKind>,
        Vec<(ValueRole, &Attribute<'_>)>,
    ) = match &req.operation {
        Operation::Modify { dn, changes } => (
            dn,
            op::MODIFY_REQUEST,
            None,
            changes
                .iter()
                .map(|c| {
                    let role = match c.operation {
                        MOD_DELETE => ValueRole::Old,
                        MOD_ADD | MOD_REPLACE => ValueRole::New,
                        _ => ValueRole::Unknown,
                    };
                    (role, &c.attribute)
                })
                .collect(),
        ),
        Operation::Add { dn, attributes } => (
            dn,
            op::ADD_REQUEST,
            Some(ChangeKind::Create),
            attributes.iter().map(|a| (ValueRole::New, a)).collect(),
        ),
        _ => return Inspection::NotPassword,
    };
    let refuse = |reason: &str, attribute: Option<&str>| {
        Inspection::Undecodable(Undecodable {
            msgid: req.msgid,
            request_op,
            response_op: response_op(request_op),
            reason: reason.to_owned(),
            target: Some(dn.to_owned()),
            attribute: attribute.map(str::to_owned),
            malformed: false,
        })
    };
    if kind == Some(ChangeKind::Create) && rdn_sets_password(dn) {
        return refuse(
            "a password attribute in an RDN cannot be checked",
            Some("rdn"),
        );
    }
    let collected = match collect_passwords(&changes) {
        Ok(c) => c,
        Err((reason, attribute)) => return refuse(reason, Some(attribute)),
    };
    let Some(attribute) = collected.attribute else {
        return Inspection::NotPassword;
    };
    if collected.new_passwords.is_empty() {
        // Only deletions: no password is being set.
        return Inspection::NotPassword;
    }
    let kind = kind.unwrap_or(if collected.old_password.is_some() {
        ChangeKind::Change
    } else {
        ChangeKind::Reset
    });
    let request_names = if kind == ChangeKind::Create {
        changes
            .iter()
            .flat_map(|(_, a)| account_names_in(a))
            .collect()
    } else {
        Vec::new()
    };
    Inspection::Password(Box::new(PasswordOperation {
        msgid: req.msgid,
        response_op: response_op(request_op),
        kind,
        attribute,
        target: Target::Dn(dn.to_owned()),
        new_passwords: collected.new_passwords,
        old_password: collected.old_password,
        request_names,
        ppolicy_requested: wants_ppolicy(req),
    }))
}

/// Whether an attribute's values in a request are old or new values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueRole {
    Old,
    New,
    /// A modification type other than add, delete and replace (increment,
    /// or one pwgate does not know): never allowed on a password.
    Unknown,
}

/// Gathers the password values of a request's attributes. A password
/// attribute pwgate cannot check, or one under a modification type it
/// cannot judge, refuses the whole request.
fn collect_passwords<'a>(
    changes: &[(ValueRole, &'a Attribute<'a>)],
) -> Result<Collected, (&'static str, &'a str)> {
    let mut collected = Collected::default();
    for (role, attr) in changes {
        let name = attr.description;
        let kind = password_attribute(name);
        let unverifiable = unverifiable_password_attribute(name);
        if *role == ValueRole::Unknown && (kind.is_some() || unverifiable) {
            return Err((
                "this modification type (increment or unknown) of a password attribute cannot be checked",
                name,
            ));
        }
        if unverifiable && !attr.values.is_empty() {
            return Err(("this password attribute cannot be checked", name));
        }
        // A value set holds distinct values; slapd 2.5 aborts on a delete
        // of the old password listed twice, so such a request is not
        // forwarded.
        if kind.is_some() && {
            let mut seen = std::collections::HashSet::with_capacity(attr.values.len());
            !attr.values.iter().all(|v| seen.insert(*v))
        } {
            return Err(("a password attribute lists the same value twice", name));
        }
        let Some(kind) = kind else {
            continue;
        };
        let added = match role {
            ValueRole::Old => collected.add_old(kind, attr),
            ValueRole::New => collected.add_new(kind, attr),
            ValueRole::Unknown => Ok(()),
        };
        added.map_err(|reason| (reason, name))?;
    }
    Ok(collected)
}

/// Attributes of an Add whose values name the account.
fn account_names_in(attr: &Attribute<'_>) -> Vec<String> {
    let name = attribute_type(attr.description);
    attr.values
        .iter()
        .filter_map(|v| std::str::from_utf8(v).ok())
        .filter_map(|v| crate::policy::rules::account_name::name_from_attribute(&name, v))
        .collect()
}

/// Password values gathered from the changes of one request.
#[derive(Default)]
struct Collected {
    attribute: Option<PasswordAttribute>,
    new_passwords: Vec<NewPassword>,
    old_password: Option<Password>,
}

impl Collected {
    fn decode_value(kind: PasswordAttribute, value: &[u8]) -> Result<NewPassword, &'static str> {
        match kind {
            PasswordAttribute::UnicodePwd => {
                let p = Password::from_unicode_pwd(value).ok_or(
                    "unicodePwd must be the UTF-16LE encoding of the password in double quotes",
                )?;
                if p.expose().contains('\0') {
                    return Err("a password may not contain a NUL character");
                }
                Ok(NewPassword::Clear(p))
            }
            _ => {
                if is_prehashed(value) {
                    return Ok(NewPassword::PreHashed);
                }
                password_text(value)
                    .map(NewPassword::Clear)
                    .map_err(|_| "userPassword must be UTF-8 without NUL characters")
            }
        }
    }

    fn add_new(
        &mut self,
        kind: PasswordAttribute,
        attr: &Attribute<'_>,
    ) -> Result<(), &'static str> {
        self.attribute.get_or_insert(kind);
        for v in &attr.values {
            self.new_passwords.push(Self::decode_value(kind, v)?);
        }
        Ok(())
    }

    fn add_old(
        &mut self,
        kind: PasswordAttribute,
        attr: &Attribute<'_>,
    ) -> Result<(), &'static str> {
        if let Some(v) = attr.values.first() {
            self.attribute.get_or_insert(kind);
            if let NewPassword::Clear(p) = Self::decode_value(kind, v)? {
                self.old_password = Some(p);
            }
        }
        Ok(())
    }
}

/// `{SCHEME}rest` with a scheme of letters, digits and `-`, as slapd and
/// 389-ds store hashes (`{SSHA}`, `{CRYPT}`, `{PBKDF2-SHA512}`, `{ARGON2}`).
pub fn is_prehashed(value: &[u8]) -> bool {
    let Some(rest) = value.strip_prefix(b"{") else {
        return false;
    };
    let Some(end) = rest.iter().position(|b| *b == b'}') else {
        return false;
    };
    end > 0
        && rest[..end]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.' || *b == b'_')
}

/// What an extended request is, for the session.
#[derive(Debug)]
pub enum Extended {
    StartTls,
    Password(Inspection),
    Other,
}

/// Inspects an ExtendedRequest: StartTLS, Password Modify, or other.
pub fn inspect_extended(req: &Request<'_>) -> Extended {
    let Operation::Extended { name, value } = &req.operation else {
        return Extended::Other;
    };
    if *name == OID_START_TLS {
        return Extended::StartTls;
    }
    if *name != OID_PASSWORD_MODIFY {
        return Extended::Other;
    }
    let empty = PasswordModify::default();
    let fields = match value {
        // RFC 3062: no value means "generate a password for the bound
        // identity".
        None => &empty,
        Some(ExtendedValue::PasswordModify(f)) => f,
        Some(ExtendedValue::Opaque(_)) => unreachable!("the Password Modify value is always read"),
    };
    let refuse = |reason: &str, target: Option<String>| {
        Extended::Password(Inspection::Undecodable(Undecodable {
            msgid: req.msgid,
            request_op: op::EXTENDED_REQUEST,
            response_op: op::EXTENDED_RESPONSE,
            reason: reason.to_owned(),
            target,
            attribute: Some(PasswordAttribute::PasswordModify.as_str().to_owned()),
            malformed: false,
        }))
    };
    let target = match fields.user_identity {
        None => Target::BoundIdentity,
        Some(raw) => match std::str::from_utf8(raw) {
            Err(_) => return refuse("userIdentity is not valid UTF-8", None),
            Ok(id) if id.contains('\0') => {
                return refuse("userIdentity contains a NUL character", None)
            }
            Ok("") => Target::BoundIdentity,
            Ok(id) => match (id.strip_prefix("dn:"), id.strip_prefix("u:")) {
                (Some(dn), _) => Target::Dn(dn.to_owned()),
                (_, Some(user)) => Target::AuthzId(user.to_owned()),
                _ => Target::Dn(id.to_owned()),
            },
        },
    };
    let label = match &target {
        Target::Dn(dn) => Some(dn.clone()),
        Target::AuthzId(user) => Some(format!("u:{user}")),
        Target::BoundIdentity => None,
    };
    let request_names = match &target {
        Target::AuthzId(user) => vec![user.clone()],
        _ => Vec::new(),
    };
    let old_password = match fields.old_password.map(password_text) {
        Some(Err(reason)) => return refuse(reason.replace("value", "oldPasswd").as_str(), label),
        Some(Ok(p)) => Some(p),
        None => None,
    };
    let new_password = match fields.new_password.map(password_text) {
        Some(Err(reason)) => return refuse(reason.replace("value", "newPasswd").as_str(), label),
        Some(Ok(p)) => NewPassword::Clear(p),
        None => NewPassword::ServerGenerated,
    };
    let kind = if old_password.is_some() {
        ChangeKind::Change
    } else {
        ChangeKind::Reset
    };
    Extended::Password(Inspection::Password(Box::new(PasswordOperation {
        msgid: req.msgid,
        response_op: op::EXTENDED_RESPONSE,
        kind,
        attribute: PasswordAttribute::PasswordModify,
        target,
        new_passwords: vec![new_password],
        old_password,
        request_names,
        ppolicy_requested: wants_ppolicy(req),
    })))
}

/// A UTF-8 password value: no NUL, which a C server could take as the end
/// of the password it hashes while pwgate checked the whole value.
fn password_text(value: &[u8]) -> Result<Password, &'static str> {
    let p = Password::from_utf8(value).ok_or("the value is not valid UTF-8")?;
    if p.expose().contains('\0') {
        return Err("the value contains a NUL character");
    }
    Ok(p)
}

/// What a Bind request says about the identity it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindMethod {
    Simple {
        /// The bind carries a password (not an anonymous or
        /// unauthenticated bind).
        with_password: bool,
    },
    Sasl {
        mechanism: String,
    },
    /// Another authentication choice (AD's Sicily NTLM binds).
    Other,
}

/// The name and method of a Bind request; the credentials are not read.
pub fn inspect_bind(req: &Request<'_>) -> Option<(String, BindMethod)> {
    use crate::proxy::request::Authentication as A;
    let Operation::Bind {
        name,
        authentication,
        ..
    } = &req.operation
    else {
        return None;
    };
    let method = match authentication {
        A::Simple(password) => BindMethod::Simple {
            with_password: !password.is_empty(),
        },
        A::Sasl { mechanism, .. } => BindMethod::Sasl {
            mechanism: (*mechanism).to_owned(),
        },
        A::Other { .. } => BindMethod::Other,
    };
    Some(((*name).to_owned(), method))
}

pub use crate::dn::{first_rdn_values, organisation_names};

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ber::{element as t, tag};
    use crate::proxy::request;

    fn modify(changes: &[(u8, &str, &[&[u8]])], controls: &[u8]) -> Vec<u8> {
        let list: Vec<u8> = changes
            .iter()
            .flat_map(|(op, desc, vals)| {
                let set: Vec<u8> = vals.iter().flat_map(|v| t(tag::OCTET_STRING, v)).collect();
                let attr = t(
                    tag::SEQUENCE,
                    &[t(tag::OCTET_STRING, desc.as_bytes()), t(0x31, &set)].concat(),
                );
                t(tag::SEQUENCE, &[t(tag::ENUMERATED, &[*op]), attr].concat())
            })
            .collect();
        let body = [t(tag::OCTET_STRING, b"uid=a,dc=x"), t(tag::SEQUENCE, &list)].concat();
        let mut msg = t(tag::INTEGER, &[3]);
        msg.extend(t(op::MODIFY_REQUEST, &body));
        if !controls.is_empty() {
            msg.extend(t(0xa0, controls));
        }
        t(tag::SEQUENCE, &msg)
    }

    fn inspect(frame: &[u8]) -> Inspection {
        inspect_modify_or_add(&request::parse(frame).expect("well-formed"))
    }

    #[test]
    fn a_user_change_is_old_and_new_value() {
        let frame = modify(
            &[
                (1, "userPassword", &[b"Old-1"]),
                (0, "userPassword", &[b"New-1"]),
            ],
            &[],
        );
        let Inspection::Password(op) = inspect(&frame) else {
            panic!("a password change")
        };
        assert_eq!(op.kind, ChangeKind::Change);
        assert_eq!(op.old_password.as_ref().unwrap().expose(), "Old-1");
        assert!(matches!(&op.new_passwords[..], [NewPassword::Clear(p)] if p.expose() == "New-1"));
        assert!(!op.ppolicy_requested);
    }

    #[test]
    fn an_increment_of_a_password_attribute_is_refused() {
        for op in [3u8, 7] {
            let frame = modify(&[(op, "unicodePwd", &[b"1"])], &[]);
            match inspect(&frame) {
                Inspection::Undecodable(u) => {
                    assert!(!u.malformed);
                    assert_eq!(u.attribute.as_deref(), Some("unicodePwd"));
                    assert_eq!(u.target.as_deref(), Some("uid=a,dc=x"));
                    assert!(u.reason.contains("increment"), "{}", u.reason);
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
        // An increment of another attribute is the directory's business.
        let frame = modify(&[(3, "uidNumber", &[b"1"])], &[]);
        assert!(matches!(inspect(&frame), Inspection::NotPassword));
    }

    #[test]
    fn a_repeated_password_value_is_refused() {
        let frame = modify(
            &[
                (1, "userPassword", &[b"Old-1", b"Old-1"]),
                (0, "userPassword", &[b"New-1"]),
            ],
            &[],
        );
        assert!(
            matches!(inspect(&frame), Inspection::Undecodable(u) if u.reason.contains("twice"))
        );
    }

    #[test]
    fn a_password_with_a_nul_is_refused() {
        let frame = modify(
            &[(2, "userPassword", &[b"Password1!\0tangerine-Otter-42"])],
            &[],
        );
        assert!(matches!(inspect(&frame), Inspection::Undecodable(_)));
        let mut pwd = Vec::new();
        for u in "\"Password1!\0tangerine-Otter-42\"".encode_utf16() {
            pwd.extend(u.to_le_bytes());
        }
        let frame = modify(&[(2, "unicodePwd", &[&pwd])], &[]);
        assert!(matches!(inspect(&frame), Inspection::Undecodable(_)));
    }

    #[test]
    fn controls_do_not_make_other_modifies_undecidable() {
        let sd_flags = t(
            tag::SEQUENCE,
            &[
                t(tag::OCTET_STRING, b"1.2.840.113556.1.4.801"),
                t(tag::OCTET_STRING, &[0x02, 0x01, 0x07]),
            ]
            .concat(),
        );
        let frame = modify(&[(2, "description", &[b"x"])], &sd_flags);
        assert!(matches!(inspect(&frame), Inspection::NotPassword));
        let ppolicy = t(tag::SEQUENCE, &t(tag::OCTET_STRING, OID_PPOLICY.as_bytes()));
        let frame = modify(&[(2, "userPassword", &[b"x"])], &ppolicy);
        let Inspection::Password(op) = inspect(&frame) else {
            panic!("a password reset")
        };
        assert!(op.ppolicy_requested);
        assert_eq!(op.kind, ChangeKind::Reset);
    }

    #[test]
    fn password_modify_targets() {
        let ext = |fields: &[u8]| {
            let body = [
                t(0x80, OID_PASSWORD_MODIFY.as_bytes()),
                t(0x81, &t(tag::SEQUENCE, fields)),
            ]
            .concat();
            t(
                tag::SEQUENCE,
                &[t(tag::INTEGER, &[4]), t(op::EXTENDED_REQUEST, &body)].concat(),
            )
        };
        let inspect = |frame: &[u8]| inspect_extended(&request::parse(frame).unwrap());
        let frame = ext(&[t(0x80, b"u:alice"), t(0x82, b"New-1")].concat());
        let Extended::Password(Inspection::Password(op)) = inspect(&frame) else {
            panic!("a password modify")
        };
        assert_eq!(op.target, Target::AuthzId("alice".into()));
        assert_eq!(op.request_names, vec!["alice".to_owned()]);
        let frame = ext(&t(0x81, b"Old-1"));
        let Extended::Password(Inspection::Password(op)) = inspect(&frame) else {
            panic!("a password modify")
        };
        assert_eq!(op.target, Target::BoundIdentity);
        assert!(matches!(
            op.new_passwords[..],
            [NewPassword::ServerGenerated]
        ));
        let frame = ext(&t(0x82, b"a\0b"));
        assert!(matches!(
            inspect(&frame),
            Extended::Password(Inspection::Undecodable(_))
        ));
    }

    #[test]
    fn prehashed_values() {
        assert!(is_prehashed(b"{SSHA}abcdef"));
        assert!(is_prehashed(b"{PBKDF2-SHA512}10000$x"));
        assert!(!is_prehashed(b"{}x"));
        assert!(!is_prehashed(b"{not a scheme}x"));
        assert!(!is_prehashed(b"Plain-Password"));
    }

    #[test]
    fn attribute_types_are_compared_in_normal_form() {
        assert_eq!(
            password_attribute("OID.2.5.4.35"),
            Some(PasswordAttribute::UserPassword)
        );
        assert_eq!(
            password_attribute("2.5.4.035"),
            Some(PasswordAttribute::UserPassword)
        );
        assert_eq!(
            password_attribute("2.005.4.35;x-opt"),
            Some(PasswordAttribute::UserPassword)
        );
        assert!(unverifiable_password_attribute("sambaNTPassword"));
        assert!(rdn_sets_password("uid=bob+userPassword=weak"));
        assert!(rdn_sets_password("uid=carol+2.5.4.35=weak,ou=people,dc=x"));
        assert!(!rdn_sets_password("uid=bob,ou=people,dc=x"));
        assert!(!rdn_sets_password("cn=userPassword\\=x,dc=x"));
        assert!(
            rdn_sets_password("cn=\"x,y\"+userPassword=weak"),
            "quoted values are refused"
        );
        assert!(unverifiable_password_attribute("1.3.6.1.4.1.7165.2.1.25"));
        assert!(
            !rdn_sets_password("uid=x,userPassword=y,dc=z"),
            "only the first RDN"
        );
    }

    #[test]
    fn password_attribute_names() {
        assert_eq!(
            password_attribute("unicodePwd"),
            Some(PasswordAttribute::UnicodePwd)
        );
        assert_eq!(
            password_attribute("USERPASSWORD;binary"),
            Some(PasswordAttribute::UserPassword)
        );
        assert_eq!(
            password_attribute("2.5.4.35"),
            Some(PasswordAttribute::UserPassword)
        );
        assert_eq!(password_attribute("description"), None);
        assert!(unverifiable_password_attribute("clearTextPassword"));
    }
}
