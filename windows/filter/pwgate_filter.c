/*
 * pwgate_filter.c - an LSA password filter for Windows domain controllers.
 *
 * A thin client: the policy, lookups, scopes and audit trail stay in
 * pwgate. For every password set or change on the DC, LSASS calls
 * PasswordFilter; this asks pwgate's decision API (POST /v1/decide over
 * HTTPS, WinHTTP) and returns its verdict. After a change is made, LSASS
 * calls PasswordChangeNotify; this tells pwgate (POST /v1/notify, with the
 * account and RID, never the password) so its audit trail records that the
 * change happened.
 *
 * Every branch of PasswordFilter that returns TRUE (the password may be
 * set) is one of these two, and there is no other:
 *   ACCEPT-1  pwgate answered HTTP 200 and the answer is one JSON object
 *             whose top-level "v" is 1 and whose top-level "verdict" is
 *             "accepted", or "would_refuse" (pwgate's audit mode: let it
 *             through).                                     [verdict_of]
 *   ACCEPT-2  pwgate could not be reached or did not answer within
 *             TimeoutMs (name not resolved, connection refused or lost,
 *             a WinHTTP timeout, a TLS handshake that failed at or after
 *             the deadline, HTTP 429/502/503/504), and the registry
 *             value FailMode is "allow".           [classify, fail_mode]
 * Everything else refuses: no or bad configuration, a server certificate
 * that is not trusted (system store) or is not the pinned one, any other
 * HTTP status, an answer that is not exactly the expected JSON, input
 * that cannot be sent (over the caps, odd byte length, unpaired
 * surrogate, NUL, empty), an allocation or WinHTTP failure.
 *
 * Written for LSASS, which calls concurrently: the configuration is read
 * from the registry on every call, and the only state kept between calls
 * is the two WinHTTP sessions (one per trust mode, made once, published
 * with InterlockedCompareExchangePointer, never closed: shared_session),
 * with their pools of connections; one bounded allocation per call, no
 * crash on any UNICODE_STRING (Length is in bytes, may be odd; Buffer is
 * not NUL-terminated and may be NULL), and every buffer that held the
 * password, the request body or the token is wiped with SecureZeroMemory
 * as soon as it is no longer needed. The password is never logged;
 * refusals and errors go to the Application event log (source "pwgate")
 * with the account name only, never the token or the URL.
 *
 * Configuration: HKLM\SOFTWARE\pwgate\PasswordFilter (its ACL must allow
 * SYSTEM and Administrators only: it holds the token). See the README,
 * "Windows DC filter".
 */

#include <stdarg.h>
#include <wchar.h>
#include <windows.h>
#include <ntsecapi.h>
#include <wincrypt.h>
#include <winhttp.h>

#ifndef STATUS_SUCCESS
#define STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#endif

#define CONFIG_KEY L"SOFTWARE\\pwgate\\PasswordFilter"
#define EVENT_SOURCE L"pwgate"

/* Caps, in UTF-16 units unless said otherwise. */
#define MAX_URL 512
#define MAX_TOKEN 256
#define MIN_TOKEN 32
#define MAX_PIN_TEXT 128
#define MAX_ACCOUNT 256          /* sAMAccountName: 20; a UPN: 1024 bytes */
#define MAX_FULL_NAME 256        /* displayName: 256 */
#define MAX_PASSWORD_BYTES 1024  /* pwgate's limit, in UTF-8 bytes */
#define DEFAULT_TIMEOUT_MS 2000
#define MIN_TIMEOUT_MS 100
#define MAX_TIMEOUT_MS 10000
/* 6 bytes per escaped byte at most, plus the fixed text: under pwgate's
 * 16 KiB request limit. */
#define BODY_MAX 16384
#define ANSWER_MAX 8192

/* Event IDs (the text is the event's one string). */
#define EV_LOADED 1
#define EV_REFUSED_BY_POLICY 1000
#define EV_REFUSED_UNREACHABLE 1001
#define EV_ALLOWED_UNREACHABLE 1002
#define EV_REFUSED_INPUT 1003
#define EV_CONFIG 1004
#define EV_CERTIFICATE 1005
#define EV_REFUSED_ANSWER 1006
#define EV_NOTIFY_FAILED 1010

typedef struct {
    WCHAR url[MAX_URL + 1];
    WCHAR host[MAX_URL + 1];
    WCHAR path[MAX_URL + 32]; /* the URL's path, without a trailing '/' */
    INTERNET_PORT port;
    WCHAR token[MAX_TOKEN + 1]; /* a secret: wiped with the work area */
    DWORD timeout_ms;
    BOOL fail_allow;
    BOOL pinned;
    BYTE pin[32];
} config_t;

/* Everything one call holds, in one allocation wiped as a whole. */
typedef struct {
    config_t cfg;
    char account[MAX_ACCOUNT * 3 + 1];
    int account_len;
    char full_name[MAX_FULL_NAME * 3 + 1];
    int full_name_len;
    char password[MAX_PASSWORD_BYTES];
    int password_len;
    char body[BODY_MAX];
    DWORD body_len;
    char answer[ANSWER_MAX];
    DWORD answer_len;
    WCHAR headers[MAX_TOKEN + 96];
    WCHAR shown_account[65]; /* the account name for event texts */
} work_t;

/* ------------------------------------------------------------------ */
/* The event log */

static void report(WORD type, DWORD id, const WCHAR *fmt, ...)
{
    WCHAR text[768];
    va_list ap;
    HANDLE source;
    const WCHAR *strings[1];

    va_start(ap, fmt);
    _vsnwprintf(text, ARRAYSIZE(text) - 1, fmt, ap);
    va_end(ap);
    text[ARRAYSIZE(text) - 1] = 0;
    source = RegisterEventSourceW(NULL, EVENT_SOURCE);
    if (source == NULL)
        return;
    strings[0] = text;
    ReportEventW(source, type, 0, id, NULL, 1, 0, strings, NULL);
    DeregisterEventSource(source);
}

/* Whether c may not appear as it is in an event text: a C0 or C1 control
 * or DEL; a character that changes how the text around it is laid out or
 * read (zero-width characters, direction marks, embeddings, overrides and
 * isolates, line and paragraph separators, the BOM, U+2060-U+206F); or '%',
 * which the Event Viewer reads as an insertion ("%1", "%%1"). */
static BOOL unsafe_in_event(WCHAR c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == L'%' || c == 0x061c ||
           (c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) ||
           (c >= 0x2060 && c <= 0x206f) || c == 0xfeff;
}

/* The account name as event texts show it: at most 64 units, the
 * characters unsafe_in_event() names and unpaired surrogates as '?'. */
static void show_account(work_t *w, const UNICODE_STRING *s)
{
    USHORT i, n = 0;

    if (s != NULL && s->Buffer != NULL) {
        n = s->Length / sizeof(WCHAR);
        if (n > 64)
            n = 64;
        for (i = 0; i < n; i++) {
            WCHAR c = s->Buffer[i];
            BOOL high = c >= 0xd800 && c <= 0xdbff, low = c >= 0xdc00 && c <= 0xdfff;
            if (unsafe_in_event(c) ||
                (high && (i + 1 >= n || s->Buffer[i + 1] < 0xdc00 || s->Buffer[i + 1] > 0xdfff)) ||
                (low && (i == 0 || s->Buffer[i - 1] < 0xd800 || s->Buffer[i - 1] > 0xdbff)))
                c = L'?';
            w->shown_account[i] = c;
        }
    }
    w->shown_account[n] = 0;
}

/* ------------------------------------------------------------------ */
/* Configuration */

/* A REG_SZ value into buf (units, with room for the NUL). FALSE if it is
 * missing, not a string, or too long. */
static BOOL reg_string(const WCHAR *name, WCHAR *buf, DWORD units)
{
    DWORD bytes = units * sizeof(WCHAR);
    LSTATUS rc = RegGetValueW(HKEY_LOCAL_MACHINE, CONFIG_KEY, name, RRF_RT_REG_SZ, NULL,
                              buf, &bytes);
    if (rc != ERROR_SUCCESS) {
        buf[0] = 0;
        return FALSE;
    }
    buf[units - 1] = 0;
    return TRUE;
}

static int hex_digit(WCHAR c)
{
    if (c >= L'0' && c <= L'9')
        return c - L'0';
    if (c >= L'a' && c <= L'f')
        return c - L'a' + 10;
    if (c >= L'A' && c <= L'F')
        return c - L'A' + 10;
    return -1;
}

/* 64 hex digits, optionally separated by ':' (as openssl prints them). */
static BOOL parse_pin(const WCHAR *text, BYTE pin[32])
{
    int n = 0, hi = -1;
    const WCHAR *p;

    for (p = text; *p; p++) {
        int d;
        if (*p == L':' || *p == L' ')
            continue;
        d = hex_digit(*p);
        if (d < 0 || n >= 32)
            return FALSE;
        if (hi < 0) {
            hi = d;
        } else {
            pin[n++] = (BYTE)(hi << 4 | d);
            hi = -1;
        }
    }
    return n == 32 && hi < 0;
}

static BOOL same_text_ci(const WCHAR *a, const WCHAR *b)
{
    return CompareStringOrdinal(a, -1, b, -1, TRUE) == CSTR_EQUAL;
}

/* Reads the configuration; on a problem reports it and returns FALSE. */
static BOOL load_config(config_t *cfg)
{
    WCHAR mode[16], pin_text[MAX_PIN_TEXT + 1];
    DWORD timeout = DEFAULT_TIMEOUT_MS, bytes = sizeof(timeout), i, n;
    LSTATUS rc;
    URL_COMPONENTS url;

    /* FailMode first: a missing or bad one is "refuse". */
    cfg->fail_allow = FALSE;
    if (reg_string(L"FailMode", mode, ARRAYSIZE(mode))) {
        if (same_text_ci(mode, L"allow")) {
            cfg->fail_allow = TRUE;
        } else if (!same_text_ci(mode, L"refuse")) {
            report(EVENTLOG_ERROR_TYPE, EV_CONFIG,
                   L"pwgate filter: FailMode in HKLM\\" CONFIG_KEY
                   L" is neither \"refuse\" nor \"allow\"; using \"refuse\"");
        }
    }
    rc = RegGetValueW(HKEY_LOCAL_MACHINE, CONFIG_KEY, L"TimeoutMs", RRF_RT_REG_DWORD, NULL,
                      &timeout, &bytes);
    if (rc != ERROR_SUCCESS) {
        /* Not set: the default. Set but not a REG_DWORD (a REG_SZ "1000"):
         * the default too, said in an event; the timeout decides only how
         * long to wait, so this neither accepts nor refuses anything. */
        if (rc != ERROR_FILE_NOT_FOUND)
            report(EVENTLOG_WARNING_TYPE, EV_CONFIG,
                   L"pwgate filter: TimeoutMs in HKLM\\" CONFIG_KEY
                   L" is not a REG_DWORD (error %ld); using %d ms",
                   (long)rc, DEFAULT_TIMEOUT_MS);
        timeout = DEFAULT_TIMEOUT_MS;
    }
    if (timeout < MIN_TIMEOUT_MS)
        timeout = MIN_TIMEOUT_MS;
    if (timeout > MAX_TIMEOUT_MS)
        timeout = MAX_TIMEOUT_MS;
    cfg->timeout_ms = timeout;

    if (!reg_string(L"Url", cfg->url, ARRAYSIZE(cfg->url)) || cfg->url[0] == 0) {
        report(EVENTLOG_ERROR_TYPE, EV_CONFIG,
               L"pwgate filter: HKLM\\" CONFIG_KEY L"\\Url is not set (or longer than %d characters)",
               MAX_URL);
        return FALSE;
    }
    ZeroMemory(&url, sizeof(url));
    url.dwStructSize = sizeof(url);
    url.dwHostNameLength = (DWORD)-1;
    url.dwUrlPathLength = (DWORD)-1;
    url.dwExtraInfoLength = (DWORD)-1;
    url.dwUserNameLength = (DWORD)-1;
    url.dwPasswordLength = (DWORD)-1;
    if (!WinHttpCrackUrl(cfg->url, 0, 0, &url) || url.nScheme != INTERNET_SCHEME_HTTPS ||
        url.dwHostNameLength == 0 || url.dwHostNameLength > MAX_URL ||
        url.dwUrlPathLength > MAX_URL || url.dwExtraInfoLength != 0 ||
        url.dwUserNameLength != 0 || url.dwPasswordLength != 0) {
        /* The URL itself is not shown: it may hold a user and password. */
        report(EVENTLOG_ERROR_TYPE, EV_CONFIG,
               L"pwgate filter: HKLM\\" CONFIG_KEY L"\\Url is not an https:// URL with a host "
               L"(and no query, user or password)");
        return FALSE;
    }
    CopyMemory(cfg->host, url.lpszHostName, url.dwHostNameLength * sizeof(WCHAR));
    cfg->host[url.dwHostNameLength] = 0;
    n = url.dwUrlPathLength;
    while (n > 0 && url.lpszUrlPath[n - 1] == L'/')
        n--;
    CopyMemory(cfg->path, url.lpszUrlPath, n * sizeof(WCHAR));
    cfg->path[n] = 0;
    cfg->port = url.nPort;

    if (!reg_string(L"Token", cfg->token, ARRAYSIZE(cfg->token))) {
        report(EVENTLOG_ERROR_TYPE, EV_CONFIG,
               L"pwgate filter: HKLM\\" CONFIG_KEY L"\\Token is not set (or longer than %d characters)",
               MAX_TOKEN);
        return FALSE;
    }
    /* Printable ASCII only: it goes into an HTTP header. */
    for (i = 0; cfg->token[i]; i++) {
        if (cfg->token[i] < 0x21 || cfg->token[i] > 0x7e)
            break;
    }
    if (cfg->token[i] != 0 || i < MIN_TOKEN) {
        report(EVENTLOG_ERROR_TYPE, EV_CONFIG,
               L"pwgate filter: Token must be %d to %d printable ASCII characters", MIN_TOKEN,
               MAX_TOKEN);
        return FALSE;
    }

    cfg->pinned = FALSE;
    if (reg_string(L"PinnedSha256", pin_text, ARRAYSIZE(pin_text)) && pin_text[0] != 0) {
        if (!parse_pin(pin_text, cfg->pin)) {
            report(EVENTLOG_ERROR_TYPE, EV_CONFIG,
                   L"pwgate filter: PinnedSha256 is not 64 hex digits (the SHA-256 of the "
                   L"server certificate's DER)");
            return FALSE;
        }
        cfg->pinned = TRUE;
    }
    return TRUE;
}

/* ------------------------------------------------------------------ */
/* Input */

/* A UNICODE_STRING as UTF-8 into out (cap bytes). Returns the length, or
 * -1 with *why set. NULL string or Buffer: empty. */
static int to_utf8(const UNICODE_STRING *s, int max_units, char *out, int cap, const WCHAR **why)
{
    int units, n;

    if (s == NULL || s->Buffer == NULL || s->Length == 0)
        return 0;
    if (s->Length % sizeof(WCHAR) != 0) {
        *why = L"its length is an odd number of bytes";
        return -1;
    }
    units = s->Length / sizeof(WCHAR);
    if (units > max_units) {
        *why = L"it is too long";
        return -1;
    }
    n = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, s->Buffer, units, out, cap, NULL,
                            NULL);
    if (n <= 0) {
        *why = GetLastError() == ERROR_INSUFFICIENT_BUFFER
                   ? L"it is too long"
                   : L"it is not valid UTF-16 (an unpaired surrogate)";
        return -1;
    }
    if (memchr(out, 0, n) != NULL) {
        *why = L"it contains a NUL character";
        return -1;
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* The request body */

typedef struct {
    char *buf;
    DWORD len, cap;
    BOOL overflow;
} writer_t;

static void put(writer_t *o, const char *s, DWORD n)
{
    if (o->overflow || n > o->cap - o->len) {
        o->overflow = TRUE;
        return;
    }
    CopyMemory(o->buf + o->len, s, n);
    o->len += n;
}

static void put_text(writer_t *o, const char *s)
{
    put(o, s, (DWORD)lstrlenA(s));
}

/* A JSON string literal of valid UTF-8 (no NUL). */
static void put_json(writer_t *o, const char *s, int n)
{
    static const char hex[] = "0123456789abcdef";
    int i;

    put(o, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(o, e, 2);
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(o, e, 6);
        } else {
            put(o, (const char *)&s[i], 1);
        }
    }
    put(o, "\"", 1);
}

/* n in decimal into out (at least 10 bytes); returns the length. */
static DWORD decimal(ULONG n, char *out)
{
    char digits[10];
    DWORD len = 0, i;

    do {
        digits[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n != 0 && len < sizeof(digits));
    for (i = 0; i < len; i++)
        out[i] = digits[len - 1 - i];
    return len;
}

/* ------------------------------------------------------------------ */
/* The answer: one JSON object; only its top-level "verdict" counts. */

typedef enum { VERDICT_MALFORMED, VERDICT_ACCEPT, VERDICT_REFUSE } verdict_t;

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* A string at *pp (which is at '"'): its raw contents and whether it has
 * escapes. NULL if malformed. */
static const char *scan_string(const char *p, const char *end, const char **start, DWORD *len,
                               BOOL *escaped)
{
    if (p >= end || *p != '"')
        return NULL;
    p++;
    *start = p;
    *escaped = FALSE;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            *len = (DWORD)(p - *start);
            return p + 1;
        }
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            *escaped = TRUE;
            p++;
            if (p >= end)
                return NULL;
        }
        p++;
    }
    return NULL;
}

static const char *skip_value(const char *p, const char *end, int depth);

static const char *skip_container(const char *p, const char *end, int depth, char close,
                                  BOOL keyed)
{
    const char *s;
    DWORD n;
    BOOL e;

    p = skip_ws(p + 1, end);
    if (p < end && *p == close)
        return p + 1;
    for (;;) {
        if (keyed) {
            p = scan_string(p, end, &s, &n, &e);
            if (p == NULL)
                return NULL;
            p = skip_ws(p, end);
            if (p >= end || *p != ':')
                return NULL;
            p = skip_ws(p + 1, end);
        }
        p = skip_value(p, end, depth + 1);
        if (p == NULL)
            return NULL;
        p = skip_ws(p, end);
        if (p >= end)
            return NULL;
        if (*p == close)
            return p + 1;
        if (*p != ',')
            return NULL;
        p = skip_ws(p + 1, end);
    }
}

static const char *skip_value(const char *p, const char *end, int depth)
{
    const char *s;
    DWORD n;
    BOOL e;

    if (p >= end || depth > 16)
        return NULL;
    switch (*p) {
    case '"':
        return scan_string(p, end, &s, &n, &e);
    case '{':
        return skip_container(p, end, depth, '}', TRUE);
    case '[':
        return skip_container(p, end, depth, ']', FALSE);
    case 't':
        return (end - p >= 4 && memcmp(p, "true", 4) == 0) ? p + 4 : NULL;
    case 'f':
        return (end - p >= 5 && memcmp(p, "false", 5) == 0) ? p + 5 : NULL;
    case 'n':
        return (end - p >= 4 && memcmp(p, "null", 4) == 0) ? p + 4 : NULL;
    default:
        s = p;
        while (p < end && ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' ||
                           *p == 'e' || *p == 'E'))
            p++;
        return p > s ? p : NULL;
    }
}

static BOOL is(const char *s, DWORD n, const char *word)
{
    DWORD m = (DWORD)lstrlenA(word);
    return n == m && memcmp(s, word, n) == 0;
}

/* The verdict of an answer: the top-level object's one "verdict" key,
 * a string without escapes, next to its one "v" key, the number 1. No "v"
 * or another one, a key or value with escapes, a second "verdict" or "v",
 * or anything after the object: malformed. */
static verdict_t verdict_of(const char *answer, DWORD len)
{
    const char *p = answer, *end = answer + len, *key, *value = NULL, *version;
    DWORD key_len, value_len = 0;
    BOOL escaped, found = FALSE, versioned = FALSE;

    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return VERDICT_MALFORMED;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return VERDICT_MALFORMED;
    for (;;) {
        p = scan_string(p, end, &key, &key_len, &escaped);
        if (p == NULL || escaped)
            return VERDICT_MALFORMED;
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return VERDICT_MALFORMED;
        p = skip_ws(p + 1, end);
        if (is(key, key_len, "verdict")) {
            if (found)
                return VERDICT_MALFORMED;
            found = TRUE;
            p = scan_string(p, end, &value, &value_len, &escaped);
            if (p == NULL || escaped)
                return VERDICT_MALFORMED;
        } else if (is(key, key_len, "v")) {
            if (versioned)
                return VERDICT_MALFORMED;
            versioned = TRUE;
            version = p;
            p = skip_value(p, end, 1);
            if (p == NULL || !is(version, (DWORD)(p - version), "1"))
                return VERDICT_MALFORMED;
        } else {
            p = skip_value(p, end, 1);
            if (p == NULL)
                return VERDICT_MALFORMED;
        }
        p = skip_ws(p, end);
        if (p >= end)
            return VERDICT_MALFORMED;
        if (*p == '}')
            break;
        if (*p != ',')
            return VERDICT_MALFORMED;
        p = skip_ws(p + 1, end);
    }
    if (skip_ws(p + 1, end) != end || !found || !versioned)
        return VERDICT_MALFORMED;
    if (is(value, value_len, "accepted") || is(value, value_len, "would_refuse"))
        return VERDICT_ACCEPT;
    if (is(value, value_len, "refused"))
        return VERDICT_REFUSE;
    return VERDICT_MALFORMED;
}

/* ------------------------------------------------------------------ */
/* HTTPS */

typedef enum {
    CALL_ANSWERED,    /* an HTTP answer: status and body in the work area */
    CALL_UNREACHABLE, /* not reached, or no answer in time: the fail mode applies */
    CALL_CERTIFICATE, /* the server's certificate is not trusted or not the pinned one */
    CALL_FAILED,      /* anything else */
} call_t;

/* Milliseconds on the performance counter: exact (GetTickCount64 moves in
 * steps of up to 16 ms, and classify() compares with the deadline). */
static ULONGLONG now_ms(void)
{
    LARGE_INTEGER c, f;

    if (!QueryPerformanceFrequency(&f) || f.QuadPart <= 0 || !QueryPerformanceCounter(&c))
        return GetTickCount64();
    return (ULONGLONG)(c.QuadPart / f.QuadPart) * 1000 +
           (ULONGLONG)(c.QuadPart % f.QuadPart) * 1000 / (ULONGLONG)f.QuadPart;
}

static call_t classify(DWORD err, ULONGLONG deadline)
{
    switch (err) {
    case ERROR_WINHTTP_TIMEOUT:
    case ERROR_WINHTTP_CANNOT_CONNECT:
    case ERROR_WINHTTP_CONNECTION_ERROR:
    case ERROR_WINHTTP_NAME_NOT_RESOLVED:
        return CALL_UNREACHABLE;
    case ERROR_WINHTTP_SECURE_CHANNEL_ERROR:
        /* The TLS handshake failed. Wine says so for a certificate it does
         * not trust too, and for a handshake the server never answers
         * (when the timeout ends): only the second is the server's absence.
         * Every WinHTTP timeout is set to end at the deadline (set_deadline),
         * so a handshake given up for lack of an answer fails at the
         * deadline or after it, never before; a failure before the
         * deadline, however close to it, is the certificate's or the
         * handshake's, and refuses whatever the fail mode. */
        return now_ms() >= deadline ? CALL_UNREACHABLE : CALL_CERTIFICATE;
    case ERROR_WINHTTP_SECURE_FAILURE:
    case ERROR_WINHTTP_SECURE_INVALID_CA:
    case ERROR_WINHTTP_SECURE_CERT_CN_INVALID:
    case ERROR_WINHTTP_SECURE_CERT_DATE_INVALID:
    case ERROR_WINHTTP_SECURE_INVALID_CERT:
    case ERROR_WINHTTP_SECURE_CERT_REVOKED:
    case ERROR_WINHTTP_SECURE_CERT_WRONG_USAGE:
        return CALL_CERTIFICATE;
    default:
        return CALL_FAILED;
    }
}

/* Gives every WinHTTP timeout of h what is left until deadline: name
 * resolution, connect, send, receive, and the wait for the answer's
 * headers (Wine also applies that one to the TLS handshake; without it a
 * server that accepts and never answers holds the call forever). */
static BOOL set_deadline(HINTERNET h, ULONGLONG deadline)
{
    ULONGLONG now = now_ms();
    DWORD left;

    if (now >= deadline) {
        SetLastError(ERROR_WINHTTP_TIMEOUT);
        return FALSE;
    }
    left = (DWORD)(deadline - now);
    return WinHttpSetTimeouts(h, (int)left, (int)left, (int)left, (int)left) &&
           WinHttpSetOption(h, WINHTTP_OPTION_RECEIVE_RESPONSE_TIMEOUT, &left, sizeof(left));
}

/* Whether the certificate of the connection behind req is the pinned one. */
static BOOL pin_matches(HINTERNET req, const BYTE pin[32])
{
    PCCERT_CONTEXT cert = NULL;
    DWORD size = sizeof(cert), hash_len = 32;
    BYTE hash[32];
    BOOL ok;

    if (!WinHttpQueryOption(req, WINHTTP_OPTION_SERVER_CERT_CONTEXT, &cert, &size) ||
        cert == NULL)
        return FALSE;
    ok = CryptHashCertificate2(BCRYPT_SHA256_ALGORITHM, 0, NULL, cert->pbCertEncoded,
                               cert->cbCertEncoded, hash, &hash_len) &&
         hash_len == 32 && memcmp(hash, pin, 32) == 0;
    CertFreeCertificateContext(cert);
    return ok;
}

/* Without a pin: whether the certificate of the connection behind req
 * chains to a trusted root (the system store) for server authentication
 * and names host. WinHTTP checks this itself when it opens a connection;
 * this is checked again on every request, before the body, since a pool
 * may hand a request a connection opened under other rules: Windows pools
 * per session (and pinned calls have their own, shared_session()), but
 * Wine's pool is the process's, so a connection opened in pinned mode,
 * whose CA and name were not checked, can come back in a call made after
 * the configuration changed to the system store. */
static BOOL chain_trusted(HINTERNET req, const WCHAR *host)
{
    PCCERT_CONTEXT cert = NULL;
    PCCERT_CHAIN_CONTEXT chain = NULL;
    DWORD size = sizeof(cert);
    CERT_CHAIN_PARA para;
    HTTPSPolicyCallbackData https;
    CERT_CHAIN_POLICY_PARA policy;
    CERT_CHAIN_POLICY_STATUS status;
    LPSTR usage[1] = {(LPSTR)szOID_PKIX_KP_SERVER_AUTH};
    BOOL ok = FALSE;

    if (!WinHttpQueryOption(req, WINHTTP_OPTION_SERVER_CERT_CONTEXT, &cert, &size) ||
        cert == NULL)
        return FALSE;
    ZeroMemory(&para, sizeof(para));
    para.cbSize = sizeof(para);
    para.RequestedUsage.dwType = USAGE_MATCH_TYPE_AND;
    para.RequestedUsage.Usage.cUsageIdentifier = 1;
    para.RequestedUsage.Usage.rgpszUsageIdentifier = usage;
    if (CertGetCertificateChain(NULL, cert, NULL, cert->hCertStore, &para, 0, NULL, &chain)) {
        ZeroMemory(&https, sizeof(https));
        https.cbStruct = sizeof(https);
        https.dwAuthType = AUTHTYPE_SERVER;
        https.pwszServerName = (WCHAR *)host;
        ZeroMemory(&policy, sizeof(policy));
        policy.cbSize = sizeof(policy);
        policy.pvExtraPolicyPara = &https;
        ZeroMemory(&status, sizeof(status));
        status.cbSize = sizeof(status);
        ok = CertVerifyCertificateChainPolicy(CERT_CHAIN_POLICY_SSL, chain, &policy, &status) &&
             status.dwError == 0;
        CertFreeCertificateChain(chain);
    }
    CertFreeCertificateContext(cert);
    return ok;
}

static HINTERNET open_request(HINTERNET conn, const WCHAR *verb, const WCHAR *path,
                              const config_t *cfg)
{
    DWORD v;
    HINTERNET req = WinHttpOpenRequest(conn, verb, path, NULL, WINHTTP_NO_REFERER,
                                       WINHTTP_DEFAULT_ACCEPT_TYPES, WINHTTP_FLAG_SECURE);
    if (req == NULL)
        return NULL;
    /* A redirect would send the password elsewhere; no cookies, no
     * Windows authentication. */
    v = WINHTTP_DISABLE_COOKIES | WINHTTP_DISABLE_REDIRECTS | WINHTTP_DISABLE_AUTHENTICATION;
    if (!WinHttpSetOption(req, WINHTTP_OPTION_DISABLE_FEATURE, &v, sizeof(v)))
        goto fail;
    if (cfg->pinned) {
        /* The pin is the whole trust: pin_matches() is checked before
         * anything secret is sent. */
        v = SECURITY_FLAG_IGNORE_UNKNOWN_CA | SECURITY_FLAG_IGNORE_CERT_DATE_INVALID |
            SECURITY_FLAG_IGNORE_CERT_CN_INVALID | SECURITY_FLAG_IGNORE_CERT_WRONG_USAGE;
        if (!WinHttpSetOption(req, WINHTTP_OPTION_SECURITY_FLAGS, &v, sizeof(v)))
            goto fail;
    }
    return req;
fail:
    WinHttpCloseHandle(req);
    return NULL;
}

/* Reads the answer's body into buf. FALSE with the last error set: WinHTTP's
 * (a timeout, a lost connection), ERROR_INSUFFICIENT_BUFFER for a body
 * larger than cap, ERROR_INVALID_DATA for one in over 1,024 pieces; never a
 * stale one from an earlier call, which could say "timeout". */
static BOOL read_body(HINTERNET req, char *buf, DWORD cap, DWORD *len)
{
    DWORD got;
    int rounds;

    *len = 0;
    for (rounds = 0; rounds < 1024; rounds++) {
        char extra;
        if (*len == cap) {
            /* Full: only the end of the answer may follow. */
            if (!WinHttpReadData(req, &extra, 1, &got))
                return FALSE;
            if (got != 0) {
                SetLastError(ERROR_INSUFFICIENT_BUFFER);
                return FALSE;
            }
            return TRUE;
        }
        if (!WinHttpReadData(req, buf + *len, cap - *len, &got))
            return FALSE;
        if (got == 0)
            return TRUE;
        *len += got;
    }
    SetLastError(ERROR_INVALID_DATA);
    return FALSE;
}

/* With a pin, a request that carries nothing secret (no token, no
 * password) opens the connection, and its certificate is checked; the
 * real request then goes on the same connection (keep-alive). */
static call_t probe(HINTERNET conn, const config_t *cfg, ULONGLONG deadline, DWORD *err)
{
    char sink[512];
    WCHAR path[MAX_URL + 32];
    DWORD got;
    call_t result = CALL_FAILED;
    HINTERNET req;

    /* pwgate answers 404 here, before it asks for credentials. */
    _snwprintf(path, ARRAYSIZE(path) - 1, L"%ls/v1/", cfg->path);
    path[ARRAYSIZE(path) - 1] = 0;
    req = open_request(conn, L"GET", path, cfg);

    if (req == NULL || !set_deadline(req, deadline) ||
        !WinHttpSendRequest(req, WINHTTP_NO_ADDITIONAL_HEADERS, 0, WINHTTP_NO_REQUEST_DATA, 0,
                            0, 0)) {
        *err = GetLastError();
        result = classify(*err, deadline);
        goto done;
    }
    if (!pin_matches(req, cfg->pin)) {
        *err = 0;
        result = CALL_CERTIFICATE;
        goto done;
    }
    /* Read the (small) answer so the connection goes back to the pool. */
    if (WinHttpReceiveResponse(req, NULL))
        read_body(req, sink, sizeof(sink), &got);
    result = CALL_ANSWERED;
done:
    if (req != NULL)
        WinHttpCloseHandle(req);
    return result;
}

/* Two WinHTTP sessions for the life of the process (LSASS's), one per
 * trust mode: [0] the system store, [1] a pin. WinHTTP keeps its pool of
 * connections per session, so a call after the first reuses a connection
 * to pwgate, and its TLS session, instead of a handshake per password
 * change; with a session per mode, a connection opened in pinned mode
 * (CA and name not checked) is never handed to a call that trusts the
 * system store (chain_trusted() checks that again, for pools that are not
 * per session, as Wine's). Each is made on first use, by whichever thread
 * comes first (InterlockedCompareExchangePointer: a second one made at the
 * same time is closed); never closed, since the filter is unloaded only
 * with LSASS. This is the filter's only state between calls; the
 * configuration is read on every call. Their options are fixed; the
 * timeouts are set per request (set_deadline), never on a shared session,
 * which calls on other threads use too. */
static PVOID volatile g_sessions[2] = {NULL, NULL};

static HINTERNET shared_session(BOOL pinned)
{
    PVOID volatile *slot = &g_sessions[pinned ? 1 : 0];
    HINTERNET made;
    PVOID before;
    DWORD v;

    if (*slot != NULL)
        return (HINTERNET)*slot;
    made = WinHttpOpen(L"pwgate-filter/1", WINHTTP_ACCESS_TYPE_NO_PROXY, WINHTTP_NO_PROXY_NAME,
                       WINHTTP_NO_PROXY_BYPASS, 0);
    if (made == NULL)
        return NULL;
    v = WINHTTP_FLAG_SECURE_PROTOCOL_TLS1_2 | WINHTTP_FLAG_SECURE_PROTOCOL_TLS1_3;
    if (!WinHttpSetOption(made, WINHTTP_OPTION_SECURE_PROTOCOLS, &v, sizeof(v))) {
        /* Before Windows Server 2022 TLS 1.3 is not known: 1.2 only. */
        v = WINHTTP_FLAG_SECURE_PROTOCOL_TLS1_2;
        if (!WinHttpSetOption(made, WINHTTP_OPTION_SECURE_PROTOCOLS, &v, sizeof(v))) {
            DWORD e = GetLastError();
            WinHttpCloseHandle(made);
            SetLastError(e);
            return NULL;
        }
    }
    v = WINHTTP_OPTION_REDIRECT_POLICY_NEVER;
    WinHttpSetOption(made, WINHTTP_OPTION_REDIRECT_POLICY, &v, sizeof(v));
    before = InterlockedCompareExchangePointer(slot, made, NULL);
    if (before != NULL) {
        WinHttpCloseHandle(made);
        return (HINTERNET)before;
    }
    return made;
}

/* POSTs the work area's body to cfg->path + path; the answer's status and
 * body go to *status and w->answer. */
static call_t call_pwgate(work_t *w, const WCHAR *path, DWORD *status, DWORD *err)
{
    const config_t *cfg = &w->cfg;
    ULONGLONG deadline = now_ms() + cfg->timeout_ms;
    HINTERNET session = NULL, conn = NULL, req = NULL;
    WCHAR full_path[MAX_URL + 64];
    DWORD size, sent, written;
    int rounds;
    call_t result = CALL_FAILED;

    *err = 0;
    *status = 0;
    w->answer_len = 0;
    _snwprintf(full_path, ARRAYSIZE(full_path) - 1, L"%ls%ls", cfg->path, path);
    full_path[ARRAYSIZE(full_path) - 1] = 0;
    _snwprintf(w->headers, ARRAYSIZE(w->headers) - 1,
               L"Content-Type: application/json\r\nAuthorization: Bearer %ls", cfg->token);
    w->headers[ARRAYSIZE(w->headers) - 1] = 0;

    session = shared_session(cfg->pinned);
    if (session == NULL)
        goto error;
    conn = WinHttpConnect(session, cfg->host, cfg->port, 0);
    if (conn == NULL)
        goto error;
    if (cfg->pinned) {
        result = probe(conn, cfg, deadline, err);
        if (result != CALL_ANSWERED)
            goto done;
        result = CALL_FAILED;
    }
    req = open_request(conn, L"POST", full_path, cfg);
    if (req == NULL || !set_deadline(req, deadline))
        goto error;
    /* The headers (with the token) now; the body only once the
     * connection's certificate is known to be the pinned one, or (without
     * a pin) trusted for the host. */
    if (!WinHttpSendRequest(req, w->headers, (DWORD)-1L, WINHTTP_NO_REQUEST_DATA, 0, w->body_len,
                            0))
        goto error;
    if (cfg->pinned && !pin_matches(req, cfg->pin)) {
        result = CALL_CERTIFICATE;
        goto done;
    }
    if (!cfg->pinned && !chain_trusted(req, cfg->host)) {
        *err = ERROR_WINHTTP_SECURE_INVALID_CA;
        result = CALL_CERTIFICATE;
        goto done;
    }
    for (sent = 0, rounds = 0; sent < w->body_len && rounds < 64; rounds++) {
        if (!set_deadline(req, deadline) ||
            !WinHttpWriteData(req, w->body + sent, w->body_len - sent, &written))
            goto error;
        sent += written;
    }
    if (sent < w->body_len) {
        /* WinHTTP took less than the body in 64 writes: not a timeout. */
        *err = ERROR_INVALID_DATA;
        result = CALL_FAILED;
        goto done;
    }
    if (!set_deadline(req, deadline) || !WinHttpReceiveResponse(req, NULL))
        goto error;
    size = sizeof(*status);
    if (!WinHttpQueryHeaders(req, WINHTTP_QUERY_STATUS_CODE | WINHTTP_QUERY_FLAG_NUMBER,
                             WINHTTP_HEADER_NAME_BY_INDEX, status, &size, WINHTTP_NO_HEADER_INDEX))
        goto error;
    if (!read_body(req, w->answer, ANSWER_MAX, &w->answer_len)) {
        *err = GetLastError();
        /* A body too large for the buffer (ERROR_INSUFFICIENT_BUFFER) is
         * not an answer pwgate gives: refused, whatever the fail mode. */
        result = *err == ERROR_WINHTTP_TIMEOUT ? CALL_UNREACHABLE : CALL_FAILED;
        goto done;
    }
    result = CALL_ANSWERED;
    goto done;
error:
    *err = GetLastError();
    result = classify(*err, deadline);
done:
    if (req != NULL)
        WinHttpCloseHandle(req);
    if (conn != NULL)
        WinHttpCloseHandle(conn);
    /* The session stays: it is the process's (shared_session). */
    SecureZeroMemory(w->headers, sizeof(w->headers));
    return result;
}

/* Statuses that say pwgate is there but cannot answer now. */
static BOOL busy_status(DWORD status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

static work_t *new_work(void)
{
    return (work_t *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof(work_t));
}

static void free_work(work_t *w)
{
    SecureZeroMemory(w, sizeof(*w));
    HeapFree(GetProcessHeap(), 0, w);
}

/* ------------------------------------------------------------------ */
/* The exports */

BOOLEAN NTAPI InitializeChangeNotify(void)
{
    report(EVENTLOG_INFORMATION_TYPE, EV_LOADED,
           L"pwgate filter loaded: password changes are decided by pwgate (configuration in "
           L"HKLM\\" CONFIG_KEY L")");
    return TRUE;
}

/* The fail mode's answer when pwgate cannot be asked (ACCEPT-2). */
static BOOLEAN fail_mode(work_t *w, const WCHAR *what, DWORD code)
{
    if (w->cfg.fail_allow) {
        report(EVENTLOG_WARNING_TYPE, EV_ALLOWED_UNREACHABLE,
               L"pwgate filter: password of account \"%ls\" ACCEPTED UNCHECKED (FailMode allow): "
               L"%ls (%lu)",
               w->shown_account, what, code);
        return TRUE;
    }
    report(EVENTLOG_ERROR_TYPE, EV_REFUSED_UNREACHABLE,
           L"pwgate filter: password of account \"%ls\" refused: %ls (%lu)", w->shown_account,
           what, code);
    return FALSE;
}

BOOLEAN NTAPI PasswordFilter(PUNICODE_STRING AccountName, PUNICODE_STRING FullName,
                             PUNICODE_STRING Password, BOOLEAN SetOperation)
{
    work_t *w = new_work();
    const WCHAR *why = L"";
    writer_t body;
    DWORD status = 0, err = 0;
    call_t call;
    BOOLEAN result = FALSE;

    if (w == NULL)
        return FALSE;
    show_account(w, AccountName);
    if (!load_config(&w->cfg))
        goto done;

    w->account_len = to_utf8(AccountName, MAX_ACCOUNT, w->account, sizeof(w->account), &why);
    if (w->account_len <= 0) {
        report(EVENTLOG_WARNING_TYPE, EV_REFUSED_INPUT,
               L"pwgate filter: password of account \"%ls\" refused: the account name cannot be "
               L"sent (%ls)",
               w->shown_account, w->account_len == 0 ? L"it is empty" : why);
        goto done;
    }
    w->full_name_len =
        to_utf8(FullName, MAX_FULL_NAME, w->full_name, sizeof(w->full_name), &why);
    if (w->full_name_len < 0) {
        report(EVENTLOG_WARNING_TYPE, EV_REFUSED_INPUT,
               L"pwgate filter: password of account \"%ls\" refused: the full name cannot be "
               L"sent (%ls)",
               w->shown_account, why);
        goto done;
    }
    /* Over 1,024 UTF-16 units is over 1,024 UTF-8 bytes: not converted. */
    w->password_len =
        to_utf8(Password, MAX_PASSWORD_BYTES, w->password, sizeof(w->password), &why);
    if (w->password_len <= 0) {
        report(EVENTLOG_WARNING_TYPE, EV_REFUSED_INPUT,
               L"pwgate filter: password of account \"%ls\" refused: the password cannot be "
               L"sent (%ls; pwgate takes 1 to %d UTF-8 bytes)",
               w->shown_account, w->password_len == 0 ? L"it is empty" : why,
               MAX_PASSWORD_BYTES);
        goto done;
    }

    body.buf = w->body;
    body.len = 0;
    body.cap = BODY_MAX;
    body.overflow = FALSE;
    put_text(&body, "{\"v\":1,\"door\":\"windows_filter\",\"account\":{\"name\":");
    put_json(&body, w->account, w->account_len);
    if (w->full_name_len > 0) {
        put_text(&body, ",\"full_name\":");
        put_json(&body, w->full_name, w->full_name_len);
    }
    put_text(&body, "},\"password\":");
    put_json(&body, w->password, w->password_len);
    /* SetOperation: an administrator's set (reset); else the user's change. */
    put_text(&body, SetOperation ? ",\"kind\":\"reset\"}" : ",\"kind\":\"change\"}");
    SecureZeroMemory(w->password, sizeof(w->password));
    if (body.overflow) {
        report(EVENTLOG_WARNING_TYPE, EV_REFUSED_INPUT,
               L"pwgate filter: password of account \"%ls\" refused: the request would be too "
               L"large",
               w->shown_account);
        goto done;
    }
    w->body_len = body.len;

    call = call_pwgate(w, L"/v1/decide", &status, &err);
    SecureZeroMemory(w->body, sizeof(w->body));
    switch (call) {
    case CALL_UNREACHABLE:
        result = fail_mode(w, L"pwgate could not be reached, or did not answer in time", err);
        goto done;
    case CALL_CERTIFICATE:
        report(EVENTLOG_ERROR_TYPE, EV_CERTIFICATE,
               err == 0 ? L"pwgate filter: password of account \"%ls\" refused: the server's "
                          L"certificate is not the one PinnedSha256 names; the password was not "
                          L"sent"
                        : L"pwgate filter: password of account \"%ls\" refused: the server's "
                          L"certificate is not trusted, or the TLS handshake failed (%lu)",
               w->shown_account, err);
        goto done;
    case CALL_FAILED:
        report(EVENTLOG_ERROR_TYPE, EV_REFUSED_UNREACHABLE,
               L"pwgate filter: password of account \"%ls\" refused: the request to pwgate "
               L"failed (%lu)",
               w->shown_account, err);
        goto done;
    case CALL_ANSWERED:
        break;
    }
    if (busy_status(status)) {
        result = fail_mode(w, L"pwgate is busy (HTTP status)", status);
        goto done;
    }
    if (status != 200) {
        report(EVENTLOG_ERROR_TYPE, EV_REFUSED_ANSWER,
               L"pwgate filter: password of account \"%ls\" refused: pwgate answered HTTP %lu "
               L"(see pwgate's log)",
               w->shown_account, status);
        goto done;
    }
    switch (verdict_of(w->answer, w->answer_len)) {
    case VERDICT_ACCEPT:
        result = TRUE; /* ACCEPT-1 */
        break;
    case VERDICT_REFUSE:
        report(EVENTLOG_INFORMATION_TYPE, EV_REFUSED_BY_POLICY,
               L"pwgate filter: password of account \"%ls\" refused by pwgate's policy (%ls; the "
               L"rules are in pwgate's audit trail)",
               w->shown_account, SetOperation ? L"reset" : L"change");
        break;
    case VERDICT_MALFORMED:
        report(EVENTLOG_ERROR_TYPE, EV_REFUSED_ANSWER,
               L"pwgate filter: password of account \"%ls\" refused: pwgate's answer is not a "
               L"version 1 verdict",
               w->shown_account);
        break;
    }
done:
    free_work(w);
    return result;
}

NTSTATUS NTAPI PasswordChangeNotify(PUNICODE_STRING UserName, ULONG RelativeId,
                                    PUNICODE_STRING NewPassword)
{
    work_t *w;
    const WCHAR *why = L"";
    writer_t body;
    char rid[16];
    DWORD status = 0, err = 0;
    call_t call;

    /* The new password is never read. */
    (void)NewPassword;
    w = new_work();
    if (w == NULL)
        return STATUS_SUCCESS;
    show_account(w, UserName);
    if (!load_config(&w->cfg))
        goto done;
    w->account_len = to_utf8(UserName, MAX_ACCOUNT, w->account, sizeof(w->account), &why);
    if (w->account_len <= 0) {
        report(EVENTLOG_WARNING_TYPE, EV_NOTIFY_FAILED,
               L"pwgate filter: the change of account \"%ls\" was not reported: the name cannot "
               L"be sent",
               w->shown_account);
        goto done;
    }
    body.buf = w->body;
    body.len = 0;
    body.cap = BODY_MAX;
    body.overflow = FALSE;
    put_text(&body, "{\"v\":1,\"door\":\"windows_filter\",\"account\":{\"name\":");
    put_json(&body, w->account, w->account_len);
    put_text(&body, "},\"rid\":");
    put(&body, rid, decimal(RelativeId, rid));
    put_text(&body, "}");
    if (body.overflow)
        goto done;
    w->body_len = body.len;
    call = call_pwgate(w, L"/v1/notify", &status, &err);
    if (call != CALL_ANSWERED || status != 200) {
        report(EVENTLOG_WARNING_TYPE, EV_NOTIFY_FAILED,
               L"pwgate filter: the change of account \"%ls\" (RID %lu) was made but not "
               L"recorded by pwgate (%ls %lu)",
               w->shown_account, (unsigned long)RelativeId,
               call == CALL_ANSWERED ? L"HTTP" : L"error", call == CALL_ANSWERED ? status : err);
    }
done:
    free_work(w);
    return STATUS_SUCCESS;
}
