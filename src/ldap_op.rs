//! LDAP protocolOp tags (RFC 4511 section 4.2 onwards), with class and
//! constructed bits, and what pwgate knows about each operation: which pass
//! unread, which are read strictly, which get an answer, their names.
//!
//! The proxy frames and reads messages by these tags; the metrics count
//! forwarded requests by them. Nothing here reads a message.

pub const BIND_REQUEST: u8 = 0x60;
pub const BIND_RESPONSE: u8 = 0x61;
pub const UNBIND_REQUEST: u8 = 0x42;
pub const SEARCH_REQUEST: u8 = 0x63;
pub const MODIFY_REQUEST: u8 = 0x66;
pub const MODIFY_RESPONSE: u8 = 0x67;
pub const ADD_REQUEST: u8 = 0x68;
pub const ADD_RESPONSE: u8 = 0x69;
pub const ABANDON_REQUEST: u8 = 0x50;
pub const EXTENDED_REQUEST: u8 = 0x77;
pub const EXTENDED_RESPONSE: u8 = 0x78;
pub const SEARCH_RESULT_DONE: u8 = 0x65;
pub const MODDN_REQUEST: u8 = 0x6c;
pub const DEL_REQUEST: u8 = 0x4a;
pub const COMPARE_REQUEST: u8 = 0x6e;
pub const DEL_RESPONSE: u8 = 0x6b;
pub const MODDN_RESPONSE: u8 = 0x6d;
pub const COMPARE_RESPONSE: u8 = 0x6f;

/// Requests that cannot set a password and pass as the client sent
/// them. Bind, Modify, Add, ModifyDN and Extended requests are read
/// strictly first (`proxy::request`); any other protocolOp tag is
/// refused, so that no server can read an unknown tag as one of those.
pub fn passes_unread(op: u8) -> bool {
    matches!(
        op,
        SEARCH_REQUEST | DEL_REQUEST | COMPARE_REQUEST | ABANDON_REQUEST | UNBIND_REQUEST
    )
}

/// Requests read strictly before they are forwarded.
pub fn read_strictly(op: u8) -> bool {
    matches!(
        op,
        BIND_REQUEST | MODIFY_REQUEST | ADD_REQUEST | MODDN_REQUEST | EXTENDED_REQUEST
    )
}

/// The operation's name in audit events.
pub fn name(op: u8) -> &'static str {
    match op {
        BIND_REQUEST => "bind",
        MODIFY_REQUEST => "modify",
        ADD_REQUEST => "add",
        MODDN_REQUEST => "modify_dn",
        EXTENDED_REQUEST => "extended",
        SEARCH_REQUEST => "search",
        DEL_REQUEST => "delete",
        COMPARE_REQUEST => "compare",
        _ => "unknown",
    }
}

/// Requests the server answers. Unbind and Abandon get no answer.
pub fn expects_response(op: u8) -> bool {
    !matches!(op, UNBIND_REQUEST | ABANDON_REQUEST)
}

/// The response that ends an operation (not a search entry, search
/// reference or intermediate response).
pub fn ends_operation(op: u8) -> bool {
    matches!(
        op,
        BIND_RESPONSE
            | SEARCH_RESULT_DONE
            | MODIFY_RESPONSE
            | ADD_RESPONSE
            | DEL_RESPONSE
            | MODDN_RESPONSE
            | COMPARE_RESPONSE
            | EXTENDED_RESPONSE
    )
}
