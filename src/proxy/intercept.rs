//! Recognising password operations in client requests.
//!
//! Only a few request types can set a password: Modify and Add touching
//! `unicodePwd` or `userPassword`, and the RFC 3062 Password Modify extended
//! operation. For those, the frame is decoded with `ldap3_proto` and turned
//! into a [`PasswordOperation`]. Everything else is reported as
//! [`Inspection::NotPassword`] and forwarded untouched. A request that looks
//! like a password operation but cannot be decoded is
//! [`Inspection::Undecodable`]: it must be refused, never forwarded.

use ldap3_lber::parse::Parser;
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{LdapMsg, LdapOp, LdapPartialAttribute, OID_PASSWORD_MODIFY};
use zeroize::Zeroize;

use crate::ber::{tag, BerError, Reader};
use crate::policy::ChangeKind;
use crate::proxy::frame::{op, Peek};
use crate::secret::Password;

/// OID of the StartTLS extended operation (RFC 4511 section 4.14).
pub const OID_START_TLS: &str = "1.3.6.1.4.1.1466.20037";

/// Which attribute or operation carries the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordAttribute {
    /// Active Directory: UTF-16LE of the quoted password.
    UnicodePwd,
    /// RFC 4519 `userPassword`: UTF-8, possibly pre-hashed (`{SSHA}...`).
    UserPassword,
    /// RFC 3062 Password Modify extended operation.
    PasswordModify,
}

impl PasswordAttribute {
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordAttribute::UnicodePwd => "unicodePwd",
            PasswordAttribute::UserPassword => "userPassword",
            PasswordAttribute::PasswordModify => "passwordModify",
        }
    }
}

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

/// One new password value.
#[derive(Debug)]
pub enum NewPassword {
    Clear(Password),
    /// A `userPassword` value that is already hashed (`{SCHEME}...`):
    /// it cannot be checked.
    PreHashed,
    /// Password Modify without newPasswd: the server generates one.
    ServerGenerated,
}

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

/// A password operation that could not be decoded: refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable {
    pub msgid: i32,
    pub response_op: u8,
    pub reason: &'static str,
}

/// What a Modify, Add or Password Modify request turned out to be.
#[derive(Debug)]
pub enum Inspection {
    NotPassword,
    Password(Box<PasswordOperation>),
    Undecodable(Undecodable),
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
pub fn inspect_modify_dn(frame: &[u8], peek: Peek) -> Inspection {
    let undecodable = |reason| {
        Inspection::Undecodable(Undecodable {
            msgid: peek.msgid,
            response_op: op::MODDN_RESPONSE,
            reason,
        })
    };
    let parsed = (|| -> Result<String, BerError> {
        let mut fields = Reader::new(frame).expect(tag::SEQUENCE)?.children();
        fields.expect(tag::INTEGER)?;
        let mut req = fields.expect(op::MODDN_REQUEST)?.children();
        primitive(req.next_tlv()?)?;
        Ok(String::from_utf8_lossy(primitive(req.next_tlv()?)?).into_owned())
    })();
    match parsed {
        Err(_) => undecodable("the ModifyDN request could not be decoded"),
        Ok(newrdn) if rdn_sets_password(&newrdn) => {
            undecodable("a password attribute in an RDN cannot be checked")
        }
        Ok(_) => Inspection::NotPassword,
    }
}

fn decode(frame: &[u8], max_depth: usize) -> Option<LdapMsg> {
    let (rest, structure) = Parser::new(max_depth).parse(frame).ok()?;
    if !rest.is_empty() {
        return None;
    }
    LdapMsg::try_from(structure).ok()
}

/// Nesting depth allowed when decoding a password operation.
const MAX_DEPTH: usize = 16;

fn wants_ppolicy(msg: &LdapMsg) -> bool {
    msg.ctrl
        .iter()
        .any(|c| matches!(c, LdapControl::PasswordPolicyRequest { .. }))
}

/// Inspects a Modify or Add request.
pub fn inspect_modify_or_add(frame: &[u8], peek: Peek) -> Inspection {
    let response_op = if peek.op == op::ADD_REQUEST {
        op::ADD_RESPONSE
    } else {
        op::MODIFY_RESPONSE
    };
    let undecodable = |reason| {
        Inspection::Undecodable(Undecodable {
            msgid: peek.msgid,
            response_op,
            reason,
        })
    };
    // Every Modify and Add is decoded: one pwgate cannot read could carry
    // a password in a form it would miss, so it is refused.
    let Some(msg) = decode(frame, MAX_DEPTH) else {
        return undecodable("the request could not be decoded");
    };
    let ppolicy_requested = wants_ppolicy(&msg);
    let (dn, kind, changes) = match msg.op {
        LdapOp::ModifyRequest(req) => {
            use ldap3_proto::proto::LdapModifyType as M;
            let changes = req
                .changes
                .into_iter()
                .map(|c| {
                    let role = match c.operation {
                        M::Delete => ValueRole::Old,
                        M::Add | M::Replace => ValueRole::New,
                        M::Increment => ValueRole::Ignored,
                    };
                    (role, c.modification)
                })
                .collect();
            (req.dn, None, changes)
        }
        LdapOp::AddRequest(req) if rdn_sets_password(&req.dn) => {
            return undecodable("a password attribute in an RDN cannot be checked")
        }
        LdapOp::AddRequest(req) => {
            let changes = req
                .attributes
                .into_iter()
                .map(|a| (ValueRole::New, a))
                .collect();
            (req.dn, Some(ChangeKind::Create), changes)
        }
        _ => return undecodable("the request could not be decoded"),
    };
    let mut changes: Vec<(ValueRole, LdapPartialAttribute)> = changes;
    let collected = collect_passwords(&changes);
    for (_, attr) in &mut changes {
        if password_attribute(&attr.atype).is_some() || unverifiable_password_attribute(&attr.atype)
        {
            wipe(attr);
        }
    }
    let collected = match collected {
        Ok(c) => c,
        Err(reason) => return undecodable(reason),
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
        msgid: peek.msgid,
        response_op,
        kind,
        attribute,
        target: Target::Dn(dn),
        new_passwords: collected.new_passwords,
        old_password: collected.old_password,
        request_names,
        ppolicy_requested,
    }))
}

/// Whether an attribute's values in a request are old or new values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueRole {
    Old,
    New,
    Ignored,
}

/// Gathers the password values of a request's attributes.
fn collect_passwords(
    changes: &[(ValueRole, LdapPartialAttribute)],
) -> Result<Collected, &'static str> {
    let mut collected = Collected::default();
    for (role, attr) in changes {
        if unverifiable_password_attribute(&attr.atype)
            && !attr.vals.is_empty()
            && *role != ValueRole::Ignored
        {
            return Err("this password attribute cannot be checked");
        }
        let Some(kind) = password_attribute(&attr.atype) else {
            continue;
        };
        match role {
            ValueRole::Old => collected.add_old(kind, attr)?,
            ValueRole::New => collected.add_new(kind, attr)?,
            ValueRole::Ignored => {}
        }
    }
    Ok(collected)
}

/// Attributes of an Add whose values name the account.
fn account_names_in(attr: &LdapPartialAttribute) -> Vec<String> {
    let name = attribute_type(&attr.atype);
    attr.vals
        .iter()
        .filter_map(|v| std::str::from_utf8(v).ok())
        .filter_map(|v| crate::policy::rules::account_name::name_from_attribute(&name, v))
        .collect()
}

fn wipe(attr: &mut LdapPartialAttribute) {
    for v in &mut attr.vals {
        v.zeroize();
    }
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
            PasswordAttribute::UnicodePwd => Password::from_unicode_pwd(value)
                .map(NewPassword::Clear)
                .ok_or("unicodePwd must be the UTF-16LE encoding of the password in double quotes"),
            _ => {
                if is_prehashed(value) {
                    return Ok(NewPassword::PreHashed);
                }
                Password::from_utf8(value)
                    .map(NewPassword::Clear)
                    .ok_or("userPassword is not valid UTF-8")
            }
        }
    }

    fn add_new(
        &mut self,
        kind: PasswordAttribute,
        attr: &LdapPartialAttribute,
    ) -> Result<(), &'static str> {
        self.attribute.get_or_insert(kind);
        for v in &attr.vals {
            self.new_passwords.push(Self::decode_value(kind, v)?);
        }
        Ok(())
    }

    fn add_old(
        &mut self,
        kind: PasswordAttribute,
        attr: &LdapPartialAttribute,
    ) -> Result<(), &'static str> {
        if let Some(v) = attr.vals.first() {
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

/// Reads the requestName of an ExtendedRequest without decoding the value.
/// The requestName and requestValue of an ExtendedRequest. slapd reads the
/// name whatever its tag, so any primitive tag is accepted here too.
fn extended_parts(frame: &[u8]) -> Result<(&[u8], Option<&[u8]>), BerError> {
    let mut fields = Reader::new(frame).expect(tag::SEQUENCE)?.children();
    fields.expect(tag::INTEGER)?;
    let mut request = fields.expect(op::EXTENDED_REQUEST)?.children();
    let name = primitive(request.next_tlv()?)?;
    let value = if request.is_empty() {
        None
    } else {
        Some(primitive(request.next_tlv()?)?)
    };
    if !request.is_empty() {
        return Err(BerError::Truncated);
    }
    Ok((name, value))
}

/// The content of a primitive element, whatever its tag.
fn primitive(tlv: crate::ber::Tlv<'_>) -> Result<&[u8], BerError> {
    if tlv.tag & 0x20 != 0 {
        return Err(BerError::UnexpectedTag {
            expected: tag::OCTET_STRING,
            found: tlv.tag,
        });
    }
    Ok(tlv.value)
}

/// The fields of an RFC 3062 PasswdModifyRequestValue, read strictly: the
/// three optional fields with their exact tags, in order, once each, and
/// nothing after them. Anything else is refused rather than guessed at,
/// so pwgate never checks one value while the directory uses another.
struct PasswdModify<'a> {
    user_identity: Option<&'a [u8]>,
    old_password: Option<&'a [u8]>,
    new_password: Option<&'a [u8]>,
}

fn passwd_modify_value(value: &[u8]) -> Result<PasswdModify<'_>, BerError> {
    let mut outer = Reader::new(value);
    let seq = outer.expect(tag::SEQUENCE)?;
    if !outer.is_empty() {
        return Err(BerError::Truncated);
    }
    let mut fields = seq.children();
    let mut out = PasswdModify {
        user_identity: None,
        old_password: None,
        new_password: None,
    };
    let mut last = 0x7fu8;
    while !fields.is_empty() {
        let tlv = fields.next_tlv()?;
        let slot = match tlv.tag {
            0x80 => &mut out.user_identity,
            0x81 => &mut out.old_password,
            0x82 => &mut out.new_password,
            found => {
                return Err(BerError::UnexpectedTag {
                    expected: 0x80,
                    found,
                })
            }
        };
        if last != 0x7f && tlv.tag <= last {
            return Err(BerError::UnexpectedTag {
                expected: last + 1,
                found: tlv.tag,
            });
        }
        last = tlv.tag;
        *slot = Some(tlv.value);
    }
    Ok(out)
}

/// Inspects an ExtendedRequest: StartTLS, Password Modify, or other.
pub fn inspect_extended(frame: &[u8], peek: Peek) -> Extended {
    let undecodable = |reason| {
        Extended::Password(Inspection::Undecodable(Undecodable {
            msgid: peek.msgid,
            response_op: op::EXTENDED_RESPONSE,
            reason,
        }))
    };
    let Ok((name, value)) = extended_parts(frame) else {
        // An extended request pwgate cannot read could be a Password
        // Modify in disguise: refused, never forwarded.
        return undecodable("the extended request could not be decoded");
    };
    if name == OID_START_TLS.as_bytes() {
        return Extended::StartTls;
    }
    if name != OID_PASSWORD_MODIFY.as_bytes() {
        return Extended::Other;
    }
    // Controls (the Password Policy request) come from the full decode.
    let Some(msg) = decode(frame, MAX_DEPTH) else {
        return undecodable("the request could not be decoded");
    };
    let ppolicy_requested = wants_ppolicy(&msg);
    if let LdapOp::ExtendedRequest(mut req) = msg.op {
        // The decoder's copy of the value holds the passwords.
        if let Some(v) = req.value.as_mut() {
            v.zeroize();
        }
    }
    let fields = match value {
        // RFC 3062: no value means "generate a password for the bound
        // identity".
        None => PasswdModify {
            user_identity: None,
            old_password: None,
            new_password: None,
        },
        Some(v) => match passwd_modify_value(v) {
            Ok(f) => f,
            Err(_) => return undecodable("the Password Modify request could not be decoded"),
        },
    };
    let utf8 = |b: &[u8]| std::str::from_utf8(b).map(str::to_owned).ok();
    let target = match fields.user_identity {
        None => Target::BoundIdentity,
        Some(raw) => match utf8(raw) {
            None => return undecodable("userIdentity is not valid UTF-8"),
            Some(id) if id.is_empty() => Target::BoundIdentity,
            Some(id) => match (id.strip_prefix("dn:"), id.strip_prefix("u:")) {
                (Some(dn), _) => Target::Dn(dn.to_owned()),
                (_, Some(user)) => Target::AuthzId(user.to_owned()),
                _ => Target::Dn(id),
            },
        },
    };
    let request_names = match &target {
        Target::AuthzId(user) => vec![user.clone()],
        _ => Vec::new(),
    };
    let old_password = match fields.old_password.map(Password::from_utf8) {
        Some(None) => return undecodable("oldPasswd is not valid UTF-8"),
        Some(p) => p,
        None => None,
    };
    let new_password = match fields.new_password.map(Password::from_utf8) {
        Some(None) => return undecodable("newPasswd is not valid UTF-8"),
        Some(Some(p)) => NewPassword::Clear(p),
        None => NewPassword::ServerGenerated,
    };
    let kind = if old_password.is_some() {
        ChangeKind::Change
    } else {
        ChangeKind::Reset
    };
    Extended::Password(Inspection::Password(Box::new(PasswordOperation {
        msgid: peek.msgid,
        response_op: op::EXTENDED_RESPONSE,
        kind,
        attribute: PasswordAttribute::PasswordModify,
        target,
        new_passwords: vec![new_password],
        old_password,
        request_names,
        ppolicy_requested,
    })))
}

/// What a Bind request says about the identity it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindMethod {
    Simple,
    Sasl { mechanism: String },
    Other,
}

/// The name and method of a Bind request; the credentials are not read.
pub fn inspect_bind(frame: &[u8]) -> Result<(String, BindMethod), BerError> {
    let mut fields = Reader::new(frame).expect(tag::SEQUENCE)?.children();
    fields.expect(tag::INTEGER)?;
    let mut bind = fields.expect(op::BIND_REQUEST)?.children();
    bind.expect(tag::INTEGER)?;
    // slapd reads the name and the SASL mechanism whatever their tag.
    let name = String::from_utf8_lossy(primitive(bind.next_tlv()?)?).into_owned();
    let auth = bind.next_tlv()?;
    let method = match auth.tag {
        0x80 => BindMethod::Simple,
        0xa3 => {
            let mechanism = primitive(auth.children().next_tlv()?)?;
            BindMethod::Sasl {
                mechanism: String::from_utf8_lossy(mechanism).into_owned(),
            }
        }
        _ => BindMethod::Other,
    };
    Ok((name, method))
}

pub use crate::dn::{first_rdn_values, organisation_names};

#[cfg(test)]
mod tests {
    use super::*;

    /// Wraps `content` in `depth` nested SEQUENCEs.
    fn nested(depth: usize, content: &[u8]) -> Vec<u8> {
        let mut v = content.to_vec();
        for _ in 0..depth {
            let mut outer = Vec::new();
            crate::ber::write_tlv(&mut outer, tag::SEQUENCE, &v);
            v = outer;
        }
        v
    }

    #[test]
    fn deeply_nested_password_modify_is_refused_not_overflowing() {
        // A Modify naming userPassword whose body is 5,000 nested SEQUENCEs.
        let mut body = Vec::new();
        crate::ber::write_tlv(&mut body, tag::OCTET_STRING, b"uid=x,dc=example");
        body.extend(nested(5000, b"\x04\x0cuserPassword"));
        let mut msg = Vec::new();
        crate::ber::write_integer(&mut msg, tag::INTEGER, 3);
        crate::ber::write_tlv(&mut msg, op::MODIFY_REQUEST, &body);
        let mut frame = Vec::new();
        crate::ber::write_tlv(&mut frame, tag::SEQUENCE, &msg);
        let peek = crate::proxy::frame::peek(&frame).expect("outer frame is fine");
        match inspect_modify_or_add(&frame, peek) {
            Inspection::Undecodable(u) => assert_eq!(u.msgid, 3),
            other => panic!("expected a refusal, got {other:?}"),
        }
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
    fn extended_requests_with_odd_tags_are_refused_not_forwarded() {
        // A Password Modify whose requestName is tagged 0x04 (slapd reads it
        // anyway): refused.
        let mut name = Vec::new();
        crate::ber::write_tlv(&mut name, tag::OCTET_STRING, OID_PASSWORD_MODIFY.as_bytes());
        let mut value = Vec::new();
        crate::ber::write_tlv(&mut value, 0x82, b"password");
        let mut seq = Vec::new();
        crate::ber::write_tlv(&mut seq, tag::SEQUENCE, &value);
        crate::ber::write_tlv(&mut name, 0x81, &seq);
        let mut msg = Vec::new();
        crate::ber::write_integer(&mut msg, tag::INTEGER, 4);
        crate::ber::write_tlv(&mut msg, op::EXTENDED_REQUEST, &name);
        let mut frame = Vec::new();
        crate::ber::write_tlv(&mut frame, tag::SEQUENCE, &msg);
        let peek = crate::proxy::frame::peek(&frame).unwrap();
        match inspect_extended(&frame, peek) {
            Extended::Password(Inspection::Undecodable(u)) => assert_eq!(u.msgid, 4),
            other => panic!("expected a refusal, got {other:?}"),
        }
        // An extended request whose name is not even primitive: refused too.
        let garbage = [0x30, 0x07, 0x02, 0x01, 0x05, 0x77, 0x02, 0x30, 0x00];
        let peek = crate::proxy::frame::peek(&garbage).unwrap();
        assert!(matches!(
            inspect_extended(&garbage, peek),
            Extended::Password(Inspection::Undecodable(_))
        ));
        // A duplicated newPasswd: refused.
        assert!(passwd_modify_value(&[0x30, 0x06, 0x82, 0x01, b'a', 0x82, 0x01, b'b']).is_err());
        // Out of order: refused.
        assert!(passwd_modify_value(&[0x30, 0x06, 0x82, 0x01, b'a', 0x80, 0x01, b'b']).is_err());
        // Trailing bytes: refused.
        assert!(passwd_modify_value(&[0x30, 0x03, 0x82, 0x01, b'a', 0x00]).is_err());
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
