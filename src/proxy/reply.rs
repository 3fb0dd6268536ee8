//! Responses that pwgate writes itself: refusals, StartTLS, disconnection.
//!
//! Every refusal answers the request's own message ID with the response type
//! that matches the request (ModifyResponse, AddResponse, ExtendedResponse),
//! so any LDAP client reports it like an answer of the directory.

use crate::ber::{tag, write_integer, write_tlv};
use crate::proxy::frame::op;

/// LDAP result codes pwgate sends (RFC 4511 appendix A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ResultCode {
    Success = 0,
    OperationsError = 1,
    ProtocolError = 2,
    AuthMethodNotSupported = 7,
    ConfidentialityRequired = 13,
    ConstraintViolation = 19,
    NoSuchObject = 32,
    InsufficientAccessRights = 50,
    Unavailable = 52,
    UnwillingToPerform = 53,
    Other = 80,
}

/// OID of the Password Policy response control (draft-behera-ldap-password-policy).
pub const OID_PPOLICY: &str = "1.3.6.1.4.1.42.2.27.8.5.1";
/// OID of the Notice of Disconnection (RFC 4511 section 4.4.1).
pub const OID_NOTICE_OF_DISCONNECTION: &str = "1.3.6.1.4.1.1466.20036";

/// Password Policy error values pwgate reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PpolicyError {
    InsufficientPasswordQuality = 5,
    PasswordTooShort = 6,
}

/// A Password Policy response control carrying only an error.
pub fn ppolicy_control(error: PpolicyError) -> Vec<u8> {
    // PasswordPolicyResponseValue ::= SEQUENCE { ..., error [1] ENUMERATED }
    let mut value = Vec::new();
    write_integer(&mut value, 0x81, error as i64);
    let mut seq = Vec::new();
    write_tlv(&mut seq, tag::SEQUENCE, &value);
    let mut control = Vec::new();
    write_tlv(&mut control, tag::OCTET_STRING, OID_PPOLICY.as_bytes());
    write_tlv(&mut control, tag::OCTET_STRING, &seq);
    let mut out = Vec::new();
    write_tlv(&mut out, tag::SEQUENCE, &control);
    out
}

/// An LDAPResult-shaped response (`response_op` is its protocolOp tag),
/// with optional extra fields after the result (ExtendedResponse name) and
/// encoded controls.
pub fn result_message(
    msgid: i32,
    response_op: u8,
    code: ResultCode,
    diagnostic: &str,
    response_name: Option<&str>,
    controls: &[Vec<u8>],
) -> Vec<u8> {
    let mut result = Vec::new();
    write_integer(&mut result, tag::ENUMERATED, code as i64);
    write_tlv(&mut result, tag::OCTET_STRING, b""); // matchedDN
    write_tlv(&mut result, tag::OCTET_STRING, diagnostic.as_bytes());
    if let Some(name) = response_name {
        write_tlv(&mut result, 0x8a, name.as_bytes());
    }
    let mut message = Vec::new();
    write_integer(&mut message, tag::INTEGER, i64::from(msgid));
    write_tlv(&mut message, response_op, &result);
    if !controls.is_empty() {
        write_tlv(&mut message, 0xa0, &controls.concat());
    }
    let mut out = Vec::with_capacity(message.len() + 6);
    write_tlv(&mut out, tag::SEQUENCE, &message);
    out
}

/// The answer to a StartTLS request.
pub fn start_tls_response(msgid: i32, code: ResultCode, diagnostic: &str) -> Vec<u8> {
    result_message(
        msgid,
        op::EXTENDED_RESPONSE,
        code,
        diagnostic,
        Some(crate::proxy::intercept::OID_START_TLS),
        &[],
    )
}

/// An unsolicited Notice of Disconnection, sent before closing a connection.
pub fn notice_of_disconnection(code: ResultCode, diagnostic: &str) -> Vec<u8> {
    result_message(
        0,
        op::EXTENDED_RESPONSE,
        code,
        diagnostic,
        Some(OID_NOTICE_OF_DISCONNECTION),
        &[],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_lber::parse::Parser;
    use ldap3_proto::proto::{LdapMsg, LdapOp, LdapResultCode};

    fn decode(bytes: &[u8]) -> LdapMsg {
        let (rest, tag) = Parser::default().parse(bytes).expect("valid BER");
        assert!(rest.is_empty());
        LdapMsg::try_from(tag).expect("valid LDAPMessage")
    }

    #[test]
    fn modify_refusal_decodes_as_modify_response() {
        let bytes = result_message(
            7,
            op::MODIFY_RESPONSE,
            ResultCode::ConstraintViolation,
            "password rejected by policy: too short",
            None,
            &[],
        );
        let msg = decode(&bytes);
        assert_eq!(msg.msgid, 7);
        let LdapOp::ModifyResponse(res) = msg.op else {
            panic!("not a ModifyResponse")
        };
        assert_eq!(res.code, LdapResultCode::ConstraintViolation);
        assert_eq!(res.message, "password rejected by policy: too short");
    }

    #[test]
    fn ppolicy_control_encodes_the_error() {
        assert_eq!(
            ppolicy_control(PpolicyError::PasswordTooShort)[..],
            [
                &[0x30, 0x22, 0x04, 0x19][..],
                OID_PPOLICY.as_bytes(),
                &[0x04, 0x05, 0x30, 0x03, 0x81, 0x01, 0x06][..]
            ]
            .concat()[..]
        );
    }

    #[test]
    fn notice_of_disconnection_has_msgid_zero_and_its_oid() {
        let msg = decode(&notice_of_disconnection(
            ResultCode::ProtocolError,
            "bad message",
        ));
        assert_eq!(msg.msgid, 0);
        let LdapOp::ExtendedResponse(res) = msg.op else {
            panic!("not an ExtendedResponse")
        };
        assert_eq!(res.name.as_deref(), Some(OID_NOTICE_OF_DISCONNECTION));
        assert_eq!(res.res.code, LdapResultCode::ProtocolError);
    }
}
