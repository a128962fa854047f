#!/usr/bin/env bash
# The host's key and secret files, and where its token goes. A default run
# keeps the token (which holds the secret) off stderr, since stderr often
# ends up in journald or syslog; -v puts it there too. The files are made
# 0600 in a 0700 directory. A host whose secret is empty (what a crash
# mid-write used to leave) or of the wrong size, whose key or secret is
# readable by others, or whose key is corrupt exits 1 at once with an
# ERROR that names the file and says what to do; none of them is replaced.
source "$(dirname "$0")/lib.sh"

# --- the token on stdout only; -v adds it to stderr ---
start_host host -port 9
grep -q "listening on" "$TMP/host.err" || fail "no 'listening on' on stderr"
grep -qF "$TOKEN" "$TMP/host.err" && fail "the token is on stderr at default verbosity"
FIRST_TOKEN=$TOKEN
FIRST_PORT=$HOST_PORT
stop_pid "$HOST_PID"
echo "ok: no token on stderr by default"

start_host hostv -v -port 9
grep -qF "$TOKEN" "$TMP/hostv.err" || fail "-v: the token is not on stderr"
stop_pid "$HOST_PID"
echo "ok: -v prints the token on stderr"

# --- new files: 0600, in directories made 0700 ---
mkdir "$TMP/conf"
start_bg fresh "$TUNNEL" -listen /ip4/127.0.0.1/tcp/0 -key "$TMP/conf/a/b/host.key" -port 9
FRESH_PID=$LAST_PID
wait_event "$TMP/fresh.out" TOKEN 30 1 "$FRESH_PID" >/dev/null || fail "fresh: no TOKEN"
stop_pid "$FRESH_PID"
for f in a a/b; do
	[ "$(stat -c %a "$TMP/conf/$f")" = 700 ] || fail "$f: mode $(stat -c %a "$TMP/conf/$f")"
done
for f in a/b/host.key a/b/host.secret; do
	[ "$(stat -c %a "$TMP/conf/$f")" = 600 ] || fail "$f: mode $(stat -c %a "$TMP/conf/$f")"
done
[ "$(stat -c %s "$TMP/conf/a/b/host.secret")" = 32 ] || fail "the secret is not 32 bytes"
left=$(cd "$TMP/conf/a/b" && ls -A | tr '\n' ' ')
[ "$left" = "host.key host.secret " ] || fail "files left beside the key: $left"
echo "ok: new key and secret 0600 in 0700 directories, no temporary file left"

# refused NAME WANT KEY: a host with that key exits 1 before any TOKEN, with
# an ERROR event whose text holds WANT.
refused() {
	local name=$1 want=$2 key=$3 rc=0 ev err
	timeout 30 "$TUNNEL" -listen /ip4/127.0.0.1/tcp/0 -key "$key" -port 9 \
		</dev/null >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
	[ "$rc" = 1 ] || fail "$name: exit $rc, expected 1"
	grep -q '"action":"TOKEN"' "$TMP/$name.out" && fail "$name: printed a TOKEN"
	ev=$(wait_event "$TMP/$name.out" ERROR 5) || fail "$name: no ERROR event"
	err=$(json_get "$ev" error)
	[[ "$err" == *"$want"* ]] || fail "$name: the ERROR says: $err; expected: $want"
	echo "ok: $name: $err"
}

KEY=$TMP/host.key
SECRET=$TMP/host.secret
cp -p "$SECRET" "$TMP/good.secret"
cp -p "$KEY" "$TMP/good.key"

# --- the secret: empty, 100 bytes, too open ---
: >"$SECRET"
refused empty_secret \
	"$SECRET is 0 bytes, a secret is 32: remove it to make a new one (the old token stops working)" \
	"$KEY"
[ "$(stat -c %s "$SECRET")" = 0 ] || fail "the empty secret was replaced"

head -c 100 /dev/urandom >"$SECRET"
refused long_secret \
	"$SECRET is 100 bytes, a secret is 32: remove it to make a new one (the old token stops working)" \
	"$KEY"
[ "$(stat -c %s "$SECRET")" = 100 ] || fail "the 100-byte secret was replaced"

cp -p "$TMP/good.secret" "$SECRET"
chmod 644 "$SECRET"
refused open_secret "permissions 0644 for $SECRET are too open: chmod 600 $SECRET" "$KEY"
chmod 600 "$SECRET"

# --- the key: too open, corrupt ---
chmod 644 "$KEY"
refused open_key "permissions 0644 for $KEY are too open: chmod 600 $KEY" "$KEY"
chmod 640 "$KEY"
refused group_key "permissions 0640 for $KEY are too open: chmod 600 $KEY" "$KEY"
chmod 600 "$KEY"

printf 'not a key at all' >"$KEY"
refused corrupt_key "$KEY is not a valid libp2p private key" "$KEY"
[ "$(cat "$KEY")" = "not a key at all" ] || fail "the corrupt key was replaced"

: >"$KEY"
refused empty_key "$KEY is empty, not a libp2p private key" "$KEY"

# --- put right, the host starts again with the same token ---
cp -p "$TMP/good.key" "$KEY"
restart_host host "$FIRST_PORT" -port 9
[ "$TOKEN" = "$FIRST_TOKEN" ] || fail "the token is not the one of the first run"
stop_pid "$HOST_PID"
echo "ok: the restored files give the same token again"
echo "PASS"
