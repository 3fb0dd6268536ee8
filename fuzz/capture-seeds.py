#!/usr/bin/env python3
"""Capture real LDAP requests from ldap-utils as fuzz seeds.

Starts a throwaway slapd (scripts/demo.sh's layout is not needed: a minimal
config in a temp dir), puts a recording TCP relay in front of it on
127.0.0.1, runs ldapsearch/ldapmodify/ldappasswd/ldapwhoami/ldapcompare
through the relay, splits what the clients sent into LDAP messages and
writes one file per message to fuzz/seeds/intercept/ (and whole client
streams to fuzz/seeds/frame/). Run it as root on Debian with slapd and
ldap-utils installed (scripts/install-deps.sh). Only loopback is used.
"""
import base64, hashlib, os, pathlib, shutil, socket, subprocess, sys, tempfile, threading, time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
SUFFIX = "dc=example,dc=com"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_slapd(tmp):
    conf = tmp / "slapd.conf"
    data = tmp / "data"
    data.mkdir()
    rootpw = subprocess.check_output(["slappasswd", "-s", "admin-secret"], text=True).strip()
    conf.write_text(f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {tmp}/slapd.pid
database mdb
maxsize 16777216
suffix "{SUFFIX}"
rootdn "cn=admin,{SUFFIX}"
rootpw {rootpw}
directory {data}
access to * by * write
""")
    seed = f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: uid=alice,{SUFFIX}
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: Alice
userPassword: Alice-Passw0rd
"""
    subprocess.run(["slapadd", "-q", "-f", str(conf)], input=seed, text=True, check=True)
    port = free_port()
    proc = subprocess.Popen(["/usr/sbin/slapd", "-h", f"ldap://127.0.0.1:{port}/", "-f", str(conf), "-d", "none"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if subprocess.run(["ldapsearch", "-x", "-H", f"ldap://127.0.0.1:{port}", "-b", "", "-s", "base"],
                          capture_output=True).returncode == 0:
            return proc, port
        time.sleep(0.05)
    proc.kill()
    sys.exit("slapd did not start")


def relay(listen, upstream_port, streams, stop):
    listen.settimeout(0.2)
    while not stop.is_set():
        try:
            client, _ = listen.accept()
        except socket.timeout:
            continue
        server = socket.create_connection(("127.0.0.1", upstream_port))
        sent = bytearray()
        streams.append(sent)

        def pump(src, dst, record):
            try:
                while True:
                    chunk = src.recv(65536)
                    if not chunk:
                        break
                    if record is not None:
                        record.extend(chunk)
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(client, server, sent), daemon=True).start()
        threading.Thread(target=pump, args=(server, client, None), daemon=True).start()


def frames(stream):
    out, i = [], 0
    while i + 2 <= len(stream):
        first = stream[i + 1]
        if first < 0x80:
            hdr, length = 2, first
        else:
            n = first & 0x7F
            hdr, length = 2 + n, int.from_bytes(stream[i + 2:i + 2 + n], "big")
        end = i + hdr + length
        if end > len(stream):
            break
        out.append(bytes(stream[i:end]))
        i = end
    return out


def utf16_quoted(pw):
    return base64.b64encode(f'"{pw}"'.encode("utf-16-le")).decode()


def main():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="pwgate-seeds-"))
    slapd, port = start_slapd(tmp)
    listen = socket.socket()
    listen.bind(("127.0.0.1", 0))
    listen.listen()
    rport = listen.getsockname()[1]
    streams, stop = [], threading.Event()
    threading.Thread(target=relay, args=(listen, port, streams, stop), daemon=True).start()
    url = f"ldap://127.0.0.1:{rport}"
    alice = f"uid=alice,{SUFFIX}"
    admin = ["-D", f"cn=admin,{SUFFIX}", "-w", "admin-secret"]
    env = dict(os.environ, LDAPNOINIT="1")

    def run(*args, stdin=None):
        subprocess.run(list(args), input=stdin, text=True, capture_output=True, env=env, timeout=20)

    run("ldapsearch", "-x", "-H", url, "-b", SUFFIX, "(uid=alice)", "cn", "mail")
    run("ldapsearch", "-x", "-H", url, "-b", SUFFIX, "-E", "pr=2/noprompt", "(objectClass=*)")
    run("ldapwhoami", "-x", "-H", url, "-D", alice, "-w", "Alice-Passw0rd")
    run("ldapcompare", "-x", "-H", url, alice, "cn:Alice")
    run("ldappasswd", "-x", "-H", url, "-D", alice, "-w", "Alice-Passw0rd", "-a", "Alice-Passw0rd", "-s", "Seed-Passw0rd-1")
    run("ldappasswd", "-x", "-H", url, *admin, "-s", "Seed-Passw0rd-2", alice)
    run("ldappasswd", "-x", "-H", url, *admin, "-e", "ppolicy", alice)
    ldifs = [
        f"dn: {alice}\nchangetype: modify\nreplace: userPassword\nuserPassword: Seed-Passw0rd-3\n",
        f"dn: {alice}\nchangetype: modify\ndelete: userPassword\nuserPassword: Seed-Passw0rd-3\n-\nadd: userPassword\nuserPassword: Seed-Passw0rd-4\n-\n",
        f"dn: {alice}\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: {utf16_quoted('Seed-Passw0rd-5')}\n",
        f"dn: {alice}\nchangetype: modify\ndelete: unicodePwd\nunicodePwd:: {utf16_quoted('Seed-Passw0rd-5')}\n-\nadd: unicodePwd\nunicodePwd:: {utf16_quoted('Seed-Passw0rd-6')}\n-\n",
        f"dn: {alice}\nchangetype: modify\nreplace: userPassword\nuserPassword: {{SSHA}}c2VlZHNhbHQ=\n",
        f"dn: {alice}\nchangetype: modify\nreplace: description\ndescription: not a password\n",
        f"dn: uid=bob,{SUFFIX}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: bob\ncn: Bob Seed\nsn: Seed\nmail: bob@example.com\nuserPassword: Seed-Passw0rd-7\n",
    ]
    for ldif in ldifs:
        run("ldapmodify", "-x", "-H", url, *admin, "-e", "ppolicy", stdin=ldif)
    time.sleep(0.3)
    stop.set()
    slapd.terminate()
    slapd.wait(timeout=10)
    shutil.rmtree(tmp, ignore_errors=True)

    for target in ("frame", "intercept"):
        d = SEEDS / target
        d.mkdir(parents=True, exist_ok=True)
    count = 0
    for stream in streams:
        data = bytes(stream)
        (SEEDS / "frame" / hashlib.sha1(data).hexdigest()).write_bytes(data)
        for f in frames(data):
            (SEEDS / "intercept" / hashlib.sha1(f).hexdigest()).write_bytes(f)
            count += 1
    print(f"capture-seeds: {len(streams)} client streams, {count} messages -> {SEEDS}")


if __name__ == "__main__":
    main()
