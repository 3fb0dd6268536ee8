//! The strict reading of the client requests pwgate decides on, and their
//! canonical encoding.
//!
//! pwgate decides on its own reading of a request while the directory acts
//! on its own reading of the bytes it receives. Wherever the two readings
//! could differ, a password could be set that pwgate never saw: a trailing
//! element that slapd takes for the next change, a NUL that ends Samba's
//! attribute name early, a length octet Samba reads differently. So every
//! Bind, Modify, Add, ModifyDN and Extended request is read here exactly
//! as RFC 4511 writes it, or refused:
//!
//! - definite lengths only (no indefinite form, at most four length bytes);
//! - one-byte tags, each exactly the one RFC 4511 gives the element;
//! - every constructed element consumed exactly: no missing and no
//!   trailing elements, at every level (message, request, change,
//!   attribute, value set, controls, Password Modify value);
//! - attribute descriptions as RFC 4512 section 2.5 writes them (a
//!   keystring or a numeric OID, options of keychars): no NUL, space or
//!   other byte a server might stop at or fold;
//! - OIDs (extended operations, controls) as numeric OIDs;
//! - DNs, RDNs, bind names and SASL mechanisms valid UTF-8 without NUL;
//! - BOOLEANs of one byte, INTEGERs that fit, message IDs in 0..2^31-1.
//!
//! What goes to the directory is then the canonical encoding of what was
//! read ([`Request::canonical`]): the same elements in the same order with
//! the shortest lengths, shortest integers and BOOLEAN true as 0xff. A
//! request already in that form (what OpenLDAP's, Samba's and the ldap3
//! crate's encoders send) is forwarded as the client's own bytes; one with
//! long-form lengths (as Windows' LDAP client writes them) or other
//! harmless BER liberties is forwarded re-encoded, so the directory reads
//! exactly what pwgate decided on. Control values and attribute values
//! are opaque bytes and go as they are.
//!
//! The reading borrows from the frame: no value (and so no password) is
//! copied here. The canonical encoding is written into one buffer of its
//! final size, wiped when dropped.

use zeroize::Zeroizing;

use crate::ber::{self, tag, Header, Tlv};
use crate::proxy::frame::op;

/// OID of the RFC 3062 Password Modify extended operation.
pub const OID_PASSWORD_MODIFY: &str = "1.3.6.1.4.1.4203.1.11.1";

/// Context tags of a BindRequest's authentication choice.
const AUTH_SIMPLE: u8 = 0x80;
const AUTH_SASL: u8 = 0xa3;
/// `controls [0] Controls` of an LDAPMessage.
const CONTROLS: u8 = 0xa0;
/// `newSuperior [0] LDAPDN` of a ModifyDNRequest.
const NEW_SUPERIOR: u8 = 0x80;
/// `requestName [0]` and `requestValue [1]` of an ExtendedRequest.
const EXT_NAME: u8 = 0x80;
const EXT_VALUE: u8 = 0x81;
/// `SET OF AttributeValue`.
const SET: u8 = 0x31;
/// Fields of a PasswdModifyRequestValue (RFC 3062).
const PM_USER_IDENTITY: u8 = 0x80;
const PM_OLD_PASSWD: u8 = 0x81;
const PM_NEW_PASSWD: u8 = 0x82;

/// One request, read strictly.
#[derive(Debug)]
pub struct Request<'a> {
    pub msgid: i32,
    pub operation: Operation<'a>,
    /// `None` when the message has no controls element at all.
    pub controls: Option<Vec<Control<'a>>>,
    /// Whether the client's bytes are already the canonical encoding.
    canonical: bool,
}

/// The operations read strictly. Other operations (searches, compares,
/// deletes, abandons, unbinds) cannot set a password and are not read.
#[derive(Debug)]
pub enum Operation<'a> {
    Bind {
        version: i64,
        name: &'a str,
        authentication: Authentication<'a>,
    },
    Modify {
        dn: &'a str,
        changes: Vec<Change<'a>>,
    },
    Add {
        dn: &'a str,
        attributes: Vec<Attribute<'a>>,
    },
    ModifyDn {
        dn: &'a str,
        new_rdn: &'a str,
        delete_old_rdn: bool,
        new_superior: Option<&'a str>,
    },
    Extended {
        name: &'a str,
        value: Option<ExtendedValue<'a>>,
    },
}

impl Operation<'_> {
    /// The protocolOp tag of the request.
    pub fn tag(&self) -> u8 {
        match self {
            Operation::Bind { .. } => op::BIND_REQUEST,
            Operation::Modify { .. } => op::MODIFY_REQUEST,
            Operation::Add { .. } => op::ADD_REQUEST,
            Operation::ModifyDn { .. } => op::MODDN_REQUEST,
            Operation::Extended { .. } => op::EXTENDED_REQUEST,
        }
    }
}

/// A BindRequest's authentication choice. Credentials are opaque.
#[derive(Debug)]
pub enum Authentication<'a> {
    Simple(&'a [u8]),
    Sasl {
        mechanism: &'a str,
        credentials: Option<&'a [u8]>,
    },
    /// Another primitive context-specific choice (AD's Sicily NTLM binds
    /// use `[9]`, `[10]`, `[11]`), kept as its tag and content.
    Other {
        tag: u8,
        content: &'a [u8],
    },
}

/// An ExtendedRequest's value: Password Modify's is read (the directory
/// reads it, so pwgate must read it the same way); any other is opaque.
#[derive(Debug)]
pub enum ExtendedValue<'a> {
    PasswordModify(PasswordModify<'a>),
    Opaque(&'a [u8]),
}

/// The fields of a PasswdModifyRequestValue.
#[derive(Debug, Default)]
pub struct PasswordModify<'a> {
    pub user_identity: Option<&'a [u8]>,
    pub old_password: Option<&'a [u8]>,
    pub new_password: Option<&'a [u8]>,
}

/// One change of a ModifyRequest.
#[derive(Debug)]
pub struct Change<'a> {
    /// The ENUMERATED operation as sent: 0 add, 1 delete, 2 replace,
    /// 3 increment (RFC 4525); other values are kept for the caller to
    /// judge.
    pub operation: i64,
    pub attribute: Attribute<'a>,
}

/// An attribute description and its values (Attribute or PartialAttribute).
#[derive(Debug)]
pub struct Attribute<'a> {
    pub description: &'a str,
    pub values: Vec<&'a [u8]>,
}

/// One control: its type, its criticality as sent (absent or a BOOLEAN)
/// and its value, which pwgate never reads.
#[derive(Debug)]
pub struct Control<'a> {
    pub oid: &'a str,
    pub critical: Option<bool>,
    pub value: Option<&'a [u8]>,
}

/// Why a request was refused, with what had been read of it for the
/// audit trail. The reason never quotes a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub reason: String,
    /// The request's DN (entry, object or bind name), when it was read.
    pub dn: Option<String>,
    /// Attribute descriptions read before the fault (valid ones only).
    pub attributes: Vec<String>,
}

/// What has been read so far, for [`Malformed`].
#[derive(Default)]
struct Seen {
    dn: Option<String>,
    attributes: Vec<String>,
    canonical: bool,
}

impl Seen {
    fn fault(&self, reason: impl Into<String>) -> Malformed {
        Malformed {
            reason: reason.into(),
            dn: self.dn.clone(),
            attributes: self.attributes.clone(),
        }
    }
}

type Result<T> = std::result::Result<T, Malformed>;

/// Walks the elements of one constructed value strictly.
struct Elements<'a> {
    buf: &'a [u8],
    /// What the elements belong to, for messages.
    what: &'static str,
}

impl<'a> Elements<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Elements { buf, what }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// The next element, whatever its tag.
    fn any(&mut self, seen: &mut Seen) -> Result<Tlv<'a>> {
        let header: Header = match ber::read_header(self.buf) {
            Ok(Some(h)) => h,
            Ok(None) => return Err(seen.fault(format!("{} ends inside an element", self.what))),
            Err(e) => return Err(seen.fault(format!("{}: {e}", self.what))),
        };
        let end = header.total_len();
        let Some(value) = self.buf.get(header.header_len..end) else {
            return Err(seen.fault(format!(
                "an element of {} is longer than what contains it",
                self.what
            )));
        };
        if !header.is_minimal() {
            seen.canonical = false;
        }
        self.buf = &self.buf[end..];
        Ok(Tlv {
            tag: header.tag,
            value,
        })
    }

    /// The next element, which must carry `tag`.
    fn expect(&mut self, seen: &mut Seen, tag: u8, field: &str) -> Result<Tlv<'a>> {
        if self.is_empty() {
            return Err(seen.fault(format!("{} lacks its {field}", self.what)));
        }
        let tlv = self.any(seen)?;
        if tlv.tag != tag {
            return Err(seen.fault(format!(
                "the {field} of {} has tag 0x{:02x}, not 0x{tag:02x}",
                self.what, tlv.tag
            )));
        }
        Ok(tlv)
    }

    /// Nothing may follow the last element.
    fn end(&self, seen: &Seen) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(seen.fault(format!("{} has an element after its last field", self.what)))
        }
    }
}

/// An INTEGER or ENUMERATED content, noting a non-minimal form.
fn integer(seen: &mut Seen, tlv: Tlv<'_>, field: &str) -> Result<i64> {
    let v = tlv
        .as_i64()
        .map_err(|_| seen.fault(format!("the {field} is not an integer pwgate can read")))?;
    if !tlv.integer_is_minimal() {
        seen.canonical = false;
    }
    Ok(v)
}

/// A BOOLEAN content: one byte, any non-zero value is TRUE (X.690 8.2);
/// TRUE other than 0xff is re-encoded as 0xff, which every server reads
/// as TRUE (Samba reads only 0xff as TRUE).
fn boolean(seen: &mut Seen, tlv: Tlv<'_>, field: &str) -> Result<bool> {
    match tlv.value {
        [0x00] => Ok(false),
        [0xff] => Ok(true),
        [_] => {
            seen.canonical = false;
            Ok(true)
        }
        _ => Err(seen.fault(format!("the {field} is not a one-byte BOOLEAN"))),
    }
}

/// An LDAPString that names something (DN, RDN, bind name, mechanism):
/// UTF-8 without NUL, which C servers would take as its end.
fn text<'a>(seen: &Seen, bytes: &'a [u8], field: &str) -> Result<&'a str> {
    let s = std::str::from_utf8(bytes)
        .map_err(|_| seen.fault(format!("the {field} is not valid UTF-8")))?;
    if s.contains('\0') {
        return Err(seen.fault(format!("the {field} contains a NUL character")));
    }
    Ok(s)
}

/// `numericoid = number 1*( DOT number )`, `number = DIGIT / ( LDIGIT
/// 1*DIGIT )` (RFC 4512 section 1.4).
pub fn is_numeric_oid(s: &str) -> bool {
    let mut arcs = 0;
    for arc in s.split('.') {
        let ok = !arc.is_empty()
            && arc.bytes().all(|b| b.is_ascii_digit())
            && (arc.len() == 1 || !arc.starts_with('0'));
        if !ok {
            return false;
        }
        arcs += 1;
    }
    arcs >= 2
}

/// `attributedescription = attributetype options` with `attributetype =
/// descr / numericoid`, `descr = ALPHA *( ALPHA / DIGIT / HYPHEN )` and
/// `options = *( SEMI 1*keychar )` (RFC 4512 sections 1.4 and 2.5).
pub fn is_attribute_description(s: &str) -> bool {
    let keychars =
        |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let mut parts = s.split(';');
    let kind = parts.next().unwrap_or_default();
    let kind_ok = match kind.as_bytes().first() {
        Some(b) if b.is_ascii_alphabetic() => keychars(kind),
        Some(b) if b.is_ascii_digit() => is_numeric_oid(kind),
        _ => false,
    };
    kind_ok && parts.all(keychars)
}

fn oid<'a>(seen: &Seen, bytes: &'a [u8], field: &str) -> Result<&'a str> {
    let s = std::str::from_utf8(bytes)
        .ok()
        .filter(|s| is_numeric_oid(s));
    s.ok_or_else(|| seen.fault(format!("the {field} is not a numeric OID")))
}

/// Reads one complete LDAPMessage frame (as split by `frame::frame_len`)
/// whose protocolOp is a Bind, Modify, Add, ModifyDN or Extended request.
pub fn parse(frame: &[u8]) -> Result<Request<'_>> {
    let mut seen = Seen {
        canonical: true,
        ..Seen::default()
    };
    let mut outer = Elements::new(frame, "the message");
    let message = outer.expect(&mut seen, tag::SEQUENCE, "LDAPMessage")?;
    outer.end(&seen)?;
    let mut fields = Elements::new(message.value, "LDAPMessage");
    let id = fields.expect(&mut seen, tag::INTEGER, "messageID")?;
    let msgid = integer(&mut seen, id, "messageID")?;
    let msgid = i32::try_from(msgid)
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| seen.fault("the messageID is outside 0..2147483647"))?;
    if fields.is_empty() {
        return Err(seen.fault("LDAPMessage lacks its protocolOp"));
    }
    let body = fields.any(&mut seen)?;
    let operation = match body.tag {
        op::BIND_REQUEST => bind(&mut seen, body.value)?,
        op::MODIFY_REQUEST => modify(&mut seen, body.value)?,
        op::ADD_REQUEST => add(&mut seen, body.value)?,
        op::MODDN_REQUEST => modify_dn(&mut seen, body.value)?,
        op::EXTENDED_REQUEST => extended(&mut seen, body.value)?,
        other => return Err(seen.fault(format!("protocolOp 0x{other:02x} is not read strictly"))),
    };
    let controls = if fields.is_empty() {
        None
    } else {
        let c = fields.expect(&mut seen, CONTROLS, "controls")?;
        Some(controls(&mut seen, c.value)?)
    };
    fields.end(&seen)?;
    Ok(Request {
        msgid,
        operation,
        controls,
        canonical: seen.canonical,
    })
}

fn controls<'a>(seen: &mut Seen, content: &'a [u8]) -> Result<Vec<Control<'a>>> {
    let mut list = Elements::new(content, "the controls");
    let mut out = Vec::new();
    while !list.is_empty() {
        let c = list.expect(seen, tag::SEQUENCE, "Control")?;
        let mut fields = Elements::new(c.value, "a Control");
        let t = fields.expect(seen, tag::OCTET_STRING, "controlType")?;
        let oid = oid(seen, t.value, "controlType")?;
        let critical = if fields.peek_tag() == Some(tag::BOOLEAN) {
            let b = fields.any(seen)?;
            Some(boolean(seen, b, "criticality")?)
        } else {
            None
        };
        let value = if fields.is_empty() {
            None
        } else {
            Some(
                fields
                    .expect(seen, tag::OCTET_STRING, "controlValue")?
                    .value,
            )
        };
        fields.end(seen)?;
        out.push(Control {
            oid,
            critical,
            value,
        });
    }
    Ok(out)
}

fn bind<'a>(seen: &mut Seen, content: &'a [u8]) -> Result<Operation<'a>> {
    let mut fields = Elements::new(content, "the BindRequest");
    let v = fields.expect(seen, tag::INTEGER, "version")?;
    let version = integer(seen, v, "version")?;
    let n = fields.expect(seen, tag::OCTET_STRING, "name")?;
    let name = text(seen, n.value, "bind name")?;
    seen.dn = Some(name.to_owned());
    if fields.is_empty() {
        return Err(seen.fault("the BindRequest lacks its authentication"));
    }
    let auth = fields.any(seen)?;
    let authentication = match auth.tag {
        AUTH_SIMPLE => Authentication::Simple(auth.value),
        AUTH_SASL => {
            let mut sasl = Elements::new(auth.value, "the SaslCredentials");
            let m = sasl.expect(seen, tag::OCTET_STRING, "mechanism")?;
            let mechanism = text(seen, m.value, "SASL mechanism")?;
            let credentials = if sasl.is_empty() {
                None
            } else {
                Some(sasl.expect(seen, tag::OCTET_STRING, "credentials")?.value)
            };
            sasl.end(seen)?;
            Authentication::Sasl {
                mechanism,
                credentials,
            }
        }
        t if t & 0xe0 == 0x80 => Authentication::Other {
            tag: t,
            content: auth.value,
        },
        t => {
            return Err(seen.fault(format!(
                "the authentication of the BindRequest has tag 0x{t:02x}"
            )))
        }
    };
    fields.end(seen)?;
    Ok(Operation::Bind {
        version,
        name,
        authentication,
    })
}

fn dn<'a>(seen: &mut Seen, fields: &mut Elements<'a>, field: &str) -> Result<&'a str> {
    let t = fields.expect(seen, tag::OCTET_STRING, field)?;
    let dn = text(seen, t.value, field)?;
    seen.dn = Some(dn.to_owned());
    Ok(dn)
}

/// An Attribute or PartialAttribute: `SEQUENCE { type, vals SET OF value }`.
fn attribute<'a>(seen: &mut Seen, tlv: Tlv<'a>) -> Result<Attribute<'a>> {
    let mut fields = Elements::new(tlv.value, "an attribute");
    let t = fields.expect(seen, tag::OCTET_STRING, "type")?;
    let Some(description) = std::str::from_utf8(t.value)
        .ok()
        .filter(|d| is_attribute_description(d))
    else {
        // For the audit trail: the part a server would likely have read
        // (`unicodePwd` of `unicodePwd\0x`).
        let known: String = t
            .value
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b';'))
            .map(|b| char::from(*b))
            .collect();
        if !known.is_empty() {
            seen.attributes.push(known);
        }
        return Err(
            seen.fault("an attribute description is not a name or OID with options (RFC 4512)")
        );
    };
    seen.attributes.push(description.to_owned());
    let set = fields.expect(seen, SET, "values")?;
    fields.end(seen)?;
    let mut vals = Elements::new(set.value, "an attribute's values");
    let mut values = Vec::new();
    while !vals.is_empty() {
        values.push(vals.expect(seen, tag::OCTET_STRING, "value")?.value);
    }
    Ok(Attribute {
        description,
        values,
    })
}

fn modify<'a>(seen: &mut Seen, content: &'a [u8]) -> Result<Operation<'a>> {
    let mut fields = Elements::new(content, "the ModifyRequest");
    let dn = dn(seen, &mut fields, "object")?;
    let list = fields.expect(seen, tag::SEQUENCE, "changes")?;
    fields.end(seen)?;
    let mut list = Elements::new(list.value, "the changes");
    let mut changes = Vec::new();
    while !list.is_empty() {
        let c = list.expect(seen, tag::SEQUENCE, "change")?;
        let mut change = Elements::new(c.value, "a change");
        let o = change.expect(seen, tag::ENUMERATED, "operation")?;
        let operation = integer(seen, o, "operation of a change")?;
        let m = change.expect(seen, tag::SEQUENCE, "modification")?;
        change.end(seen)?;
        changes.push(Change {
            operation,
            attribute: attribute(seen, m)?,
        });
    }
    Ok(Operation::Modify { dn, changes })
}

fn add<'a>(seen: &mut Seen, content: &'a [u8]) -> Result<Operation<'a>> {
    let mut fields = Elements::new(content, "the AddRequest");
    let dn = dn(seen, &mut fields, "entry")?;
    let list = fields.expect(seen, tag::SEQUENCE, "attributes")?;
    fields.end(seen)?;
    let mut list = Elements::new(list.value, "the attributes");
    let mut attributes = Vec::new();
    while !list.is_empty() {
        let a = list.expect(seen, tag::SEQUENCE, "attribute")?;
        attributes.push(attribute(seen, a)?);
    }
    Ok(Operation::Add { dn, attributes })
}

fn modify_dn<'a>(seen: &mut Seen, content: &'a [u8]) -> Result<Operation<'a>> {
    let mut fields = Elements::new(content, "the ModifyDNRequest");
    let dn = dn(seen, &mut fields, "entry")?;
    let r = fields.expect(seen, tag::OCTET_STRING, "newrdn")?;
    let new_rdn = text(seen, r.value, "newrdn")?;
    let d = fields.expect(seen, tag::BOOLEAN, "deleteoldrdn")?;
    let delete_old_rdn = boolean(seen, d, "deleteoldrdn")?;
    let new_superior = if fields.is_empty() {
        None
    } else {
        let s = fields.expect(seen, NEW_SUPERIOR, "newSuperior")?;
        Some(text(seen, s.value, "newSuperior")?)
    };
    fields.end(seen)?;
    Ok(Operation::ModifyDn {
        dn,
        new_rdn,
        delete_old_rdn,
        new_superior,
    })
}

fn extended<'a>(seen: &mut Seen, content: &'a [u8]) -> Result<Operation<'a>> {
    let mut fields = Elements::new(content, "the ExtendedRequest");
    let n = fields.expect(seen, EXT_NAME, "requestName")?;
    let name = oid(seen, n.value, "requestName")?;
    let value = if fields.is_empty() {
        None
    } else {
        let v = fields.expect(seen, EXT_VALUE, "requestValue")?;
        Some(if name == OID_PASSWORD_MODIFY {
            ExtendedValue::PasswordModify(password_modify(seen, v.value)?)
        } else {
            ExtendedValue::Opaque(v.value)
        })
    };
    fields.end(seen)?;
    Ok(Operation::Extended { name, value })
}

/// `PasswdModifyRequestValue ::= SEQUENCE { userIdentity [0] OPTIONAL,
/// oldPasswd [1] OPTIONAL, newPasswd [2] OPTIONAL }`: these tags, in this
/// order, each at most once, nothing else.
fn password_modify<'a>(seen: &mut Seen, value: &'a [u8]) -> Result<PasswordModify<'a>> {
    let mut outer = Elements::new(value, "the Password Modify value");
    let seq = outer.expect(seen, tag::SEQUENCE, "PasswdModifyRequestValue")?;
    outer.end(seen)?;
    let mut fields = Elements::new(seq.value, "the Password Modify value");
    let mut out = PasswordModify::default();
    let mut last: Option<u8> = None;
    while !fields.is_empty() {
        let f = fields.any(seen)?;
        let slot = match f.tag {
            PM_USER_IDENTITY => &mut out.user_identity,
            PM_OLD_PASSWD => &mut out.old_password,
            PM_NEW_PASSWD => &mut out.new_password,
            t => {
                return Err(seen.fault(format!(
                    "the Password Modify value has a field with tag 0x{t:02x}"
                )))
            }
        };
        if last.is_some_and(|l| f.tag <= l) {
            return Err(
                seen.fault("the Password Modify value's fields are repeated or out of order")
            );
        }
        last = Some(f.tag);
        *slot = Some(f.value);
    }
    Ok(out)
}

impl<'a> Request<'a> {
    /// Whether the client's bytes are the canonical encoding, so they can
    /// be forwarded as they are.
    pub fn is_canonical(&self) -> bool {
        self.canonical
    }

    /// The canonical encoding of the request: what is forwarded when the
    /// client's bytes are not in that form. Written into one buffer of its
    /// final size (no reallocation leaves a copy behind), wiped on drop.
    pub fn canonical(&self) -> Zeroizing<Vec<u8>> {
        let content = self.message_content_len();
        let total = ber::encoded_len(content);
        let mut out = Zeroizing::new(Vec::with_capacity(total));
        ber::write_header(&mut out, tag::SEQUENCE, content);
        ber::write_integer(&mut out, tag::INTEGER, i64::from(self.msgid));
        let (tag, len) = (self.operation.tag(), self.operation_content_len());
        ber::write_header(&mut out, tag, len);
        self.write_operation(&mut out);
        if let Some(controls) = &self.controls {
            let len = controls.iter().map(control_len).sum();
            ber::write_header(&mut out, CONTROLS, len);
            for c in controls {
                write_control(&mut out, c);
            }
        }
        debug_assert_eq!(out.len(), total, "computed and written lengths agree");
        out
    }

    fn message_content_len(&self) -> usize {
        ber::integer_len(i64::from(self.msgid))
            + ber::encoded_len(self.operation_content_len())
            + self
                .controls
                .as_ref()
                .map_or(0, |c| ber::encoded_len(c.iter().map(control_len).sum()))
    }

    fn operation_content_len(&self) -> usize {
        match &self.operation {
            Operation::Bind {
                version,
                name,
                authentication,
            } => {
                ber::integer_len(*version)
                    + octets_len(name.as_bytes())
                    + match authentication {
                        Authentication::Simple(p) => octets_len(p),
                        Authentication::Sasl {
                            mechanism,
                            credentials,
                        } => ber::encoded_len(sasl_len(mechanism, *credentials)),
                        Authentication::Other { content, .. } => octets_len(content),
                    }
            }
            Operation::Modify { dn, changes } => {
                octets_len(dn.as_bytes()) + ber::encoded_len(changes.iter().map(change_len).sum())
            }
            Operation::Add { dn, attributes } => {
                octets_len(dn.as_bytes())
                    + ber::encoded_len(attributes.iter().map(attribute_len).sum())
            }
            Operation::ModifyDn {
                dn,
                new_rdn,
                new_superior,
                ..
            } => {
                octets_len(dn.as_bytes())
                    + octets_len(new_rdn.as_bytes())
                    + 3
                    + new_superior.map_or(0, |s| octets_len(s.as_bytes()))
            }
            Operation::Extended { name, value } => {
                octets_len(name.as_bytes())
                    + match value {
                        None => 0,
                        Some(ExtendedValue::Opaque(v)) => octets_len(v),
                        Some(ExtendedValue::PasswordModify(pm)) => {
                            ber::encoded_len(ber::encoded_len(password_modify_len(pm)))
                        }
                    }
            }
        }
    }

    fn write_operation(&self, out: &mut Vec<u8>) {
        match &self.operation {
            Operation::Bind {
                version,
                name,
                authentication,
            } => {
                ber::write_integer(out, tag::INTEGER, *version);
                ber::write_tlv(out, tag::OCTET_STRING, name.as_bytes());
                match authentication {
                    Authentication::Simple(p) => ber::write_tlv(out, AUTH_SIMPLE, p),
                    Authentication::Sasl {
                        mechanism,
                        credentials,
                    } => {
                        ber::write_header(out, AUTH_SASL, sasl_len(mechanism, *credentials));
                        ber::write_tlv(out, tag::OCTET_STRING, mechanism.as_bytes());
                        if let Some(c) = credentials {
                            ber::write_tlv(out, tag::OCTET_STRING, c);
                        }
                    }
                    Authentication::Other { tag, content } => ber::write_tlv(out, *tag, content),
                }
            }
            Operation::Modify { dn, changes } => {
                ber::write_tlv(out, tag::OCTET_STRING, dn.as_bytes());
                ber::write_header(out, tag::SEQUENCE, changes.iter().map(change_len).sum());
                for c in changes {
                    ber::write_header(out, tag::SEQUENCE, change_content_len(c));
                    ber::write_integer(out, tag::ENUMERATED, c.operation);
                    write_attribute(out, &c.attribute);
                }
            }
            Operation::Add { dn, attributes } => {
                ber::write_tlv(out, tag::OCTET_STRING, dn.as_bytes());
                ber::write_header(
                    out,
                    tag::SEQUENCE,
                    attributes.iter().map(attribute_len).sum(),
                );
                for a in attributes {
                    write_attribute(out, a);
                }
            }
            Operation::ModifyDn {
                dn,
                new_rdn,
                delete_old_rdn,
                new_superior,
            } => {
                ber::write_tlv(out, tag::OCTET_STRING, dn.as_bytes());
                ber::write_tlv(out, tag::OCTET_STRING, new_rdn.as_bytes());
                ber::write_tlv(out, tag::BOOLEAN, &[boolean_byte(*delete_old_rdn)]);
                if let Some(s) = new_superior {
                    ber::write_tlv(out, NEW_SUPERIOR, s.as_bytes());
                }
            }
            Operation::Extended { name, value } => {
                ber::write_tlv(out, EXT_NAME, name.as_bytes());
                match value {
                    None => {}
                    Some(ExtendedValue::Opaque(v)) => ber::write_tlv(out, EXT_VALUE, v),
                    Some(ExtendedValue::PasswordModify(pm)) => {
                        let inner = password_modify_len(pm);
                        ber::write_header(out, EXT_VALUE, ber::encoded_len(inner));
                        ber::write_header(out, tag::SEQUENCE, inner);
                        for (t, v) in password_modify_fields(pm) {
                            ber::write_tlv(out, t, v);
                        }
                    }
                }
            }
        }
    }
}

fn boolean_byte(b: bool) -> u8 {
    if b {
        0xff
    } else {
        0x00
    }
}

fn octets_len(b: &[u8]) -> usize {
    ber::encoded_len(b.len())
}

fn sasl_len(mechanism: &str, credentials: Option<&[u8]>) -> usize {
    octets_len(mechanism.as_bytes()) + credentials.map_or(0, octets_len)
}

fn attribute_content_len(a: &Attribute<'_>) -> usize {
    octets_len(a.description.as_bytes())
        + ber::encoded_len(a.values.iter().map(|v| octets_len(v)).sum())
}

fn attribute_len(a: &Attribute<'_>) -> usize {
    ber::encoded_len(attribute_content_len(a))
}

fn write_attribute(out: &mut Vec<u8>, a: &Attribute<'_>) {
    ber::write_header(out, tag::SEQUENCE, attribute_content_len(a));
    ber::write_tlv(out, tag::OCTET_STRING, a.description.as_bytes());
    ber::write_header(out, SET, a.values.iter().map(|v| octets_len(v)).sum());
    for v in &a.values {
        ber::write_tlv(out, tag::OCTET_STRING, v);
    }
}

fn change_content_len(c: &Change<'_>) -> usize {
    ber::integer_len(c.operation) + attribute_len(&c.attribute)
}

fn change_len(c: &Change<'_>) -> usize {
    ber::encoded_len(change_content_len(c))
}

fn password_modify_fields<'a>(pm: &PasswordModify<'a>) -> impl Iterator<Item = (u8, &'a [u8])> {
    [
        (PM_USER_IDENTITY, pm.user_identity),
        (PM_OLD_PASSWD, pm.old_password),
        (PM_NEW_PASSWD, pm.new_password),
    ]
    .into_iter()
    .filter_map(|(t, v)| v.map(|v| (t, v)))
}

fn password_modify_len(pm: &PasswordModify<'_>) -> usize {
    password_modify_fields(pm).map(|(_, v)| octets_len(v)).sum()
}

fn control_content_len(c: &Control<'_>) -> usize {
    octets_len(c.oid.as_bytes()) + c.critical.map_or(0, |_| 3) + c.value.map_or(0, octets_len)
}

fn control_len(c: &Control<'_>) -> usize {
    ber::encoded_len(control_content_len(c))
}

fn write_control(out: &mut Vec<u8>, c: &Control<'_>) {
    ber::write_header(out, tag::SEQUENCE, control_content_len(c));
    ber::write_tlv(out, tag::OCTET_STRING, c.oid.as_bytes());
    if let Some(b) = c.critical {
        ber::write_tlv(out, tag::BOOLEAN, &[boolean_byte(b)]);
    }
    if let Some(v) = c.value {
        ber::write_tlv(out, tag::OCTET_STRING, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ber::element as t;

    fn message(op_tag: u8, body: &[u8], controls: Option<&[u8]>) -> Vec<u8> {
        let mut content = t(tag::INTEGER, &[7]);
        content.extend(t(op_tag, body));
        if let Some(c) = controls {
            content.extend(t(CONTROLS, c));
        }
        t(tag::SEQUENCE, &content)
    }

    fn partial(desc: &str, vals: &[&[u8]]) -> Vec<u8> {
        let set: Vec<u8> = vals.iter().flat_map(|v| t(tag::OCTET_STRING, v)).collect();
        t(
            tag::SEQUENCE,
            &[t(tag::OCTET_STRING, desc.as_bytes()), t(SET, &set)].concat(),
        )
    }

    fn change(op: u8, attr: &[u8]) -> Vec<u8> {
        t(
            tag::SEQUENCE,
            &[t(tag::ENUMERATED, &[op]), attr.to_vec()].concat(),
        )
    }

    fn modify_body(dn: &str, changes: &[Vec<u8>]) -> Vec<u8> {
        [
            t(tag::OCTET_STRING, dn.as_bytes()),
            t(tag::SEQUENCE, &changes.concat()),
        ]
        .concat()
    }

    /// Rewrites every length of a canonical encoding in the four-byte long
    /// form, as Windows' LDAP client writes constructed elements.
    fn long_form(canonical: &[u8]) -> Vec<u8> {
        fn walk(buf: &[u8], out: &mut Vec<u8>) {
            let mut r = crate::ber::Reader::new(buf);
            while !r.is_empty() {
                let tlv = r.next_tlv().unwrap();
                out.push(tlv.tag);
                out.push(0x84);
                let mut content = Vec::new();
                if tlv.tag & 0x20 != 0 {
                    walk(tlv.value, &mut content);
                } else {
                    content.extend_from_slice(tlv.value);
                }
                out.extend_from_slice(&(content.len() as u32).to_be_bytes());
                out.extend(content);
            }
        }
        let mut out = Vec::new();
        walk(canonical, &mut out);
        out
    }

    #[test]
    fn a_canonical_modify_is_read_and_forwarded_as_sent() {
        let frame = message(
            op::MODIFY_REQUEST,
            &modify_body(
                "uid=a,dc=x",
                &[
                    change(1, &partial("userPassword", &[b"old"])),
                    change(0, &partial("userPassword", &[b"new"])),
                ],
            ),
            None,
        );
        let req = parse(&frame).unwrap();
        assert!(req.is_canonical());
        assert_eq!(&*req.canonical(), &frame);
        let Operation::Modify { dn, changes } = &req.operation else {
            panic!("a modify")
        };
        assert_eq!(*dn, "uid=a,dc=x");
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[1].operation, 0);
        assert_eq!(changes[1].attribute.values, vec![b"new".as_slice()]);
    }

    #[test]
    fn long_form_lengths_are_read_and_re_encoded_canonically() {
        let controls = t(
            tag::SEQUENCE,
            &[
                t(tag::OCTET_STRING, b"1.2.840.113556.1.4.801"),
                t(tag::BOOLEAN, &[0x01]),
            ]
            .concat(),
        );
        let canonical_controls = t(
            tag::SEQUENCE,
            &[
                t(tag::OCTET_STRING, b"1.2.840.113556.1.4.801"),
                t(tag::BOOLEAN, &[0xff]),
            ]
            .concat(),
        );
        let body = modify_body(
            "CN=a,DC=x",
            &[change(2, &partial("unicodePwd", &[b"\"\0x\0\"\0"]))],
        );
        let sent = long_form(&message(op::MODIFY_REQUEST, &body, Some(&controls)));
        let req = parse(&sent).unwrap();
        assert!(!req.is_canonical());
        let expected = message(op::MODIFY_REQUEST, &body, Some(&canonical_controls));
        let canonical = req.canonical();
        assert_eq!(&*canonical, &expected);
        assert_eq!(canonical.len(), canonical.capacity(), "sized exactly");
        let again = parse(&canonical).unwrap();
        assert!(again.is_canonical());
    }

    #[test]
    fn a_trailing_element_in_a_change_is_refused() {
        // slapd would read the extra element as the next change.
        let hidden = partial("userPassword", &[b"weak"]);
        let bad_change = t(
            tag::SEQUENCE,
            &[
                t(tag::ENUMERATED, &[1]),
                partial("userPassword", &[]),
                t(tag::ENUMERATED, &[0]),
                hidden,
            ]
            .concat(),
        );
        let frame = message(
            op::MODIFY_REQUEST,
            &modify_body("uid=a,dc=x", &[bad_change]),
            None,
        );
        let err = parse(&frame).unwrap_err();
        assert!(
            err.reason.contains("after its last field"),
            "{}",
            err.reason
        );
        assert_eq!(err.dn.as_deref(), Some("uid=a,dc=x"));
        // The same in an attribute of an Add.
        let attr = t(
            tag::SEQUENCE,
            &[
                t(tag::OCTET_STRING, b"cn"),
                t(SET, &t(tag::OCTET_STRING, b"a")),
                t(tag::OCTET_STRING, b"userPassword"),
            ]
            .concat(),
        );
        let body = [t(tag::OCTET_STRING, b"cn=a,dc=x"), t(tag::SEQUENCE, &attr)].concat();
        assert!(parse(&message(op::ADD_REQUEST, &body, None)).is_err());
    }

    #[test]
    fn odd_attribute_descriptions_are_refused() {
        for desc in [
            "unicodePwd\0junk",
            "userPassword ",
            " userPassword",
            "user_password",
            "2.5.4.035",
            "OID.2.5.4.35",
            "userPassword;",
            "userPassword;bin ary",
            "",
            "1userPassword",
            "2",
            "unicodePwd\u{a0}",
        ] {
            let frame = message(
                op::MODIFY_REQUEST,
                &modify_body("cn=a,dc=x", &[change(2, &partial(desc, &[b"x"]))]),
                None,
            );
            assert!(parse(&frame).is_err(), "{desc:?} accepted");
        }
        for desc in [
            "userPassword",
            "userPassword;binary",
            "2.5.4.35",
            "msDS-x;x-y-1",
        ] {
            assert!(is_attribute_description(desc), "{desc}");
        }
    }

    #[test]
    fn a_refusal_names_what_was_read() {
        let frame = message(
            op::MODIFY_REQUEST,
            &modify_body(
                "CN=a,DC=x",
                &[
                    change(2, &partial("description", &[b"x"])),
                    change(2, &partial("unicodePwd\0junk", &[b"x"])),
                ],
            ),
            None,
        );
        let err = parse(&frame).unwrap_err();
        assert_eq!(err.dn.as_deref(), Some("CN=a,DC=x"));
        assert_eq!(
            err.attributes,
            vec!["description".to_owned(), "unicodePwd".to_owned()]
        );
        let u = crate::proxy::intercept::malformed(7, op::MODIFY_REQUEST, err);
        assert_eq!(u.attribute.as_deref(), Some("unicodePwd"));
        assert_eq!(u.response_op, op::MODIFY_RESPONSE);
        assert!(u.malformed);
    }

    #[test]
    fn indefinite_and_oversized_lengths_are_refused() {
        // `04 80 LL`: Samba reads a string of length LL.
        let mut body = vec![0x04, 0x80, 0x09];
        body.extend_from_slice(b"cn=a,dc=x");
        body.extend(t(
            tag::SEQUENCE,
            &change(2, &partial("unicodePwd", &[b"\"\0x\0\"\0"])),
        ));
        let frame = message(op::MODIFY_REQUEST, &body, None);
        let err = parse(&frame).unwrap_err();
        assert!(err.reason.contains("indefinite"), "{}", err.reason);
        // A child longer than its parent.
        let frame = [0x30, 0x06, 0x02, 0x01, 0x01, 0x66, 0x09, 0x04];
        assert!(parse(&frame).is_err());
        // Five length bytes.
        let frame = [0x30, 0x08, 0x02, 0x01, 0x01, 0x66, 0x85, 0, 0, 0, 0, 0];
        assert!(parse(&frame).is_err());
    }

    #[test]
    fn tags_must_be_exactly_rfc_4511s() {
        // A DN tagged 0x80 instead of OCTET STRING.
        let body = [
            t(0x80, b"cn=a,dc=x"),
            t(tag::SEQUENCE, &change(2, &partial("description", &[b"x"]))),
        ]
        .concat();
        assert!(parse(&message(op::MODIFY_REQUEST, &body, None)).is_err());
        // Values in a SEQUENCE instead of a SET.
        let attr = t(
            tag::SEQUENCE,
            &[
                t(tag::OCTET_STRING, b"userPassword"),
                t(tag::SEQUENCE, &t(4, b"x")),
            ]
            .concat(),
        );
        let body = modify_body("cn=a,dc=x", &[change(2, &attr)]);
        assert!(parse(&message(op::MODIFY_REQUEST, &body, None)).is_err());
        // An extended request whose name is tagged as an OCTET STRING.
        let body = t(tag::OCTET_STRING, OID_PASSWORD_MODIFY.as_bytes());
        assert!(parse(&message(op::EXTENDED_REQUEST, &body, None)).is_err());
    }

    #[test]
    fn password_modify_fields_are_read_strictly_and_re_encoded() {
        let ext = |fields: &[u8]| {
            let value = t(tag::SEQUENCE, fields);
            let body = [
                t(EXT_NAME, OID_PASSWORD_MODIFY.as_bytes()),
                t(EXT_VALUE, &value),
            ]
            .concat();
            message(op::EXTENDED_REQUEST, &body, None)
        };
        let good = ext(&[t(0x80, b"uid=a,dc=x"), t(0x82, b"new")].concat());
        let req = parse(&good).unwrap();
        let Operation::Extended {
            value: Some(ExtendedValue::PasswordModify(pm)),
            ..
        } = &req.operation
        else {
            panic!("password modify")
        };
        assert_eq!(pm.new_password, Some(b"new".as_slice()));
        assert_eq!(pm.old_password, None);
        assert_eq!(&*req.canonical(), &good);
        // newPasswd under 0x84, repeated fields, fields out of order.
        for fields in [
            [t(0x80, b"uid=a,dc=x"), t(0x84, b"new")].concat(),
            [t(0x82, b"a"), t(0x82, b"b")].concat(),
            [t(0x82, b"a"), t(0x80, b"uid=a,dc=x")].concat(),
            [t(0xa2, &t(4, b"a"))].concat(),
        ] {
            assert!(parse(&ext(&fields)).is_err());
        }
        // Trailing bytes after the value's SEQUENCE.
        let body = [
            t(EXT_NAME, OID_PASSWORD_MODIFY.as_bytes()),
            t(
                EXT_VALUE,
                &[t(tag::SEQUENCE, &t(0x82, b"a")), vec![0x00, 0x00]].concat(),
            ),
        ]
        .concat();
        assert!(parse(&message(op::EXTENDED_REQUEST, &body, None)).is_err());
    }

    #[test]
    fn control_values_are_opaque() {
        let ctl = |value: Option<&[u8]>| {
            let mut c = t(tag::OCTET_STRING, b"1.2.840.113556.1.4.801");
            if let Some(v) = value {
                c.extend(t(tag::OCTET_STRING, v));
            }
            t(tag::SEQUENCE, &c)
        };
        let body = modify_body("cn=a,dc=x", &[change(2, &partial("description", &[b"x"]))]);
        for value in [
            None,
            Some(&[0x02, 0x01, 0x07][..]),
            Some(&b"\x30\x80garbage"[..]),
        ] {
            let frame = message(op::MODIFY_REQUEST, &body, Some(&ctl(value)));
            let req = parse(&frame).unwrap();
            assert!(req.is_canonical());
            assert_eq!(req.controls.as_ref().unwrap()[0].value, value);
        }
        // A control type that is not an OID is refused.
        let bad = t(tag::SEQUENCE, &t(tag::OCTET_STRING, b"1.2.840\0.1"));
        assert!(parse(&message(op::MODIFY_REQUEST, &body, Some(&bad))).is_err());
    }

    #[test]
    fn names_with_nul_or_invalid_utf8_are_refused() {
        for dn in [&b"cn=a\0,dc=x"[..], &b"cn=\xff,dc=x"[..]] {
            let body = [
                t(tag::OCTET_STRING, dn),
                t(tag::SEQUENCE, &change(2, &partial("description", &[b"x"]))),
            ]
            .concat();
            let err = parse(&message(op::MODIFY_REQUEST, &body, None)).unwrap_err();
            assert!(err.reason.contains("object"), "{}", err.reason);
        }
        let bind = [t(tag::INTEGER, &[3]), t(4, b"cn=a\0x"), t(0x80, b"pw")].concat();
        assert!(parse(&message(op::BIND_REQUEST, &bind, None)).is_err());
    }

    #[test]
    fn binds_keep_their_credentials_opaque() {
        let bind = [
            t(tag::INTEGER, &[3]),
            t(4, b""),
            t(AUTH_SASL, &[t(4, b"EXTERNAL"), t(4, b"\x00\x01")].concat()),
        ]
        .concat();
        let frame = message(op::BIND_REQUEST, &bind, None);
        let req = parse(&frame).unwrap();
        assert!(matches!(
            req.operation,
            Operation::Bind {
                authentication: Authentication::Sasl {
                    mechanism: "EXTERNAL",
                    ..
                },
                ..
            }
        ));
        assert_eq!(&*req.canonical(), &frame);
        let sicily = [t(tag::INTEGER, &[3]), t(4, b""), t(0x89, b"")].concat();
        assert!(parse(&message(op::BIND_REQUEST, &sicily, None)).is_ok());
        let constructed = [t(tag::INTEGER, &[3]), t(4, b""), t(0xa9, b"")].concat();
        assert!(parse(&message(op::BIND_REQUEST, &constructed, None)).is_err());
    }

    #[test]
    fn message_ids_and_trailing_bytes() {
        let body = modify_body("cn=a,dc=x", &[]);
        let mut frame = message(op::MODIFY_REQUEST, &body, None);
        assert!(parse(&frame).is_ok());
        // Bytes after the controls position that are not controls.
        let mut content = t(tag::INTEGER, &[7]);
        content.extend(t(op::MODIFY_REQUEST, &body));
        content.extend(t(tag::OCTET_STRING, b"x"));
        assert!(parse(&t(tag::SEQUENCE, &content)).is_err());
        // A negative message ID.
        frame[4] = 0xff;
        assert!(parse(&frame).is_err());
        // Bytes after the message.
        let mut two = message(op::MODIFY_REQUEST, &body, None);
        two.push(0);
        assert!(parse(&two).is_err());
    }

    #[test]
    fn modify_dn_is_read() {
        let body = [
            t(4, b"uid=a,dc=x"),
            t(4, b"uid=b"),
            t(tag::BOOLEAN, &[0xff]),
            t(NEW_SUPERIOR, b"ou=y,dc=x"),
        ]
        .concat();
        let frame = message(op::MODDN_REQUEST, &body, None);
        let req = parse(&frame).unwrap();
        assert!(matches!(
            req.operation,
            Operation::ModifyDn {
                new_rdn: "uid=b",
                delete_old_rdn: true,
                new_superior: Some("ou=y,dc=x"),
                ..
            }
        ));
        assert_eq!(&*req.canonical(), &frame);
    }
}
