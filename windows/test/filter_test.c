/*
 * filter_test.c - loads pwgate_filter.dll as LSASS would (LoadLibraryW,
 * GetProcAddress of its three exports) and calls it, for the tests under
 * Wine (tests/windows_filter.rs).
 *
 *   filter_test DLL init
 *       calls InitializeChangeNotify; prints "init TRUE|FALSE"
 *   filter_test DLL filter ACCOUNT FULLNAME PASSWORD reset|change
 *       calls PasswordFilter (SetOperation TRUE for reset); FULLNAME "-"
 *       is a NULL Buffer; prints "accepted|refused elapsed_ms=N"
 *   filter_test DLL notify USER RID
 *       calls PasswordChangeNotify (the NewPassword given is a marker the
 *       DLL must never send); prints "notify status=0x..."
 *   filter_test DLL odd
 *       calls PasswordFilter with odd input, one line per case:
 *       "CASE accepted|refused elapsed_ms=N"
 *   filter_test DLL bench N ACCOUNT PASSWORD
 *       N calls; prints "bench n=N p50_us=.. p99_us=.. max_us=.. accepted=K"
 *   filter_test DLL twice ACCOUNT PASSWORD
 *       calls PasswordFilter, deletes the value PinnedSha256 of the
 *       filter's key, calls it again in the same process (its WinHTTP
 *       session and pool kept); prints "first accepted|refused" and
 *       "second accepted|refused"
 *   filter_test DLL trust|untrust DER_FILE
 *       adds the certificate to (or deletes it from) the Local Machine
 *       "Root" store of this Wine prefix; prints "trust ok" / "untrust ok"
 *
 * Exit status: 0 accepted (or done), 1 refused, 2 usage or loading error.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <windows.h>
#include <ntsecapi.h>
#include <wincrypt.h>

typedef BOOLEAN(NTAPI *init_fn)(void);
typedef BOOLEAN(NTAPI *filter_fn)(PUNICODE_STRING, PUNICODE_STRING, PUNICODE_STRING, BOOLEAN);
typedef NTSTATUS(NTAPI *notify_fn)(PUNICODE_STRING, ULONG, PUNICODE_STRING);

static init_fn init;
static filter_fn filter;
static notify_fn notify;

static UNICODE_STRING us(const WCHAR *s)
{
    UNICODE_STRING u;
    size_t n = s ? wcslen(s) : 0;
    u.Buffer = (PWSTR)s;
    u.Length = (USHORT)(n * sizeof(WCHAR));
    u.MaximumLength = u.Length;
    return u;
}

/* A string of n units in a buffer of exactly n units (no NUL after it:
 * reading past Length would be noticed by page heap, not here). */
static UNICODE_STRING counted(const WCHAR *s, size_t n, USHORT length_bytes)
{
    UNICODE_STRING u;
    WCHAR *copy = (WCHAR *)malloc((n ? n : 1) * sizeof(WCHAR));
    if (copy == NULL)
        exit(2);
    memcpy(copy, s, n * sizeof(WCHAR));
    u.Buffer = copy;
    u.Length = length_bytes;
    u.MaximumLength = (USHORT)(n * sizeof(WCHAR));
    return u;
}

static ULONGLONG now_us(void)
{
    LARGE_INTEGER c, f;
    QueryPerformanceCounter(&c);
    QueryPerformanceFrequency(&f);
    return (ULONGLONG)(c.QuadPart * 1000000.0 / f.QuadPart);
}

static BOOLEAN timed(PUNICODE_STRING a, PUNICODE_STRING f, PUNICODE_STRING p, BOOLEAN set,
                     ULONGLONG *ms)
{
    ULONGLONG t0 = now_us();
    BOOLEAN r = filter(a, f, p, set);
    *ms = (now_us() - t0) / 1000;
    return r;
}

static void odd_case(const char *name, PUNICODE_STRING a, PUNICODE_STRING f, PUNICODE_STRING p)
{
    ULONGLONG ms;
    BOOLEAN r = timed(a, f, p, TRUE, &ms);
    printf("%s %s elapsed_ms=%llu\n", name, r ? "accepted" : "refused", ms);
    fflush(stdout);
}

/* A password of n units repeating pattern. */
static WCHAR *repeat(const WCHAR *pattern, size_t n)
{
    size_t i, m = wcslen(pattern);
    WCHAR *s = (WCHAR *)malloc((n + 1) * sizeof(WCHAR));
    if (s == NULL)
        exit(2);
    for (i = 0; i < n; i++)
        s[i] = pattern[i % m];
    s[n] = 0;
    return s;
}

static int odd(void)
{
    static const WCHAR strong[] = L"tangerine-Otter-42-lamp";
    UNICODE_STRING a, f, p, big, big_name;
    WCHAR *s, *name;
    size_t n = wcslen(strong);

    /* Empty, NULL and malformed strings. */
    a = us(L"odd-null-password");
    p.Buffer = NULL;
    p.Length = 0;
    p.MaximumLength = 0;
    odd_case("null-password", &a, NULL, &p);
    a = us(L"odd-null-buffer-with-length");
    p.Buffer = NULL;
    p.Length = 40;
    p.MaximumLength = 40;
    odd_case("null-buffer-with-length", &a, NULL, &p);
    odd_case("null-pointers", NULL, NULL, NULL);
    a = us(L"odd-empty-account");
    a.Length = 0;
    p = us(strong);
    odd_case("empty-account", &a, NULL, &p);
    a = us(L"odd-length");
    p = counted(strong, n, (USHORT)(n * sizeof(WCHAR) - 1));
    odd_case("odd-length", &a, NULL, &p);
    a = us(L"odd-high-surrogate");
    p = us(L"tangerine-Otter-42-\xD83D");
    odd_case("high-surrogate", &a, NULL, &p);
    a = us(L"odd-low-surrogate");
    p = us(L"\xDE00tangerine-Otter-42");
    odd_case("low-surrogate", &a, NULL, &p);
    a = us(L"odd-embedded-nul");
    p = counted(L"tangerine\0Otter-42-lamp", 23, 23 * sizeof(WCHAR));
    odd_case("embedded-nul", &a, NULL, &p);
    a = us(L"odd-surrogate-name\xDC00");
    p = us(strong);
    odd_case("surrogate-in-name", &a, NULL, &p);

    /* Long: 100,000 characters (a UNICODE_STRING holds at most 32,767:
     * the longest it can say, with a 100,000-unit buffer behind it). */
    s = repeat(L"Tangerine-Otter-42-", 100000);
    big.Buffer = s;
    big.Length = 0xFFFE;
    big.MaximumLength = 0xFFFE;
    a = us(L"odd-long-password");
    odd_case("long-password", &a, NULL, &big);
    name = repeat(L"odd-long-name-", 100000);
    big_name.Buffer = name;
    big_name.Length = 0xFFFE;
    big_name.MaximumLength = 0xFFFE;
    odd_case("long-account", &big_name, NULL, &p);
    a = us(L"odd-long-full-name");
    odd_case("long-full-name", &a, &big_name, &p);
    free(name);
    /* At pwgate's limit, 1,024 UTF-8 bytes, and one over. */
    a = us(L"odd-max-ascii");
    p = counted(s, 1024, 1024 * sizeof(WCHAR));
    odd_case("max-ascii", &a, NULL, &p);
    a = us(L"odd-over-ascii");
    p = counted(s, 1025, 1025 * sizeof(WCHAR));
    odd_case("over-ascii", &a, NULL, &p);
    free(s);
    /* 341 x U+20AC is 1,023 bytes, 342 x is 1,026: bytes count, not units. */
    s = repeat(L"\x20AC", 342);
    a = us(L"odd-max-euro");
    p = counted(s, 341, 341 * sizeof(WCHAR));
    odd_case("max-euro", &a, NULL, &p);
    a = us(L"odd-over-euro");
    p = counted(s, 342, 342 * sizeof(WCHAR));
    odd_case("over-euro", &a, NULL, &p);
    free(s);

    /* JSON escaping: a quote, a backslash, a tab, a line break and a
     * character outside the BMP (a surrogate pair) in the password. */
    a = us(L"odd-escape");
    p = us(L"tangerine\"Otter\\42\t-lamp\n-\xD83D\xDE00");
    odd_case("escape", &a, NULL, &p);
    /* A control character in the full name: pwgate refuses the request. */
    a = us(L"odd-control-full-name");
    f = us(L"Odd\nName");
    p = us(strong);
    odd_case("control-full-name", &a, &f, &p);
    /* No full name (NULL Buffer), a non-ASCII account name. */
    a = us(L"odd-z\x00f6\x00eb");
    f.Buffer = NULL;
    f.Length = 0;
    f.MaximumLength = 0;
    odd_case("non-ascii-account", &a, &f, &p);
    return 0;
}

static int cmp_ull(const void *x, const void *y)
{
    ULONGLONG a = *(const ULONGLONG *)x, b = *(const ULONGLONG *)y;
    return a < b ? -1 : a > b;
}

static int bench(int n, const WCHAR *account, const WCHAR *password)
{
    UNICODE_STRING a = us(account), p = us(password);
    ULONGLONG *t = (ULONGLONG *)malloc(sizeof(ULONGLONG) * (size_t)n);
    int i, accepted = 0;

    if (t == NULL || n < 1)
        return 2;
    for (i = 0; i < n; i++) {
        ULONGLONG t0 = now_us();
        accepted += filter(&a, NULL, &p, FALSE) ? 1 : 0;
        t[i] = now_us() - t0;
    }
    qsort(t, (size_t)n, sizeof(ULONGLONG), cmp_ull);
    printf("bench n=%d p50_us=%llu p99_us=%llu max_us=%llu accepted=%d\n", n, t[n / 2],
           t[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], t[n - 1], accepted);
    free(t);
    return 0;
}

static int twice(const WCHAR *account, const WCHAR *password)
{
    UNICODE_STRING a = us(account), p = us(password);
    BOOLEAN r;
    LSTATUS rc;

    r = filter(&a, NULL, &p, FALSE);
    printf("first %s\n", r ? "accepted" : "refused");
    rc = RegDeleteKeyValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\pwgate\\PasswordFilter",
                            L"PinnedSha256");
    if (rc != ERROR_SUCCESS) {
        fprintf(stderr, "filter_test: cannot delete PinnedSha256 (error %ld)\n", (long)rc);
        return 2;
    }
    r = filter(&a, NULL, &p, FALSE);
    printf("second %s\n", r ? "accepted" : "refused");
    return 0;
}

/* The Local Machine "Root" store: the certificate in file (DER) added or
 * deleted. */
static int root_store(const WCHAR *file, BOOL add)
{
    static BYTE der[16384];
    DWORD got = 0;
    HANDLE h;
    HCERTSTORE store;
    PCCERT_CONTEXT cert, found;
    BOOL ok;

    h = CreateFileW(file, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return 2;
    ok = ReadFile(h, der, sizeof(der), &got, NULL);
    CloseHandle(h);
    if (!ok || got == 0 || got == sizeof(der))
        return 2;
    cert = CertCreateCertificateContext(X509_ASN_ENCODING, der, got);
    if (cert == NULL)
        return 2;
    store = CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0, CERT_SYSTEM_STORE_LOCAL_MACHINE,
                          L"Root");
    if (store == NULL) {
        fprintf(stderr, "filter_test: cannot open the Root store (error %lu)\n",
                GetLastError());
        CertFreeCertificateContext(cert);
        return 2;
    }
    if (add) {
        ok = CertAddCertificateContextToStore(store, cert, CERT_STORE_ADD_REPLACE_EXISTING, NULL);
    } else {
        ok = TRUE;
        while (ok && (found = CertFindCertificateInStore(store, X509_ASN_ENCODING, 0,
                                                         CERT_FIND_EXISTING, cert, NULL)) != NULL)
            ok = CertDeleteCertificateFromStore(found);
        /* Wine defers a registry store's deletions to its close, which a
         * reference it keeps to the collection prevents: commit them. */
        if (ok && !CertControlStore(store, 0, CERT_STORE_CTRL_COMMIT, NULL))
            ok = FALSE;
    }
    if (!ok)
        fprintf(stderr, "filter_test: the Root store (error %lu)\n", GetLastError());
    CertCloseStore(store, 0);
    if (ok && !add) {
        /* Gone for a store opened afresh, or "untrust ok" would be a lie
         * (it was, before the commit: the CA stayed in the prefix). */
        store = CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0, CERT_SYSTEM_STORE_LOCAL_MACHINE,
                              L"Root");
        found = store == NULL ? NULL
                              : CertFindCertificateInStore(store, X509_ASN_ENCODING, 0,
                                                           CERT_FIND_EXISTING, cert, NULL);
        if (store == NULL || found != NULL) {
            fprintf(stderr, "filter_test: the CA is still in the Root store\n");
            ok = FALSE;
        }
        if (found != NULL)
            CertFreeCertificateContext(found);
        if (store != NULL)
            CertCloseStore(store, 0);
    }
    CertFreeCertificateContext(cert);
    if (!ok)
        return 2;
    printf("%s ok\n", add ? "trust" : "untrust");
    return 0;
}

int wmain(int argc, wchar_t **argv)
{
    HMODULE dll;

    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 3) {
        fprintf(stderr, "usage: filter_test DLL init|filter|notify|odd|bench ...\n");
        return 2;
    }
    dll = LoadLibraryW(argv[1]);
    if (dll == NULL) {
        fprintf(stderr, "filter_test: cannot load the DLL (error %lu)\n", GetLastError());
        return 2;
    }
    init = (init_fn)(void *)GetProcAddress(dll, "InitializeChangeNotify");
    filter = (filter_fn)(void *)GetProcAddress(dll, "PasswordFilter");
    notify = (notify_fn)(void *)GetProcAddress(dll, "PasswordChangeNotify");
    if (init == NULL || filter == NULL || notify == NULL) {
        fprintf(stderr, "filter_test: the DLL lacks an export\n");
        return 2;
    }
    if (wcscmp(argv[2], L"init") == 0) {
        BOOLEAN r = init();
        printf("init %s\n", r ? "TRUE" : "FALSE");
        return r ? 0 : 1;
    }
    if (wcscmp(argv[2], L"filter") == 0 && argc == 7) {
        UNICODE_STRING a = us(argv[3]), f = us(argv[4]), p = us(argv[5]);
        ULONGLONG ms;
        BOOLEAN r;
        if (wcscmp(argv[4], L"-") == 0) {
            f.Buffer = NULL;
            f.Length = f.MaximumLength = 0;
        }
        r = timed(&a, &f, &p, wcscmp(argv[6], L"reset") == 0, &ms);
        printf("%s elapsed_ms=%llu\n", r ? "accepted" : "refused", ms);
        return r ? 0 : 1;
    }
    if (wcscmp(argv[2], L"notify") == 0 && argc == 5) {
        UNICODE_STRING u = us(argv[3]), marker = us(L"NEVER-SENT-notify-password-4242");
        NTSTATUS s = notify(&u, (ULONG)wcstoul(argv[4], NULL, 10), &marker);
        printf("notify status=0x%08lx\n", (unsigned long)s);
        return s == 0 ? 0 : 1;
    }
    if (wcscmp(argv[2], L"odd") == 0)
        return odd();
    if (wcscmp(argv[2], L"twice") == 0 && argc == 5)
        return twice(argv[3], argv[4]);
    if ((wcscmp(argv[2], L"trust") == 0 || wcscmp(argv[2], L"untrust") == 0) && argc == 4)
        return root_store(argv[3], wcscmp(argv[2], L"trust") == 0);
    if (wcscmp(argv[2], L"bench") == 0 && argc == 6)
        return bench(_wtoi(argv[3]), argv[4], argv[5]);
    fprintf(stderr, "filter_test: bad arguments\n");
    return 2;
}
