# scripts/lib.sh - shell helpers shared by scripts/demo.sh and bench/ (sourced).

# True if something accepts TCP connections on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits up to 5 s for 127.0.0.1:$1 to accept connections.
wait_port() {
  local i
  for i in $(seq 100); do port_in_use "$1" && return 0; sleep 0.05; done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

# slapd_conf DIR SUFFIX MAXSIZE: the common part of a private slapd.conf on
# standard output: schemas, an mdb database in DIR/data for SUFFIX, rootdn
# cn=admin,SUFFIX with password admin-secret. Callers append their tuning
# and ACLs (directives that follow apply to this database).
slapd_conf() {
  local dir=$1 suffix=$2 maxsize=$3 rootpw
  rootpw=$(slappasswd -s admin-secret)
  cat <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $dir/slapd.pid
database mdb
maxsize $maxsize
suffix "$suffix"
rootdn "cn=admin,$suffix"
rootpw $rootpw
directory $dir/data
CONF
}
